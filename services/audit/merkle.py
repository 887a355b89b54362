"""Merkle tree hashing, proofs and verification for the audit log (RFC 6962 / RFC 9162).

Hashes:

- leaf hash = SHA-256(0x00 || data), interior node = SHA-256(0x01 || left || right);
- the hash of the empty tree is SHA-256("").

Storage model: the log keeps every leaf hash (level 0, index i = leaf i) and every
*complete aligned* interior node (level k, index j = MTH of leaves [j*2^k, (j+1)*2^k)).
The tree functions therefore take a node accessor ``node(level, index) -> bytes`` instead
of the leaves, and only ever ask it for complete aligned nodes inside the tree they work
on. Any MTH(D[lo:hi]) is built from such nodes by the RFC's own split: a range whose
length is a power of two and whose start is a multiple of it is one stored node;
otherwise split at the largest power of two below its length and combine.

Proof lists are in the RFC 6962 order (deepest element first). Verification follows
RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) and works on the proof list
alone; it never raises for malformed input, it returns False.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from operator import methodcaller

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "NodeGetter",
    "consistency_proof",
    "frontier_positions",
    "inclusion_proof",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "root",
    "subtree_hash",
    "tree_nodes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_DIGEST = methodcaller("digest")

NodeGetter = Callable[[int, int], bytes]
"""``node(level, index)``: the stored hash of leaves [index*2^level, (index+1)*2^level)."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def _leaf_hashes_python(datas: Sequence[bytes]) -> list[bytes]:
    """`leaf_hash` of each, in one C-level pipeline (no Python call per leaf)."""
    return list(map(_DIGEST, map(hashlib.sha256, map(_LEAF_PREFIX.__add__, datas))))


try:  # the same in C, when govnet was installed with a compiler (services/_speedups.c)
    from services._speedups import leaf_hashes
except ImportError:  # pragma: no cover - depends on the install
    leaf_hashes = _leaf_hashes_python


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _mth(node: NodeGetter, lo: int, hi: int) -> bytes:
    n = hi - lo
    if _is_power_of_two(n) and lo % n == 0:
        level = n.bit_length() - 1
        return node(level, lo >> level)
    k = _split(n)
    return node_hash(_mth(node, lo, lo + k), _mth(node, lo + k, hi))


