"""Audit rules. Pure: no I/O, no clock, no nameko/grpc."""

from __future__ import annotations

from services.contract.envelope import Event, parse_source
from services.contract.errors import FORBIDDEN, ContractError
from services.contract.registry import Registry


def admit_ingress(event: Event, registry: Registry, node_division: str) -> None:
    """Decide whether a valid event may enter the node through `govnet.ingress`.

    Department systems publish only the types registered for ingress, only under a
    department source (`govnet://<division>/dept/<USCC>`), and only to their own node.
    Raises `ContractError(FORBIDDEN)` naming the attribute otherwise.
    """
    spec = registry.get(event.type, event.major)
    if not spec.ingress:
        allowed = ", ".join(s.type for s in registry if s.ingress)
        raise ContractError.single(
            FORBIDDEN,
            "type",
            f"{event.type} is not accepted from department systems (ingress accepts: {allowed})",
        )
    source = parse_source(event.source)
    if not source.is_department:
        raise ContractError.single(
            FORBIDDEN, "source", "must be govnet://<division>/dept/<USCC> on ingress"
        )
    if source.division != node_division:
        raise ContractError.single(
            FORBIDDEN,
            "division",
            f"is {source.division}, but this is the node of {node_division}; "
            "publish to your own division's node",
        )
