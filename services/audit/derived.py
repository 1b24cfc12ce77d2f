"""The verifier's check of what the service derives from the ledger.

`DerivedCheck` folds the entries the verifier has already proven against a
signed root into complaint summaries of its own, with the same fold the
service uses, then asks the service for the same answers at the same tree
size and compares them: every search result, the SLA reports, the indicators by category, and each
monthly return byte for byte. A summary table edited behind the ledger's
back shows up as a difference, named down to the complaint and field.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from services.audit.indicators import indicators
from services.audit.reports import sla_report
from services.audit.returns import monthly_return, return_csv, return_json
from services.audit.summary import Summary, evolve, new_summary, public_summary

SEARCH_PAGE = 500


class DerivedSource(Protocol):
    """The audit API as the check reads it."""

    def get_json(self, path: str, **params: Any) -> Any:
        """A JSON answer."""

    def get_bytes(self, path: str, **params: Any) -> bytes:
        """An answer's exact bytes."""


def _plain(value: Any) -> Any:
    """The value as it reads after a JSON round trip, so local and served compare alike."""
    return json.loads(json.dumps(value))


class DerivedCheck:
    """Summaries recomputed from proven entries, and their comparison with the service's."""

    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        """Nothing folded yet; returns are cut in local months of `timezone`."""
        self.summaries: dict[str, Summary] = {}
        self.timezone = timezone
        self.root = b""

    def add(self, entry: dict[str, Any]) -> None:
        """Fold one proven entry in, as the service's consumer did."""
        cid = str(entry["complaint_id"])
        before = self.summaries.get(cid) or new_summary(cid)
        try:
            self.summaries[cid] = evolve(before, entry, entry["index"])
        except Exception:
            # The service keeps a summary it cannot fold unchanged, position advanced.
            self.summaries[cid] = {**before, "last_index": entry["index"]}

    def rows(self) -> list[Summary]:
        """The recomputed summaries of registered complaints, oldest receipt first."""
        found = [s for s in self.summaries.values() if s.get("received_at") is not None]
        return sorted(found, key=lambda s: (s["received_at"], s["complaint_id"]))

    def compare(self, source: DerivedSource, size: int) -> str | None:
        """The first difference between the service's answers and the entries', or None."""
        return (
            self._compare_search(source, size)
            or self._compare_reports(source, size)
            or self._compare_returns(source, size)
        )

    def _compare_search(self, source: DerivedSource, size: int) -> str | None:
        served: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"tree_size": size, "limit": SEARCH_PAGE}
            if cursor:
                params["cursor"] = cursor
            page = source.get_json("/v1/audit/complaints", **params)
            if page.get("tree_size") != size:
                return f"the search answered for tree size {page.get('tree_size')}, not {size}"
            served += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        expected = [_plain(public_summary(row)) for row in self.rows()]
        by_id = {item.get("complaint_id"): item for item in served}
        for want in expected:
            got = by_id.pop(want["complaint_id"], None)
            if got is None:
                return f"the search at size {size} omits complaint {want['complaint_id']}"
            for field in sorted(set(want) | set(got)):
                if want.get(field) != got.get(field):
                    return (
                        f"the summary of complaint {want['complaint_id']} differs from its "
                        f"entries at size {size}: {field} is {got.get(field)!r}, the entries "
                        f"give {want.get(field)!r}"
                    )
        if by_id:
            return f"the search at size {size} shows complaint {next(iter(by_id))} with no entry"
        if [item["complaint_id"] for item in served] != [w["complaint_id"] for w in expected]:
            return f"the search at size {size} is not in receipt order"
        return None

    def _compare_reports(self, source: DerivedSource, size: int) -> str | None:
        for by in ("category", "owner"):
            served = source.get_json("/v1/audit/reports/sla", tree_size=size, by=by)
            served.pop("checkpoint", None)
            expected = _plain({**sla_report(self.rows(), None, None, by), "tree_size": size})
            if served != expected:
                return f"the SLA report by {by} at size {size} differs from the entries'"
        served = source.get_json("/v1/audit/indicators", tree_size=size, by="category")
        served.pop("checkpoint", None)
        scope = {"from": None, "to": None, "category": None, "team": None, "tree_size": size}
        if served != _plain({**scope, **indicators(self.rows(), "category")}):
            return f"the indicators by category at size {size} differ from the entries'"
        return None

    def _compare_returns(self, source: DerivedSource, size: int) -> str | None:
        rows = self.rows()
        if rows:  # The service names its zone in every return: cut months alike.
            probe = rows[0]["received_at"].strftime("%Y-%m")
            answer = source.get_bytes(
                "/v1/audit/returns/monthly", month=probe, tree_size=size, format="json"
            )
            self.timezone = str(json.loads(answer).get("timezone", self.timezone))
        zone = ZoneInfo(self.timezone)
        months = sorted(
            {
                row["received_at"].replace(tzinfo=UTC).astimezone(zone).strftime("%Y-%m")
                for row in self.rows()
            }
        )
        for month in months:
            expected = monthly_return(self.rows(), month, zone, size, self.root)
            for form, data in (("json", return_json(expected)), ("csv", return_csv(expected))):
                served = source.get_bytes(
                    "/v1/audit/returns/monthly", month=month, tree_size=size, format=form
                )
                if served != data:
                    return f"the monthly return of {month} ({form}) at size {size} does not match"
        return None
