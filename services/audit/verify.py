"""Offline verification of an audit export (`govnet audit verify`).

What is checked, and what each check catches:

- every entry's leaf is recomputed from its bytes and compared with the leaf the log
  recorded (`_leaves` records): an edited, removed, inserted or moved entry is found at
  its log index (a moved one at its own, wherever in the export it went);
- the `_leaves` records must cover entries 1, 2, 3 … in order: a removed block is found
  where the run breaks;
- every source's `sequence` must run 1, 2, 3 … with none missing or repeated (arrival
  order may differ): an event that never reached the log, or was removed or replayed, is
  found at the next entry of its source — unless an `event.rejected` entry says the node
  refused it (`Verification.refused`);
- the Merkle tree is rebuilt and its root compared with every signed checkpoint, whose
  Ed25519 signature is checked, and the consistency proofs between consecutive
  checkpoints are verified: a log rewritten consistently (leaves recomputed too) is found
  between the two checkpoints around the change; one rewritten and re-signed with the
  node's key is caught by any checkpoint an auditor kept from before (`trusted`);
- the file must hold one consistency proof right after each checkpoint but the first, from
  the checkpoint before it, and no other: one removed, duplicated, moved or naming another
  pair is found where it belongs or stands (an edited file, not a rewritten log: the roots
  are checked against the rebuilt tree anyway);
- the file must hold as many entries and checkpoints as its header promises: a checkpoint
  taken out, which would leave the entries after the one before it looking unsigned, is
  found.

The file is cut into byte ranges of whole 1024-entry blocks, scanned in parallel
(`jobs`); this process joins the results in order. Per entry the work is one leaf hash, on
average one interior hash, and reading the source and sequence from the bytes — done where
the bytes lie in the range's buffer. The inner loops of a scan are in C (`_speedups.c`, built
when govnet is installed where a compiler and OpenSSL's headers are): they let go of the
GIL, so the ranges are scanned by threads. Without it the same steps run as C-level `map`
pipelines over each block, since a Python loop or a copy per entry would cost more than the
hashing, and the ranges go to spawned processes. Either way, and with `jobs=1`, the
verdict is the same (the tests run both). Signed notes are only read here, in the joining
process: spawned scanning processes do not import what checking a signature needs.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import mmap
import operator
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import compress, repeat
from multiprocessing import get_context
from operator import add
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.audit.export import BLOCK, FORMAT
from services.audit.merkle import EMPTY_ROOT, verify_consistency
from services.contract.names import EVENT_REJECTED

try:  # the inner loops in C, when govnet was installed with a compiler (see services/_speedups.c)
    from services import _speedups as _compiled
except ImportError:  # pragma: no cover - depends on the install
    _compiled = None  # type: ignore[assignment]

COMPILED = _compiled is not None
"""Whether the scans run their inner loops in C (`govnet audit verify` says which)."""

if TYPE_CHECKING:
    from services.audit.notes import SignedCheckpoint, VerifierKey

CHUNK_BYTES = 8 << 20
"""Scans work on byte ranges of about this size (cut after a `_leaves` record)."""

_RECORD = b'\x00{"_'
_LEAVES = b'\x00{"_leaves":'
_SEQUENCE = b',"sequence":'
_SOURCE = b',"source":"'
_REJECTED = b',"type":"event.rejected"'
_digest = operator.methodcaller("digest")


@dataclass(frozen=True)
class Problem:
    line: int
    index: int | None
    """The log index the problem is at (or starts at), when there is one."""
    message: str

    def __str__(self) -> str:
        where = f"log index {self.index}" if self.index is not None else "export"
        return f"{where} (line {self.line}): {self.message}"


@dataclass
class Verification:
    entries: int = 0
    checkpoints: int = 0
    sources: int = 0
    key: str = ""
    key_pinned: bool = False
    last_checkpoint: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Facts worth knowing that are not problems (entries no checkpoint covers yet)."""
    refused: list[tuple[str, int, int]] = field(default_factory=list)
    """(source, sequence, log index of the `event.rejected` entry naming it) of every
    sequence number missing from the log because the node refused that event."""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_export(
    path: Path,
    *,
    key: VerifierKey | None = None,
    trusted: Iterable[SignedCheckpoint] = (),
    jobs: int = 1,
    advance: Callable[[int], None] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Verification:
    """Verify the export at `path`.

    `key`: the node's verifier key, pinned by the auditor; without it, the key the file
    names is used (and the result says so). `trusted`: checkpoints obtained elsewhere
    (earlier, or from the parent node's log); the export must agree with each. `jobs`:
    threads to scan with (processes without the C loops). `advance(n)` is called with the
    bytes done, for a progress bar.
    """
    result = Verification()
    with path.open("rb") as handle:
        first_line = handle.readline()
        body_start = handle.tell()
        total = os.fstat(handle.fileno()).st_size
    if not first_line:
        result.problems.append(Problem(0, None, "the export is empty"))
        return result
    header, key = _read_header(first_line, key, result)
    if header is None:
        return result
    if advance is not None:
        advance(body_start)
    ranges = list(_byte_ranges(path, body_start, total, chunk_bytes))
    merge = _Merge(result, key, trusted)
    paths = [str(path)] * len(ranges)
    starts, ends = [a for a, _ in ranges], [b for _, b in ranges]
    compiled = [COMPILED] * len(ranges)
    if jobs > 1 and len(ranges) > 1:
        with _pool(jobs) as pool:
            for scan, start, end in zip(
                pool.map(_scan, paths, starts, ends, compiled), starts, ends, strict=True
            ):
                merge.add(scan)
                if advance is not None:
                    advance(end - start)
    else:
        for path_text, start, end in zip(paths, starts, ends, strict=True):
            merge.add(_scan(path_text, start, end, COMPILED))
            if advance is not None:
                advance(end - start)
    merge.finish()
    # The counts the header promises: a checkpoint taken out leaves no other trace.
    for count, found in (("entries", result.entries), ("checkpoints", result.checkpoints)):
        if header.get(count) != found:
            result.problems.append(
                Problem(
                    merge.line,
                    None,
                    f"the header promises {header.get(count)} {count} but the file has {found}",
                )
            )
    result.problems.sort(key=lambda p: (p.index is None, p.index or 0, p.line))
    return result


def _pool(jobs: int) -> Executor:
    """Threads when the inner loops are compiled (they let go of the GIL, and a thread
    costs nothing to start and hands back its results without copying); processes, which
    are spawned, when they are not."""
    if COMPILED:
        return ThreadPoolExecutor(max_workers=jobs)
    return ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"))


def _byte_ranges(path: Path, start: int, total: int, size: int) -> Iterator[tuple[int, int]]:
    """Ranges of about `size` bytes from `start`, each ending after a `_leaves` record."""
    if start >= total:
        return
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        while start < total:
            record = mm.find(b"\n" + _LEAVES[1:], min(start + size, total) - 1)
            end = mm.find(b"\n", record + 1) + 1 if record >= 0 else 0
            if record < 0 or end <= 0:
                end = total
            yield start, end
            start = end


# -- scanning a byte range ------------------------------------------------------------


@dataclass
class _Scan:
    lines: int = 0
    events: int = 0
    leaves: bytes = b""
    """The computed leaf hash of every entry in the range, in order."""
    group_roots: list[bytes] = field(default_factory=list)
    """The subtree root of each complete group of BLOCK entries, counted from the range's
    first entry (valid when the range starts at a multiple of BLOCK)."""
    blocks: list[tuple[int, int | None, int]] = field(default_factory=list)
    """Per `_leaves` record: (line, the first entry it declares, how many it declares)."""
    problems: list[Problem] = field(default_factory=list)
    """Line numbers relative to the range (1 = its first line)."""
    runs: list[tuple[bytes, int, int, int | None, int]] = field(default_factory=list)
    """(source, first sequence, last sequence, log index, line), in entry order."""
    records: list[tuple[int, int, bytes]] = field(default_factory=list)
    """(line, entries before it in the range, text) of the other records."""
    uncovered: int | None = None
    """The first entry (in the range) after the range's last `_leaves` record, if any."""
    anomalies: list[_Anomaly] = field(default_factory=list)
    """What the blocks could not explain alone (line numbers relative to the range)."""
    refusals: list[tuple[bytes, int, int]] = field(default_factory=list)
    """(source, sequence, entry in the range) named by each `event.rejected` entry."""


def _scan(path: str, start: int, end: int, compiled: bool) -> _Scan:
    # The leaf of a line is SHA-256(0x00 || line). The range is read after one 0x00 and
    # every newline becomes 0x00 in place: each line then has its prefix in front of it,
    # and its leaf is hashed from the buffer where it lies, never copied per entry.
    buffer = bytearray(end - start + 1)
    view = memoryview(buffer)
    with open(path, "rb") as handle:
        handle.seek(start)
        handle.readinto(view[1:])
    fast = _compiled if compiled else None
    bounds = _split_lines(buffer) if fast is None else fast.split_lines(buffer)
    if bounds[-1] < len(buffer) - 1:  # a last line without its newline
        bounds.append(len(buffer))
    starts, ends = bounds[:-1], bounds[1:]
    out = _Scan(lines=len(starts))
    marks = list(compress(range(len(starts)), map(buffer.startswith, repeat(_RECORD), starts)))
    record_positions: list[int] = []  # entries before each record line
    firsts: list[int] = []  # each entry's 0x00
    lasts: list[int] = []  # where each entry ends
    previous = 0
    for mark in marks:
        firsts += starts[previous:mark]
        lasts += ends[previous:mark]
        record_positions.append(len(firsts))
        previous = mark + 1
    firsts += starts[previous:]
    lasts += ends[previous:]
    line_of = _LineMap(marks, record_positions)
    entries = _Entries(buffer, view, firsts, lasts)

    out.events = len(firsts)
    if fast is None:
        leaves = list(
            map(_digest, map(hashlib.sha256, map(view.__getitem__, map(slice, firsts, lasts))))
        )
        out.leaves = b"".join(leaves)
        out.group_roots = [
            _subtree(leaves[i : i + BLOCK]) for i in range(0, len(leaves) - BLOCK + 1, BLOCK)
        ]
    else:
        out.leaves = fast.leaves(buffer, firsts, lasts)
        out.group_roots = fast.group_roots(out.leaves, BLOCK)

    block_start = 0
    for mark, before in zip(marks, record_positions, strict=True):
        text = bytes(view[starts[mark] + 1 : ends[mark]])
        if not text.startswith(_LEAVES[1:]):
            out.records.append((mark + 1, before, text))
            continue
        declared = _leaves_record(text)
        first: int | None = None
        recorded = b""
        if declared is None:
            out.problems.append(Problem(mark + 1, None, "a _leaves record that cannot be read"))
        else:
            first, recorded = declared
        out.blocks.append((mark + 1, first, len(recorded) // 32))
        computed = out.leaves[block_start * 32 : before * 32]
        indexes = _compare(computed, recorded, first, block_start, line_of, out)
        _sequences(entries, block_start, before, first, line_of, out, indexes, fast)
        block_start = before
    if block_start < len(firsts):  # entries no _leaves record covers
        out.uncovered = block_start
        _sequences(entries, block_start, len(firsts), None, line_of, out, None, fast)
    view.release()
    return out


def _split_lines(buffer: bytearray) -> list[int]:
    """Set every newline after the first byte to 0x00; return 0 and their positions."""
    bounds = [0]
    find, add = buffer.find, bounds.append
    at = find(10, 1)
    while at >= 0:
        buffer[at] = 0
        add(at)
        at = find(10, at + 1)
    return bounds


@dataclass
class _Entries:
    """The entries of a range: entry k is `buffer[firsts[k] + 1 : lasts[k]]`, preceded by
    its leaf prefix 0x00 at `firsts[k]`."""

    buffer: bytearray
    view: memoryview
    firsts: list[int]
    lasts: list[int]

    def text(self, k: int) -> bytes:
        return bytes(self.view[self.firsts[k] + 1 : self.lasts[k]])


class _LineMap:
    """The range-relative line number of the k-th entry, given where the records are."""

    def __init__(self, marks: list[int], positions: list[int]) -> None:
        self.marks = marks
        self.positions = positions

    def __call__(self, entry: int) -> int:
        records_before = bisect.bisect_right(self.positions, entry)
        return entry + records_before + 1


def _leaves_record(text: bytes) -> tuple[int, bytes] | None:
    record = _json(text)
    body = record.get("_leaves") if record else None
    try:
        first = body["from"]  # type: ignore[index]
        hashes = bytes.fromhex(body["hashes"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None
    if not isinstance(first, int) or isinstance(first, bool) or len(hashes) % 32:
        return None
    return first, hashes


@dataclass(frozen=True)
class _Anomaly:
    """A place where a block's entries and the leaves the log recorded for it disagree, in a
    way the block alone cannot explain: a recorded leaf no entry of the block has
    (`recorded`), an entry whose leaf the log did not record in this block (`computed`), or
    both at one place (an entry changed where it stands). The merge pairs them across
    blocks: an entry found in one block whose leaf is missing from another was moved."""

    index: int | None
    """The log index of the place (of the recorded entry, when there is one)."""
    line: int
    """The line of the entry now at that place (range-relative until merged)."""
    recorded: bytes
    computed: bytes
    after: int | None
    """The log index of the entry before it in the file."""


def _compare(
    joined: bytes,
    recorded: bytes,
    first: int | None,
    offset: int,
    line_of: _LineMap,
    out: _Scan,
) -> list[int] | None:
    """Match a block's computed leaves against those the log recorded, and name each entry
    that was changed, removed, inserted or moved by its log index. Returns the log index of
    each entry of the block when they are not simply `first`, `first + 1` …

    Leaves are unique, so the entries in their place are a longest increasing run of
    recorded positions (`_in_place`); every other entry was moved (its leaf is recorded
    elsewhere in the block), or is unknown here. Between two entries in place, the
    recorded leaves not found anywhere in the block and the unknown entries pair up in
    order as changed entries; the rest are removed or inserted — or, when the merge finds
    them in another block, moved there."""
    if joined == recorded:
        return None
    computed = [joined[i : i + 32] for i in range(0, len(joined), 32)]
    wanted = [recorded[i : i + 32] for i in range(0, len(recorded), 32)]
    base = first if first is not None else 0

    def index(position: int) -> int | None:
        return base + position if first is not None else None

    where = {leaf: p for p, leaf in enumerate(wanted)}
    positions = [where.get(leaf) for leaf in computed]
    anchors = _in_place(positions)
    anchored = {positions[i] for i in anchors}
    moved: dict[int, int] = {}  # computed entry -> its recorded position, for moved entries
    present = set(anchored)
    for i, p in enumerate(positions):
        if p is not None and p not in present:
            moved[i] = p
            present.add(p)
    indexes: list[int] = []

    def previous(i: int) -> int | None:
        """The log index of the entry before the block's entry `i` in the file."""
        return indexes[i - 1] if i > 0 and first is not None else index(-1)

    gaps: dict[int, tuple[int, int]] = {}  # moved entry -> the in-place positions around it
    problems = out.problems

    def close_gap(low: int, high: int, members: list[int], closing: int) -> None:
        """Pair what is missing between positions `low` and `high` with the unknown
        entries there (`members`: computed entries between the two entries in place)."""
        missing = [p for p in range(low + 1, high) if p not in present]
        unknown = [i for i in members if i not in moved]
        for k in range(max(len(missing), len(unknown))):
            p = missing[k] if k < len(missing) else None
            i = unknown[k] if k < len(unknown) else None
            at = closing if i is None else i
            out.anomalies.append(
                _Anomaly(
                    index(p if p is not None else low + 1),
                    line_of(offset + max(0, min(at, len(computed) - 1))),
                    wanted[p] if p is not None else b"",
                    computed[i] if i is not None else b"",
                    previous(at),
                )
            )
        for i in members:
            if i in moved:
                gaps[i] = (low, high)

    low = -1
    members: list[int] = []
    for i, p in enumerate(positions):
        if i in anchors:
            close_gap(low, p, members, i)  # type: ignore[arg-type]
            low, members = p, []  # type: ignore[assignment]
            indexes.append(base + p)  # type: ignore[operator]
            continue
        members.append(i)
        if i in moved:
            indexes.append(base + moved[i])
        else:
            indexes.append(base + low + 1)
    close_gap(low, len(wanted), members, len(computed))

    at_position = {p: i for i, p in moved.items()}
    reported: set[int] = set()
    for i, p in sorted(moved.items()):
        if i in reported:
            continue
        low, high = gaps[i]
        partner = None
        if high - low == 2 and low + 1 in at_position:  # it stands where one other belongs …
            j = at_position[low + 1]
            if gaps[j] == (p - 1, p + 1):  # … which stands where this one belongs
                partner = j
        if partner is None and i + 1 in anchors and positions[i + 1] == p - 1:
            partner = i + 1  # two neighbours changed places
        if partner is None and i - 1 in anchors and positions[i - 1] == p + 1:
            partner = i - 1
        if partner is not None:
            a, b = sorted((p, positions[partner] or 0))
            problems.append(
                Problem(
                    line_of(offset + min(i, partner)),
                    index(a),
                    f"entries {index(a)} and {index(b)} are in each other's place",
                )
            )
            reported |= {i, partner}
            continue
        problems.append(Problem(line_of(offset + i), index(p), _moved(index(p), previous(i))))
    return indexes


def _moved(entry: int | None, after: int | None) -> str:
    where = f"after entry {after}" if after else "the start"
    return f"entry {entry} is out of place: it was moved to {where}"


def _in_place(positions: list[int | None]) -> set[int]:
    """The entries (by their place in the block) of a longest strictly increasing run of
    recorded positions: the entries that are where the log put them."""
    tails: list[int] = []  # recorded position ending the best run of each length
    ends: list[int] = []  # the entry that ends it
    before: dict[int, int | None] = {}
    for i, p in enumerate(positions):
        if p is None:
            continue
        k = bisect.bisect_left(tails, p)
        before[i] = ends[k - 1] if k else None
        if k == len(tails):
            tails.append(p)
            ends.append(i)
        else:
            tails[k], ends[k] = p, i
    out: set[int] = set()
    cursor = ends[-1] if ends else None
    while cursor is not None:
        out.add(cursor)
        cursor = before[cursor]
    return out


def _sequences(
    entries: _Entries,
    lo: int,
    hi: int,
    first: int | None,
    line_of: _LineMap,
    out: _Scan,
    indexes: list[int] | None = None,
    fast: Any = None,
) -> None:
    """Read each entry's source and sequence from its canonical bytes and add the runs of
    consecutive numbers per source. `fast`: the compiled module, which reads them as
    `_fields` does when every entry has them plainly (it answers None otherwise)."""
    firsts, lasts = entries.firsts[lo:hi], entries.lasts[lo:hi]
    found = None if fast is None else fast.fields(entries.buffer, firsts, lasts)
    if found is not None:
        keep: list[int] = list(range(hi - lo))
        sources, sequences, refusals = found
    else:
        keep, sources, sequences, refusals = _fields(entries, lo, hi, first, line_of, out, indexes)
    for k in refusals:
        refused = _refused(entries.text(lo + k))
        if refused is not None:
            out.refusals.append((*refused, lo + k))
    runs = out.runs
    current: dict[bytes, list[Any]] = {}
    for k, source, sequence in zip(keep, sources, sequences, strict=True):
        run = current.get(source)
        if run is not None and run[2] + 1 == sequence:
            run[2] = sequence
        else:
            index = _index_of(k, first, indexes)
            current[source] = run = [source, sequence, sequence, index, line_of(lo + k)]
            runs.append(run)  # type: ignore[arg-type]


def _fields(
    entries: _Entries,
    lo: int,
    hi: int,
    first: int | None,
    line_of: _LineMap,
    out: _Scan,
    indexes: list[int] | None,
) -> tuple[list[int], list[bytes], list[int], list[int]]:
    """The entries of [lo, hi) that have a source and sequence (block-relative), those, and
    the entries that may be refusals. `data` sorts first in the canonical form and extension
    values are never objects, so the last `,"sequence":` and `,"source":"` are the
    envelope's own."""
    buffer, view = entries.buffer, entries.view
    firsts, lasts = entries.firsts[lo:hi], entries.lasts[lo:hi]
    try:
        at = list(map(add, map(buffer.rfind, repeat(_SEQUENCE), firsts, lasts), repeat(12)))
        stops = list(map(buffer.find, repeat(b","), at, lasts))
        if min(at, default=12) < 12 or min(stops, default=0) < 0:
            raise ValueError
        if all(map(buffer.startswith, repeat(_SOURCE), stops)):  # the usual: next to it
            begin = list(map(add, stops, repeat(11)))
        else:  # an extension attribute sorts between them
            begin = list(map(add, map(buffer.rfind, repeat(_SOURCE), firsts, lasts), repeat(11)))
        ends = list(map(buffer.find, repeat(b'"'), begin, lasts))
        if min(begin, default=11) < 11 or min(ends, default=0) < 0:
            raise ValueError
        sequences = list(map(int, map(buffer.__getitem__, map(slice, at, stops))))
        sources = list(map(bytes, map(view.__getitem__, map(slice, begin, ends))))
        # The envelope's `type` sorts after its `source`: look for refusals there only.
        hits = map(buffer.find, repeat(_REJECTED), ends, lasts)
        refusals = list(compress(range(hi - lo), map((-1).__ne__, hits)))
        return list(range(hi - lo)), sources, sequences, refusals
    except ValueError:  # some entry lacks them: read one by one, naming the bad ones
        pass
    keep: list[int] = []
    sources, sequences, refusals = [], [], []
    for k in range(hi - lo):
        text = entries.text(lo + k)
        found = _source_and_sequence(text)
        if found is None:
            index = _index_of(k, first, indexes)
            out.problems.append(
                Problem(line_of(lo + k), index, "the entry has no source or sequence")
            )
            continue
        sources.append(found[0])
        sequences.append(found[1])
        keep.append(k)
        if _REJECTED in text:
            refusals.append(k)
    return keep, sources, sequences, refusals


def _refused(text: bytes) -> tuple[bytes, int] | None:
    """The source and sequence of the event an `event.rejected` entry says the node
    refused, if it names them. Only the node's own services emit these (a department
    cannot publish one through the ingress gate): one under a department source is
    ignored."""
    event = _json(text) or {}
    body, source = event.get("data"), event.get("source")
    if (
        event.get("type") == EVENT_REJECTED
        and isinstance(source, str)
        and "/dept/" not in source
        and isinstance(body, dict)
        and isinstance(body.get("rejected_source"), str)
        and type(body.get("rejected_sequence")) is int
        and body["rejected_sequence"] >= 1
    ):
        return body["rejected_source"].encode(), body["rejected_sequence"]
    return None


def _index_of(k: int, first: int | None, indexes: list[int] | None) -> int | None:
    """The log index of the block's k-th entry."""
    if indexes is not None:
        return indexes[k]
    return None if first is None else first + k


def _source_and_sequence(event: bytes) -> tuple[bytes, int] | None:
    at, begin = event.rfind(_SEQUENCE), event.rfind(_SOURCE)
    if at < 0 or begin < 0:
        return None
    try:
        sequence = int(event[at + 12 : event.find(b",", at + 12)])
    except ValueError:
        return None
    return event[begin + 11 : event.find(b'"', begin + 11)], sequence


def _subtree(leaves: list[bytes]) -> bytes:
    """The root of a complete subtree (len(leaves) a power of two), a level at a time."""
    level = leaves
    sha256 = hashlib.sha256
    while len(level) > 1:
        level = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=True)
        ]
    return level[0]


def _edge(leaves: list[bytes]) -> list[bytes]:
    """The right edge (largest complete subtree first) of the tree over `leaves`."""
    out = []
    start = 0
    for level in range(len(leaves).bit_length() - 1, -1, -1):
        if len(leaves) >> level & 1:
            out.append(_subtree(leaves[start : start + (1 << level)]))
            start += 1 << level
    return out


def _fold(edge: list[bytes]) -> bytes:
    if not edge:
        return EMPTY_ROOT
    node = edge[-1]
    for left in reversed(edge[:-1]):
        node = hashlib.sha256(b"\x01" + left + node).digest()
    return node


# -- joining the scans ------------------------------------------------------------------


class _Merge:
    """Joins the scans of consecutive ranges into the verdict on the whole file."""

    def __init__(
        self, result: Verification, key: VerifierKey | None, trusted: Iterable[SignedCheckpoint]
    ) -> None:
        self.result = result
        self.key = key
        self.trusted = {c.checkpoint.size: c for c in trusted}
        self.line = 1  # lines so far, the header included
        self.entries = 0
        self.next_from = 1  # the first entry the next _leaves record should declare
        self.sequence_problems: list[Problem] = []  # listed after the entries' own
        self.sequences = _Sequences(self.sequence_problems.append)
        self.groups: list[tuple[int, bytes]] = []  # (size, root) of complete subtrees so far
        self.carry: list[bytes] = []  # leaves of the current incomplete group
        self.roots: dict[int, bytes] = {0: EMPTY_ROOT}
        self.records: list[tuple[int, int, bytes]] = []  # (line, tree size there, text)
        self.anomalies: list[_Anomaly] = []

    def add(self, scan: _Scan) -> None:
        base_line, base = self.line, self.entries
        problems = self.result.problems
        for problem in scan.problems:
            problems.append(Problem(problem.line + base_line, problem.index, problem.message))
        for line, declared, count in scan.blocks:
            if declared is not None and declared != self.next_from:
                problems.append(
                    Problem(
                        line + base_line,
                        min(declared, self.next_from),
                        _block_problem(declared, self.next_from),
                    )
                )
            self.next_from = (declared if declared is not None else self.next_from) + count
        if scan.uncovered is not None:
            problems.append(
                Problem(
                    base_line + scan.uncovered + 1,
                    base + scan.uncovered + 1,
                    "no _leaves record follows these entries: the export was cut or edited",
                )
            )
        for a in scan.anomalies:
            self.anomalies.append(replace(a, line=a.line + base_line))
        for source, first, last, index, line in scan.runs:
            self.sequences.see(source, first, last, index, line + base_line)
        for source, sequence, entry in scan.refusals:
            self.sequences.refused(source, sequence, base + entry + 1)
        wanted = {size for size in self.trusted if base < size <= base + scan.events}
        for line, before, text in scan.records:
            self.records.append((line + base_line, base + before, text))
            wanted.add(base + before)
        self._grow(scan, base, wanted)
        self.line += scan.lines
        self.entries += scan.events

    def _grow(self, scan: _Scan, base: int, wanted: set[int]) -> None:
        """Add the range's leaves to the tree, noting the root at each wanted size. Whole
        groups come with their roots: their leaves are only split out when a wanted size
        falls inside one."""
        blob = scan.leaves
        count = len(blob) // 32

        def hashes(lo: int, hi: int) -> list[bytes]:
            return [blob[i : i + 32] for i in range(32 * lo, 32 * hi, 32)]

        usable = not self.carry and base % BLOCK == 0
        position = base
        start = 0
        if self.carry:  # finish the group the previous range left open
            take = min(BLOCK - len(self.carry), count)
            self.carry += hashes(0, take)
            self._note_inside(wanted, position - len(self.carry) + take, self.carry)
            start, position = take, position + take
            if len(self.carry) == BLOCK:
                self._push(_subtree(self.carry))
                self.carry = []
        group = 0
        while count - start >= BLOCK:
            inside = any(position <= size <= position + BLOCK for size in wanted)
            if inside or not usable:
                piece = hashes(start, start + BLOCK)
                self._note_inside(wanted, position, piece)
            self._push(scan.group_roots[group] if usable else _subtree(piece))
            group += 1
            start, position = start + BLOCK, position + BLOCK
        if start < count:
            self.carry = hashes(start, count)
            self._note_inside(wanted, position, self.carry)

    def _note_inside(self, wanted: set[int], position: int, group: list[bytes]) -> None:
        """Roots at the wanted sizes from `position` to the end of `group` (the leaves of
        one group, starting at the group's first leaf `position`)."""
        above = [h for _, h in self.groups]
        for size in wanted:
            if position <= size <= position + len(group) and size not in self.roots:
                self.roots[size] = _fold(above + _edge(group[: size - position]))

    def _push(self, root: bytes) -> None:
        groups = self.groups
        groups.append((BLOCK, root))
        while len(groups) > 1 and groups[-1][0] == groups[-2][0]:
            (size, right), (_, left) = groups.pop(), groups.pop()
            groups.append((2 * size, hashlib.sha256(b"\x01" + left + right).digest()))

    def finish(self) -> None:
        result = self.result
        result.entries = self.entries
        self.roots.setdefault(self.entries, _fold([h for _, h in self.groups] + _edge(self.carry)))
        self._explain()
        self.sequences.finish()
        result.problems += self.sequence_problems
        result.sources = self.sequences.sources
        result.refused = [(s.decode(), n, i) for s, n, i in self.sequences.accounted]
        if result.refused:
            result.notes.append(_refused_note(result.refused))
        self._check_records()
        for size, trusted in sorted(self.trusted.items()):
            if size > self.entries:
                message = (
                    f"your trusted checkpoint has {size} entries but the export ends at "
                    f"{self.entries}: entries were removed"
                )
            elif self.roots.get(size) != trusted.checkpoint.root:
                message = (
                    f"the entries up to {size} do not hash to the root of your trusted "
                    f"checkpoint of size {size}: the log was rewritten"
                )
            else:
                continue
            result.problems.append(Problem(self.line, None, message))
        if self.entries > result.last_checkpoint:
            result.notes.append(
                f"entries {result.last_checkpoint + 1} to {self.entries} come after the last "
                "checkpoint; no signature covers them yet"
            )

    def _explain(self) -> None:
        """Name what the blocks could not explain alone: an entry whose leaf one block
        misses and another holds was moved there; two entries standing each where the
        other belongs changed places; what is left was changed, removed or inserted."""
        anomalies = self.anomalies
        report = self.result.problems.append
        place = {a.recorded: k for k, a in enumerate(anomalies) if a.recorded}
        moved_in: dict[int, int] = {}  # anomaly holding a moved entry -> that entry's place
        for k, a in enumerate(anomalies):
            j = place.get(a.computed) if a.computed else None
            if j is not None and j != k:
                moved_in[k] = j
        done: set[int] = set()
        for k, j in moved_in.items():
            if k in done:
                continue
            here, there = anomalies[k], anomalies[j]
            if moved_in.get(j) == k:
                first, second = sorted((here, there), key=lambda a: (a.index or 0, a.line))
                report(
                    Problem(
                        first.line,
                        first.index,
                        f"entries {first.index} and {second.index} are in each other's place",
                    )
                )
                done |= {k, j}
                continue
            report(Problem(here.line, there.index, _moved(there.index, here.after)))
            done.add(k)
        gone = set(moved_in.values())
        for k, a in enumerate(anomalies):
            lost = bool(a.recorded) and k not in gone
            unknown = bool(a.computed) and k not in moved_in
            if lost and unknown:
                message = "the entry does not hash to the leaf the log recorded: it was changed"
            elif lost:
                message = "this entry is missing: it was removed"
            elif unknown:
                message = "an entry the log never recorded was inserted here"
            else:
                continue
            report(Problem(a.line, a.index, message))

    def _check_records(self) -> None:
        from services.audit.notes import NoteError, open_note

        result = self.result
        report = result.problems.append
        signed_roots: dict[int, bytes] = {}
        proofs = _Proofs(signed_roots, report)
        previous = mismatched = 0
        for line, size_here, text in self.records:
            record = _json(text) or {}
            if "_consistency" in record:
                proofs.proof(record["_consistency"], line)
                continue
            body = record.get("_checkpoint")
            if not isinstance(body, dict) or not isinstance(body.get("note"), str):
                report(Problem(line, None, "not a record of an audit export"))
                continue
            result.checkpoints += 1
            if self.key is None:
                report(Problem(line, None, "a checkpoint cannot be checked without a key"))
                proofs.checkpoint(size_here, line)
                continue
            try:
                signed = open_note(body["note"], self.key)
            except NoteError as exc:
                report(Problem(line, size_here or None, f"checkpoint: {exc}"))
                proofs.checkpoint(size_here, line)  # its size unread: where it stands
                continue
            size = signed.checkpoint.size
            signed_roots[size] = signed.checkpoint.root
            proofs.checkpoint(size, line)
            if size != size_here:
                report(
                    Problem(
                        line,
                        min(size, size_here) + 1,
                        f"the checkpoint of size {size} follows entry {size_here}: "
                        "entries removed or inserted",
                    )
                )
            elif self.roots.get(size) != signed.checkpoint.root:
                if mismatched:
                    report(
                        Problem(
                            line,
                            None,
                            f"the root signed at size {size} does not match either: it covers "
                            f"the change found before size {mismatched}, and maybe others among "
                            f"entries {previous + 1} to {size}",
                        )
                    )
                else:
                    report(
                        Problem(
                            line,
                            previous + 1,
                            f"entries {previous + 1} to {size} do not hash to the root signed "
                            f"at size {size}: one of them was changed, removed, inserted or "
                            "moved",
                        )
                    )
                    mismatched = size
            previous = max(previous, size)
        proofs.finish()
        result.last_checkpoint = previous


def _refused_note(refused: list[tuple[str, int, int]]) -> str:
    count, sources = len(refused), len({source for source, _, _ in refused})
    source, sequence, index = refused[0]
    return (
        f"{count:,} sequence number{'s' if count > 1 else ''} of {sources:,} "
        f"source{'s' if sources > 1 else ''} never reached the log because the node refused "
        f"the event: an event.rejected entry names each, so they are not missing (first: "
        f"{source} sequence {sequence}, refused at log index {index})"
    )


def _block_problem(declared: int, expected: int) -> str:
    if declared > expected:
        gap = (
            f"entry {expected}"
            if declared == expected + 1
            else f"entries {expected} to {declared - 1}"
        )
        return f"the block of entries from {declared} is where {expected} belongs: {gap} removed"
    return f"the block of entries from {declared} appears again where {expected} belongs"


class _Sequences:
    """Each source's `sequence` must run 1, 2, 3 … with none missing or repeated, in any
    arrival order. Fed runs of consecutive numbers; keeps, per source, the next number
    expected and the runs seen ahead of it. A number an `event.rejected` entry names for
    the source (`refused`) is accounted for: the node refused that event, so it never
    entered the log, and it is not reported missing."""

    def __init__(self, report: Callable[[Problem], None]) -> None:
        self.next: dict[bytes, int] = {}
        self.ahead: dict[bytes, dict[int, tuple[int, int | None, int]]] = {}
        self.report = report
        self.refusals: dict[bytes, dict[int, int]] = {}
        """Per source: each refused sequence number and the log index of the first
        `event.rejected` entry naming it."""
        self.accounted: list[tuple[bytes, int, int]] = []
        """(source, sequence, log index of the refusal) of each number a refusal filled."""

    def see(self, source: bytes, first: int, last: int, index: int | None, line: int) -> None:
        expected = self.next.get(source, 1)
        if first < expected:
            self._repeat(source, first, min(last, expected - 1), index, line)
            if last < expected:
                return
            first = expected
        if first > expected:
            waiting = self.ahead.setdefault(source, {})
            while first in waiting:  # a run seen ahead starts here: what both hold repeats,
                seen = waiting[first][0]  # and the rest of this run is still to be kept
                self._repeat(source, first, min(last, seen), index, line)
                if last <= seen:
                    return
                first = seen + 1
            waiting[first] = (last, index, line)
            return
        expected = last + 1
        waiting = self.ahead.get(source) or {}
        while expected in waiting:
            expected = waiting.pop(expected)[0] + 1
        self.next[source] = expected

    def refused(self, source: bytes, sequence: int, index: int) -> None:
        self.refusals.setdefault(source, {}).setdefault(sequence, index)

    def _repeat(self, source: bytes, first: int, last: int, index: int | None, line: int) -> None:
        which = f"sequence {first}" if first == last else f"sequences {first} to {last}"
        self.report(
            Problem(
                line,
                index,
                f"{source.decode()} {which} appear again: a duplicated or replayed event",
            )
        )

    def finish(self) -> None:
        for source, waiting in sorted(self.ahead.items()):
            expected = self.next.get(source, 1)
            refusals = self.refusals.get(source, {})
            refused = sorted(refusals)
            for first in sorted(waiting):
                last, index, line = waiting[first]
                if first > expected:
                    missing = self._unaccounted(source, expected, first - 1, refused, refusals)
                    if missing:
                        self.report(
                            Problem(
                                line,
                                index,
                                f"{source.decode()} {_numbers(missing)} missing before this "
                                f"entry (sequence {first}): events never reached the log or "
                                "were removed",
                            )
                        )
                elif first < expected:
                    self._repeat(source, first, min(last, expected - 1), index, line)
                expected = max(expected, last + 1)

    def _unaccounted(
        self, source: bytes, low: int, high: int, refused: list[int], refusals: dict[int, int]
    ) -> list[tuple[int, int]]:
        """The runs of numbers from `low` to `high` that no refusal names (a gap may be
        huge, so only the refused numbers inside it are visited)."""
        runs: list[tuple[int, int]] = []
        start = low
        for number in refused[
            bisect.bisect_left(refused, low) : bisect.bisect_right(refused, high)
        ]:
            self.accounted.append((source, number, refusals[number]))
            if number > start:
                runs.append((start, number - 1))
            start = number + 1
        if start <= high:
            runs.append((start, high))
        return runs

    @property
    def sources(self) -> int:
        return len(self.next.keys() | self.ahead.keys())


def _numbers(runs: list[tuple[int, int]]) -> str:
    """`sequence 7`, `sequences 7 to 9`, `sequences 7, 9 to 12`."""
    if len(runs) == 1 and runs[0][0] == runs[0][1]:
        return f"sequence {runs[0][0]}"
    if len(runs) == 1:
        return f"sequences {runs[0][0]} to {runs[0][1]}"
    return "sequences " + ", ".join(f"{a}" if a == b else f"{a} to {b}" for a, b in runs)


def _read_header(
    line: bytes, key: VerifierKey | None, result: Verification
) -> tuple[dict[str, Any] | None, VerifierKey | None]:
    header = _json(line)
    if header is None or header.get("_format") != FORMAT:
        result.problems.append(
            Problem(
                1,
                None,
                f'not an audit export (the first line must be a header with "_format":"{FORMAT}")',
            )
        )
        return None, key
    from services.audit.notes import NoteError, VerifierKey

    named: VerifierKey | None = None
    try:
        named = VerifierKey.parse(str(header.get("verifier_key", "")))
    except NoteError as exc:
        if key is None:
            result.problems.append(Problem(1, None, f"the header's verifier key: {exc}"))
    if key is None:
        result.key = str(named) if named else ""
        return header, named
    result.key_pinned = True
    result.key = str(key)
    if named is not None and str(named) != str(key):
        result.problems.append(
            Problem(
                1,
                None,
                f"the export names the key {named}, not the key you pinned; checked with yours",
            )
        )
    return header, key


class _Proofs:
    """The `_consistency` records: one right after every checkpoint but the first, from the
    checkpoint before it, and no other. Each checkpoint but the first opens a place that the
    next `_consistency` record fills, before the next checkpoint. A place left empty (the
    proof removed), a record where no place is open (before the first checkpoint, or one
    again) and a record naming another pair are reported as an edited file, at the line
    where the proof belongs or the record stands — not as a rewritten log: the roots of both
    checkpoints are checked against the tree rebuilt from the entries anyway. A record in
    its place is verified against the roots signed at its two sizes.

    Fed the records in file order; the caller adds each checkpoint it reads to
    `signed_roots`, and passes a checkpoint whose note cannot be read at its place."""

    def __init__(self, signed_roots: dict[int, bytes], report: Callable[[Problem], None]) -> None:
        self.signed_roots = signed_roots
        self.report = report
        self.last: int | None = None
        """The size of the latest checkpoint (None before the first)."""
        self.place: tuple[int, int, int] | None = None
        """(first, second, line) of the proof expected next, until one comes."""
        self.seen: set[tuple[int, int]] = set()

    def checkpoint(self, size: int, line: int) -> None:
        self._missing()
        if self.last is not None:
            self.place = (self.last, size, line + 1)
        self.last = size

    def proof(self, record: Any, line: int) -> None:
        place, self.place = self.place, None
        try:
            first, second = int(record["first"]), int(record["second"])
            proof = [bytes.fromhex(h) for h in record["proof"]]
        except (KeyError, TypeError, ValueError):
            self.report(Problem(line, None, "a consistency record that cannot be read"))
            return
        report, roots = self.report, self.signed_roots
        pair = f"from {first} to {second}"
        repeated = (first, second) in self.seen
        self.seen.add((first, second))
        if place is None:
            if self.last is None:
                message = f"a consistency proof {pair} before the first checkpoint"
            elif repeated:
                message = f"the consistency proof {pair} appears again"
            else:
                message = f"a consistency proof {pair} where none belongs"
            report(Problem(line, None, f"{message}: the export was edited"))
        elif first not in roots or second not in roots:
            report(
                Problem(
                    line,
                    None,
                    f"a consistency proof {pair} refers to a checkpoint the export does not hold",
                )
            )
        elif (first, second) != place[:2]:
            report(
                Problem(
                    line,
                    None,
                    f"the consistency proof after the checkpoint of size {place[1]} is {pair}, "
                    f"not from {place[0]} to {place[1]}: the export was edited",
                )
            )
        elif not verify_consistency(first, second, roots[first], roots[second], proof):
            report(
                Problem(
                    line,
                    first + 1,
                    f"the checkpoints of sizes {first} and {second} are not consistent: the log "
                    "was rewritten between them",
                )
            )

    def finish(self) -> None:
        self._missing()

    def _missing(self) -> None:
        if self.place is not None:
            first, second, line = self.place
            self.report(
                Problem(
                    line,
                    None,
                    f"the consistency proof between the checkpoints of sizes {first} and "
                    f"{second} is missing: the export was edited",
                )
            )
            self.place = None


def _json(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
