"""The regulator's verifier, with the audit service's reports checked too.

    complaints-verify --url URL --key KEYFILE --token TOKEN \
        [--state FILE] [--case COMPLAINT_ID [--texts CASE_FILE]] [--reports]

(or `python -m services.audit.verify`). Everything but `--texts` and
`--reports` is the standalone verifier package
(`complaints_verifier`, `verifier/` in this repository; regulators install it
alone with one pip command and run `complaints-verify`): signature, entries,
root, inclusion proofs and consistency with the saved state.

With `--reports`, the entries are also folded into complaint summaries here
and compared with what the service derives from its tables at the
checkpoint's size: every search result and the SLA reports must be what the
entries give, so an edited summary table fails like an edited entry. That
needs the service's own summary logic, so it is not in the small package.

Exit status: 0 verified, 1 a verification failed (the message says what),
2 the log could not be read or the arguments are wrong.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from complaints_verifier import verify as core
from complaints_verifier.verify import (
    AuditLog,
    TrustedState,
    VerificationFailed,
    checked_leaf,
    verify_case,
    verify_entries,
    verify_extends,
)

from services.audit.checkpoint import NoteVerifier
from services.audit.commitments import TextMismatch, check_texts
from services.audit.derived import DerivedCheck

__all__ = [
    "AuditLog",
    "TrustedState",
    "VerificationFailed",
    "checked_leaf",
    "main",
    "run",
    "verify_case",
    "verify_entries",
    "verify_extends",
    "verify_log",
]


def verify_log(log: AuditLog, verifier: NoteVerifier, reports: bool = False) -> TrustedState:
    """Check the latest checkpoint and every entry; with `reports`, the derived answers too."""
    if not reports:
        return core.verify_log(log, verifier)
    derived = DerivedCheck()
    note = log.checkpoint()
    checkpoint = core.signed_checkpoint(verifier, note)
    verify_entries(log, checkpoint, derived.add)
    derived.root = checkpoint.root_hash
    mismatch = derived.compare(log, checkpoint.tree_size)
    if mismatch:
        raise VerificationFailed(mismatch)
    return TrustedState(note, checkpoint)


def texts_check(texts: dict[str, Any]) -> core.CaseCheck:
    """The `--texts` check: the case file's texts must open the proven entries' commitments."""

    def check(complaint_id: str, entries: list[dict[str, Any]]) -> str:
        try:
            checked = check_texts(complaint_id, entries, texts)
        except TextMismatch as exc:
            raise VerificationFailed(f"case file text: {exc}") from exc
        return (
            f"{checked.opened} texts opening their commitments"
            f" ({checked.unchecked} without salt or not yet in the ledger)"
        )

    return check


def run(
    client: httpx.Client,
    verifier: NoteVerifier,
    state_path: Path | None,
    complaint_id: str | None = None,
    reports: bool = False,
    texts: dict[str, Any] | None = None,
) -> TrustedState:
    """One verification run; saves the new state only when everything held."""
    return core.run(
        client,
        verifier,
        state_path,
        complaint_id,
        lambda log, key: verify_log(log, key, reports),
        texts_check(texts) if texts is not None else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run from the command line; return the exit status."""
    parser = core.argument_parser("complaints-verify")
    parser.add_argument(
        "--texts",
        type=Path,
        help="With --case: the complaints service's case file (JSON); its texts must open "
        "the ledger's commitments.",
    )
    parser.add_argument(
        "--reports",
        action="store_true",
        help="Also recompute search results and reports from the entries and compare.",
    )
    args = core.parse_arguments(parser, argv)
    if args.texts and not args.complaint_id:
        parser.error("--texts needs --case")
    case_check = None
    if args.texts:
        try:
            case_check = texts_check(json.loads(args.texts.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            print(f"ERROR: cannot read the case file {args.texts}: {exc}", file=sys.stderr)
            return 2
    if not args.reports:
        return core.verify_command(args, case_check=case_check)
    return core.verify_command(
        args,
        lambda log, key: verify_log(log, key, reports=True),
        also="the reports derived from them",
        case_check=case_check,
    )


if __name__ == "__main__":
    sys.exit(main())
