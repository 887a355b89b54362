"""The audit log's Merkle tree (services.audit.merkle), checked against a naive RFC 6962
reference written in this file, the Certificate Transparency test vectors, and tampering."""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Sequence
from typing import Any

import pytest

from services.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Frontier,
    NodeGetter,
    consistency_proof,
    frontier_positions,
    inclusion_proof,
    leaf_hash,
    leaf_hashes,
    node_hash,
    root,
    subtree_hash,
    tree_nodes,
    verify_consistency,
    verify_inclusion,
)

# --- a deliberately naive reference, straight from RFC 6962 §2.1 -------------------------
# Works on the data blobs and recomputes everything recursively; shares no code with the
# module under test.


def ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def ref_k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return ref_leaf(d[0])
    k = ref_k(n)
    return ref_node(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


# --- fixtures --------------------------------------------------------------------------------

MAX_SIZE = 40
TAMPER_SIZES = range(1, 17)
DATA = [b"audit entry %d" % i for i in range(MAX_SIZE)]
LEAVES = [ref_leaf(d) for d in DATA]


def stored(leaves: Sequence[bytes]) -> NodeGetter:
    """A node getter over exactly the complete aligned nodes of `leaves`: asking for any
    other node (incomplete, or beyond the tree) raises KeyError."""
    nodes = tree_nodes(leaves)

    def node(level: int, index: int) -> bytes:
        return nodes[(level, index)]

    return node


GETTERS = {n: stored(LEAVES[:n]) for n in range(1, MAX_SIZE + 1)}
ROOTS = [ref_mth(DATA[:n]) for n in range(MAX_SIZE + 1)]


def flip_bit(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8 % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


# --- hashing primitives ----------------------------------------------------------------------


def test_empty_root_is_sha256_of_the_empty_string() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert HASH_SIZE == len(EMPTY_ROOT) == 32


def test_leaf_hash_prefixes_the_data_with_a_zero_byte() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()


def test_node_hash_prefixes_the_children_with_a_one_byte() -> None:
    left, right = ref_leaf(b"l"), ref_leaf(b"r")
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


def test_root_of_an_empty_tree_is_the_empty_root_and_asks_for_no_node() -> None:
    def no_node(level: int, index: int) -> bytes:
        raise AssertionError(f"asked for node ({level}, {index})")

    assert root(no_node, 0) == EMPTY_ROOT


# --- the Certificate Transparency test tree ------------------------------------------------

CT_DATA = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
CT_GETTER = stored([leaf_hash(d) for d in CT_DATA])
CT_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
CT_INCLUSION_PROOFS = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
CT_CONSISTENCY_PROOFS = {
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


@pytest.mark.parametrize(("size", "expected"), sorted(CT_ROOTS.items()))
def test_ct_test_tree_has_the_known_root(size: int, expected: str) -> None:
    assert root(CT_GETTER, size).hex() == expected
    assert ref_mth(CT_DATA[:size]).hex() == expected


@pytest.mark.parametrize(("position", "expected"), sorted(CT_INCLUSION_PROOFS.items()))
def test_ct_test_tree_has_the_known_inclusion_proof(
    position: tuple[int, int], expected: list[str]
) -> None:
    index, size = position
    proof = inclusion_proof(CT_GETTER, index, size)
    assert [p.hex() for p in proof] == expected
    assert verify_inclusion(
        leaf_hash(CT_DATA[index]), index, size, proof, bytes.fromhex(CT_ROOTS[size])
    )


@pytest.mark.parametrize(("sizes", "expected"), sorted(CT_CONSISTENCY_PROOFS.items()))
def test_ct_test_tree_has_the_known_consistency_proof(
    sizes: tuple[int, int], expected: list[str]
) -> None:
    first, second = sizes
    proof = consistency_proof(CT_GETTER, first, second)
    assert [p.hex() for p in proof] == expected
    assert verify_consistency(
        first,
        second,
        bytes.fromhex(CT_ROOTS[first]),
        bytes.fromhex(CT_ROOTS[second]),
        proof,
    )


# --- cross-check against the reference, every size 1..40 ------------------------------------

SIZES = range(1, MAX_SIZE + 1)


@pytest.mark.parametrize("size", SIZES)
def test_root_equals_the_reference_mth(size: int) -> None:
    assert root(GETTERS[size], size) == ROOTS[size]


@pytest.mark.parametrize("size", SIZES)
def test_subtree_hash_of_every_range_equals_the_reference_mth(size: int) -> None:
    node = GETTERS[size]
    for lo in range(size):
        for hi in range(lo + 1, size + 1):
            assert subtree_hash(node, lo, hi) == ref_mth(DATA[lo:hi]), (lo, hi)


@pytest.mark.parametrize("size", SIZES)
def test_every_inclusion_proof_equals_the_reference_path_and_verifies(size: int) -> None:
    for index in range(size):
        proof = inclusion_proof(GETTERS[size], index, size)
        assert proof == ref_path(index, DATA[:size]), index
        assert verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size]), index


@pytest.mark.parametrize("size", SIZES)
def test_every_consistency_proof_equals_the_reference_proof_and_verifies(size: int) -> None:
    for first in range(1, size + 1):
        proof = consistency_proof(GETTERS[size], first, size)
        assert proof == ref_proof(first, DATA[:size]), first
        assert verify_consistency(first, size, ROOTS[first], ROOTS[size], proof), first


def test_consistency_proof_between_equal_sizes_is_empty_and_verifies() -> None:
    assert consistency_proof(GETTERS[7], 7, 7) == []
    assert verify_consistency(7, 7, ROOTS[7], ROOTS[7], [])


def test_proofs_never_ask_for_nodes_outside_the_tree() -> None:
    # GETTERS hold only the nodes of their own size (a KeyError otherwise); this checks the
    # same thing on a tree that has grown beyond the requested size, by recording requests.
    size, grown = 13, stored(LEAVES)
    asked: list[tuple[int, int]] = []

    def node(level: int, index: int) -> bytes:
        asked.append((level, index))
        return grown(level, index)

    root(node, size)
    for index in range(size):
        inclusion_proof(node, index, size)
    for first in range(1, size + 1):
        consistency_proof(node, first, size)
    assert asked
    assert all((index + 1) << level <= size for level, index in asked)


# --- argument checking -----------------------------------------------------------------------


@pytest.mark.parametrize(("lo", "hi"), [(0, 0), (3, 3), (4, 2), (-1, 2)])
def test_subtree_hash_refuses_an_empty_or_negative_range(lo: int, hi: int) -> None:
    with pytest.raises(ValueError, match="lo < hi"):
        subtree_hash(GETTERS[8], lo, hi)


def test_root_refuses_a_negative_size() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        root(GETTERS[8], -1)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (-1, 5), (5, 5), (6, 5)])
def test_inclusion_proof_refuses_an_index_outside_the_tree(index: int, size: int) -> None:
    with pytest.raises(ValueError, match="index < size"):
        inclusion_proof(GETTERS[8], index, size)


