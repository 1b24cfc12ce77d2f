"""Tests of the audit Merkle tree against the transparency-dev vectors and a naive reference."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from services.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryNodeStore,
    NodeKey,
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

VECTORS_PATH = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "rfc6962-vectors.json"
MAX_SIZE = 70


@cache
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text())
    return data


def b64(value: str) -> bytes:
    return base64.b64decode(value)


def b64_list(values: list[str] | None) -> list[bytes]:
    return [b64(value) for value in values or []]


def standard_leaves() -> list[bytes]:
    return [bytes.fromhex(leaf) for leaf in vectors()["leaves_hex"]]


# --- naive reference: RFC 9162 section 2.1 written straight from the text ---


def ref_root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + ref_root(leaves[:k]) + ref_root(leaves[k:])).digest()


def ref_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_root(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_root(leaves[:k])]


def ref_subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    if m == len(leaves):
        return [] if whole else [ref_root(leaves)]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m <= k:
        return [*ref_subproof(m, leaves[:k], whole), ref_root(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_root(leaves[:k])]


# --- helpers ---


class CountingStore(MemoryNodeStore):
    """Counts reads, to hold the generators to one batched read each."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[NodeKey]] = []

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        self.reads.append(list(keys))
        return super().get_nodes(keys)


def build_store(leaves: Sequence[bytes]) -> CountingStore:
    store = CountingStore()
    border = CompactRange()
    for leaf in leaves:
        store.put_nodes(border.append(leaf_hash(leaf)))
    return store


def flip(data: bytes, bit: int = 0) -> bytes:
    return bytes([data[0] ^ (1 << bit), *data[1:]])


LEAVES = [f"entry {i}".encode() for i in range(MAX_SIZE)]
ROOTS = [ref_root(LEAVES[:n]) for n in range(MAX_SIZE + 1)]


@pytest.fixture(scope="module")
def store() -> CountingStore:
    return build_store(LEAVES)


# --- reference vectors ---


def test_vector_file_is_complete() -> None:
    assert len(vectors()["inclusion"]) == 98
    assert len(vectors()["consistency"]) == 98
    assert len(vectors()["roots_hex"]) == len(vectors()["leaves_hex"]) + 1 == 9


def test_hash_primitives() -> None:
    assert EMPTY_ROOT.hex() == vectors()["roots_hex"][0]
    assert leaf_hash(b"").hex() == vectors()["roots_hex"][1]
    assert node_hash(leaf_hash(b""), leaf_hash(b"\x00")).hex() == vectors()["roots_hex"][2]


@pytest.mark.parametrize("size", range(9))
def test_roots_of_standard_leaves(size: int) -> None:
    want = bytes.fromhex(vectors()["roots_hex"][size])
    leaves = standard_leaves()[:size]
    assert ref_root(leaves) == want
    assert root_from_leaves(leaf_hash(leaf) for leaf in leaves) == want
    assert root_hash(size, build_store(leaves)) == want


def generated_inclusion(case: dict[str, Any]) -> list[bytes] | None:
    """The store's proof for a vector over the standard leaves, or None if not one."""
    leaves = standard_leaves()
    index, size = case["leafIdx"], case["treeSize"]
    if not 0 <= index < size <= len(leaves) or b64(case["root"]) != ref_root(leaves[:size]):
        return None
    if b64(case["leafHash"]) != leaf_hash(leaves[index]):
        return None
    return inclusion_proof(index, size, build_store(leaves))


def generated_consistency(case: dict[str, Any]) -> list[bytes] | None:
    leaves = standard_leaves()
    old, new = case["size1"], case["size2"]
    if not 0 < old <= new <= len(leaves):
        return None
    roots = (b64(case["root1"]), b64(case["root2"]))
    if roots != (ref_root(leaves[:old]), ref_root(leaves[:new])):
        return None
    return consistency_proof(old, new, build_store(leaves))


