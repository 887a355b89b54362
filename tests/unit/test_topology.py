"""The node's RabbitMQ topology agrees with names.py and with deploy/rabbitmq/definitions.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.contract import names
from services.platform import topology
from services.platform.topology import EXCHANGES, QueueSpec, definitions

QUEUES = topology.for_level("county").queues
queue = topology.STANDALONE.queue

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = ROOT / "deploy" / "rabbitmq" / "definitions.json"

QUEUE_CONSTANTS = {
    name: value
    for name, value in vars(names).items()
    if name.endswith("_QUEUE") and isinstance(value, str)
}
QUORUM = [spec for spec in QUEUES if spec.quorum]


def test_names_defines_queue_constants() -> None:
    assert set(QUEUE_CONSTANTS) == {
        "REJECTED_QUEUE",
        "INGRESS_GATE_QUEUE",
        "AUDIT_LOG_QUEUE",
        "APPLICATIONS_CATALOG_QUEUE",
        "APPLICATIONS_EVALUATIONS_QUEUE",
        "CATALOG_STANDARDS_QUEUE",
        "NOTIFICATIONS_APPLICATIONS_QUEUE",
        "NOTIFICATIONS_CATALOG_QUEUE",
        "NOTIFICATIONS_FROM_BELOW_QUEUE",
        "UP_QUEUE",
    }


@pytest.mark.parametrize(("constant", "name"), sorted(QUEUE_CONSTANTS.items()))
def test_every_queue_named_in_names_is_declared(constant: str, name: str) -> None:
    declared = [spec.name for spec in QUEUES]

    assert name in declared, f"names.{constant} = {name!r} is not declared in topology.QUEUES"


def test_every_declared_queue_is_named_in_names() -> None:
    assert sorted(spec.name for spec in QUEUES) == sorted(QUEUE_CONSTANTS.values())


def test_queue_names_are_unique() -> None:
    assert len({spec.name for spec in QUEUES}) == len(QUEUES)


def test_the_exchanges_are_each_services_events_the_ingress_accepted_and_rejected() -> None:
    assert EXCHANGES == (
        "catalog.events",
        "applications.events",
        "notifications.events",
        "audit.events",
        "govnet.ingress",
        "govnet.accepted",
        "govnet.rejected",
        "catalog.standards",
        "govnet.from-below",
        "govnet.up",
    )


@pytest.mark.parametrize("spec", QUEUES, ids=lambda s: s.name)
def test_every_binding_is_to_a_declared_exchange(spec: QueueSpec) -> None:
    assert spec.bindings, f"{spec.name} has no bindings at a county"
    for exchange, _ in spec.bindings:
        assert exchange in EXCHANGES, f"{spec.name} is bound to undeclared exchange {exchange}"


@pytest.mark.parametrize("spec", QUORUM, ids=lambda s: s.name)
def test_quorum_queues_dead_letter_to_the_rejected_exchange(spec: QueueSpec) -> None:
    assert spec.arguments(delivery_limit=7) == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 7,
        "x-dead-letter-exchange": names.REJECTED_EXCHANGE,
    }


def test_the_rejected_queue_is_classic_so_it_is_never_dead_lettered_itself() -> None:
    rejected = queue(names.REJECTED_QUEUE)

    assert not rejected.quorum
    assert rejected.arguments(delivery_limit=10) == {}
    assert rejected.bindings == ((names.REJECTED_EXCHANGE, "#"),)


def test_only_the_rejected_queue_and_the_uplink_are_classic() -> None:
    assert [spec.name for spec in QUEUES if not spec.quorum] == [
        names.REJECTED_QUEUE,
        names.UP_QUEUE,
    ]


def test_the_audit_log_hears_every_service_and_accepted_ingress_but_not_raw_ingress() -> None:
    assert queue(names.AUDIT_LOG_QUEUE).bindings == (
        ("catalog.events", "#"),
        ("applications.events", "#"),
        ("notifications.events", "#"),
        ("audit.events", "#"),
        ("govnet.accepted", "#"),
        ("govnet.from-below", "#"),
    )


@pytest.mark.parametrize("level", topology.LEVELS)
def test_notifications_hear_the_escalations_that_come_from_below_at_every_level(
    level: str,
) -> None:
    node = topology.for_level(level)

    assert node.queue(names.NOTIFICATIONS_FROM_BELOW_QUEUE).bindings == (
        ("govnet.from-below", "rectification.escalated"),
    )


def test_only_the_ingress_gate_reads_the_ingress_exchange() -> None:
    readers = [
        spec.name
        for spec in QUEUES
        for exchange, _ in spec.bindings
        if exchange == names.INGRESS_EXCHANGE
    ]

    assert readers == [names.INGRESS_GATE_QUEUE]


def test_an_undeclared_queue_is_a_key_error() -> None:
    with pytest.raises(KeyError) as info:
        queue("catalog.inbox")

    assert info.value.args == ("catalog.inbox",)


def test_definitions_use_the_vhost_and_delivery_limit_given() -> None:
    generated = definitions(vhost="320102", delivery_limit=3)

    assert generated["vhosts"] == [{"name": "320102"}]
    assert {x["vhost"] for key in ("exchanges", "queues", "bindings") for x in generated[key]} == {
        "320102"
    }
    assert {
        q["arguments"].get("x-delivery-limit") for q in generated["queues"] if q["arguments"]
    } == {3}
    assert [e["name"] for e in generated["exchanges"]] == list(EXCHANGES)
    assert all(e["type"] == "topic" and e["durable"] for e in generated["exchanges"])


def test_definitions_bind_exactly_the_topology_bindings() -> None:
    county = topology.for_level("county")
    bindings = [
        (b["source"], b["destination"], b["destination_type"], b["routing_key"])
        for b in definitions(level="county")["bindings"]
    ]

    assert bindings == [
        (exchange, spec.name, "queue", key)
        for spec in county.queues
        for exchange, key in spec.bindings
    ] + [(source, dest, "exchange", key) for source, dest, key in county.exchange_bindings]


@pytest.mark.parametrize("level", ["city", "county"])
def test_below_the_province_every_event_of_the_node_and_from_below_goes_up(level: str) -> None:
    node = topology.for_level(level)

    assert node.exchange_bindings == (
        ("catalog.events", "govnet.up", "#"),
        ("applications.events", "govnet.up", "#"),
        ("notifications.events", "govnet.up", "#"),
        ("audit.events", "govnet.up", "#"),
        ("govnet.accepted", "govnet.up", "#"),
        ("govnet.from-below", "govnet.up", "#"),
    )
    assert node.queue(names.UP_QUEUE).bindings == ((names.UP_EXCHANGE, "#"),)
    assert node.queue(names.CATALOG_STANDARDS_QUEUE).bindings == (("catalog.standards", "item.*"),)


def test_the_province_passes_nothing_up_and_reads_no_standards_of_its_own() -> None:
    province = topology.for_level("province")

    assert province.exchange_bindings == ()
    assert names.UP_QUEUE not in [spec.name for spec in province.queues]
    assert province.queue(names.CATALOG_STANDARDS_QUEUE).bindings == ()


def test_a_node_running_on_its_own_keeps_no_uplink_queue() -> None:
    alone = topology.for_level("county", uplink=False)

    assert names.UP_QUEUE not in [spec.name for spec in alone.queues]


def test_nothing_that_goes_up_comes_back_down() -> None:
    for level in topology.LEVELS:
        node = topology.for_level(level)
        assert not any(dest == names.STANDARDS_EXCHANGE for _, dest, _ in node.exchange_bindings)


def test_the_committed_rabbitmq_definitions_are_generated_from_the_topology() -> None:
    fix = (
        "run `.venv/bin/govnet deploy definitions --out deploy/rabbitmq/definitions.json` "
        "and commit the file"
    )
    assert DEFINITIONS.is_file(), fix

    assert json.loads(DEFINITIONS.read_text("utf-8")) == definitions(), fix
