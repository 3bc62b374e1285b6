"""Merkle tree hashes and proofs as RFC 6962 / RFC 9162 define them (Certificate Transparency).

Leaves hash as SHA-256(0x00 || leaf), interior nodes as SHA-256(0x01 || left || right). A tree of
any size n splits at k, the largest power of two below n. Nothing here reads the whole tree: the
hash of any range that a proof needs is made from the stored hashes of *complete* subtrees
(level L, index i covers leaves [i * 2^L, (i + 1) * 2^L)), fetched through ``node``. A proof
needs O(log n) of them, which ``needed_nodes`` lists up front so a database can fetch them in one
query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

NodeGetter = Callable[[int, int], bytes]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """MTH of a one-leaf tree: SHA-256(0x00 || leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(node: NodeGetter, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range that occurs when splitting a tree from the left (start aligned)."""
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return node(level, start >> level)
    k = split(size)
    return node_hash(range_hash(node, start, start + k), range_hash(node, start + k, end))


def root(node: NodeGetter, size: int) -> bytes:
    """The root hash of the tree of the first ``size`` leaves."""
    return EMPTY_ROOT if size == 0 else range_hash(node, 0, size)


def inclusion_path(node: NodeGetter, index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 6962 2.1.1), leaf side first."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if index < start + k:
            path.append(range_hash(node, start + k, end))
            end = start + k
        else:
            path.append(range_hash(node, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_path(node: NodeGetter, first: int, second: int) -> list[bytes]:
    """The consistency proof between tree sizes ``first`` and ``second`` (RFC 6962 2.1.2)."""
    if not 0 < first <= second:
        raise ValueError("need 0 < first <= second")
    path: list[bytes] = []
    start, end, m, whole = 0, second, first, True
    while m != end - start:
        k = split(end - start)
        if m <= k:
            path.append(range_hash(node, start + k, end))
            end = start + k
        else:
            path.append(range_hash(node, start, start + k))
            start += k
            m -= k
            whole = False
    if not whole:
        path.append(range_hash(node, start, end))
    path.reverse()
    return path


def needed_nodes(proof: Callable[[NodeGetter], object]) -> set[tuple[int, int]]:
    """The (level, index) of every stored node that ``proof`` reads (its steps never depend on hashes)."""
    seen: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        seen.add((level, index))
        return b"\x00" * 32

    proof(record)
    return seen


def frontier(size: int) -> list[tuple[int, int]]:
    """The complete subtrees a tree of ``size`` leaves ends with, largest first: (level, index)."""
    return [(level, (size >> level) - 1) for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]


def append(
    stored: dict[tuple[int, int], bytes], size: int, leaf_hashes: Sequence[bytes]
) -> dict[tuple[int, int], bytes]:
    """The nodes that appending ``leaf_hashes`` to a tree of ``size`` leaves completes.

    ``stored`` must hold the old tree's ``frontier(size)``. Returns every new node, leaves included.
    """
    known = dict(stored)
    new: dict[tuple[int, int], bytes] = {}
    for offset, value in enumerate(leaf_hashes):
        index, level = size + offset, 0
        new[(0, index)] = known[(0, index)] = value
        # A node with an odd index completes its parent.
        while index & 1:
            parent = node_hash(known[(level, index - 1)], known[(level, index)])
            level, index = level + 1, index >> 1
            new[(level, index)] = known[(level, index)] = parent
    return new


def reference_root(leaves: Sequence[bytes]) -> bytes:
    """MTH straight from RFC 6962's recursive definition over leaf hashes (for tests and checks)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))