def subtree_hash(node: NodeGetter, lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for 0 <= lo < hi, from stored nodes."""
    if not 0 <= lo < hi:
        raise ValueError(f"subtree range must satisfy 0 <= lo < hi, got [{lo}, {hi})")
    return _mth(node, lo, hi)


def root(node: NodeGetter, size: int) -> bytes:
    """MTH(D[0:size]); EMPTY_ROOT for an empty tree."""
    if size < 0:
        raise ValueError(f"tree size must be >= 0, got {size}")
    if size == 0:
        return EMPTY_ROOT
    return _mth(node, 0, size)


def inclusion_proof(node: NodeGetter, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 6962 §2.1.1, deepest sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index must satisfy 0 <= index < size, got {index} and {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    # Walk down from the root; the RFC appends each sibling after the deeper path, so the
    # siblings collected top-down are reversed at the end.
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            path.append(_mth(node, mid, hi))
            hi = mid
        else:
            path.append(_mth(node, lo, mid))
            lo = mid
    path.reverse()
    return path


def consistency_proof(node: NodeGetter, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 6962 §2.1.2; empty when first == second."""
    if not 0 < first <= second:
        raise ValueError(
            f"consistency proof sizes must satisfy 0 < first <= second, got {first} and {second}"
        )
    proof: list[bytes] = []
    lo, hi = 0, second
    m = first  # the old tree's leaf count inside [lo, hi)
    complete = True  # the RFC's flag b: [lo, lo + m) is the whole old tree
    while m != hi - lo:
        mid = lo + _split(hi - lo)
        if m <= mid - lo:
            proof.append(_mth(node, mid, hi))
            hi = mid
        else:
            proof.append(_mth(node, lo, mid))
            m -= mid - lo
            lo = mid
            complete = False
    if not complete:
        proof.append(_mth(node, lo, hi))
    proof.reverse()
    return proof


# --- verification (RFC 9162) -------------------------------------------------------------


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _hash_list(proof: object) -> list[bytes] | None:
    """The proof as a list of well-formed hashes, or None if it is not one."""
    if isinstance(proof, bytes | bytearray | str) or not isinstance(proof, Sequence):
        return None
    items = list(proof)
    for item in items:
        if not _is_hash(item):
            return None
    return items


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree ``root`` of
    ``size`` leaves (RFC 9162 §2.1.3.2). ``leaf`` is the leaf *hash*, not the data."""
    if not (_is_count(index) and _is_count(size) and 0 <= index < size):
        return False
    if not (_is_hash(leaf) and _is_hash(root)):
        return False
    path = _hash_list(proof)
    if path is None:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree ``second_root`` of ``second`` leaves extends the
    tree ``first_root`` of ``first`` leaves (RFC 9162 §2.1.4.2). Requires
    0 < first <= second; for first == second the proof must be empty and the roots equal."""
    if not (_is_count(first) and _is_count(second) and 0 < first <= second):
        return False
    if not (_is_hash(first_root) and _is_hash(second_root)):
        return False
    path = _hash_list(proof)
    if path is None:
        return False
    if first == second:
        return not path and first_root == second_root
    if not path:
        return False
    if _is_power_of_two(first):
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


# --- the growing right edge ----------------------------------------------------------------


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """The (level, index) of each complete aligned subtree along the binary decomposition
    of ``size``, largest (leftmost) first."""
    if size < 0:
        raise ValueError(f"tree size must be >= 0, got {size}")
    positions: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            positions.append((level, start >> level))
            start += 1 << level
    return positions


class Frontier:
    """The right edge of a growing tree: one hash per complete aligned subtree along the
    binary decomposition of `size`. Appending a leaf returns the interior nodes it completes,
    so a writer can store them."""

    size: int

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if not _is_count(size) or size < 0:
            raise ValueError(f"tree size must be an int >= 0, got {size!r}")
        hashes = list(nodes)
        expected = size.bit_count()
        if len(hashes) != expected:
            raise ValueError(
                f"a tree of {size} leaves has {expected} frontier nodes, got {len(hashes)}"
            )
        for h in hashes:
            if not _is_hash(h):
                raise ValueError(f"frontier nodes must be {HASH_SIZE}-byte hashes")
        self.size = size
        self._nodes = hashes

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add the leaf hash ``leaf``; return the (level, index, hash) of every interior
        node it completes, lowest level first."""
        if not _is_hash(leaf):
            raise ValueError(f"a leaf hash must be {HASH_SIZE} bytes")
        position = self.size
        completed: list[tuple[int, int, bytes]] = []
        h = leaf
        level = 0
        # Each set low bit of the leaf's position is a complete sibling on the frontier.
        while position >> level & 1:
            h = node_hash(self._nodes.pop(), h)
            level += 1
            completed.append((level, position >> level, h))
        self._nodes.append(h)
        self.size += 1
        return completed

    def extend(self, leaves: Sequence[bytes]) -> list[tuple[int, int, bytes]]:
        """Add the leaf hashes `leaves` in order, as `append` does one by one; return the
        (level, index, hash) of every interior node they complete, in the order `append`
        would."""
        if not all(map(_is_hash, leaves)):
            raise ValueError(f"a leaf hash must be {HASH_SIZE} bytes")
        nodes, size, completed = self._nodes, self.size, []
        sha256, prefix = hashlib.sha256, _NODE_PREFIX
        for h in leaves:
            position, level = size, 0
            while position & 1:  # a complete sibling on the frontier for each set low bit
                h = sha256(prefix + nodes.pop() + h).digest()
                position >>= 1
                level += 1
                completed.append((level, position, h))
            nodes.append(h)
            size += 1
        self.size = size
        return completed

    def root(self) -> bytes:
        """MTH of the current size, from the frontier alone."""
        if not self._nodes:
            return EMPTY_ROOT
        r = self._nodes[-1]
        for h in reversed(self._nodes[:-1]):
            r = node_hash(h, r)
        return r

    @property
    def nodes(self) -> list[bytes]:
        """The frontier hashes, largest (leftmost) first."""
        return list(self._nodes)

    def __repr__(self) -> str:
        return f"Frontier(size={self.size})"


def tree_nodes(leaves: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete aligned node (level 0 = the given leaf hashes) of a tree."""
    nodes: dict[tuple[int, int], bytes] = {(0, i): h for i, h in enumerate(leaves)}
    count = len(leaves)
    level = 0
    while count >> (level + 1):
        for j in range(count >> (level + 1)):
            nodes[(level + 1, j)] = node_hash(nodes[(level, 2 * j)], nodes[(level, 2 * j + 1)])
        level += 1
    return nodes
