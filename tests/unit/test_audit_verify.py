"""`govnet audit verify`: an untouched export verifies; every kind of tampering is found
at the log index where it happened — with the scan's inner loops in C and in Python alike
(every test runs both)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.audit import verify as verify_module
from services.audit.merkle import consistency_proof, leaf_hash
from services.audit.notes import open_note
from services.audit.verify import Verification, verify_export
from services.contract.envelope import canonical_json
from tests.support.audit_logs import (
    GOLDEN,
    audit_signer,
    build_log,
    entry_line,
    lines_of,
    synthetic_events,
    write_export,
)

COUNT = 2600
CHECKPOINTS = (700, 1024, 2000, 2600)
SMALL_CHUNKS = 400_000  # bytes: several ranges per file, so range joins are exercised
NOTIFICATIONS = "govnet://320000/notifications"


@pytest.fixture(autouse=True, params=["compiled", "python"])
def scan_loops(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which inner loops the scans run: the C module's, or the Python ones."""
    if request.param == "compiled" and verify_module._compiled is None:
        pytest.skip("the C scan module was not built (no compiler or OpenSSL headers)")
    monkeypatch.setattr(verify_module, "COMPILED", request.param == "compiled")
    return str(request.param)


@pytest.fixture(scope="module")
def events() -> list[bytes]:
    return synthetic_events(COUNT)


@pytest.fixture(scope="module")
def log(events: list[bytes]):  # type: ignore[no-untyped-def]
    return build_log(events, CHECKPOINTS)


