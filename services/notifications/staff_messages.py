"""Messages to staff that other services ask for: e.g. the audit service's team reports.

A caller (role `service`) names a template, the staff to tell and the
template's context, under a key of its own. Each recipient gets one message
in the outbox, in their language and on their channel from the staff
directory, with the delivery key `(key, recipient, template)`: asking again
with the same key, after a crash or from a second replica, finds the
messages already there and adds none. The dispatcher then delivers them like
every other message (retries, backoff, dead letters).

Only templates meant for this are accepted, and the context must render in
every language before anything is written: a bad request writes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from services.kernel.staff_directory import StaffDirectory
from services.notifications.masking import mask_address
from services.notifications.outbox import Message, NewMessage, Outbox
from services.notifications.templating import LANGUAGES, Renderer, RenderError

STAFF_MESSAGE_TEMPLATES = frozenset({"team_report"})
"""The templates other services may send to staff."""
STAFF_MESSAGE = "StaffMessage"
"""The `event_type` of such messages: they answer a request, not a feed event."""


class StaffMessageRefused(ValueError):
    """The request cannot be honoured as given (unknown template, context that does not render)."""


@dataclass(frozen=True)
class Queued:
    """What a request put in the outbox (or found there already)."""

    messages: list[Message]
    unknown: list[str]


class StaffMessages:
    """Puts requested staff messages in the outbox, once per key and recipient."""

    def __init__(
        self,
        engine: Engine,
        outbox: Outbox,
        directory: StaffDirectory,
        renderer: Renderer,
        available_channels: Collection[str],
        default_channel: str | None,
    ) -> None:
        """Write to `outbox` on `engine`, addressing staff from `directory`."""
        self.engine = engine
        self.outbox = outbox
        self.directory = directory
        self.renderer = renderer
        self.available = set(available_channels)
        self.default_channel = default_channel

    def queue(
        self, key: str, template: str, recipients: Sequence[str], context: Mapping[str, Any]
    ) -> Queued:
        """One message per known recipient under `key`; staff the directory lacks are named."""
        if template not in STAFF_MESSAGE_TEMPLATES:
            raise StaffMessageRefused(f"template must be one of {sorted(STAFF_MESSAGE_TEMPLATES)}")
        for language in LANGUAGES:
            try:
                self.renderer.render(template, language, context)
            except RenderError as exc:
                raise StaffMessageRefused(f"the context does not render: {exc}") from exc
        new, unknown = [], []
        for staff_id in dict.fromkeys(recipients):
            member = self.directory.get(staff_id)
            if member is None:
                unknown.append(staff_id)
                continue
            channel = member.channel
            if channel not in self.available and self.default_channel:
                channel = self.default_channel
            new.append(
                NewMessage(
                    complaint_id="",
                    case_number="",
                    event_id=key,
                    event_type=STAFF_MESSAGE,
                    feed_position=0,
                    audience="staff",
                    recipient=staff_id,
                    # Masked as the member is reached, as the feed's staff messages are.
                    recipient_masked=mask_address(member.channel, member.address(member.channel)),
                    channel=channel,
                    template=template,
                    language=member.language,
                    context=dict(context),
                )
            )
        with self.engine.begin() as conn:
            self.outbox.add(conn, new)
        stored = [self.outbox.get(m.id) for m in new]
        return Queued([m for m in stored if m is not None], unknown)
