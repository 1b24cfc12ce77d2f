"""The regulator's verifier: trusts nothing but the log's public key.

    complaints-verify --url URL --key KEYFILE --token TOKEN \
        [--state FILE] [--case COMPLAINT_ID]

(or `python -m complaints_verifier ...`)

1. Fetches the latest checkpoint and checks its Ed25519 signature and origin.
2. Either streams every entry the checkpoint covers, checks each one's fields
   against its leaf bytes and its place in the feed order, and recomputes the
   root (the default), or checks the inclusion proof of each entry of one
   case file (`--case`).
3. Proves that the checkpoint saved in `--state` by the last run is a prefix
   of this one (a tree that shrank or forked fails), then saves the new one.

Exit status: 0 verified, 1 a verification failed (the message says what),
2 the log could not be read or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import rfc8785

from complaints_verifier import merkle
from complaints_verifier.note import Checkpoint, CheckpointError, NoteVerifier

_RATE_LIMIT_RETRIES = 20


class VerificationFailed(Exception):
    """The log does not match what it signed or what was seen before."""


@dataclass(frozen=True)
class TrustedState:
    """The last checkpoint this verifier accepted, kept between runs."""

    note: str
    checkpoint: Checkpoint
    # What a run checked beyond the tree, for its OK line (never saved).
    also_checked: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path, verifier: NoteVerifier) -> TrustedState | None:
        """Read the state file, re-checking its signature; None if there is none yet."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        note = document["checkpoint"]
        return cls(note, verifier.verify(note))

    def save(self, path: Path) -> None:
        """Write the state atomically, so an interrupted run never leaves half a file."""
        document = {
            "checkpoint": self.note,
            "tree_size": self.checkpoint.tree_size,
            "root_hash": base64.b64encode(self.checkpoint.root_hash).decode(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
        os.replace(temporary, path)


class AuditLog:
    """The audit API as the verifier sees it: untrusted answers over HTTP."""

    def __init__(self, client: httpx.Client) -> None:
        """Read through `client`, whose base URL and Authorization header are set."""
        self.client = client

    def _get(self, path: str, **params: Any) -> httpx.Response:
        for _ in range(_RATE_LIMIT_RETRIES):
            response = self.client.get(path, params=params)
            if response.status_code != 429:
                break
            # Streaming a large ledger can outrun the service's per-token rate limit.
            time.sleep(min(30.0, float(response.headers.get("Retry-After", "1"))))
        response.raise_for_status()
        return response

    def checkpoint(self) -> str:
        """The latest signed checkpoint note."""
        return self._get("/v1/audit/checkpoint").text

    def entries(self, tree_size: int) -> Iterator[dict[str, Any]]:
        """Every entry below `tree_size`, page by page, as the server sends them."""
        start = 0
        while start < tree_size:
            page = self._get("/v1/audit/entries", start=start, end=tree_size).json()["entries"]
            if not page:
                return
            yield from page
            start += len(page)

    def get_json(self, path: str, **params: Any) -> Any:
        """Any JSON answer of the audit API."""
        return self._get(path, **params).json()

    def get_bytes(self, path: str, **params: Any) -> bytes:
        """Any answer of the audit API, as the exact bytes sent."""
        return self._get(path, **params).content

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        """The server's consistency proof between two sizes."""
        body = self._get("/v1/audit/proofs/consistency", **{"from": old_size, "to": new_size})
        return [_unb64(h) for h in body.json()["hashes"]]

    def case(self, complaint_id: str) -> dict[str, Any]:
        """A complaint's case file with inclusion proofs."""
        case: dict[str, Any] = self._get(f"/v1/audit/cases/{complaint_id}").json()
        return case


def _unb64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise VerificationFailed("the server sent a hash that is not base64") from exc


def checked_leaf(entry: dict[str, Any], index: int) -> bytes:
    """The entry's leaf bytes, once its shown fields are proven to be exactly those bytes."""
    if entry.get("index") != index:
        raise VerificationFailed(f"entry {index}: the server sent index {entry.get('index')}")
    leaf = _unb64(entry["leaf"])
    shown = {key: value for key, value in entry.items() if key not in ("leaf", "proof")}
    if rfc8785.dumps(shown) != leaf:
        raise VerificationFailed(f"entry {index}: its fields differ from its leaf bytes")
    return leaf


def verify_entries(
    log: AuditLog,
    checkpoint: Checkpoint,
    on_entry: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Recompute the checkpoint's root from every entry it covers, in order.

    `on_entry`, when given, sees each entry once its leaf is checked (the audit
    service's `--reports` folds them into summaries of its own).
    """
    border = merkle.CompactRange()
    last_position = 0
    for index, entry in enumerate(log.entries(checkpoint.tree_size)):
        leaf = checked_leaf(entry, index)
        if on_entry is not None:
            on_entry(entry)
        position = entry.get("position")
        if not isinstance(position, int) or position <= last_position:
            raise VerificationFailed(
                f"entry {index}: feed position {position} is not after {last_position}"
            )
        last_position = position
        border.append(merkle.leaf_hash(leaf))
    if border.size != checkpoint.tree_size:
        raise VerificationFailed(
            f"the ledger serves {border.size} entries but the checkpoint signs "
            f"{checkpoint.tree_size}: entries were removed"
        )
    if border.root() != checkpoint.root_hash:
        raise VerificationFailed(
            "the root recomputed from the entries differs from the signed root: "
            "an entry was changed, removed, reordered or inserted"
        )


CaseCheck = Callable[[str, list[dict[str, Any]]], str]


def verify_case(
    log: AuditLog,
    verifier: NoteVerifier,
    complaint_id: str,
    case_check: CaseCheck | None = None,
) -> TrustedState:
    """Check the signature of a case file's checkpoint and every entry's inclusion proof.

    `case_check`, when given, then sees the complaint id and the proven entries;
    it raises `VerificationFailed` or says what it checked (for the OK line).
    """
    case = log.case(complaint_id)
    note = case["checkpoint"]
    checkpoint = signed_checkpoint(verifier, note)
    if not case["entries"]:
        raise VerificationFailed(f"the checkpoint covers no entry of complaint {complaint_id}")
    for entry in case["entries"]:
        checked_leaf(entry, entry["index"])
    # A case file is the complaint's whole history: versions 1, 2, 3... with no gap.
    # This catches an entry removed, or hidden by tampering with the lookup columns.
    versions = [entry.get("version") for entry in case["entries"]]
    if versions != list(range(1, len(versions) + 1)):
        raise VerificationFailed(
            f"the case file holds versions {versions}, not 1..{len(versions)} in order: "
            "an entry of the case is missing or hidden"
        )
    for entry in case["entries"]:
        index = entry["index"]
        leaf = checked_leaf(entry, index)
        if entry.get("complaint_id") != complaint_id:
            raise VerificationFailed(f"entry {index} belongs to another complaint")
        try:
            merkle.verify_inclusion(
                merkle.leaf_hash(leaf),
                index,
                checkpoint.tree_size,
                [_unb64(h) for h in entry["proof"]],
                checkpoint.root_hash,
            )
        except merkle.ProofError as exc:
            raise VerificationFailed(f"entry {index} is not in the signed tree: {exc}") from exc
    if case_check is None:
        return TrustedState(note, checkpoint)
    return TrustedState(note, checkpoint, (case_check(complaint_id, case["entries"]),))


def verify_extends(log: AuditLog, old: TrustedState | None, new: Checkpoint) -> None:
    """Check that the tree `old` accepted is a prefix of `new` (RFC 9162 consistency)."""
    if old is None or old.checkpoint.tree_size == 0:
        return
    before = old.checkpoint
    if new.tree_size < before.tree_size:
        raise VerificationFailed(
            f"the ledger shrank from {before.tree_size} to {new.tree_size} entries "
            "since the saved checkpoint"
        )
    proof = (
        []
        if new.tree_size == before.tree_size
        else log.consistency(before.tree_size, new.tree_size)
    )
    try:
        merkle.verify_consistency(
            before.tree_size, new.tree_size, before.root_hash, new.root_hash, proof
        )
    except merkle.ProofError as exc:
        raise VerificationFailed(
            f"the tree of {new.tree_size} entries does not extend the saved checkpoint of "
            f"{before.tree_size}: {exc}"
        ) from exc


def signed_checkpoint(verifier: NoteVerifier, note: str) -> Checkpoint:
    """The checkpoint in `note`, once its signature holds."""
    try:
        return verifier.verify(note)
    except CheckpointError as exc:
        raise VerificationFailed(f"checkpoint signature check failed: {exc}") from exc


def verify_log(log: AuditLog, verifier: NoteVerifier) -> TrustedState:
    """Check the latest checkpoint's signature and recompute its root from all entries."""
    note = log.checkpoint()
    checkpoint = signed_checkpoint(verifier, note)
    verify_entries(log, checkpoint)
    return TrustedState(note, checkpoint)


WholeLogCheck = Callable[[AuditLog, NoteVerifier], TrustedState]


def run(
    client: httpx.Client,
    verifier: NoteVerifier,
    state_path: Path | None,
    complaint_id: str | None = None,
    whole_log: WholeLogCheck = verify_log,
    case_check: CaseCheck | None = None,
) -> TrustedState:
    """One verification run; saves the new state only when everything held.

    `whole_log` checks the whole log when no case is named (`verify_log`, or the
    audit service's version that also recomputes its reports); `case_check`
    checks more of a named case (see `verify_case`).
    """
    log = AuditLog(client)
    previous = TrustedState.load(state_path, verifier) if state_path else None
    if complaint_id is None:
        state = whole_log(log, verifier)
    else:
        state = verify_case(log, verifier, complaint_id, case_check)
    verify_extends(log, previous, state.checkpoint)
    if state_path is not None:
        state.save(state_path)
    return state


def argument_parser(prog: str = "complaints-verify") -> argparse.ArgumentParser:
    """The command line's options; the audit service's own verifier adds to them."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Verify the audit ledger trusting only its public key."
    )
    parser.add_argument("--url", required=True, help="Base URL of the audit service.")
    parser.add_argument("--key", required=True, type=Path, help="File with the verifier key.")
    parser.add_argument(
        "--token", default=os.environ.get("AUDIT_TOKEN"), help="Bearer token (or AUDIT_TOKEN)."
    )
    parser.add_argument("--state", type=Path, help="Checkpoint kept between runs.")
    parser.add_argument("--case", dest="complaint_id", help="Verify one complaint's case file.")
    parser.add_argument("--timeout", type=float, default=30.0)
    return parser


def parse_arguments(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace:
    """Parse, insisting on a token."""
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("a token is needed: --token or AUDIT_TOKEN")
    return args


def verify_command(
    args: argparse.Namespace,
    whole_log: WholeLogCheck = verify_log,
    also: str = "",
    case_check: CaseCheck | None = None,
) -> int:
    """Run a parsed command line; print the outcome; return the exit status.

    `also` names what `whole_log` checks beyond the entries, for the OK line.
    """
    try:
        verifier = NoteVerifier.from_key(args.key.read_text(encoding="utf-8").strip())
    except (OSError, CheckpointError) as exc:
        print(f"ERROR: cannot use the key in {args.key}: {exc}", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {args.token}"}
    try:
        with httpx.Client(base_url=args.url, headers=headers, timeout=args.timeout) as client:
            state = run(client, verifier, args.state, args.complaint_id, whole_log, case_check)
    except VerificationFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except CheckpointError as exc:
        print(f"FAILED: the saved state is not signed by this key: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"ERROR: cannot read the audit log: {exc}", file=sys.stderr)
        return 2
    except (KeyError, TypeError, ValueError) as exc:
        print(f"FAILED: the audit log sent a malformed answer: {exc!r}", file=sys.stderr)
        return 1
    checkpoint = state.checkpoint
    root = base64.b64encode(checkpoint.root_hash).decode()
    what = f"case {args.complaint_id}" if args.complaint_id else f"{checkpoint.tree_size} entries"
    if also and not args.complaint_id:
        what += f" and {also}"
    what += "".join(f", {checked}" for checked in state.also_checked)
    print(
        f"OK: {what} verified against {checkpoint.origin} size {checkpoint.tree_size} root {root}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run from the command line; return the exit status."""
    return verify_command(parse_arguments(argument_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
