"""The ledger's RFC 6962 / RFC 9162 Merkle tree: the regulator's verifier package's module.

One copy of the tree code serves the audit service (which stores the perfect
nodes and builds proofs) and regulators (who check them): it lives in
`complaints_verifier.merkle` and is re-exported here under its old name.
"""

from __future__ import annotations

from complaints_verifier.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryNodeStore,
    NodeKey,
    NodeStore,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaves,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "MemoryNodeStore",
    "NodeKey",
    "NodeStore",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaves",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]
