"""govnet's inner loops in C (`services/_speedups.c`): each gives what the Python it
replaces gives — the steps of `govnet audit verify` (a random tampering gets the same
verdict from both), the audit log's leaf hashes, the check behind the canonical form of
events — and bad arguments are refused rather than read outside a buffer."""

from __future__ import annotations

import hashlib
import random
import re
import sys
from pathlib import Path

import orjson
import pytest

from services.audit import merkle
from services.audit import verify as verify_module
from services.audit.export import BLOCK
from services.contract import envelope
from tests.support.audit_logs import (
    audit_signer,
    build_log,
    lines_of,
    synthetic_events,
    write_export,
)

scan = verify_module._compiled
pytestmark = pytest.mark.skipif(
    scan is None, reason="services/_speedups.c was not built (no compiler or OpenSSL headers)"
)


@pytest.fixture(scope="module")
def events() -> list[bytes]:
    return synthetic_events(2600)


@pytest.fixture
def export(events: list[bytes], tmp_path: Path) -> Path:
    return write_export(tmp_path / "audit.jsonl", build_log(events, (700, 1024, 2000, 2600)))


def prefixed(events: list[bytes]) -> tuple[bytearray, list[int], list[int]]:
    """A buffer as `_scan` makes it: each entry after its 0x00 leaf prefix."""
    buffer = bytearray(b"\x00" + b"\n".join(events) + b"\n")
    bounds = verify_module._split_lines(buffer)
    return buffer, bounds[:-1], bounds[1:]


def test_lines_are_split_as_in_python() -> None:
    text = b"\x00a\nbb\n\nccc"
    ours, theirs = bytearray(text), bytearray(text)

    assert scan.split_lines(ours) == verify_module._split_lines(theirs) == [0, 2, 5, 6]
    assert ours == theirs == bytearray(b"\x00a\x00bb\x00\x00ccc")


def test_leaves_and_group_roots_are_those_of_rfc_6962(events: list[bytes]) -> None:
    buffer, firsts, lasts = prefixed(events)
    leaves = [hashlib.sha256(b"\x00" + event).digest() for event in events]

    joined = scan.leaves(buffer, firsts, lasts)

    assert joined == b"".join(leaves)
    assert scan.group_roots(joined, BLOCK) == [
        verify_module._subtree(leaves[i : i + BLOCK]) for i in (0, BLOCK)
    ]


def test_sources_sequences_and_refusals_are_read_as_in_python(events: list[bytes]) -> None:
    refusal = events[5].replace(b',"type":"', b',"type":"event.rejected","x":"', 1)
    chosen = [*events[:5], refusal, *events[6:40]]
    buffer, firsts, lasts = prefixed(chosen)
    entries = verify_module._Entries(buffer, memoryview(buffer), firsts, lasts)
    out = verify_module._Scan()

    keep, sources, sequences, refusals = verify_module._fields(
        entries, 0, len(chosen), 1, verify_module._LineMap([], []), out, None
    )

    assert scan.fields(buffer, firsts, lasts) == (sources, sequences, refusals)
    assert refusals == [5]
    assert keep == list(range(40))
    assert not out.problems


