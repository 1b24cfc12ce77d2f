"""RFC 6962 / RFC 9162 Merkle tree over the audit ledger's entries.

Only the hashes of *perfect* subtrees are ever stored. A node is addressed by
``(level, index)``: level 0 holds the leaf hashes and node ``(level, i)`` covers
the leaves ``[i * 2**level, (i + 1) * 2**level)``. A perfect node never changes
once its last leaf is appended, so the store is append-only like the ledger.

Any other hash a tree of size ``n`` needs (its root, or the right-hand sibling
on a proof path) is an "ephemeral" node covering a range that is not yet
complete; it is recomputed from the at most ``log2(n)`` perfect nodes that tile
that range. Each generator first works out, from the sizes alone, every node key
it needs, then reads them with one batched ``NodeStore.get_nodes`` call, so a
proof costs O(log n) hashes and a single database query at any tree size.

The verification functions depend on nothing but ``hashlib`` so that the
regulator's standalone verifier can use them as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

NodeKey = tuple[int, int]
"""``(level, index)`` of a perfect subtree."""

Node = tuple[int, int, bytes]
"""``(level, index, hash)`` of a perfect subtree, as written to a store."""

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Root hash of the empty tree (RFC 9162 section 2.1.1)."""

# A subtree in the RFC 9162 recursion, as (first leaf, number of leaves).
_Range = tuple[int, int]


class ProofError(ValueError):
    """An inclusion or consistency proof, or its parameters, failed verification."""


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 hash of one leaf: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class NodeStore(Protocol):
    """Read access to the stored perfect-subtree hashes."""

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """Return the hashes of the given nodes in one read; absent nodes are left out."""
        ...


class MemoryNodeStore:
    """A ``NodeStore`` held in a dict, for tests and for verifiers rebuilding a tree."""

    def __init__(self) -> None:
        """Create an empty store."""
        self.nodes: dict[NodeKey, bytes] = {}

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """Return the stored hashes among ``keys``."""
        return {key: self.nodes[key] for key in keys if key in self.nodes}

    def put_nodes(self, nodes: Iterable[Node]) -> None:
        """Store nodes as produced by ``CompactRange.append``."""
        for level, index, digest in nodes:
            self.nodes[(level, index)] = digest


def _split(size: int) -> int:
    """Return the largest power of two strictly below ``size`` (``size >= 2``)."""
    return 1 << ((size - 1).bit_length() - 1)