@pytest.mark.parametrize(("first", "second"), [(0, 5), (0, 0), (-1, 5), (6, 5)])
def test_consistency_proof_refuses_sizes_outside_zero_lt_first_le_second(
    first: int, second: int
) -> None:
    with pytest.raises(ValueError, match="0 < first <= second"):
        consistency_proof(GETTERS[8], first, second)


# --- tampering ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", TAMPER_SIZES)
def test_inclusion_proof_with_any_one_bit_flipped_does_not_verify(size: int) -> None:
    for index in range(size):
        proof = inclusion_proof(GETTERS[size], index, size)
        for pos in range(len(proof)):
            for bit in (0, 7 * pos + index, 255):
                bad = [*proof]
                bad[pos] = flip_bit(proof[pos], bit)
                assert not verify_inclusion(LEAVES[index], index, size, bad, ROOTS[size])


@pytest.mark.parametrize("size", TAMPER_SIZES)
def test_inclusion_proof_for_another_leaf_or_index_does_not_verify(size: int) -> None:
    for index in range(size):
        proof = inclusion_proof(GETTERS[size], index, size)
        for other in [-1, *range(size + 2)]:
            if other != index:
                assert not verify_inclusion(LEAVES[index], other, size, proof, ROOTS[size])
        for other in range(MAX_SIZE):
            if other != index:
                assert not verify_inclusion(LEAVES[other], index, size, proof, ROOTS[size])


