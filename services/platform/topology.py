"""The node's RabbitMQ topology, as data: exchanges, queues and bindings.

Every process declares the whole topology at start (declarations are idempotent), so no
event is lost because its consumer started later than its producer. `deploy/rabbitmq/
definitions.json` is generated from this module (`govnet deploy definitions`) and a test
keeps the committed file in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.contract import names
from services.contract.names import SERVICES, events_exchange


@dataclass(frozen=True)
class QueueSpec:
    name: str
    bindings: tuple[tuple[str, str], ...]  # (exchange, routing key pattern)
    quorum: bool = True
    """Quorum queues count deliveries, so a message whose handler keeps failing is
    dead-lettered to govnet.rejected after `delivery_limit` tries instead of looping."""

    def arguments(self, delivery_limit: int) -> dict[str, Any]:
        if not self.quorum:
            return {}
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": names.REJECTED_EXCHANGE,
        }


EXCHANGES: tuple[str, ...] = (
    *(events_exchange(s) for s in SERVICES),
    names.INGRESS_EXCHANGE,
    names.ACCEPTED_EXCHANGE,
    names.REJECTED_EXCHANGE,
    names.STANDARDS_EXCHANGE,
)

QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec(
        names.AUDIT_LOG_QUEUE,
        (*((events_exchange(s), "#") for s in SERVICES), (names.ACCEPTED_EXCHANGE, "#")),
    ),
    QueueSpec(names.INGRESS_GATE_QUEUE, ((names.INGRESS_EXCHANGE, "#"),)),
    QueueSpec(
        names.APPLICATIONS_CATALOG_QUEUE,
        ((events_exchange(names.CATALOG), "item.*"), (events_exchange(names.CATALOG), "guide.*")),
    ),
    # Satisfaction evaluations collected by department systems, once the gate accepted them.
    QueueSpec(
        names.APPLICATIONS_EVALUATIONS_QUEUE,
        ((names.ACCEPTED_EXCHANGE, names.EVALUATION_SUBMITTED),),
    ),
    # Provincial standards for city and county catalogs (fed by federation from the parent).
    QueueSpec(names.CATALOG_STANDARDS_QUEUE, ((names.STANDARDS_EXCHANGE, "item.*"),)),
    QueueSpec(
        names.NOTIFICATIONS_APPLICATIONS_QUEUE,
        ((events_exchange(names.APPLICATIONS), "application.*"),),
    ),
    # Department names, for the words of department notifications.
    QueueSpec(
        names.NOTIFICATIONS_CATALOG_QUEUE,
        (
            (events_exchange(names.CATALOG), names.ITEM_PUBLISHED),
            (events_exchange(names.CATALOG), names.ITEM_REVISED),
        ),
    ),
    # Kept for operators: nothing consumes it. Classic, so it is not dead-lettered itself.
    QueueSpec(names.REJECTED_QUEUE, ((names.REJECTED_EXCHANGE, "#"),), quorum=False),
)


def queue(name: str) -> QueueSpec:
    for spec in QUEUES:
        if spec.name == name:
            return spec
    raise KeyError(name)


def definitions(vhost: str = "/", delivery_limit: int = 10) -> dict[str, Any]:
    """RabbitMQ definitions (the management import format) for one node's vhost."""
    return {
        "vhosts": [{"name": vhost}],
        "exchanges": [
            {
                "name": name,
                "vhost": vhost,
                "type": "topic",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for name in EXCHANGES
        ],
        "queues": [
            {
                "name": spec.name,
                "vhost": vhost,
                "durable": True,
                "auto_delete": False,
                "arguments": spec.arguments(delivery_limit),
            }
            for spec in QUEUES
        ],
        "bindings": [
            {
                "source": exchange,
                "vhost": vhost,
                "destination": spec.name,
                "destination_type": "queue",
                "routing_key": key,
                "arguments": {},
            }
            for spec in QUEUES
            for exchange, key in spec.bindings
        ],
    }
