"""The HTTP shapes of the regulator API's answers (the OpenAPI document's response models).

Entries and reports keep every member the service writes (`extra="allow"`):
an entry's members are read from its leaf bytes, and the verifier holds the
leaf, not these models, to account.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    """A shape whose listed members are documented and whose others pass through."""

    model_config = ConfigDict(extra="allow")


class CheckpointView(BaseModel):
    """A kept checkpoint: tree size, root hash, signing time and the signed note."""

    tree_size: int
    root_hash: str = Field(description="Base64 of the RFC 9162 root hash (SHA-256).")
    key_id: str
    signed_at: str = Field(description="RFC 3339 instant (UTC).")
    note: str = Field(description="The C2SP signed note, as served by /checkpoint.")


class CheckpointList(BaseModel):
    """Kept checkpoints, oldest first."""

    checkpoints: list[CheckpointView]


class EntryView(Open):
    """A ledger entry: the feed item it records (members of the leaf), its index and leaf."""

    index: int = Field(description="0-based position in the ledger.")
    leaf: str = Field(description="Base64 of the entry's exact bytes (RFC 8785 JSON).")
    complaint_id: str | None = None
    type: str | None = None
    position: int | None = Field(default=None, description="The feed position it records.")


class EntryPage(BaseModel):
    """Entries `[start, end)`; `next_start` resumes when more remain."""

    entries: list[EntryView]
    tree_size: int
    next_start: int | None


class InclusionProof(BaseModel):
    """RFC 9162 inclusion proof of entry `index` in the tree of `tree_size` entries."""

    index: int
    tree_size: int
    hashes: list[str] = Field(description="Base64 SHA-256 hashes, leaf to root.")


class ConsistencyProof(BaseModel):
    """RFC 9162 consistency proof: the tree of `from` entries is a prefix of `to`."""

    model_config = ConfigDict(populate_by_name=True)

    old: int = Field(alias="from")
    new: int = Field(alias="to")
    hashes: list[str]


class ProvenEntry(EntryView):
    """An entry with its inclusion proof against the case file's checkpoint."""

    proof: list[str]


class CaseFile(BaseModel):
    """A complaint's ledger entries, proven against the latest checkpoint."""

    complaint_id: str
    checkpoint: str = Field(description="The signed note the proofs are against.")
    tree_size: int
    entries: list[ProvenEntry]
    pending: int = Field(description="Entries newer than the checkpoint, not yet provable.")


class Stated(Open):
    """An answer derived from the ledger names the tree size (and checkpoint) it is from."""

    tree_size: int
    checkpoint: str | None = Field(description="Signed note at that size, when one was signed.")


class SummaryPage(Stated):
    """A page of complaint summaries, oldest receipt first."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class SlaReport(Stated):
    """SLA compliance and handling times per group and milestone, and the S-10 indicators."""


class Indicators(Stated):
    """The S-10 quality indicators of a period (README, "Indicators"), per group and `all`."""


class Trend(Stated):
    """The indicators per local day, ISO week or month of the period."""
