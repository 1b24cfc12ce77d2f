"""Checking the text a case file shows against the commitments the ledger holds.

The complaints service seals every free-text field and publishes only its
commitment, `sha256:` + hex SHA-256(salt ‖ UTF-8 text) (docs/feed.md), which
the ledger keeps in each entry's `data.sealed`. Its case file
(`GET /v1/complaints/{id}/history`) gives those allowed to read the text each
field's salt: with it, the text shown either opens the ledger's commitment or
it is not the text that was written. After erasure there is no salt, and so
nothing to check and nothing to learn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SCHEME = "sha256:"


class TextMismatch(Exception):
    """A text of the case file does not open the commitment the ledger holds for it."""


@dataclass(frozen=True)
class TextsChecked:
    """How many texts opened their commitments, and how many could not be checked."""

    opened: int
    unchecked: int


def commitment(salt_hex: str, text: str) -> str:
    """The commitment to `text` under the salt given in hex."""
    return SCHEME + hashlib.sha256(bytes.fromhex(salt_hex) + text.encode()).hexdigest()


def check_texts(
    complaint_id: str, entries: Sequence[Mapping[str, Any]], case_file: Mapping[str, Any]
) -> TextsChecked:
    """Check every text of `case_file` that comes with its salt against the ledger `entries`.

    A text without a salt (withheld from the reader, or erased) is not checked,
    nor is an event the ledger does not hold yet; both are counted as unchecked.
    """
    if str(case_file.get("complaint_id")) != complaint_id:
        raise TextMismatch(f"the case file is of complaint {case_file.get('complaint_id')}")
    committed = {int(e["version"]): (e.get("data") or {}).get("sealed") or {} for e in entries}
    opened = unchecked = 0
    for event in case_file.get("events") or []:
        version = int(event["version"])
        for field, opening in (event.get("sealed") or {}).items():
            salt = (opening or {}).get("salt")
            if salt is None or version not in committed:
                unchecked += 1
                continue
            held = committed[version].get(field)
            text = (event.get("data") or {}).get(field)
            if not isinstance(text, str) or held is None:
                raise TextMismatch(f"version {version} '{field}': nothing to compare")
            if commitment(str(salt), text) != held:
                raise TextMismatch(
                    f"version {version} ({event.get('type')}) '{field}': the text shown does "
                    f"not open the ledger's commitment {held}"
                )
            opened += 1
    return TextsChecked(opened, unchecked)
