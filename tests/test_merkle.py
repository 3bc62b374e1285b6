"""The Merkle tree functions against RFC 6962's definitions, for every tree size from 1 to 64.

The server's proofs (app.log.merkle, from stored complete subtrees) are checked against a
brute-force reference written straight from the RFC's recursive definitions, and verified by
the standalone verifier's RFC 9162 algorithms, which must also reject every wrong proof.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from app.log import merkle

SIZES = range(1, 65)


def _load_verifier() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "verifier" / "undersigned_verify.py"
    spec = importlib.util.spec_from_file_location("undersigned_verify", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["undersigned_verify"] = module
    spec.loader.exec_module(module)
    return module


verifier = _load_verifier()
LEAVES = [merkle.leaf_hash(f"leaf {i}".encode()) for i in range(64)]


def _mth(leaves: list[bytes]) -> bytes:
    return merkle.reference_root(leaves)


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 2.1.1 PATH(m, D[n]), literally."""
    n = len(leaves)
    if n == 1:
        return []
    k = merkle.split(n)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """RFC 6962 2.1.2 SUBPROOF(m, D[n], b), literally."""
    n = len(leaves)
    if m == n:
        return [] if whole else [_mth(leaves)]
    k = merkle.split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def _stored(size: int) -> merkle.NodeGetter:
    """Complete subtrees of the first ``size`` leaves, built the way the sequencer builds them."""
    nodes: dict[tuple[int, int], bytes] = {}
    for start in range(0, size, 5):  # in batches of five, as appends would
        nodes.update(merkle.append(nodes, start, LEAVES[start : min(size, start + 5)]))

    def get(level: int, index: int) -> bytes:
        assert (index + 1) << level <= size, "read a subtree that is not complete"
        return nodes[(level, index)]

    return get


def test_empty_tree_and_known_values() -> None:
    assert merkle.root(_stored(0), 0).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    # RFC 6962's hash of the empty leaf, as used by CT's test vectors.
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert merkle.node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()


@pytest.mark.parametrize("size", SIZES)
def test_roots_and_inclusion_proofs(size: int) -> None:
    node = _stored(size)
    leaves = LEAVES[:size]
    root = merkle.root(node, size)
    assert root == _mth(leaves) == verifier.root_from_leaf_hashes(leaves)
    for index in range(size):
        path = merkle.inclusion_path(node, index, size)
        assert path == _path(index, leaves)
        # O(log n) stored nodes, never a scan.
        assert (
            len(merkle.needed_nodes(lambda get, i=index: merkle.inclusion_path(get, i, size))) <= 2 * size.bit_length()
        )
        assert verifier.verify_inclusion(index, size, leaves[index], path, root)
        # Wrong leaf, wrong index, wrong root, a changed or shortened path: all refused.
        assert not verifier.verify_inclusion(index, size, LEAVES[(index + 1) % 64], path, root)
        assert not verifier.verify_inclusion(index, size, leaves[index], path, hashlib.sha256(root).digest())
        if size > 1:
            assert not verifier.verify_inclusion((index + 1) % size, size, leaves[index], path, root)
            assert not verifier.verify_inclusion(index, size, leaves[index], path[:-1], root)
            bent = [hashlib.sha256(path[0]).digest(), *path[1:]]
            assert not verifier.verify_inclusion(index, size, leaves[index], bent, root)
        assert not verifier.verify_inclusion(index, size, leaves[index], [*path, root], root)


@pytest.mark.parametrize("second", SIZES)
def test_consistency_proofs(second: int) -> None:
    node = _stored(second)
    second_root = merkle.root(node, second)
    for first in range(1, second + 1):
        first_root = _mth(LEAVES[:first])
        path = merkle.consistency_path(node, first, second)
        assert path == _subproof(first, LEAVES[:second], True)
        assert verifier.verify_consistency(first, second, first_root, second_root, path)
        if first < second:
            assert not verifier.verify_consistency(
                first, second, hashlib.sha256(first_root).digest(), second_root, path
            )
            assert not verifier.verify_consistency(
                first, second, first_root, hashlib.sha256(second_root).digest(), path
            )
            assert not verifier.verify_consistency(first, second, first_root, second_root, path[:-1])
            # A tree that rewrote one of the first leaves is not consistent with the saved head.
            forged = list(LEAVES[:second])
            forged[first - 1] = merkle.leaf_hash(b"forged")
            assert not verifier.verify_consistency(first, second, first_root, _mth(forged), path)


def test_frontier_is_what_append_needs() -> None:
    assert merkle.frontier(0) == []
    assert merkle.frontier(6) == [(2, 0), (1, 2)]
    assert merkle.frontier(7) == [(2, 0), (1, 2), (0, 6)]


def test_bad_ranges_are_refused() -> None:
    node = _stored(4)
    with pytest.raises(ValueError):
        merkle.inclusion_path(node, 4, 4)
    with pytest.raises(ValueError):
        merkle.consistency_path(node, 0, 4)
    with pytest.raises(ValueError):
        merkle.consistency_path(node, 5, 4)