def _range_keys(begin: int, size: int) -> list[NodeKey]:
    """Return the perfect nodes tiling ``[begin, begin + size)``, largest (leftmost) first.

    ``begin`` must be a multiple of the smallest power of two ``>= size``, which
    holds for every subtree of the RFC 9162 recursion, so each tile is aligned.
    """
    keys = []
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            keys.append((level, begin >> level))
            begin += 1 << level
    return keys


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Hash a range from its tiles: the RFC tree splits the largest tile off the left."""
    acc = hashes[-1]
    for digest in reversed(hashes[:-1]):
        acc = node_hash(digest, acc)
    return acc


def _fetch(keys: Iterable[NodeKey], store: NodeStore) -> dict[NodeKey, bytes]:
    """Read nodes in one batch; a gap means the tree is smaller than the caller assumed."""
    # dict.fromkeys de-duplicates while keeping the order stable for the store.
    wanted = list(dict.fromkeys(keys))
    found = store.get_nodes(wanted) if wanted else {}
    missing = [key for key in wanted if key not in found]
    if missing:
        raise LookupError(f"node store lacks {len(missing)} node(s), first {missing[0]}")
    return found


def _hash_ranges(ranges: Sequence[_Range], store: NodeStore) -> list[bytes]:
    """Return the hash of each range, reading every tile they need in one batch."""
    tiles = [_range_keys(begin, size) for begin, size in ranges]
    found = _fetch((key for keys in tiles for key in keys), store)
    return [_fold([found[key] for key in keys]) for keys in tiles]


def root_hash(tree_size: int, store: NodeStore) -> bytes:
    """Return the root hash of the first ``tree_size`` leaves in ``store``."""
    if tree_size < 0:
        raise ValueError(f"negative tree size {tree_size}")
    if tree_size == 0:
        return EMPTY_ROOT
    return _hash_ranges([(0, tree_size)], store)[0]


def _inclusion_ranges(index: int, tree_size: int) -> list[_Range]:
    """Return the sibling subtrees of RFC 9162 PATH(index, D[tree_size]), leaf first."""
    path: list[_Range] = []
    begin, size = 0, tree_size
    while size > 1:
        k = _split(size)
        if index < k:
            path.append((begin + k, size - k))
            size = k
        else:
            path.append((begin, k))
            begin, index, size = begin + k, index - k, size - k
    path.reverse()
    return path


def inclusion_proof(index: int, tree_size: int, store: NodeStore) -> list[bytes]:
    """Return the RFC 9162 section 2.1.3.1 inclusion proof of leaf ``index``."""
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf index {index} outside a tree of size {tree_size}")
    return _hash_ranges(_inclusion_ranges(index, tree_size), store)


def _consistency_ranges(old_size: int, new_size: int) -> list[_Range]:
    """Return the subtrees of RFC 9162 PROOF(old_size, D[new_size]), innermost first."""
    path: list[_Range] = []
    begin, old, size = 0, old_size, new_size
    old_is_left_edge = True
    while old != size:
        k = _split(size)
        if old <= k:
            path.append((begin + k, size - k))
            size = k
        else:
            path.append((begin, k))
            begin, old, size = begin + k, old - k, size - k
            old_is_left_edge = False
    # SUBPROOF(m, D[m], false): a verifier that holds the old root can derive
    # this node itself only when it is the whole old tree.
    if not old_is_left_edge:
        path.append((begin, size))
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, store: NodeStore) -> list[bytes]:
    """Return the RFC 9162 section 2.1.4.1 proof that ``old_size`` is a prefix of ``new_size``.

    ``old_size`` must be at least 1: RFC 9162 defines no proof from the empty
    tree, and ``verify_consistency`` rejects one.
    """
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    return _hash_ranges(_consistency_ranges(old_size, new_size), store)


class CompactRange:
    """The right border of a growing tree: the perfect subtrees tiling ``[0, size)``.

    Appending a leaf needs nothing but this border, so a ledger that keeps one
    instance across appends reads the store once (``from_store``) and then
    appends in amortised O(1) hashes, writing the returned nodes with each entry.
    """

    def __init__(self) -> None:
        """Start an empty tree."""
        self._size = 0
        # Hashes of the border tiles, largest (leftmost) first.
        self._border: list[bytes] = []

    @classmethod
    def from_store(cls, tree_size: int, store: NodeStore) -> CompactRange:
        """Load the border of a stored tree of ``tree_size`` leaves in one read."""
        if tree_size < 0:
            raise ValueError(f"negative tree size {tree_size}")
        border = cls()
        if tree_size:
            keys = _range_keys(0, tree_size)
            found = _fetch(keys, store)
            border._border = [found[key] for key in keys]
            border._size = tree_size
        return border

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf: bytes) -> list[Node]:
        """Append one leaf hash; return the perfect nodes it completes, the leaf first.

        Leaf ``n`` completes one node per trailing 1 bit of ``n``: each merges
        the new node with the border tile to its left.
        """
        index, level, digest = self._size, 0, leaf
        created = [(0, index, digest)]
        while index & 1:
            digest = node_hash(self._border.pop(), digest)
            index >>= 1
            level += 1
            created.append((level, index, digest))
        self._border.append(digest)
        self._size += 1
        return created

    def root(self) -> bytes:
        """Return the root hash of the leaves appended so far."""
        return _fold(self._border) if self._border else EMPTY_ROOT


def root_from_leaves(leaf_hashes: Iterable[bytes]) -> bytes:
    """Return the root hash over leaf hashes streamed in order, in O(log n) memory."""
    border = CompactRange()
    for digest in leaf_hashes:
        border.append(digest)
    return border.root()


def _check_hashes(hashes: Sequence[bytes]) -> None:
    """Reject inputs that cannot be SHA-256 digests before hashing anything."""
    for digest in hashes:
        if len(digest) != HASH_SIZE:
            raise ProofError(f"a hash is {len(digest)} bytes, not {HASH_SIZE}")


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree with ``root`` (RFC 9162 2.1.3.2).

    Raises ``ProofError`` on any failure.
    """
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} outside a tree of size {tree_size}")
    _check_hashes([leaf_hash, *proof])
    fn, sn = index, tree_size - 1
    digest = leaf_hash
    for sibling in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            digest = node_hash(sibling, digest)
            # On the right border, levels where the node has no sibling are skipped.
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            digest = node_hash(digest, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if digest != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``old_root`` is a prefix of the tree ``new_root`` (RFC 9162 2.1.4.2).

    Raises ``ProofError`` on any failure, including ``old_size == 0``: RFC 9162
    requires ``0 < old_size``, and the empty tree has nothing worth proving.
    """
    if not 0 < old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("equal sizes but different roots")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    _check_hashes(proof)
    path = list(proof)
    # A power-of-two old tree is itself a node of the new tree, so the proof
    # leaves it out and the verifier supplies it.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    old_digest = new_digest = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            old_digest = node_hash(node, old_digest)
            new_digest = node_hash(node, new_digest)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            new_digest = node_hash(new_digest, node)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if old_digest != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if new_digest != new_root:
        raise ProofError("consistency proof does not lead to the new root")
