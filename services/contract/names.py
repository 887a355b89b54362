"""Every exchange, queue and event type name, defined once.

Department systems, `deploy/` and every service use these names; a test checks that the
RabbitMQ definitions in `deploy/` use the same ones. Change a name here and nowhere else.
"""

from __future__ import annotations

from typing import Final

# -- services --------------------------------------------------------------------------

CATALOG: Final = "catalog"
APPLICATIONS: Final = "applications"
NOTIFICATIONS: Final = "notifications"
AUDIT: Final = "audit"
SERVICES: Final = (CATALOG, APPLICATIONS, NOTIFICATIONS, AUDIT)


def events_exchange(service: str) -> str:
    """The topic exchange a service publishes its own events to (nameko's convention)."""
    return f"{service}.events"


# -- exchanges -------------------------------------------------------------------------

INGRESS_EXCHANGE: Final = "govnet.ingress"
"""Where department systems publish. Nothing reads it except the ingress gate."""

ACCEPTED_EXCHANGE: Final = "govnet.accepted"
"""Ingress events that passed validation, republished unchanged by the gate."""

REJECTED_EXCHANGE: Final = "govnet.rejected"
"""Messages that failed validation anywhere on the node, with the reason in headers."""

UP_EXCHANGE: Final = "govnet.up"
"""Everything a city or county node passes up to its parent (a shovel moves it)."""

FROM_BELOW_EXCHANGE: Final = "govnet.from-below"
"""What arrives from the nodes below: the audit log records it, `govnet.up` passes it on."""

STANDARDS_EXCHANGE: Final = "catalog.standards"
"""Provincial standard item events arriving from the parent node (federated downward by
issue "Regions"); empty at the province."""

# -- queues (named <consumer>.<what it holds>) ---------------------------------------

REJECTED_QUEUE: Final = "govnet.rejected"
INGRESS_GATE_QUEUE: Final = "audit.ingress"
AUDIT_LOG_QUEUE: Final = "audit.log"
APPLICATIONS_CATALOG_QUEUE: Final = "applications.catalog"
CATALOG_STANDARDS_QUEUE: Final = "catalog.standards"
APPLICATIONS_EVALUATIONS_QUEUE: Final = "applications.evaluations"
NOTIFICATIONS_APPLICATIONS_QUEUE: Final = "notifications.applications"
NOTIFICATIONS_CATALOG_QUEUE: Final = "notifications.catalog"
NOTIFICATIONS_FROM_BELOW_QUEUE: Final = "notifications.from-below"
UP_QUEUE: Final = "govnet.up"

# -- rejection headers -------------------------------------------------------------------

REJECT_REASON_HEADER: Final = "x-govnet-reject-reason"
REJECT_FIELD_HEADER: Final = "x-govnet-reject-field"
REJECT_CODE_HEADER: Final = "x-govnet-reject-code"
REJECT_BY_HEADER: Final = "x-govnet-rejected-by"
REJECT_QUEUE_HEADER: Final = "x-govnet-rejected-from"

# -- event types (routing key == type) -------------------------------------------------

ITEM_PUBLISHED: Final = "item.published"
ITEM_REVISED: Final = "item.revised"
ITEM_REVOKED: Final = "item.revoked"
GUIDE_PUBLISHED: Final = "guide.published"
DEVIATION_DETECTED: Final = "deviation.detected"
APPLICATION_SUBMITTED: Final = "application.submitted"
APPLICATION_ACCEPTED: Final = "application.accepted"
APPLICATION_REFUSED: Final = "application.refused"
APPLICATION_SUPPLEMENT_REQUESTED: Final = "application.supplement_requested"
APPLICATION_SUPPLEMENTED: Final = "application.supplemented"
APPLICATION_REVIEW_ASSIGNED: Final = "application.review_assigned"
APPLICATION_REVIEW_COMPLETED: Final = "application.review_completed"
APPLICATION_CLOCK_PAUSED: Final = "application.clock_paused"
APPLICATION_CLOCK_RESUMED: Final = "application.clock_resumed"
APPLICATION_CONCLUDED: Final = "application.concluded"
APPLICATION_WITHDRAWN: Final = "application.withdrawn"
APPLICATION_EVALUATED: Final = "application.evaluated"
APPLICATION_DEADLINE_WARNING: Final = "application.deadline_warning"
APPLICATION_OVERDUE: Final = "application.overdue"
NOTIFICATION_SENT: Final = "notification.sent"
NOTIFICATION_FAILED: Final = "notification.failed"
RECTIFICATION_ESCALATED: Final = "rectification.escalated"
EVALUATION_SUBMITTED: Final = "evaluation.submitted"
EVENT_REJECTED: Final = "event.rejected"
CHECKPOINT_SIGNED: Final = "checkpoint.signed"

CONTENT_TYPE: Final = "application/cloudevents+json"
