"""The replay's JSON Lines chunks: serialised by hand for speed, they must be exactly what
protobuf makes of the same fields, and no message may outgrow what a client accepts."""

from __future__ import annotations

import pytest

from govnet.audit.v1 import audit_pb2 as pb
from services.audit.api import jsonl_chunk, within
from services.audit.client import event_id_of, events_of
from services.audit.store import Chunk
from services.contract.envelope import canonical_json


def chunk(sizes: list[int], *, first: int = 41, leaves: bool = False) -> Chunk:
    indexes = list(range(first, first + 2 * len(sizes), 2))  # a filtered replay skips some
    events = [b'{"n":"' + b"x" * size + b'"}' for size in sizes]
    return Chunk(
        indexes,
        events,
        [bytes([i % 256]) * 32 for i in indexes] if leaves else [],
        [f"type.t{i}" for i in indexes],
        indexes[-1] + 5 if indexes else 99,
    )


@pytest.mark.parametrize(
    "sizes", [[], [0], [3, 150, 20_000], [127, 128, 16_383, 16_384], [70_000] * 3]
)
@pytest.mark.parametrize("leaves", [False, True])
def test_a_jsonl_chunk_is_the_protobuf_of_its_fields(sizes: list[int], leaves: bool) -> None:
    replayed = chunk(sizes, leaves=leaves)

    message = pb.ReplayChunk.FromString(jsonl_chunk(replayed, 5000))

    assert message == pb.ReplayChunk(
        log_index=replayed.indexes,
        events_jsonl=b"".join(e + b"\n" for e in replayed.events),
        leaf_hashes=replayed.leaves,
        types=replayed.types,
        scanned_to=replayed.scanned_to,
        log_size=5000,
    )
    assert events_of(message) == replayed.events


def test_events_of_reads_either_form() -> None:
    assert events_of(pb.ReplayChunk(events=[b"{}", b'{"a":1}'])) == [b"{}", b'{"a":1}']
    assert events_of(pb.ReplayChunk(events_jsonl=b'{}\n{"a":1}\n')) == [b"{}", b'{"a":1}']
    assert events_of(pb.ReplayChunk()) == []


def test_a_chunk_within_the_limit_is_sent_whole() -> None:
    replayed = chunk([100] * 10)

    assert list(within(replayed, 10 * 108)) == [replayed]  # events of 108 bytes


def test_a_bigger_chunk_is_cut_into_messages_each_scanned_to_its_last_entry() -> None:
    replayed = chunk([100, 100, 100, 500, 100, 100], first=1)  # events of 108 and 508 bytes

    pieces = list(within(replayed, 330))

    assert [p.indexes for p in pieces] == [[1, 3, 5], [7], [9, 11]]
    assert [p.scanned_to for p in pieces] == [5, 7, replayed.scanned_to]
    assert [p.types for p in pieces] == [
        ["type.t1", "type.t3", "type.t5"],
        ["type.t7"],
        ["type.t9", "type.t11"],
    ]
    assert [e for p in pieces for e in p.events] == replayed.events


def test_the_id_of_a_replayed_event_is_the_envelopes_not_one_inside_its_data() -> None:
    event = canonical_json(
        {
            "data": {"id": "inner", "items": [{"id": "deeper", "note": 'say ,"id":"x"'}]},
            "id": "0b7d-envelope",
            "source": "govnet://320000/catalog",
            "type": "item.published",
            "zone": "a",  # an extension attribute sorting after the id
        }
    )

    assert event_id_of(event) == "0b7d-envelope"
    assert event_id_of(canonical_json({"data": {"id": "inner"}, "type": "x.y"})) is None