@pytest.mark.parametrize("size", TAMPER_SIZES)
def test_inclusion_proof_against_another_size_and_its_root_does_not_verify(size: int) -> None:
    for index in range(size):
        proof = inclusion_proof(GETTERS[size], index, size)
        for other in range(MAX_SIZE + 1):
            if other != size:
                assert not verify_inclusion(LEAVES[index], index, other, proof, ROOTS[other])
        assert not verify_inclusion(LEAVES[index], index, index, proof, ROOTS[size])


def test_the_size_is_bound_by_the_root_not_by_the_proof_shape() -> None:
    # Leaf 0 has the same path shape (left, left) in trees of 3 and 4 leaves, so the
    # size-4 proof also checks out as "size 3" against the *size-4 root*. A (size, root)
    # pair must come from one signed tree head; against the real size-3 root it fails.
    proof = inclusion_proof(GETTERS[4], 0, 4)
    assert verify_inclusion(LEAVES[0], 0, 3, proof, ROOTS[4])
    assert not verify_inclusion(LEAVES[0], 0, 3, proof, ROOTS[3])


@pytest.mark.parametrize("size", TAMPER_SIZES)
def test_inclusion_proof_against_a_wrong_root_does_not_verify(size: int) -> None:
    for index in range(size):
        proof = inclusion_proof(GETTERS[size], index, size)
        for wrong in (flip_bit(ROOTS[size], index), ROOTS[size - 1], EMPTY_ROOT):
            assert not verify_inclusion(LEAVES[index], index, size, proof, wrong)


@pytest.mark.parametrize("size", TAMPER_SIZES)
def test_inclusion_proof_one_element_too_long_or_too_short_does_not_verify(size: int) -> None:
    for index in range(size):
        proof = inclusion_proof(GETTERS[size], index, size)
        for extra in (EMPTY_ROOT, proof[-1] if proof else LEAVES[index]):
            longer = [*proof, extra]
            assert not verify_inclusion(LEAVES[index], index, size, longer, ROOTS[size])
        if proof:
            for shorter in (proof[:-1], proof[1:]):
                assert not verify_inclusion(LEAVES[index], index, size, shorter, ROOTS[size])


def consistency_cases(size: int) -> list[tuple[int, list[bytes]]]:
    return [(first, consistency_proof(GETTERS[size], first, size)) for first in range(1, size)]


@pytest.mark.parametrize("size", TAMPER_SIZES)
def test_consistency_proof_with_any_one_bit_flipped_does_not_verify(size: int) -> None:
    for first, proof in consistency_cases(size):
        for pos in range(len(proof)):
            for bit in (0, 7 * pos + first, 255):
                bad = [*proof]
                bad[pos] = flip_bit(proof[pos], bit)
                assert not verify_consistency(first, size, ROOTS[first], ROOTS[size], bad)


@pytest.mark.parametrize("size", TAMPER_SIZES)
def test_consistency_proof_against_other_sizes_and_their_roots_does_not_verify(
    size: int,
) -> None:
    for first, proof in consistency_cases(size):
        for other in range(MAX_SIZE + 1):
            if other != first:
                assert not verify_consistency(other, size, ROOTS[other], ROOTS[size], proof)
            if other != size:
                assert not verify_consistency(first, other, ROOTS[first], ROOTS[other], proof)


@pytest.mark.parametrize("size", TAMPER_SIZES)
def test_consistency_proof_against_a_wrong_root_does_not_verify(size: int) -> None:
    for first, proof in consistency_cases(size):
        old, new = ROOTS[first], ROOTS[size]
        for wrong_old in (flip_bit(old, first), ROOTS[first - 1], new):
            assert not verify_consistency(first, size, wrong_old, new, proof)
        for wrong_new in (flip_bit(new, first), ROOTS[size - 1], old):
            assert not verify_consistency(first, size, old, wrong_new, proof)


@pytest.mark.parametrize("size", TAMPER_SIZES)
def test_consistency_proof_one_element_too_long_or_too_short_does_not_verify(
    size: int,
) -> None:
    for first, proof in consistency_cases(size):
        old, new = ROOTS[first], ROOTS[size]
        for extra in (EMPTY_ROOT, proof[-1], old):
            assert not verify_consistency(first, size, old, new, [*proof, extra])
        for shorter in (proof[:-1], proof[1:]):
            assert not verify_consistency(first, size, old, new, shorter)


