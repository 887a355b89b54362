"""A node's RabbitMQ topology, as data: exchanges, queues and bindings, for its level.

Every process declares its node's whole topology at start (declarations are idempotent),
so no event is lost because its consumer started later than its producer.
`deploy/rabbitmq/definitions.json` is generated from this module (`govnet deploy
definitions`) and a test keeps the committed file in step; `services.platform.regions`
adds the links between nodes.

Between levels (DESIGN.md, "Regions"):

- **down**: the province's catalog routes its standards to `catalog.standards` as well;
  each city's and county's `catalog.standards` exchange is federated from its parent's, so
  standards reach every level, and the `catalog.standards` queue (not bound at the
  province) feeds the local catalog.
- **up**: at a city or county, every contract event of the node — its services' events,
  accepted ingress, and everything that came up from below — is also routed to
  `govnet.up`, whose queue a shovel empties into the parent's `govnet.from-below`; there
  the audit log records it, the notifications service takes the `rectification.escalated`
  events (for its supervision office) and, below the province, `govnet.up` passes it on.
  Nothing flows back down this way, so there are no loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.contract import names
from services.contract.names import SERVICES, events_exchange

PROVINCE, CITY, COUNTY = "province", "city", "county"
LEVELS = (PROVINCE, CITY, COUNTY)


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


@dataclass(frozen=True)
class Topology:
    level: str
    exchanges: tuple[str, ...]
    queues: tuple[QueueSpec, ...]
    exchange_bindings: tuple[tuple[str, str, str], ...]
    """(source exchange, destination exchange, routing key pattern)."""

    def queue(self, name: str) -> QueueSpec:
        for spec in self.queues:
            if spec.name == name:
                return spec
        raise KeyError(name)


EXCHANGES: tuple[str, ...] = (
    *(events_exchange(s) for s in SERVICES),
    names.INGRESS_EXCHANGE,
    names.ACCEPTED_EXCHANGE,
    names.REJECTED_EXCHANGE,
    names.STANDARDS_EXCHANGE,
    names.FROM_BELOW_EXCHANGE,
    names.UP_EXCHANGE,
)

_SOURCES_OF_THE_NODE = (
    *(events_exchange(s) for s in SERVICES),
    names.ACCEPTED_EXCHANGE,
)


def for_level(level: str, *, uplink: bool = True) -> Topology:
    """The topology of a province, city or county node; `uplink=False` leaves out the
    queue that holds what goes up, for a city or county node running on its own."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    below_province = level != PROVINCE
    queues = [
        QueueSpec(
            names.AUDIT_LOG_QUEUE,
            (*((source, "#") for source in _SOURCES_OF_THE_NODE), (names.FROM_BELOW_EXCHANGE, "#")),
        ),
        QueueSpec(names.INGRESS_GATE_QUEUE, ((names.INGRESS_EXCHANGE, "#"),)),
        QueueSpec(
            names.APPLICATIONS_CATALOG_QUEUE,
            (
                (events_exchange(names.CATALOG), "item.*"),
                (events_exchange(names.CATALOG), "guide.*"),
            ),
        ),
        # Satisfaction evaluations collected by department systems, once the gate accepted them.
        QueueSpec(
            names.APPLICATIONS_EVALUATIONS_QUEUE,
            ((names.ACCEPTED_EXCHANGE, names.EVALUATION_SUBMITTED),),
        ),
        # Provincial standards for city and county catalogs, federated from the parent. At
        # the province the exchange carries its own standards down, and nobody here reads them.
        QueueSpec(
            names.CATALOG_STANDARDS_QUEUE,
            ((names.STANDARDS_EXCHANGE, "item.*"),) if below_province else (),
        ),
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
        # Missed rectifications escalated by the nodes below, for this level's supervision
        # office. Nothing comes from below a county: the queue stays empty there.
        QueueSpec(
            names.NOTIFICATIONS_FROM_BELOW_QUEUE,
            ((names.FROM_BELOW_EXCHANGE, names.RECTIFICATION_ESCALATED),),
        ),
        # Kept for operators: nothing consumes it. Classic, so it is not dead-lettered itself.
        QueueSpec(names.REJECTED_QUEUE, ((names.REJECTED_EXCHANGE, "#"),), quorum=False),
    ]
    exchange_bindings: list[tuple[str, str, str]] = []
    if below_province:
        exchange_bindings = [
            (source, names.UP_EXCHANGE, "#")
            for source in (*_SOURCES_OF_THE_NODE, names.FROM_BELOW_EXCHANGE)
        ]
    if below_province and uplink:
        # Emptied by the shovel to the parent; classic, so a long outage of the link never
        # dead-letters what waits in it.
        queues.append(QueueSpec(names.UP_QUEUE, ((names.UP_EXCHANGE, "#"),), quorum=False))
    return Topology(level, EXCHANGES, tuple(queues), tuple(exchange_bindings))


def for_division(code: str, *, uplink: bool = True) -> Topology:
    """The topology of the node of a GB/T 2260 division code."""
    from services.contract.identifiers import check_division_code

    return for_level(check_division_code(code).level, uplink=uplink)


STANDALONE = for_level(PROVINCE)
"""A node with no parent: the province, or a single node on its own."""


def definitions(
    vhost: str = "/", delivery_limit: int = 10, level: str = PROVINCE, *, uplink: bool = True
) -> dict[str, Any]:
    """RabbitMQ definitions (the management import format) for one node's vhost."""
    node = for_level(level, uplink=uplink)
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
            for name in node.exchanges
        ],
        "queues": [
            {
                "name": spec.name,
                "vhost": vhost,
                "durable": True,
                "auto_delete": False,
                "arguments": spec.arguments(delivery_limit),
            }
            for spec in node.queues
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
            for spec in node.queues
            for exchange, key in spec.bindings
        ]
        + [
            {
                "source": source,
                "vhost": vhost,
                "destination": destination,
                "destination_type": "exchange",
                "routing_key": key,
                "arguments": {},
            }
            for source, destination, key in node.exchange_bindings
        ],
    }
