"""Payload schemas of every contract event, and the registry that holds them.

Add a type by writing its schema in the module of the service that owns it and registering it
in `build_registry()`. Then run `make schemas` so the JSON Schema export in `schemas/` follows.
"""

from __future__ import annotations

from functools import cache

from services.contract import names
from services.contract.registry import Registry
from services.contract.schemas import applications, catalog, evaluations, notifications, platform


def build_registry() -> Registry:
    registry = Registry()
    registry.register(
        names.ITEM_PUBLISHED,
        1,
        catalog.ItemPublishedV1,
        description="A standard item is published (or implemented) at a node, with the guide "
        "data other services need to take cases while catalog is down.",
    )
    registry.register(
        names.ITEM_REVISED,
        1,
        catalog.ItemRevisedV1,
        description="An item was revised: its full new state (a new version) and which "
        "fields changed. At the province a change of a standard field revises the standard.",
    )
    registry.register(
        names.ITEM_REVOKED,
        1,
        catalog.ItemRevokedV1,
        description="An item was revoked; its case intake stops.",
    )
    registry.register(
        names.GUIDE_PUBLISHED,
        1,
        catalog.GuidePublishedV1,
        description="A service guide (办事指南) was published or revised.",
    )
    registry.register(
        names.DEVIATION_DETECTED,
        1,
        catalog.DeviationDetectedV1,
        description="A local implementation differs from the provincial standard (三级四同) "
        "in one standard field.",
    )
    registry.register(
        names.APPLICATION_SUBMITTED,
        1,
        applications.ApplicationSubmittedV1,
        description="An application (办件) was received on any channel.",
    )
    registry.register(
        names.NOTIFICATION_SENT,
        1,
        notifications.NotificationSentV1,
        description="A notification reached its channel (for the inbox: it was stored).",
    )
    registry.register(
        names.EVALUATION_SUBMITTED,
        1,
        evaluations.EvaluationSubmittedV1,
        description="A satisfaction evaluation (好差评) collected by a department system.",
        ingress=True,
    )
    registry.register(
        names.EVENT_REJECTED,
        1,
        platform.EventRejectedV1,
        description="A message was refused because it broke the contract; the message itself "
        "is on the govnet.rejected exchange with the reason in its headers.",
    )
    return registry


@cache
def default_registry() -> Registry:
    """The registry of this version of govnet (built once per process)."""
    return build_registry()
