"""The audit service through real processes and a real broker: batched ingest of every
contract event, signed checkpoints, proofs, replay (also into an exchange), export and
offline verification, and the supervision report — with the node's own key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from govnet.audit.v1 import audit_pb2 as pb
from govnet.audit.v1 import audit_pb2_grpc as pb_grpc
from services.audit import client, supervision
from services.audit.domain import ReplayFilter
from services.audit.merkle import leaf_hash
from services.audit.notes import VerifierKey, open_note
from services.audit.store import AuditStore
from services.audit.verify import verify_export
from services.contract import names
from services.contract.schemas import default_registry
from services.platform.settings import Settings
from services.platform.store import Database
from tests.support.audit_logs import synthetic_events
from tests.support.nodes import node_env, processes
from tests.support.taps import publish_many, tap
from tests.support.waiting import wait_for

COUNT = 1200


@pytest.fixture(scope="module")
def node(amqp_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    var = tmp_path_factory.mktemp("var")
    env = node_env(
        amqp_uri=amqp_uri,
        var_dir=var,
        GOVNET_CHECKPOINT_EVERY="500",
        GOVNET_CHECKPOINT_INTERVAL="1",
        GOVNET_AUDIT_BATCH="200",
    )
    # Everything is published before the worker starts: it meets a full queue.
    from services.platform import amqp

    with amqp.connect(amqp_uri) as conn:
        amqp.declare_topology(conn, delivery_limit=10)
    events = synthetic_events(COUNT)
    messages = [("application.submitted", e) for e in events]
    messages += [("application.submitted", e) for e in events[:100]]  # redelivered copies
    messages.insert(600, ("application.submitted", b'{"not": "an event"'))
    with tap(amqp_uri, names.REJECTED_EXCHANGE) as rejected:
        publish_many(amqp_uri, "applications.events", messages)
        with processes([("worker", ["audit"]), ("api", ["audit"])], env, var / "run"):
            env["rejected"] = json.dumps([r.routing_key for r in rejected.take(1)])
            yield env


@pytest.fixture(scope="module")
def audit(node: dict[str, str]) -> Iterator[pb_grpc.AuditServiceStub]:
    settings = Settings.from_environment(node)
    with grpc.insecure_channel(settings.grpc_address("audit")) as channel:
        yield pb_grpc.AuditServiceStub(channel)


@pytest.fixture(scope="module")
def store(node: dict[str, str]) -> Iterator[AuditStore]:
    settings = Settings.from_environment(node)
    db = Database(
        settings.database_url_for("audit"),
        service="audit",
        division="320000",
        registry=default_registry(),
    )
    yield AuditStore(db)
    db.dispose()


@pytest.fixture(scope="module")
def key(node: dict[str, str]) -> VerifierKey:
    from services.node import node_audit_key

    return VerifierKey.parse(node_audit_key(Settings.from_environment(node)))


@pytest.fixture(scope="module")
def logged(store: AuditStore) -> int:
    """Waits for every event (and the checkpoints' own events) to be in the log."""

    def complete() -> int:
        ids = {e.event_id for e in store.events(page_size=1000)}
        ids |= {e.event_id for e in store.events(after_index=1000, page_size=1000)}
        return store.size() if len(ids) >= COUNT else 0

    return wait_for(complete, timeout=60, what=f"{COUNT} events in the audit log")


def replayed(audit: pb_grpc.AuditServiceStub, **filters: Any) -> list[tuple[int, bytes]]:
    request = client.replay_request(ReplayFilter.parse(**filters))
    return [
        (i, e)
        for chunk in client.replay(audit, request)
        for i, e in zip(chunk.log_index, client.events_of(chunk), strict=True)
    ]


def test_every_event_is_logged_once_in_batches_and_the_broken_one_rejected(
    node: dict[str, str], store: AuditStore, logged: int
) -> None:
    entries = [
        e
        for start in range(0, logged, 1000)
        for e in store.events(after_index=start, page_size=1000)
    ]
    submitted = [e for e in entries if e.type == names.APPLICATION_SUBMITTED]

    assert [e.log_index for e in entries] == list(range(1, len(entries) + 1))
    assert [e.canonical for e in submitted] == synthetic_events(COUNT)
    assert json.loads(node["rejected"]) == ["application.submitted"]
    # Entries committed together share their recorded time: far fewer commits than events.
    commits = len({e.recorded_at for e in submitted})
    assert commits <= COUNT // 20, f"{commits} commits for {COUNT} events"


def test_checkpoints_are_signed_with_the_node_key_and_logged_as_events(
    audit: pb_grpc.AuditServiceStub, store: AuditStore, key: VerifierKey, logged: int
) -> None:
    listed = audit.ListCheckpoints(pb.ListCheckpointsRequest()).checkpoints

    assert len(listed) >= 2
    assert listed[0].size >= 500
    for checkpoint in listed:
        opened = open_note(checkpoint.note, key)
        assert (opened.checkpoint.size, opened.checkpoint.root) == (
            checkpoint.size,
            checkpoint.root,
        )
        assert checkpoint.verifier_key == str(key)
    in_log = wait_for(
        lambda: store.events(type=names.CHECKPOINT_SIGNED, page_size=100),
        what="checkpoint events in the log",
    )
    assert in_log[0].data["note"] == listed[0].note


def test_an_inclusion_proof_verifies_against_the_signed_root(
    audit: pb_grpc.AuditServiceStub, key: VerifierKey, logged: int
) -> None:
    event = json.loads(synthetic_events(COUNT)[41])
    request = pb.GetInclusionProofRequest(source=event["source"], id=event["id"])

    proved = client.prove_inclusion(audit, request, str(key))

    assert proved.proof.log_index == 42
    assert proved.pinned
    assert proved.proof.leaf_hash == leaf_hash(synthetic_events(COUNT)[41])


def test_a_consistency_proof_verifies_between_checkpoints(
    audit: pb_grpc.AuditServiceStub, key: VerifierKey, logged: int
) -> None:
    first = audit.ListCheckpoints(pb.ListCheckpointsRequest()).checkpoints[0]

    proved = client.prove_consistency(
        audit, first=first.size, second=0, pinned_key=str(key), held=first.note
    )

    assert proved.second.checkpoint.size > first.size
    assert not proved.first_from_node


@pytest.mark.parametrize(
    ("request_", "code", "detail"),
    [
        (
            pb.GetInclusionProofRequest(log_index=1, source="x", id="y"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "log_index: name the entry by log_index or by source and id, not both",
        ),
        (
            pb.GetInclusionProofRequest(log_index=999_999),
            grpc.StatusCode.NOT_FOUND,
            "no entry 999999 in the log",
        ),
        (
            pb.GetInclusionProofRequest(log_index=1, tree_size=7),
            grpc.StatusCode.NOT_FOUND,
            "no checkpoint was signed at size 7",
        ),
        (
            pb.GetInclusionProofRequest(log_index=-5),
            grpc.StatusCode.INVALID_ARGUMENT,
            "log_index: must be a log index (from 1)",
        ),
        (
            pb.GetInclusionProofRequest(log_index=1, tree_size=-1),
            grpc.StatusCode.INVALID_ARGUMENT,
            "tree_size: must be 0 (the latest checkpoint) or a checkpoint's size",
        ),
        (
            pb.GetInclusionProofRequest(source="govnet://320000/catalog"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "id: required with source",
        ),
        (
            pb.GetInclusionProofRequest(id="0b7d"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "source: required with id",
        ),
        (
            pb.GetInclusionProofRequest(source="catalog", id="0b7d", tree_size=-2),
            grpc.StatusCode.INVALID_ARGUMENT,
            "tree_size: must be 0 (the latest checkpoint) or a checkpoint's size; source: "
            "must be govnet://<division>/<service> or govnet://<division>/dept/<USCC>",
        ),
        (
            pb.GetInclusionProofRequest(),
            grpc.StatusCode.INVALID_ARGUMENT,
            "log_index: required (or source and id)",
        ),
    ],
)
def test_a_bad_proof_request_names_the_field_or_what_is_missing(
    audit: pb_grpc.AuditServiceStub, logged: int, request_: Any, code: Any, detail: str
) -> None:
    with pytest.raises(grpc.RpcError) as failed:
        audit.GetInclusionProof(request_)

    assert (failed.value.code(), failed.value.details()) == (code, detail)


@pytest.mark.parametrize(
    ("method", "request_", "detail"),
    [
        (
            "GetConsistencyProof",
            pb.GetConsistencyProofRequest(first=1, second=-1),
            "second: must be 0 (the latest checkpoint) or a checkpoint's size",
        ),
        (
            "GetConsistencyProof",
            pb.GetConsistencyProofRequest(first=0, second=-1),
            "second: must be 0 (the latest checkpoint) or a checkpoint's size; "
            "first: must be an earlier tree size (from 1)",
        ),
        (
            "GetConsistencyProof",
            pb.GetConsistencyProofRequest(first=10**9),
            "first: must be between 1 and the checkpoint's size {latest}",
        ),
        (
            "GetCheckpoint",
            pb.GetCheckpointRequest(size=-1),
            "size: must be 0 (the latest checkpoint) or a checkpoint's size",
        ),
        (
            "ListCheckpoints",
            pb.ListCheckpointsRequest(after_size=-1, page_size=-1),
            "after_size: must be 0 or a tree size; page_size: must be between 0 and 1000",
        ),
        (
            "ListEvents",
            pb.ListEventsRequest(type="Bad Type", source="catalog", after_index=-1),
            "source: must be govnet://<division>/<service> or govnet://<division>/dept/<USCC>; "
            "type: must be an event type or a prefix like application.*; "
            "after_index: must be 0 or a log index",
        ),
        (
            "ListEvents",
            pb.ListEventsRequest(subject="x" * 257),
            "subject: must be at most 256 characters",
        ),
    ],
)
def test_every_bad_argument_is_named_by_its_request_field(
    audit: pb_grpc.AuditServiceStub, logged: int, method: str, request_: Any, detail: str
) -> None:
    latest = audit.GetCheckpoint(pb.GetCheckpointRequest()).size

    with pytest.raises(grpc.RpcError) as failed:
        getattr(audit, method)(request_)

    assert (failed.value.code(), failed.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        detail.format(latest=latest),
    )


def test_list_events_takes_a_type_prefix_as_replay_does(
    audit: pb_grpc.AuditServiceStub, logged: int
) -> None:
    page = audit.ListEvents(pb.ListEventsRequest(type="application.*", page_size=5))

    assert [e.log_index for e in page.events] == [1, 2, 3, 4, 5]
    assert {e.type for e in page.events} == {"application.submitted"}


def test_a_bad_replay_filter_is_refused_naming_every_field(
    audit: pb_grpc.AuditServiceStub, logged: int
) -> None:
    with pytest.raises(grpc.RpcError) as failed:
        list(audit.Replay(pb.ReplayRequest(division="32", type="Bad Type", chunk_size=-1)))

    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failed.value.details() == (
        "division: must be 6 digits, got 2 characters; "
        "type: must be an event type or a prefix like application.*; "
        "chunk_size: must be between 0 and 2000"
    )


@pytest.mark.parametrize(
    ("request_", "detail"),
    [
        (
            pb.ReplayRequest(after_index=-1, until_index=-1),
            "after_index: must be 0 or a log index; "
            "until_index: must be 0 (the end) or a log index",
        ),
        (
            pb.ReplayRequest(after_index=10, until_index=5),
            "until_index: is 5, before after_index (10); give 0 (the end) or a log index "
            "from after_index on",
        ),
    ],
)
def test_a_replay_range_that_cannot_be_is_refused_naming_its_fields(
    audit: pb_grpc.AuditServiceStub, logged: int, request_: Any, detail: str
) -> None:
    with pytest.raises(grpc.RpcError) as failed:
        list(audit.Replay(request_))

    assert (failed.value.code(), failed.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        detail,
    )


def test_a_replay_streams_the_log_in_order_with_filters(
    audit: pb_grpc.AuditServiceStub, logged: int
) -> None:
    everything = replayed(audit)
    catalog = replayed(audit, source="govnet://320000/catalog")

    # Checkpoint events may have joined the log since: it only grows.
    assert len(everything) >= logged
    assert [i for i, _ in everything] == list(range(1, len(everything) + 1))
    assert [e for _, e in catalog] == synthetic_events(COUNT)[1::3]


def test_a_replay_as_json_lines_streams_the_same_entries_as_one_by_one(
    audit: pb_grpc.AuditServiceStub, logged: int
) -> None:
    request = client.replay_request(ReplayFilter.parse(type="application.*"), until=logged)
    request.chunk_size = 700  # chunks that do not fall on the filter's matches
    plain = pb.ReplayRequest()
    plain.CopyFrom(request)
    plain.jsonl = False

    as_jsonl = list(audit.Replay(request))
    one_by_one = list(audit.Replay(plain))

    assert [c.events_jsonl for c in one_by_one] == [b""] * len(one_by_one)
    assert [list(c.events) for c in as_jsonl] == [[]] * len(as_jsonl)
    assert [client.events_of(c) for c in as_jsonl] == [list(c.events) for c in one_by_one]
    assert b"".join(c.events_jsonl for c in as_jsonl) == b"".join(
        e + b"\n" for e in synthetic_events(COUNT)
    )
    for jsonl, plain_chunk in zip(as_jsonl, one_by_one, strict=True):
        assert (jsonl.log_index, jsonl.types, jsonl.scanned_to, jsonl.log_size) == (
            plain_chunk.log_index,
            plain_chunk.types,
            plain_chunk.scanned_to,
            plain_chunk.log_size,
        )


def test_a_replay_into_an_exchange_lets_a_new_consumer_rebuild(
    amqp_uri: str, audit: pb_grpc.AuditServiceStub, logged: int
) -> None:
    from services.platform import amqp

    with amqp.connect(amqp_uri) as conn:
        conn.default_channel.exchange_declare(
            "rebuild.test", "topic", durable=True, auto_delete=False
        )
    with tap(amqp_uri, "rebuild.test", "application.*") as received:
        request = client.replay_request(ReplayFilter.parse(type="application.*"))
        done = client.republish(
            client.replay(audit, request),
            amqp_uri,
            "rebuild.test",
            origin="test",
            start=0,
            advance=lambda n: None,
        )
        messages = received.take(COUNT, timeout=30)

    assert done.count == COUNT
    assert [m.body for m in messages] == synthetic_events(COUNT)
    assert [m.headers["x-govnet-log-index"] for m in messages][:3] == [1, 2, 3]


def test_a_replay_into_the_nodes_own_exchange_is_refused(
    amqp_uri: str, audit: pb_grpc.AuditServiceStub
) -> None:
    with pytest.raises(client.AuditClientError, match=r"applications\.events is one of the node"):
        client.republish(
            iter(()), amqp_uri, "applications.events", origin="t", start=0, advance=print
        )
    with pytest.raises(client.AuditClientError, match=r"exchange 'no\.such' does not exist"):
        client.republish(iter(()), amqp_uri, "no.such", origin="t", start=0, advance=print)


def test_an_export_verifies_offline_and_gives_the_same_report_as_the_live_log(
    audit: pb_grpc.AuditServiceStub, key: VerifierKey, logged: int, tmp_path: Path
) -> None:
    last = json.loads(synthetic_events(COUNT)[-1])
    last_index = audit.ListEvents(pb.ListEventsRequest(subject=last["subject"])).events[0].log_index
    wait_for(
        lambda: audit.GetCheckpoint(pb.GetCheckpointRequest()).size >= last_index,
        what="a checkpoint covering every event",
    )
    path = tmp_path / "audit.jsonl"
    with path.open("wb") as out:
        done = client.export(
            audit, out, include_unsigned=False, on_size=lambda n: None, advance=lambda n: None
        )

    result = verify_export(path, key=key)

    assert result.ok, [str(p) for p in result.problems]
    assert (result.entries, result.checkpoints) == (done.entries, done.checkpoints)
    assert result.last_checkpoint == done.entries
    from_file = supervision.compute(
        (n, json.loads(line))
        for n, line in enumerate(
            (x for x in path.read_bytes().splitlines() if not x.startswith(b'{"_')), 1
        )
    )
    request = client.replay_request(ReplayFilter(), until=done.entries)
    from_node = supervision.compute(
        (i, json.loads(e))
        for chunk in client.replay(audit, request)
        for i, e in zip(chunk.log_index, client.events_of(chunk), strict=True)
    )
    assert supervision.render_json(from_file) == supervision.render_json(from_node)
    assert from_file.totals.received == COUNT
