"""Offline verification of an audit export (`govnet audit verify`).

What is checked, and what each check catches:

- every entry's leaf is recomputed from its bytes and compared with the leaf the log
  recorded (`_leaves` records): an edited, removed, inserted or moved entry is found at
  its log index;
- the `_leaves` records must cover entries 1, 2, 3 … in order: a removed block is found
  where the run breaks;
- every source's `sequence` must run 1, 2, 3 … with none missing or repeated (arrival
  order may differ): an event that never reached the log, or was removed or replayed, is
  found at the next entry of its source;
- the Merkle tree is rebuilt and its root compared with every signed checkpoint, whose
  Ed25519 signature is checked, and the consistency proofs between consecutive
  checkpoints are verified: a log rewritten consistently (leaves recomputed too) is found
  between the two checkpoints around the change; one rewritten and re-signed with the
  node's key is caught by any checkpoint an auditor kept from before (`trusted`).

The file is cut into byte ranges of whole 1024-entry blocks, scanned in parallel
processes (`jobs`); this process joins the results in order. Per entry the work is one
leaf hash, on average one interior hash, and reading the source and sequence from the
bytes — done with C-level `map` pipelines over each block, since a Python loop per entry
would cost more than the hashing. With `jobs=1` the same functions run here, in order;
the verdict never depends on `jobs`.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import mmap
import operator
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import compress, repeat
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from services.audit.export import BLOCK, FORMAT
from services.audit.merkle import EMPTY_ROOT, verify_consistency
from services.audit.notes import NoteError, SignedCheckpoint, VerifierKey, open_note

CHUNK_BYTES = 8 << 20
"""Scans work on byte ranges of about this size (cut after a `_leaves` record)."""

_RECORD = b'\x00{"_'
_LEAVES = b'\x00{"_leaves":'
_SEQUENCE = b',"sequence":'
_SOURCE = b',"source":"'
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
    processes to use. `advance(n)` is called with the bytes done, for a progress bar.
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
    if jobs > 1 and len(ranges) > 1:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            for scan, start, end in zip(
                pool.map(_scan, paths, starts, ends), starts, ends, strict=True
            ):
                merge.add(scan)
                if advance is not None:
                    advance(end - start)
    else:
        for path_text, start, end in zip(paths, starts, ends, strict=True):
            merge.add(_scan(path_text, start, end))
            if advance is not None:
                advance(end - start)
    merge.finish()
    if header.get("entries") != result.entries:
        result.problems.append(
            Problem(
                merge.line,
                None,
                f"the header promises {header.get('entries')} entries "
                f"but the file has {result.entries}",
            )
        )
    result.problems.sort(key=lambda p: (p.index is None, p.index or 0, p.line))
    return result


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


def _scan(path: str, start: int, end: int) -> _Scan:
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    # Every line gets the leaf prefix 0x00 up front: one C-level pass instead of one
    # concatenation per entry. Offsets inside an entry are unaffected for what follows.
    lines = (b"\x00" + data.replace(b"\n", b"\n\x00")).split(b"\n")
    if lines and lines[-1] == b"\x00":
        lines.pop()
    out = _Scan(lines=len(lines))
    marks = list(compress(range(len(lines)), map(bytes.startswith, lines, repeat(_RECORD))))
    record_positions: list[int] = []  # entries before each record line
    events: list[bytes] = []
    previous = 0
    for mark in marks:
        events += lines[previous:mark]
        record_positions.append(len(events))
        previous = mark + 1
    events += lines[previous:]
    line_of = _LineMap(marks, record_positions)

    leaves = list(map(_digest, map(hashlib.sha256, events)))
    out.events = len(events)
    out.leaves = b"".join(leaves)
    out.group_roots = [
        _subtree(leaves[i : i + BLOCK]) for i in range(0, len(leaves) - BLOCK + 1, BLOCK)
    ]

    block_start = 0
    for mark, before in zip(marks, record_positions, strict=True):
        text = lines[mark][1:]
        if not lines[mark].startswith(_LEAVES):
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
        indexes = _compare(
            leaves[block_start:before], recorded, first, block_start, line_of, out.problems
        )
        _sequences(events, block_start, before, first, line_of, out, indexes)
        block_start = before
    if block_start < len(events):  # entries no _leaves record covers
        out.uncovered = block_start
        _sequences(events, block_start, len(events), None, line_of, out)
    return out


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


def _compare(
    computed: list[bytes],
    recorded: bytes,
    first: int | None,
    offset: int,
    line_of: _LineMap,
    problems: list[Problem],
) -> list[int] | None:
    """Match a block's computed leaves against those the log recorded; name each entry
    that was changed, removed, inserted or moved by its log index. Returns the log index
    of each entry of the block when they are not simply `first`, `first + 1` …"""
    if b"".join(computed) == recorded:
        return None
    wanted = [recorded[i : i + 32] for i in range(0, len(recorded), 32)]
    base = first if first is not None else 0
    indexes: list[int] = []
    i = j = 0

    def report(message: str) -> None:
        index = base + j if first is not None else None
        entry = offset + max(0, min(i, len(computed) - 1))
        problems.append(Problem(line_of(entry), index, message))

    while i < len(computed) and j < len(wanted):
        if computed[i] == wanted[j]:
            indexes.append(base + j)
            i, j = i + 1, j + 1
        elif (
            i + 1 < len(computed)
            and j + 1 < len(wanted)
            and (computed[i] == wanted[j + 1] and computed[i + 1] == wanted[j])
        ):
            report(f"entries {base + j} and {base + j + 1} are in each other's place")
            indexes += [base + j + 1, base + j]
            i, j = i + 2, j + 2
        elif j + 1 < len(wanted) and computed[i] == wanted[j + 1]:
            report("this entry is missing: it was removed")
            j += 1
        elif i + 1 < len(computed) and computed[i + 1] == wanted[j]:
            report("an entry the log never recorded was inserted here")
            indexes.append(base + j)
            i += 1
        else:
            report("the entry does not hash to the leaf the log recorded: it was changed")
            indexes.append(base + j)
            i, j = i + 1, j + 1
    while j < len(wanted):
        report("this entry is missing: it was removed")
        j += 1
    while i < len(computed):
        report("an entry the log never recorded was inserted here")
        indexes.append(base + j)
        i += 1
    return indexes


def _sequences(
    events: list[bytes],
    lo: int,
    hi: int,
    first: int | None,
    line_of: _LineMap,
    out: _Scan,
    indexes: list[int] | None = None,
) -> None:
    """Read each entry's source and sequence from its canonical bytes and add the runs of
    consecutive numbers per source. `data` sorts first in the canonical form and extension
    values are never objects, so the last `,"sequence":` and `,"source":"` are the
    envelope's own."""
    block = events[lo:hi]
    sources: list[bytes]
    sequences: list[int]
    try:
        at = [p + 12 for p in map(bytes.rfind, block, repeat(_SEQUENCE))]
        stops = list(map(bytes.find, block, repeat(b","), at))
        sequences = list(map(int, map(operator.getitem, block, map(slice, at, stops))))  # type: ignore[arg-type]
        begin = [p + 11 for p in map(bytes.rfind, block, repeat(_SOURCE))]
        ends = list(map(bytes.find, block, repeat(b'"'), begin))
        sources = list(map(operator.getitem, block, map(slice, begin, ends)))  # type: ignore[arg-type]
        if min(at, default=12) < 12 or min(begin, default=11) < 11:
            raise ValueError
    except ValueError:  # some entry lacks them: read one by one, naming the bad ones
        sources, sequences, keep = [], [], []
        for k, event in enumerate(block):
            found = _source_and_sequence(event)
            if found is None:
                index = _index_of(k, first, indexes)
                out.problems.append(
                    Problem(line_of(lo + k), index, "the entry has no source or sequence")
                )
                continue
            sources.append(found[0])
            sequences.append(found[1])
            keep.append(k)
    else:
        keep = list(range(len(block)))
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
    while len(level) > 1:
        pairs = map(bytes.__add__, level[0::2], level[1::2])
        level = list(map(_digest, map(hashlib.sha256, map(b"\x01".__add__, pairs))))
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
        self.sequences = _Sequences(result.problems.append)
        self.groups: list[tuple[int, bytes]] = []  # (size, root) of complete subtrees so far
        self.carry: list[bytes] = []  # leaves of the current incomplete group
        self.roots: dict[int, bytes] = {0: EMPTY_ROOT}
        self.records: list[tuple[int, int, bytes]] = []  # (line, tree size there, text)

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
        for source, first, last, index, line in scan.runs:
            self.sequences.see(source, first, last, index, line + base_line)
        wanted = {size for size in self.trusted if base < size <= base + scan.events}
        for line, before, text in scan.records:
            self.records.append((line + base_line, base + before, text))
            wanted.add(base + before)
        self._grow(scan, base, wanted)
        self.line += scan.lines
        self.entries += scan.events

    def _grow(self, scan: _Scan, base: int, wanted: set[int]) -> None:
        """Add the range's leaves to the tree, noting the root at each wanted size."""
        leaves = [scan.leaves[i : i + 32] for i in range(0, len(scan.leaves), 32)]
        usable = not self.carry and base % BLOCK == 0
        position = base
        start = 0
        if self.carry:  # finish the group the previous range left open
            take = min(BLOCK - len(self.carry), len(leaves))
            self._note_inside(wanted, position - len(self.carry), self.carry + leaves[:take])
            self.carry += leaves[:take]
            start, position = take, position + take
            if len(self.carry) == BLOCK:
                self._push(_subtree(self.carry))
                self.carry = []
        group = 0
        while len(leaves) - start >= BLOCK:
            piece = leaves[start : start + BLOCK]
            self._note_inside(wanted, position, piece)
            root = scan.group_roots[group] if usable else _subtree(piece)
            self._push(root)
            group += 1
            start, position = start + BLOCK, position + BLOCK
        if start < len(leaves):
            self.carry = leaves[start:]
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
        self.sequences.finish()
        result.sources = self.sequences.sources
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

    def _check_records(self) -> None:
        result = self.result
        report = result.problems.append
        signed_roots: dict[int, bytes] = {}
        previous = mismatched = 0
        for line, size_here, text in self.records:
            record = _json(text) or {}
            if "_consistency" in record:
                _check_consistency(record["_consistency"], signed_roots, line, report)
                continue
            body = record.get("_checkpoint")
            if not isinstance(body, dict) or not isinstance(body.get("note"), str):
                report(Problem(line, None, "not a record of an audit export"))
                continue
            result.checkpoints += 1
            if self.key is None:
                report(Problem(line, None, "a checkpoint cannot be checked without a key"))
                continue
            try:
                signed = open_note(body["note"], self.key)
            except NoteError as exc:
                report(Problem(line, size_here or None, f"checkpoint: {exc}"))
                continue
            size = signed.checkpoint.size
            signed_roots[size] = signed.checkpoint.root
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
        result.last_checkpoint = previous


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
    expected and the runs seen ahead of it."""

    def __init__(self, report: Callable[[Problem], None]) -> None:
        self.next: dict[bytes, int] = {}
        self.ahead: dict[bytes, dict[int, tuple[int, int | None, int]]] = {}
        self.report = report

    def see(self, source: bytes, first: int, last: int, index: int | None, line: int) -> None:
        expected = self.next.get(source, 1)
        if first < expected:
            self._repeat(source, first, min(last, expected - 1), index, line)
            if last < expected:
                return
            first = expected
        if first > expected:
            waiting = self.ahead.setdefault(source, {})
            if first in waiting:
                self._repeat(source, first, min(last, waiting[first][0]), index, line)
            else:
                waiting[first] = (last, index, line)
            return
        expected = last + 1
        waiting = self.ahead.get(source) or {}
        while expected in waiting:
            expected = waiting.pop(expected)[0] + 1
        self.next[source] = expected

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
            for first in sorted(waiting):
                last, index, line = waiting[first]
                if first > expected:
                    missing = (
                        f"sequence {expected}"
                        if first - expected == 1
                        else f"sequences {expected} to {first - 1}"
                    )
                    self.report(
                        Problem(
                            line,
                            index,
                            f"{source.decode()} {missing} missing before this entry "
                            f"(sequence {first}): events never reached the log or were removed",
                        )
                    )
                elif first < expected:
                    self._repeat(source, first, min(last, expected - 1), index, line)
                expected = max(expected, last + 1)

    @property
    def sources(self) -> int:
        return len(self.next.keys() | self.ahead.keys())


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


def _check_consistency(
    record: Any, signed_roots: dict[int, bytes], line: int, report: Callable[[Problem], None]
) -> None:
    try:
        first, second = int(record["first"]), int(record["second"])
        proof = [bytes.fromhex(h) for h in record["proof"]]
    except (KeyError, TypeError, ValueError):
        report(Problem(line, None, "a consistency record that cannot be read"))
        return
    if first not in signed_roots or second not in signed_roots:
        report(
            Problem(
                line,
                None,
                f"a consistency proof from {first} to {second} refers to a checkpoint the "
                "export does not hold",
            )
        )
        return
    if not verify_consistency(first, second, signed_roots[first], signed_roots[second], proof):
        report(
            Problem(
                line,
                first + 1,
                f"the checkpoints of sizes {first} and {second} are not consistent: the log "
                "was rewritten between them",
            )
        )


def _json(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