@pytest.mark.parametrize("case", vectors()["inclusion"], ids=lambda case: case["file"])
def test_inclusion_vector(case: dict[str, Any]) -> None:
    args = (case["leafIdx"], case["treeSize"], b64_list(case["proof"]), b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(b64(case["leafHash"]), *args)
    else:
        verify_inclusion(b64(case["leafHash"]), *args)
        generated = generated_inclusion(case)
        if generated is not None:
            assert generated == b64_list(case["proof"])


@pytest.mark.parametrize("case", vectors()["consistency"], ids=lambda case: case["file"])
def test_consistency_vector(case: dict[str, Any]) -> None:
    args = (case["size1"], case["size2"], b64(case["root1"]), b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args, b64_list(case["proof"]))
    else:
        verify_consistency(*args, b64_list(case["proof"]))
        generated = generated_consistency(case)
        if generated is not None:
            assert generated == b64_list(case["proof"])


def test_generators_are_compared_with_every_applicable_vector() -> None:
    # Guards the two tests above against silently comparing nothing.
    happy_inclusion = [case for case in vectors()["inclusion"] if not case["wantErr"]]
    happy_consistency = [case for case in vectors()["consistency"] if not case["wantErr"]]
    assert sum(generated_inclusion(case) is not None for case in happy_inclusion) == 5
    assert sum(generated_consistency(case) is not None for case in happy_consistency) == 5


# --- every tree size up to MAX_SIZE against the naive reference ---


def test_store_holds_exactly_the_perfect_subtrees(store: CountingStore) -> None:
    n = MAX_SIZE
    assert len(store.nodes) == 2 * n - n.bit_count()
    for (level, index), digest in store.nodes.items():
        first, end = index << level, (index + 1) << level
        assert end <= n
        assert digest == ref_root(LEAVES[first:end])


@pytest.mark.parametrize("size", range(MAX_SIZE + 1))
def test_roots_and_reloaded_appender(store: CountingStore, size: int) -> None:
    assert root_hash(size, store) == ROOTS[size]
    assert root_from_leaves(leaf_hash(leaf) for leaf in LEAVES[:size]) == ROOTS[size]
    # A ledger restarting at any size resumes from the stored border alone.
    border = CompactRange.from_store(size, store)
    assert (border.size, border.root()) == (size, ROOTS[size])
    if size < MAX_SIZE:
        created = border.append(leaf_hash(LEAVES[size]))
        assert created == [
            (level, index, store.nodes[(level, index)]) for level, index, _ in created
        ]
        trailing_ones = (~size & (size + 1)).bit_length() - 1
        assert len(created) == 1 + trailing_ones
        assert border.root() == ROOTS[size + 1]


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_inclusion_proofs(store: CountingStore, size: int) -> None:
    for index in range(size):
        store.reads.clear()
        proof = inclusion_proof(index, size, store)
        assert len(store.reads) == (1 if proof else 0)
        assert proof == ref_path(index, LEAVES[:size])
        leaf = leaf_hash(LEAVES[index])
        verify_inclusion(leaf, index, size, proof, ROOTS[size])

        rejected = [
            (leaf_hash(b"other"), index, proof, ROOTS[size]),
            (leaf, index, proof, flip(ROOTS[size])),
            (leaf, index, [*proof, proof[-1] if proof else ROOTS[size]], ROOTS[size]),
            *[(leaf, other, proof, ROOTS[size]) for other in range(size + 1) if other != index],
            *[(leaf, index, proof[:i] + proof[i + 1 :], ROOTS[size]) for i in range(len(proof))],
            *[
                (leaf, index, [*proof[:i], flip(proof[i], 7), *proof[i + 1 :]], ROOTS[size])
                for i in range(len(proof))
            ],
        ]
        for leaf_, index_, proof_, root_ in rejected:
            with pytest.raises(ProofError):
                verify_inclusion(leaf_, index_, size, proof_, root_)


@pytest.mark.parametrize("new", range(1, MAX_SIZE + 1))
def test_consistency_proofs(store: CountingStore, new: int) -> None:
    for old in range(1, new + 1):
        store.reads.clear()
        proof = consistency_proof(old, new, store)
        assert len(store.reads) == (1 if proof else 0)
        assert proof == ref_subproof(old, LEAVES[:new], True)
        verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)

        rejected = [
            (ROOTS[old], flip(ROOTS[new]), proof),
            (flip(ROOTS[old]), ROOTS[new], proof),
            (ROOTS[old], ROOTS[new], [*proof, ROOTS[new]]),
            (ROOTS[old], ROOTS[new], [ROOTS[old], *proof]),
            *[(ROOTS[old], ROOTS[new], proof[:i] + proof[i + 1 :]) for i in range(len(proof))],
            *[
                (ROOTS[old], ROOTS[new], [*proof[:i], flip(proof[i], 3), *proof[i + 1 :]])
                for i in range(len(proof))
            ],
        ]
        if old < new:
            rejected.append((ROOTS[new], ROOTS[old], proof))
        for old_root, new_root, proof_ in rejected:
            with pytest.raises(ProofError):
                verify_consistency(old, new, old_root, new_root, proof_)