@pytest.mark.parametrize(
    "written",
    [b'"sequence":+7,', b'"sequence": 7,', b'"sequence":1_0,', b'"sequence":,', b'"seq":7,'],
    ids=["plus", "space", "underscore", "empty", "missing"],
)
def test_a_sequence_that_is_not_plain_digits_is_left_to_python(
    events: list[bytes], written: bytes
) -> None:
    odd = re.sub(rb'"sequence":\d+,', written, events[1])
    buffer, firsts, lasts = prefixed([events[0], odd, events[2]])

    assert scan.fields(buffer, firsts, lasts) is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: scan.leaves(b"\x00abc", [0], [9]), "lasts[0] is outside the buffer"),
        (lambda: scan.leaves(b"\x00abc", [3], [1]), "entry 0 ends before it starts"),
        (lambda: scan.leaves(b"\x00abc", [0, 1], [1]), "firsts and lasts differ in length"),
        (lambda: scan.fields(b"\x00abc", [-1], [2]), "firsts[0] is outside the buffer"),
        (lambda: scan.group_roots(b"x" * 33, 2), "block must be a power of two"),
        (lambda: scan.group_roots(b"x" * 64, 3), "block must be a power of two"),
    ],
)
def test_bad_arguments_are_refused_not_read_outside_the_buffer(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def _tamper(lines: list[bytes], rng: random.Random) -> None:
    """One random change of the kinds an attacker or a broken disk would make."""
    entries = [i for i, line in enumerate(lines[1:], 1) if not line.startswith(b'{"_')]
    at = rng.choice(entries)
    kind = rng.randrange(7)
    if kind == 0:  # a byte changed
        line = bytearray(lines[at])
        line[rng.randrange(len(line) - 1)] = rng.choice(b'0123456789abc",:{} ')
        lines[at] = bytes(line)
    elif kind == 1:  # an entry removed
        del lines[at]
    elif kind == 2:  # an entry copied somewhere else
        lines.insert(rng.choice(entries), lines[at])
    elif kind == 3:  # two entries swapped
        other = rng.choice(entries)
        lines[at], lines[other] = lines[other], lines[at]
    elif kind == 4:  # a sequence written another way that int() still reads
        lines[at] = lines[at].replace(
            b'"sequence":', rng.choice([b'"sequence":+', b'"sequence": '])
        )
    elif kind == 5:  # a sequence with more digits than the C reader takes
        lines[at] = lines[at].replace(b'"sequence":', b'"sequence":1000000000000000000000')
    else:  # the source or the sequence gone
        lines[at] = lines[at].replace(rng.choice([b',"sequence":', b',"source":"']), b',"x":"')


@pytest.mark.parametrize("seed", range(12))
def test_c_and_python_give_the_same_verdict_on_random_tampering(
    export: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    lines = lines_of(export)
    for _ in range(rng.randint(1, 4)):
        _tamper(lines, rng)
    export.write_bytes(b"".join(lines))

    verdicts = []
    for compiled in (True, False):
        monkeypatch.setattr(verify_module, "COMPILED", compiled)
        result = verify_module.verify_export(
            export, key=audit_signer().verifier, jobs=2, chunk_bytes=400_000
        )
        verdicts.append([(p.line, p.index, p.message) for p in result.problems])

    assert verdicts[0] == verdicts[1]
    assert verdicts[0]  # the change was found


def test_leaf_hashes_are_those_of_rfc_6962(events: list[bytes]) -> None:
    chosen = [b"", *events[:50]]

    assert scan.leaf_hashes(chosen) == merkle._leaf_hashes_python(chosen)
    assert scan.leaf_hashes(chosen)[0] == hashlib.sha256(b"\x00").digest()
    assert merkle.leaf_hashes is scan.leaf_hashes  # what the store appends with


def test_leaf_hashes_refuse_what_is_not_bytes() -> None:
    with pytest.raises(TypeError, match=re.escape("datas[1] is str, not bytes")):
        scan.leaf_hashes([b"a", "b"])


VALUES = [
    {},
    {"a": 1, "b": "中文", "c": [1, 2, {"d": None, "e": True}]},
    {"a": 1.0},
    {"a": [{"b": [1, 2, {"c": 0.5}]}]},
    {"a": (1, 2.5)},
    {"a": "😀"},
    {"😀": 1},
    {"a": "版本:1.5e3"},
    {"a": float("nan")},
    {"a": [[[[[[{"b": -0.0}]]]]]]},
]


@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:40] for v in VALUES])
def test_the_canonical_check_is_the_python_one(value: dict) -> None:  # type: ignore[type-arg]
    out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)

    assert scan.needs_exact(value, out) is envelope._needs_exact_python(value, out)


def test_canonical_json_is_the_same_through_the_python_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = [v for v in VALUES if "nan" not in repr(v)]  # refused either way
    fast = [envelope.canonical_json(v) for v in values]
    monkeypatch.setattr(envelope, "_needs_exact", envelope._needs_exact_python)

    assert [envelope.canonical_json(v) for v in values] == fast
    assert fast[2] == b'{"a":1}'  # the exact path: 1.0 is 1
    assert fast[5] == '{"a":"😀"}'.encode()


def test_the_canonical_check_does_not_depend_on_the_callers_stack() -> None:
    """The Python check walks without recursing; so does the C one (it counts the depth
    itself), so a nested event deep in a call stack gets the same answer."""
    value: dict = {"a": 1}  # type: ignore[type-arg]
    for _ in range(120):  # 241 levels: orjson takes up to 254
        value = {"a": [value]}
    out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)

    def deep(levels: int) -> bool:
        return deep(levels - 1) if levels else scan.needs_exact(value, out)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(260)
    try:
        assert deep(20) is False
    finally:
        sys.setrecursionlimit(limit)


def test_a_value_that_holds_itself_is_refused_not_crashed() -> None:
    looped: list = []  # type: ignore[type-arg]
    looped.append(looped)

    with pytest.raises(RecursionError, match="nested too deeply"):
        scan.needs_exact({"a": looped}, b"{}")
