"""Ingress for department systems: a plain AMQP client (pika, no govnet code) publishes to
govnet.ingress; the audit worker's gate accepts valid events and refuses the rest with the
reason, and keeps working."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.audit.domain import ReplayFilter
from services.audit.export import ExportWriter
from services.audit.notes import VerifierKey
from services.audit.store import AuditStore
from services.audit.verify import verify_export
from services.contract import names
from services.contract.schemas import default_registry
from services.node import node_audit_key
from services.platform.settings import Settings
from services.platform.store import Database
from tests.support.events import department_uscc, evaluation, to_bytes
from tests.support.nodes import node_env, processes
from tests.support.taps import Tap, publish, tap
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def node(amqp_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    var = tmp_path_factory.mktemp("var")
    env = node_env(amqp_uri=amqp_uri, var_dir=var)
    with processes([("worker", ["audit"])], env, var / "run"):
        yield env


@pytest.fixture(scope="module")
def audit_log(node: dict[str, str]) -> Iterator[AuditStore]:
    db = Database(
        f"sqlite:///{node['GOVNET_VAR']}/320000/audit.db",
        service="audit",
        division="320000",
        registry=default_registry(),
    )
    yield AuditStore(db)
    db.dispose()


@pytest.fixture
def rejected(amqp_uri: str, node: dict[str, str]) -> Iterator[Tap]:
    with tap(amqp_uri, names.REJECTED_EXCHANGE) as t:
        yield t


@pytest.fixture
def accepted(amqp_uri: str, node: dict[str, str]) -> Iterator[Tap]:
    with tap(amqp_uri, names.ACCEPTED_EXCHANGE) as t:
        yield t


@pytest.fixture
def refusals(amqp_uri: str, node: dict[str, str]) -> Iterator[Tap]:
    with tap(amqp_uri, "audit.events", names.EVENT_REJECTED) as t:
        yield t


def in_log(store: AuditStore, event_id: str) -> list[object]:
    return [e for e in store.events(page_size=1000) if e.event_id == event_id]


def test_a_valid_department_event_is_accepted_and_audited_once(
    amqp_uri: str, audit_log: AuditStore, accepted: Tap
) -> None:
    event = evaluation(sequence=1)
    body = to_bytes(event)
    publish(amqp_uri, names.INGRESS_EXCHANGE, "evaluation.submitted", body, "application/json")
    publish(amqp_uri, names.INGRESS_EXCHANGE, "evaluation.submitted", body)  # a duplicate

    entries = wait_for(lambda: in_log(audit_log, event["id"]), what="the event in the audit log")
    forwarded = accepted.take(2)  # the gate forwards both; audit keeps one
    assert [json.loads(m.body) for m in forwarded] == [event, event]
    assert {m.routing_key for m in forwarded} == {"evaluation.submitted"}
    assert len(in_log(audit_log, event["id"])) == 1
    entry = entries[0]
    assert (entry.source, entry.type, entry.sequence, entry.subject) == (
        event["source"],
        "evaluation.submitted",
        1,
        "320000-20261126-000001",
    )
    # The log keeps the canonical form of what the department sent.
    assert json.loads(entry.canonical) == event
    assert (
        entry.canonical
        == json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


def _without(event: dict[str, object], key: str) -> dict[str, object]:
    return {k: v for k, v in event.items() if k != key}


def _unknown_type() -> dict[str, object]:
    event = evaluation()
    return event | {"type": "permit.granted", "dataschema": "govnet:permit.granted/v1"}


def _bad_payload() -> dict[str, object]:
    event = evaluation()
    return event | {"data": dict(event["data"], level="excellent")}  # type: ignore[arg-type]


def _not_for_departments() -> dict[str, object]:
    event = evaluation()
    return event | {
        "type": "notification.sent",
        "dataschema": "govnet:notification.sent/v1",
        "data": {
            "notification_id": "9b2f6c1e-3f56-4a52-9b8e-2f1f0b0e7d11",
            "channel": "inbox",
            "recipient": "u-1",
            "template": "t",
            "cause": {"source": "s", "id": "i", "type": "t"},
            "sent_at": "2026-11-26T01:00:00Z",
        },
    }


BAD = [
    pytest.param(
        b'{"specversion": "1.0", "id": ',
        "malformed",
        "",
        "body is not valid JSON",
        id="malformed-json",
    ),
    pytest.param(
        to_bytes(_without(evaluation(), "source")),
        "missing_attribute",
        "source",
        "source: required attribute is missing",
        id="missing-attribute",
    ),
    pytest.param(
        to_bytes(_unknown_type()),
        "unknown_type",
        "type",
        "type: permit.granted is not a registered event type",
        id="unknown-type",
    ),
    pytest.param(
        to_bytes(_bad_payload()),
        "invalid_data",
        "data.level",
        "data.level: must be one of",
        id="payload-fails-schema",
    ),
    pytest.param(
        to_bytes(_not_for_departments()),
        "forbidden",
        "type",
        "type: notification.sent is not accepted from department systems",
        id="not-ingress",
    ),
    pytest.param(
        to_bytes(evaluation(division="320100")),
        "forbidden",
        "division",
        "division: is 320100, but this is the node of 320000",
        id="other-division",
    ),
]


@pytest.mark.parametrize(("body", "code", "field", "reason"), BAD)
def test_an_invalid_message_is_rejected_with_its_reason_and_the_gate_keeps_working(
    amqp_uri: str,
    audit_log: AuditStore,
    rejected: Tap,
    refusals: Tap,
    body: bytes,
    code: str,
    field: str,
    reason: str,
) -> None:
    publish(amqp_uri, names.INGRESS_EXCHANGE, "evaluation.submitted", body)

    [parked] = rejected.take(1)
    assert parked.body == body, "the refused message is kept unchanged"
    assert parked.routing_key == "evaluation.submitted"
    headers = parked.headers
    assert headers[names.REJECT_CODE_HEADER] == code
    assert headers[names.REJECT_FIELD_HEADER] == field
    assert reason in headers[names.REJECT_REASON_HEADER]
    assert headers[names.REJECT_BY_HEADER] == "govnet://320000/audit"
    assert headers[names.REJECT_QUEUE_HEADER] == names.INGRESS_GATE_QUEUE

    [notice] = refusals.take(1)
    data = json.loads(notice.body)["data"]
    assert (data["code"], data["field"], data["queue"]) == (code, field, "audit.ingress")
    assert reason in data["reason"]
    # What could be read of the refused event is named, its sequence number included.
    sent = {} if code == "malformed" else json.loads(body)
    assert (
        data["rejected_source"],
        data["rejected_id"],
        data["rejected_type"],
        data["rejected_sequence"],
    ) == (sent.get("source"), sent.get("id"), sent.get("type"), sent.get("sequence"))

    # Nothing crashed or stalled: the next valid event goes straight through.
    good = evaluation()
    publish(amqp_uri, names.INGRESS_EXCHANGE, "evaluation.submitted", to_bytes(good))
    wait_for(lambda: in_log(audit_log, good["id"]), what="the next valid event in the log")
    assert rejected.quiet() == []


def test_a_refused_events_sequence_number_is_accounted_for_in_the_verified_log(
    amqp_uri: str, node: dict[str, str], audit_log: AuditStore, tmp_path: Path
) -> None:
    department = department_uscc("320000", "01400009")
    first, refused, third = (evaluation(sequence=n, department=department) for n in (1, 2, 3))
    refused["data"]["level"] = "excellent"
    for event in (first, refused, third):
        publish(amqp_uri, names.INGRESS_EXCHANGE, "evaluation.submitted", to_bytes(event))
    source = first["source"]

    def refusal_logged() -> int:
        return next(
            (
                e.log_index
                for e in audit_log.events(type=names.EVENT_REJECTED, page_size=1000)
                if e.data["rejected_id"] == refused["id"]
            ),
            0,
        )

    wait_for(lambda: in_log(audit_log, third["id"]), what="the third event in the log")
    refusal_index = wait_for(refusal_logged, what="the refusal in the log")
    path = tmp_path / "audit.jsonl"
    with path.open("wb") as out:
        key = node_audit_key(Settings.from_environment(node))
        writer = ExportWriter(
            out, origin="govnet/320000/audit", verifier_key=key, entries=audit_log.size(),
            checkpoints=0,
        )  # fmt: skip
        for chunk in audit_log.scan(ReplayFilter(), until_index=audit_log.size(), with_leaves=True):
            writer.entries(chunk.events, chunk.leaves)
        writer.close()

    result = verify_export(path, key=VerifierKey.parse(key))

    assert [str(p) for p in result.problems if source in p.message] == []
    assert (source, 2, refusal_index) in result.refused