@pytest.mark.parametrize("size", TAMPER_SIZES)
def test_consistency_between_equal_sizes_needs_an_empty_proof_and_equal_roots(
    size: int,
) -> None:
    r = ROOTS[size]
    assert verify_consistency(size, size, r, r, [])
    assert not verify_consistency(size, size, r, r, [r])
    assert not verify_consistency(size, size, r, flip_bit(r, size), [])
    assert not verify_consistency(size, size, ROOTS[size - 1], r, [])


# --- malformed input: verification says False, never raises ------------------------------

GOOD_PROOF = inclusion_proof(GETTERS[11], 6, 11)
GOOD_CONSISTENCY = consistency_proof(GETTERS[11], 6, 11)


def test_the_unmangled_inputs_used_below_do_verify() -> None:
    assert verify_inclusion(LEAVES[6], 6, 11, GOOD_PROOF, ROOTS[11])
    assert verify_consistency(6, 11, ROOTS[6], ROOTS[11], GOOD_CONSISTENCY)


def _inclusion(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "leaf": LEAVES[6],
        "index": 6,
        "size": 11,
        "proof": GOOD_PROOF,
        "root": ROOTS[11],
    }
    return {**args, **changes}


MALFORMED_INCLUSION = {
    "negative index": _inclusion(index=-1),
    "index equal to size": _inclusion(index=11),
    "zero size": _inclusion(index=0, size=0),
    "negative size": _inclusion(size=-3),
    "huge size": _inclusion(size=2**80),
    "index not an int": _inclusion(index=6.0),
    "size not an int": _inclusion(size="11"),
    "index a bool": _inclusion(index=True),
    "short leaf": _inclusion(leaf=LEAVES[6][:31]),
    "leaf as str": _inclusion(leaf=LEAVES[6].hex()),
    "long root": _inclusion(root=ROOTS[11] + b"\x00"),
    "root None": _inclusion(root=None),
    "proof element too short": _inclusion(proof=[*GOOD_PROOF[:-1], GOOD_PROOF[-1][:-1]]),
    "proof element too long": _inclusion(proof=[GOOD_PROOF[0] + b"\x00", *GOOD_PROOF[1:]]),
    "proof element as hex": _inclusion(proof=[p.hex() for p in GOOD_PROOF]),
    "proof element None": _inclusion(proof=[None, *GOOD_PROOF[1:]]),
    "proof concatenated into bytes": _inclusion(proof=b"".join(GOOD_PROOF)),
    "proof None": _inclusion(proof=None),
    "proof an int": _inclusion(proof=3),
}


@pytest.mark.parametrize("args", MALFORMED_INCLUSION.values(), ids=list(MALFORMED_INCLUSION.keys()))
def test_verify_inclusion_returns_false_for_malformed_input(args: dict[str, Any]) -> None:
    assert verify_inclusion(**args) is False


def _consistency(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "first": 6,
        "second": 11,
        "first_root": ROOTS[6],
        "second_root": ROOTS[11],
        "proof": GOOD_CONSISTENCY,
    }
    return {**args, **changes}


MALFORMED_CONSISTENCY = {
    "first zero with empty proof": _consistency(first=0, first_root=EMPTY_ROOT, proof=[]),
    "first zero": _consistency(first=0, first_root=EMPTY_ROOT),
    "both zero": _consistency(first=0, second=0, first_root=EMPTY_ROOT, second_root=EMPTY_ROOT),
    "negative first": _consistency(first=-6),
    "first beyond second": _consistency(first=12),
    "first and second swapped": _consistency(
        first=11, second=6, first_root=ROOTS[11], second_root=ROOTS[6]
    ),
    "huge second": _consistency(second=2**80),
    "first not an int": _consistency(first=6.0),
    "second not an int": _consistency(second=None),
    "short first root": _consistency(first_root=ROOTS[6][:16]),
    "long second root": _consistency(second_root=ROOTS[11] * 2),
    "second root as str": _consistency(second_root=ROOTS[11].hex()),
    "empty proof for different sizes": _consistency(proof=[]),
    "proof element too short": _consistency(
        proof=[GOOD_CONSISTENCY[0][:-1], *GOOD_CONSISTENCY[1:]]
    ),
    "proof element None": _consistency(proof=[*GOOD_CONSISTENCY[:-1], None]),
    "proof concatenated into bytes": _consistency(proof=b"".join(GOOD_CONSISTENCY)),
    "proof None": _consistency(proof=None),
}


