"""Payload schemas of every contract event, and the registry that holds them.

Add a type by writing its schema in the module of the service that owns it and registering it
in `build_registry()`. Then run `make schemas` so the JSON Schema export in `schemas/` follows.
"""

from __future__ import annotations

from functools import cache

from services.contract import names
from services.contract.registry import Registry
from services.contract.schemas import (
    applications,
    audit,
    catalog,
    evaluations,
    notifications,
    platform,
)


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
    for event_type, schema, description in (
        (
            names.APPLICATION_ACCEPTED,
            applications.ApplicationAcceptedV1,
            "A case was accepted (受理), or counts as accepted (视为受理); its clock starts.",
        ),
        (
            names.APPLICATION_REFUSED,
            applications.ApplicationRefusedV1,
            "A case was not accepted (不予受理, result code 6), with the reason.",
        ),
        (
            names.APPLICATION_SUPPLEMENT_REQUESTED,
            applications.ApplicationSupplementRequestedV1,
            "The department asked for every missing material in one notice (补正).",
        ),
        (
            names.APPLICATION_SUPPLEMENTED,
            applications.ApplicationSupplementedV1,
            "The applicant handed in the requested materials.",
        ),
        (
            names.APPLICATION_REVIEW_ASSIGNED,
            applications.ApplicationReviewAssignedV1,
            "The case went to review, one review per department in parallel (联审).",
        ),
        (
            names.APPLICATION_REVIEW_COMPLETED,
            applications.ApplicationReviewCompletedV1,
            "One department completed its review.",
        ),
        (
            names.APPLICATION_CLOCK_PAUSED,
            applications.ApplicationClockPausedV1,
            "A special procedure (特别程序) started: the clock stops.",
        ),
        (
            names.APPLICATION_CLOCK_RESUMED,
            applications.ApplicationClockResumedV1,
            "The special procedure ended: the deadline moved by the days it took.",
        ),
        (
            names.APPLICATION_CONCLUDED,
            applications.ApplicationConcludedV1,
            "A case was concluded (办结) with a result code, on time or not.",
        ),
        (
            names.APPLICATION_WITHDRAWN,
            applications.ApplicationWithdrawnV1,
            "The applicant withdrew the case.",
        ),
        (
            names.APPLICATION_EVALUATED,
            applications.ApplicationEvaluatedV1,
            "The applicant evaluated the service (好差评).",
        ),
        (
            names.APPLICATION_DEADLINE_WARNING,
            applications.ApplicationDeadlineWarningV1,
            "Electronic supervision: a yellow warning, the promised deadline is near (黄牌).",
        ),
        (
            names.APPLICATION_OVERDUE,
            applications.ApplicationOverdueV1,
            "Electronic supervision: a red card, the promised deadline has passed (红牌).",
        ),
    ):
        registry.register(event_type, 1, schema, description=description)
    registry.register(
        names.NOTIFICATION_SENT,
        1,
        notifications.NotificationSentV1,
        description="A notification reached its channel (for the inbox: it was stored).",
    )
    registry.register(
        names.NOTIFICATION_FAILED,
        1,
        notifications.NotificationFailedV1,
        description="An email or SMS could not be delivered, temporarily or for good.",
    )
    registry.register(
        names.RECTIFICATION_ESCALATED,
        1,
        notifications.RectificationEscalatedV1,
        description="A department missed its deadline to rectify a bad review (差评整改); "
        "the case went to the supervising level, which is told by this event.",
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
    registry.register(
        names.CHECKPOINT_SIGNED,
        1,
        audit.CheckpointSignedV1,
        description="The audit log signed a checkpoint: its size and Merkle root, with the "
        "node's Ed25519 key, so that auditors elsewhere hold what the log promised.",
    )
    return registry


@cache
def default_registry() -> Registry:
    """The registry of this version of govnet (built once per process)."""
    return build_registry()
