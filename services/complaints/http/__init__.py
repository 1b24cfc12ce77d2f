"""The staff HTTP API of the complaints service, one module per idea, under `/v1`.

Each module's router carries the `/v1` prefix itself, so a route's own
path (the `route` label of the request metrics) is the full one. Each
module parses, authorises, calls the application and answers;
`exchange` holds what they share (writes once per key, refusals as
problems). They are included in an order that keeps route matching (and
the `Allow` of a 405) as it was: `/complaints/by-number/{case_number}`
before any `/complaints/{complaint_id}/...` route it could be mistaken
for, registration before the queue listing on `/complaints`, and the
`contact` action before the clear read of the contact on the same path.
"""

from fastapi import APIRouter

from services.complaints.http import (
    actions,
    case_file,
    clear_reads,
    feed,
    policies,
    registration,
    work_queue,
)

router = APIRouter()
for _module in (registration, work_queue, case_file, actions, clear_reads, feed, policies):
    router.include_router(_module.router)