@pytest.mark.parametrize(
    "args", MALFORMED_CONSISTENCY.values(), ids=list(MALFORMED_CONSISTENCY.keys())
)
def test_verify_consistency_returns_false_for_malformed_input(args: dict[str, Any]) -> None:
    assert verify_consistency(**args) is False


# --- the frontier ------------------------------------------------------------------------------


def test_frontier_root_equals_the_reference_at_every_size() -> None:
    frontier = Frontier()
    assert frontier.size == 0
    assert frontier.root() == EMPTY_ROOT
    for n, leaf in enumerate(LEAVES, start=1):
        frontier.append(leaf)
        assert frontier.size == n
        assert frontier.root() == ROOTS[n], n


def test_frontier_reports_exactly_the_complete_aligned_interior_nodes() -> None:
    frontier = Frontier()
    reported: dict[tuple[int, int], bytes] = {}
    for n, leaf in enumerate(LEAVES, start=1):
        completed = frontier.append(leaf)
        levels = [level for level, _, _ in completed]
        assert levels == list(range(1, len(completed) + 1)), n  # lowest level first
        for level, index, h in completed:
            assert (level, index) not in reported, (n, level, index)
            reported[(level, index)] = h
        interior = {pos: h for pos, h in tree_nodes(LEAVES[:n]).items() if pos[0] >= 1}
        assert reported == interior, n


def test_appending_leaf_7_completes_the_nodes_above_it_up_to_the_root_of_8() -> None:
    frontier = Frontier()
    for leaf in LEAVES[:7]:
        frontier.append(leaf)
    nodes = tree_nodes(LEAVES[:8])
    assert frontier.append(LEAVES[7]) == [
        (1, 3, nodes[(1, 3)]),
        (2, 1, nodes[(2, 1)]),
        (3, 0, nodes[(3, 0)]),
    ]
    assert frontier.nodes == [nodes[(3, 0)]]


def test_frontier_nodes_are_the_stored_nodes_at_the_frontier_positions() -> None:
    frontier = Frontier()
    for n, leaf in enumerate(LEAVES, start=1):
        frontier.append(leaf)
        nodes = tree_nodes(LEAVES[:n])
        assert frontier.nodes == [nodes[pos] for pos in frontier_positions(n)], n


@pytest.mark.parametrize("cuts", [(40,), (3, 8, 20, 40), (1, 2, 3, 15, 16, 17, 31, 32, 33, 40)])
def test_extending_by_a_batch_is_appending_one_by_one(cuts: tuple[int, ...]) -> None:
    one_by_one, batched = Frontier(), Frontier()
    for start, stop in zip((0, *cuts[:-1]), cuts, strict=True):
        appended = [node for leaf in LEAVES[start:stop] for node in one_by_one.append(leaf)]

        assert batched.extend(LEAVES[start:stop]) == appended
        assert (batched.size, batched.nodes, batched.root()) == (
            one_by_one.size,
            one_by_one.nodes,
            one_by_one.root(),
        )


def test_leaf_hashes_is_leaf_hash_of_each() -> None:
    assert leaf_hashes(DATA) == [leaf_hash(d) for d in DATA]
    assert leaf_hashes([]) == []


def test_extend_refuses_a_leaf_that_is_not_a_hash() -> None:
    frontier = Frontier()
    with pytest.raises(ValueError, match="a leaf hash must be 32 bytes"):
        frontier.extend([LEAVES[0], b"short"])
    assert frontier.size == 0


@pytest.mark.parametrize(
    ("size", "positions"),
    [
        (0, []),
        (1, [(0, 0)]),
        (2, [(1, 0)]),
        (3, [(1, 0), (0, 2)]),
        (6, [(2, 0), (1, 2)]),
        (7, [(2, 0), (1, 2), (0, 6)]),
        (8, [(3, 0)]),
        (13, [(3, 0), (2, 2), (0, 12)]),
        (40, [(5, 0), (3, 4)]),
    ],
)
def test_frontier_positions_follow_the_binary_decomposition_largest_first(
    size: int, positions: list[tuple[int, int]]
) -> None:
    assert frontier_positions(size) == positions