@pytest.fixture
def export(log, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    return write_export(tmp_path / "audit.jsonl", log)


def verify(path: Path, *, jobs: int = 1, pinned: bool = True, **kwargs: object) -> Verification:
    key = audit_signer().verifier if pinned else None
    return verify_export(path, key=key, jobs=jobs, chunk_bytes=SMALL_CHUNKS, **kwargs)  # type: ignore[arg-type]


def found(result: Verification) -> list[tuple[int | None, str]]:
    return [(p.index, p.message) for p in result.problems]


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def edited(line: bytes) -> bytes:
    assert b'"channel":"web"' in line
    return line.replace(b'"channel":"web"', b'"channel":"window"')


def source_of_entry(index: int) -> int:
    return (index - 1) % 3  # synthetic events take the three sources in turn


# -- what passes ----------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_untouched_export_verifies(export: Path, jobs: int) -> None:
    result = verify(export, jobs=jobs)

    assert result.ok, found(result)
    assert (result.entries, result.checkpoints, result.sources) == (COUNT, 4, 3)
    assert result.last_checkpoint == 2600
    assert result.key_pinned
    assert result.notes == []


def test_without_a_pinned_key_the_key_the_file_names_is_used_and_said_so(export: Path) -> None:
    result = verify(export, pinned=False)

    assert result.ok
    assert not result.key_pinned
    assert result.key == str(audit_signer().verifier)


def test_entries_after_the_last_checkpoint_are_noted_not_failed(
    events: list[bytes], tmp_path: Path
) -> None:
    path = write_export(tmp_path / "audit.jsonl", build_log(events, (1024, 2000)))

    result = verify(path)

    assert result.ok
    assert result.notes == [
        "entries 2001 to 2600 come after the last checkpoint; no signature covers them yet"
    ]


# -- tampering, each found at its index ---------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_edited_entry_is_found_at_its_index(export: Path, jobs: int) -> None:
    lines = lines_of(export)
    at = entry_line(lines, 1500)
    lines[at] = edited(lines[at])
    rewrite(export, lines)

    assert found(verify(export, jobs=jobs)) == [
        (
            1025,
            "entries 1025 to 2000 do not hash to the root signed at size 2000: one of them was "
            "changed, removed, inserted or moved",
        ),
        (1500, "the entry does not hash to the leaf the log recorded: it was changed"),
        (
            None,
            "the root signed at size 2600 does not match either: it covers the change found "
            "before size 2000, and maybe others among entries 2001 to 2600",
        ),
    ]


def test_a_deleted_entry_is_found_at_its_index(export: Path) -> None:
    lines = lines_of(export)
    del lines[entry_line(lines, 1500)]
    rewrite(export, lines)

    problems = found(verify(export))

    assert problems[0] == (1500, "this entry is missing: it was removed")
    # Its source's next entry (three later) shows the hole in that source's sequence.
    source = ["applications", "catalog", "notifications"][source_of_entry(1500)]
    assert problems[1] == (
        1503,
        f"govnet://320000/{source} sequence 500 missing before this entry (sequence 501): "
        "events never reached the log or were removed",
    )
    assert problems[2:] == [
        (2000, "the checkpoint of size 2000 follows entry 1999: entries removed or inserted"),
        (2600, "the checkpoint of size 2600 follows entry 2599: entries removed or inserted"),
        (None, "the header promises 2600 entries but the file has 2599"),
    ]


def test_two_entries_that_swapped_places_are_found_at_their_indexes(export: Path) -> None:
    lines = lines_of(export)
    a, b = entry_line(lines, 1500), entry_line(lines, 1501)
    lines[a], lines[b] = lines[b], lines[a]
    rewrite(export, lines)

    problems = found(verify(export))

    assert problems[:2] == [
        (
            1025,
            "entries 1025 to 2000 do not hash to the root signed at size 2000: one of them was "
            "changed, removed, inserted or moved",
        ),
        (1500, "entries 1500 and 1501 are in each other's place"),
    ]
    assert [index for index, _ in problems[2:]] == [None]


ROOT_2000 = (
    1025,
    "entries 1025 to 2000 do not hash to the root signed at size 2000: one of them was "
    "changed, removed, inserted or moved",
)
ROOT_2600_TOO = (
    None,
    "the root signed at size 2600 does not match either: it covers the change found "
    "before size 2000, and maybe others among entries 2001 to 2600",
)


def swapped(lines: list[bytes], a: int, b: int) -> list[bytes]:
    x, y = entry_line(lines, a), entry_line(lines, b)
    lines[x], lines[y] = lines[y], lines[x]
    return lines


def moved(lines: list[bytes], first: int, after: int, count: int = 1) -> list[bytes]:
    """Entries `first` … `first + count - 1` taken out and put back right after entry
    `after` (log indexes of the untouched export)."""
    start, target = entry_line(lines, first), lines[entry_line(lines, after)]
    taken = lines[start : start + count]
    del lines[start : start + count]
    at = lines.index(target) + 1
    lines[at:at] = taken
    return lines


@pytest.mark.parametrize("jobs", [1, 2])
def test_two_entries_far_apart_that_swapped_places_are_found_at_their_indexes(
    export: Path, jobs: int
) -> None:
    rewrite(export, swapped(lines_of(export), 1100, 1500))

    assert found(verify(export, jobs=jobs)) == [
        ROOT_2000,
        (1100, "entries 1100 and 1500 are in each other's place"),
        ROOT_2600_TOO,
    ]


@pytest.mark.parametrize("jobs", [1, 2])
def test_entries_swapped_across_blocks_and_checkpoints_are_found_at_their_indexes(
    export: Path, jobs: int
) -> None:
    rewrite(export, swapped(lines_of(export), 300, 1500))

    problems = found(verify(export, jobs=jobs))

    assert problems[:2] == [
        (
            1,
            "entries 1 to 700 do not hash to the root signed at size 700: one of them was "
            "changed, removed, inserted or moved",
        ),
        (300, "entries 300 and 1500 are in each other's place"),
    ]
    # Every later checkpoint covers the change; nothing else is blamed.
    assert [index for index, _ in problems[2:]] == [None, None, None]


@pytest.mark.parametrize(
    ("first", "after", "count", "expected"),
    [
        pytest.param(
            1100,
            1500,
            1,
            [(1100, "entry 1100 is out of place: it was moved to after entry 1500")],
            id="forward",
        ),
        pytest.param(
            1500,
            1099,
            1,
            [(1500, "entry 1500 is out of place: it was moved to after entry 1099")],
            id="backward",
        ),
        pytest.param(
            1100,
            1500,
            2,
            [
                (1100, "entry 1100 is out of place: it was moved to after entry 1500"),
                (1101, "entry 1101 is out of place: it was moved to after entry 1100"),
            ],
            id="two-together",
        ),
        pytest.param(
            1026,
            1999,
            1,
            [(1026, "entry 1026 is out of place: it was moved to after entry 1999")],
            id="from-the-start-to-the-end-of-a-block",
        ),
    ],
)
def test_an_entry_moved_within_a_block_is_found_at_its_own_index(
    export: Path, first: int, after: int, count: int, expected: list[tuple[int, str]]
) -> None:
    rewrite(export, moved(lines_of(export), first, after, count))

    assert found(verify(export)) == [ROOT_2000, *expected, ROOT_2600_TOO]


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_entry_moved_to_another_block_is_found_at_its_own_index(export: Path, jobs: int) -> None:
    rewrite(export, moved(lines_of(export), 100, 1500))

    assert found(verify(export, jobs=jobs)) == [
        (100, "entry 100 is out of place: it was moved to after entry 1500"),
        # The checkpoints after its old place now follow one entry fewer …
        (700, "the checkpoint of size 700 follows entry 699: entries removed or inserted"),
        (1024, "the checkpoint of size 1024 follows entry 1023: entries removed or inserted"),
        # … and the root of the range it moved into no longer matches.
        ROOT_2000,
        ROOT_2600_TOO,
    ]


def test_an_entry_moved_over_one_that_was_removed_is_told_apart(export: Path) -> None:
    lines = lines_of(export)
    lines[entry_line(lines, 1500)] = lines[entry_line(lines, 100)]
    del lines[entry_line(lines, 100)]
    rewrite(export, lines)

    assert found(verify(export)) == [
        (100, "entry 100 is out of place: it was moved to after entry 1499"),
        (700, "the checkpoint of size 700 follows entry 699: entries removed or inserted"),
        (1024, "the checkpoint of size 1024 follows entry 1023: entries removed or inserted"),
        (1500, "this entry is missing: it was removed"),
        (
            1503,
            "govnet://320000/notifications sequence 500 missing before this entry "
            "(sequence 501): events never reached the log or were removed",
        ),
        (2000, "the checkpoint of size 2000 follows entry 1999: entries removed or inserted"),
        (2600, "the checkpoint of size 2600 follows entry 2599: entries removed or inserted"),
        (None, "the header promises 2600 entries but the file has 2599"),
    ]


def test_an_inserted_entry_is_found_at_its_index(export: Path) -> None:
    lines = lines_of(export)
    at = entry_line(lines, 1500)
    forged = lines[at].replace(b'"id":"', b'"id":"f', 1)  # the same event, another id
    lines.insert(at + 1, forged)
    rewrite(export, lines)

    problems = found(verify(export))

    source = ["applications", "catalog", "notifications"][source_of_entry(1500)]
    assert problems == [
        (1501, "an entry the log never recorded was inserted here"),
        (
            1501,
            f"govnet://320000/{source} sequence 500 appear again: a duplicated or replayed event",
        ),
        (2001, "the checkpoint of size 2000 follows entry 2001: entries removed or inserted"),
        (2601, "the checkpoint of size 2600 follows entry 2601: entries removed or inserted"),
        (None, "the header promises 2600 entries but the file has 2601"),
    ]


def test_a_consistent_rewrite_is_found_between_the_checkpoints_around_it(export: Path) -> None:
    # The leaf the log recorded is rewritten too: only the signed roots can tell.
    lines = lines_of(export)
    at = entry_line(lines, 1500)
    original = lines[at]
    lines[at] = edited(original)

    old_leaf, new_leaf = leaf_hash(original[:-1]).hex(), leaf_hash(lines[at][:-1]).hex()
    lines = [line.replace(old_leaf.encode(), new_leaf.encode()) for line in lines]
    rewrite(export, lines)

    problems = found(verify(export))

    assert problems[0] == (
        1025,
        "entries 1025 to 2000 do not hash to the root signed at size 2000: one of them was "
        "changed, removed, inserted or moved",
    )
    assert [index for index, _ in problems] == [1025, None]


def test_a_log_rewritten_and_re_signed_with_the_node_key_fails_against_a_kept_checkpoint(
    events: list[bytes],
    log,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    kept = open_note(log.notes[2000], audit_signer().verifier)
    forged_events = list(events)
    forged_events[1499] = edited(forged_events[1499] + b"\n")[:-1]
    path = write_export(tmp_path / "forged.jsonl", build_log(forged_events, CHECKPOINTS))

    assert verify(path).ok  # internally consistent, signed with the real key …
    assert found(verify(path, trusted=[kept])) == [  # … but not what the log promised before
        (
            None,
            "the entries up to 2000 do not hash to the root of your trusted checkpoint of "
            "size 2000: the log was rewritten",
        )
    ]


def test_a_log_cut_short_and_re_signed_fails_against_a_kept_checkpoint(
    events: list[bytes],
    log,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    kept = open_note(log.notes[2600], audit_signer().verifier)
    path = write_export(tmp_path / "short.jsonl", build_log(events[:2000], (1024, 2000)))

    assert found(verify(path, trusted=[kept])) == [
        (
            None,
            "your trusted checkpoint has 2600 entries but the export ends at 2000: entries "
            "were removed",
        )
    ]


def test_an_event_that_never_reached_the_log_is_found_at_its_sources_next_entry(
    tmp_path: Path,
) -> None:
    events = synthetic_events(COUNT, skip=[(0, 7)])  # applications' event 7 was lost
    path = write_export(tmp_path / "gap.jsonl", build_log(events, CHECKPOINTS))
    index = next(i for i, e in enumerate(events, 1) if b'"sequence":8,' in e)

    assert found(verify(path)) == [
        (
            index,
            "govnet://320000/applications sequence 7 missing before this entry (sequence 8): "
            "events never reached the log or were removed",
        )
    ]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_replayed_event_after_a_gap_is_found_without_blaming_the_events_after_it(
    tmp_path: Path, jobs: int
) -> None:
    # applications' event 7 was lost and its event 8 came twice (a second id): both are
    # found where they are, and the numbers after 8, all in the log, are not called missing.
    events = synthetic_events(COUNT - 1, skip=[(0, 7)])
    marker = b'"sequence":8,"source":"govnet://320000/applications"'
    eighth = next(i for i, e in enumerate(events) if marker in e)
    events.insert(eighth + 1, events[eighth].replace(b'"id":"', b'"id":"f', 1))
    path = write_export(tmp_path / "replayed.jsonl", build_log(events, CHECKPOINTS))

    assert found(verify(path, jobs=jobs)) == [
        (
            eighth + 1,
            f"{APPLICATIONS} sequence 7 missing before this entry (sequence 8): events never "
            "reached the log or were removed",
        ),
        (eighth + 2, f"{APPLICATIONS} sequence 8 appear again: a duplicated or replayed event"),
    ]


def refusal(rejected_source: str, sequence: int, *, number: int, by: str = "audit") -> bytes:
    """The canonical bytes of an `event.rejected` entry of the node naming a refused event."""
    event = json.loads((GOLDEN / "event.rejected.v1.json").read_text("utf-8"))
    event["id"] = f"00000000-0000-4000-8000-{number:012d}"
    event["source"] = f"govnet://320000/{by}"
    event["division"] = "320000"
    event["sequence"] = number
    event["subject"] = rejected_source
    event["data"] |= {"rejected_source": rejected_source, "rejected_sequence": sequence}
    return canonical_json(event)


APPLICATIONS = "govnet://320000/applications"


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("where", [10, 2000], ids=["before-the-gap", "after-the-gap"])
def test_a_sequence_number_the_node_refused_is_accounted_for_not_missing(
    tmp_path: Path, jobs: int, where: int
) -> None:
    events = synthetic_events(COUNT - 1, skip=[(0, 7)])  # applications' event 7 was refused
    events.insert(where - 1, refusal(APPLICATIONS, 7, number=1))
    path = write_export(tmp_path / "refused.jsonl", build_log(events, CHECKPOINTS))

    result = verify(path, jobs=jobs)

    assert result.ok, found(result)
    assert result.refused == [(APPLICATIONS, 7, where)]
    assert result.notes == [
        "1 sequence number of 1 source never reached the log because the node refused the "
        "event: an event.rejected entry names each, so they are not missing (first: "
        f"{APPLICATIONS} sequence 7, refused at log index {where})"
    ]


def test_numbers_no_refusal_names_are_still_missing(tmp_path: Path) -> None:
    events = synthetic_events(COUNT - 1, skip=[(0, 6), (0, 7), (0, 8), (0, 10)])
    events.insert(100, refusal(APPLICATIONS, 7, number=1))
    events.insert(200, refusal(APPLICATIONS, 10, number=2))
    path = write_export(tmp_path / "refused.jsonl", build_log(events, CHECKPOINTS))
    index = next(i for i, e in enumerate(events, 1) if b'"sequence":9,' in e)

    result = verify(path)

    assert found(result) == [
        (
            index,
            f"{APPLICATIONS} sequences 6, 8 missing before this entry (sequence 9): events "
            "never reached the log or were removed",
        )
    ]
    assert result.refused == [(APPLICATIONS, 7, 101), (APPLICATIONS, 10, 201)]


def test_a_refusal_under_a_department_source_accounts_for_nothing(tmp_path: Path) -> None:
    events = synthetic_events(COUNT - 1, skip=[(0, 7)])
    events.insert(100, refusal(APPLICATIONS, 7, number=1, by="dept/91320102MA1X7Q2D78"))
    path = write_export(tmp_path / "refused.jsonl", build_log(events, CHECKPOINTS))
    index = next(
        i
        for i, e in enumerate(events, 1)
        if e.startswith(b'{"data":{"applicant"') and b'"sequence":8,' in e
    )

    result = verify(path)

    assert found(result) == [
        (
            index,
            f"{APPLICATIONS} sequence 7 missing before this entry (sequence 8): events never "
            "reached the log or were removed",
        )
    ]
    assert result.refused == []


def test_a_cut_file_is_found(export: Path) -> None:
    lines = lines_of(export)
    rewrite(export, lines[: entry_line(lines, 2300) + 1])

    result = verify(export)

    assert found(result) == [
        (2049, "no _leaves record follows these entries: the export was cut or edited"),
        (None, "the header promises 2600 entries but the file has 2300"),
        (None, "the header promises 4 checkpoints but the file has 3"),
    ]
    assert result.notes == [
        "entries 2001 to 2300 come after the last checkpoint; no signature covers them yet"
    ]


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_latest_checkpoint_taken_out_with_a_rewrite_after_the_one_before_is_found(
    export: Path, jobs: int
) -> None:
    # Without the checkpoint of 2600, entries 2001 to 2600 look unsigned: rewritten with
    # the leaves the log recorded, they would pass for entries no signature covers yet.
    lines = lines_of(export)
    at = entry_line(lines, 2300)
    original = lines[at]
    lines[at] = edited(original)
    old_leaf, new_leaf = leaf_hash(original[:-1]).hex(), leaf_hash(lines[at][:-1]).hex()
    lines = [
        line.replace(old_leaf.encode(), new_leaf.encode())
        for line in lines
        if not line.startswith(
            (
                b'{"_checkpoint":{"note":"govnet/320000/audit\\n2600\\n',
                b'{"_consistency":{"first":2000,',
            )
        )
    ]
    rewrite(export, lines)

    result = verify(export, jobs=jobs)

    assert found(result) == [(None, "the header promises 4 checkpoints but the file has 3")]
    assert result.checkpoints == 3


def test_a_checkpoint_signed_with_another_key_fails_against_the_pinned_key(
    events: list[bytes], tmp_path: Path
) -> None:
    stranger = audit_signer(b"someone else's key")
    path = write_export(
        tmp_path / "stranger.jsonl", build_log(events, (2600,), signer=stranger), signer=stranger
    )

    problems = found(verify(path))

    assert problems[0] == (2600, problems[0][1])
    assert problems[0][1].startswith("checkpoint: not signed by govnet/320000/audit (key ")
    assert problems[1][1].startswith("the export names the key govnet/320000/audit+")
    assert verify(path, pinned=False).ok  # which is why auditors pin the key


def test_an_altered_checkpoint_note_fails_its_signature(export: Path) -> None:
    lines = lines_of(export)
    at = next(i for i, line in enumerate(lines) if line.startswith(b'{"_checkpoint":{"note"'))
    lines[at] = lines[at].replace(b"\\n700\\n", b"\\n699\\n", 1)
    rewrite(export, lines)

    problems = found(verify(export))

    assert problems == [
        (
            700,
            "checkpoint: the signature of govnet/320000/audit does not verify: the text was "
            "changed",
        ),
        (
            None,
            "a consistency proof from 700 to 1024 refers to a checkpoint the export does not hold",
        ),
    ]


def test_a_wrong_consistency_proof_is_found(export: Path) -> None:
    lines = lines_of(export)
    at = next(i for i, line in enumerate(lines) if line.startswith(b'{"_consistency"'))
    record = json.loads(lines[at])
    first = record["_consistency"]["proof"][0]
    record["_consistency"]["proof"][0] = ("1" if first[0] == "0" else "0") + first[1:]
    lines[at] = canonical_json(record) + b"\n"
    rewrite(export, lines)

    assert found(verify(export)) == [
        (
            701,
            "the checkpoints of sizes 700 and 1024 are not consistent: the log was rewritten "
            "between them",
        )
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the export is empty"),
        (
            b'{"specversion":"1.0"}\n',
            "not an audit export (the first line must be a header "
            'with "_format":"govnet-audit-export/1")',
        ),
    ],
)
def test_a_file_that_is_not_an_export_is_refused(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)

    assert [p.message for p in verify(path).problems] == [problem]


def test_the_verdict_does_not_depend_on_the_number_of_processes(export: Path) -> None:
    lines = lines_of(export)
    at = entry_line(lines, 300)
    lines[at] = edited(lines[at])
    del lines[entry_line(lines, 2100)]
    rewrite(export, lines)

    assert found(verify(export, jobs=1)) == found(verify(export, jobs=2))
    assert found(verify(export, jobs=1)) == found(
        verify_export(export, key=audit_signer().verifier, jobs=1)  # one range for the file
    )


def test_without_the_c_module_everything_falls_back_to_python(export: Path) -> None:
    """An install without a compiler has no `services._speedups`: verify, the audit log's
    leaf hashes and the canonical form of events still work, in Python."""
    script = f"""
import sys
sys.modules["services._speedups"] = None  # what a failed build leaves: no module
from pathlib import Path
from services.audit import merkle, verify
from services.contract import envelope
assert not verify.COMPILED
assert merkle.leaf_hashes is merkle._leaf_hashes_python
assert envelope._needs_exact is envelope._needs_exact_python
assert envelope.canonical_json({{"b": 1.0, "a": "😀"}}) == '{{"a":"😀","b":1}}'.encode()
result = verify.verify_export(Path({str(export)!r}), jobs=2, chunk_bytes=400_000)
print(result.ok, result.entries)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", str(COUNT)]


# -- the consistency proofs between consecutive checkpoints --------------------------------


def consistency_line(lines: list[bytes], first: int) -> int:
    """The position in `lines` of the `_consistency` record from the checkpoint `first`."""
    start = b'{"_consistency":{"first":%d,' % first
    return next(i for i, line in enumerate(lines) if line.startswith(start))


def checkpoint_line(lines: list[bytes], size: int) -> int:
    start = b'{"_checkpoint":{"note":"govnet/320000/audit\\n%d\\n' % size
    return next(i for i, line in enumerate(lines) if line.startswith(start))


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize(("first", "second"), [(700, 1024), (2000, 2600)], ids=["inner", "last"])
def test_a_removed_consistency_proof_is_found_where_it_belongs(
    export: Path, jobs: int, first: int, second: int
) -> None:
    lines = lines_of(export)
    at = consistency_line(lines, first)
    del lines[at]
    rewrite(export, lines)

    result = verify(export, jobs=jobs)

    assert found(result) == [
        (
            None,
            f"the consistency proof between the checkpoints of sizes {first} and {second} is "
            "missing: the export was edited",
        )
    ]
    assert result.problems[0].line == at + 1  # right after the checkpoint of `second`


def test_a_consistency_proof_between_other_checkpoints_is_found(log, export: Path) -> None:  # type: ignore[no-untyped-def]
    # A genuine proof from 700 to 2000 stands where the one from 1024 to 2000 belongs.
    lines = lines_of(export)
    proof = [h.hex() for h in consistency_proof(log.node, 700, 2000)]
    record = {"_consistency": {"first": 700, "second": 2000, "proof": proof}}
    lines[consistency_line(lines, 1024)] = canonical_json(record) + b"\n"
    rewrite(export, lines)

    assert found(verify(export)) == [
        (
            None,
            "the consistency proof after the checkpoint of size 2000 is from 700 to 2000, not "
            "from 1024 to 2000: the export was edited",
        )
    ]


def test_a_duplicated_consistency_proof_is_found(export: Path) -> None:
    lines = lines_of(export)
    at = consistency_line(lines, 700)
    lines.insert(at + 1, lines[at])
    rewrite(export, lines)

    result = verify(export)

    assert found(result) == [
        (None, "the consistency proof from 700 to 1024 appears again: the export was edited")
    ]
    assert result.problems[0].line == at + 2


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_consistency_proof_moved_before_the_first_checkpoint_is_found(
    export: Path, jobs: int
) -> None:
    lines = lines_of(export)
    record = lines.pop(consistency_line(lines, 700))
    lines.insert(entry_line(lines, 100) + 1, record)
    rewrite(export, lines)

    assert found(verify(export, jobs=jobs)) == [
        (
            None,
            "a consistency proof from 700 to 1024 before the first checkpoint: the export was "
            "edited",
        ),
        (
            None,
            "the consistency proof between the checkpoints of sizes 700 and 1024 is missing: "
            "the export was edited",
        ),
    ]


def test_a_consistency_proof_after_the_first_checkpoint_is_found(export: Path) -> None:
    lines = lines_of(export)
    record = lines[consistency_line(lines, 700)]
    lines.insert(checkpoint_line(lines, 700) + 1, record)
    rewrite(export, lines)

    assert found(verify(export)) == [
        (
            None,
            "a consistency proof from 700 to 1024 where none belongs: the export was edited",
        )
    ]
