"""A case file's texts against the ledger's commitments (the verifier's `--texts`)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from services.audit.commitments import TextMismatch, check_texts, commitment

SALT = "ab" * 32
CID = "c-1"


def case_file(text: str, salt: str | None = SALT, version: int = 2) -> dict[str, Any]:
    return {
        "complaint_id": CID,
        "events": [
            {
                "version": version,
                "type": "Investigated",
                "data": {"findings": text},
                "sealed": {"findings": {"commitment": "sha256:…", "salt": salt}},
            }
        ],
    }


def entries(text: str) -> list[dict[str, Any]]:
    return [
        {"version": 1, "complaint_id": CID, "data": {}},
        {
            "version": 2,
            "complaint_id": CID,
            "data": {"sealed": {"findings": commitment(SALT, text)}},
        },
    ]


def test_the_commitment_is_sha256_of_salt_then_text() -> None:
    expected = hashlib.sha256(bytes.fromhex(SALT) + "卡号 13987654321".encode()).hexdigest()
    assert commitment(SALT, "卡号 13987654321") == f"sha256:{expected}"


def test_the_written_text_opens_its_commitment() -> None:
    checked = check_texts(CID, entries("cell down"), case_file("cell down"))
    assert (checked.opened, checked.unchecked) == (1, 0)


@pytest.mark.parametrize("shown", ["cell up", "cell down ", ""])
def test_any_other_text_fails(shown: str) -> None:
    with pytest.raises(TextMismatch, match="does not open"):
        check_texts(CID, entries("cell down"), case_file(shown))


def test_without_salt_or_entry_nothing_is_checked() -> None:
    assert check_texts(CID, entries("x"), case_file("[erased]", salt=None)).unchecked == 1
    assert check_texts(CID, entries("x"), case_file("x", version=9)).unchecked == 1


def test_another_complaints_case_file_fails() -> None:
    with pytest.raises(TextMismatch, match="of complaint"):
        check_texts("c-2", entries("x"), case_file("x"))