def test_frontier_positions_refuses_a_negative_size() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        frontier_positions(-1)


@pytest.mark.parametrize("restart", range(MAX_SIZE + 1))
def test_frontier_resumed_from_stored_nodes_continues_like_one_that_never_stopped(
    restart: int,
) -> None:
    # The writer that never stopped, snapshotted at each size after the restart point.
    steady = Frontier()
    for leaf in LEAVES[:restart]:
        steady.append(leaf)
    # After a restart, the reader knows only the size and the stored nodes.
    store = tree_nodes(LEAVES[:restart])
    resumed = Frontier(restart, [store[pos] for pos in frontier_positions(restart)])
    assert resumed.size == restart
    assert resumed.root() == steady.root() == ROOTS[restart]
    for n, leaf in enumerate(LEAVES[restart:], start=restart + 1):
        assert resumed.append(leaf) == steady.append(leaf), n
        assert resumed.root() == steady.root() == ROOTS[n], n
        assert resumed.nodes == steady.nodes, n


def test_frontier_nodes_is_a_copy() -> None:
    frontier = Frontier()
    frontier.append(LEAVES[0])
    frontier.nodes.clear()
    assert frontier.nodes == [LEAVES[0]]
    assert frontier.root() == ROOTS[1]


@pytest.mark.parametrize(
    ("size", "nodes"),
    [
        (-1, []),
        (0, [LEAVES[0]]),
        (3, [ROOTS[2]]),
        (3, [ROOTS[2], LEAVES[2], LEAVES[3]]),
        (1, [LEAVES[0][:31]]),
        (1, [LEAVES[0].hex()]),
    ],
    ids=[
        "negative size",
        "nodes for an empty tree",
        "too few nodes",
        "too many nodes",
        "short hash",
        "hex string",
    ],
)
def test_frontier_refuses_nodes_that_do_not_fit_its_size(size: int, nodes: list[Any]) -> None:
    with pytest.raises(ValueError, match=r"size|frontier nodes"):
        Frontier(size, nodes)


@pytest.mark.parametrize("leaf", [b"", b"data", LEAVES[0] + b"\x00"])
def test_frontier_append_refuses_a_leaf_that_is_not_a_hash(leaf: bytes) -> None:
    frontier = Frontier()
    with pytest.raises(ValueError, match="32 bytes"):
        frontier.append(leaf)
    assert frontier.size == 0


def test_tree_nodes_of_no_leaves_is_empty() -> None:
    assert tree_nodes([]) == {}


# --- a larger tree -------------------------------------------------------------------------------

BIG = 10_000


def test_ten_thousand_leaves_build_the_same_tree_and_random_proofs_verify() -> None:
    rng = random.Random(6962)
    checkpoints = sorted({rng.randrange(1, BIG + 1) for _ in range(6)} | {BIG})
    store: dict[tuple[int, int], bytes] = {}
    roots: dict[int, bytes] = {}
    frontier = Frontier()

    for i in range(BIG):
        h = leaf_hash(b"audit entry %d" % i)
        store[(0, i)] = h
        for level, index, completed in frontier.append(h):
            store[(level, index)] = completed
        if frontier.size in checkpoints:
            roots[frontier.size] = frontier.root()

    def node(level: int, index: int) -> bytes:
        return store[(level, index)]

    assert store == tree_nodes([store[(0, i)] for i in range(BIG)])
    for size, expected in roots.items():
        assert root(node, size) == expected, size

    for _ in range(5):
        size = rng.choice(checkpoints)
        index = rng.randrange(size)
        proof = inclusion_proof(node, index, size)
        assert verify_inclusion(store[(0, index)], index, size, proof, roots[size])
        assert not verify_inclusion(store[(0, index)], index, size, proof[:-1], roots[size])

    for first, second in [(checkpoints[0], BIG), *itertools.pairwise(checkpoints)]:
        proof = consistency_proof(node, first, second)
        assert verify_consistency(first, second, roots[first], roots[second], proof)
        assert not verify_consistency(first, second, roots[second], roots[first], proof)