def test_generators_reject_impossible_requests(store: CountingStore) -> None:
    for index, size in [(0, 0), (5, 5), (-1, 3)]:
        with pytest.raises(ValueError):
            inclusion_proof(index, size, store)
    for old, new in [(0, 5), (6, 5), (-1, 2)]:
        with pytest.raises(ValueError):
            consistency_proof(old, new, store)
    # Sizes the store has not reached yet must not yield made-up hashes.
    with pytest.raises(LookupError):
        root_hash(MAX_SIZE + 1, store)
    with pytest.raises(LookupError):
        inclusion_proof(0, MAX_SIZE + 1, store)
    with pytest.raises(LookupError):
        CompactRange.from_store(MAX_SIZE + 1, store)


def test_verifiers_reject_bad_sizes() -> None:
    leaf = leaf_hash(b"x")
    for index, size in [(0, 0), (1, 1), (-1, 1)]:
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, [], leaf)
    for old, new in [(0, 0), (0, 1), (2, 1), (-1, 1)]:
        with pytest.raises(ProofError):
            verify_consistency(old, new, EMPTY_ROOT, EMPTY_ROOT, [])


# --- cost at sizes far beyond what a test can build ---


class UniformStore:
    """A store of a huge tree whose leaves are all equal, so node hashes depend on level only."""

    def __init__(self, leaf: bytes) -> None:
        self.levels = [leaf]
        for _ in range(64):
            self.levels.append(node_hash(self.levels[-1], self.levels[-1]))
        self.reads: list[list[NodeKey]] = []

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        self.reads.append(list(keys))
        return {(level, index): self.levels[level] for level, index in keys}


@pytest.mark.parametrize(
    ("index", "old", "new"),
    [(0, 1, 2**40), (2**40 - 1, 2**39 + 3, 2**40 + 1), (123_456_789, 10**9 + 1, 10**12 + 7)],
)
def test_proofs_cost_one_read_of_logarithmically_many_nodes(index: int, old: int, new: int) -> None:
    leaf = leaf_hash(b"same")
    store = UniformStore(leaf)
    bound = 2 * new.bit_length()
    root = root_hash(new, store)
    old_root = root_hash(old, store)
    store.reads.clear()
    proof = inclusion_proof(index, new, store)
    verify_inclusion(leaf, index, new, proof, root)
    proof = consistency_proof(old, new, store)
    verify_consistency(old, new, old_root, root, proof)
    assert len(store.reads) == 2
    assert all(len(keys) <= bound for keys in store.reads)
    assert all(len(set(keys)) == len(keys) for keys in store.reads)
