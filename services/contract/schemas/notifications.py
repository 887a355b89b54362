"""Events owned by the notifications service."""

from __future__ import annotations

from marshmallow import fields, validate

from services.contract.fields import CaseNumber, ImplementationCode
from services.contract.schemas.applications import EVALUATION_LEVELS
from services.contract.schemas.common import ContractSchema, DepartmentRef, EventRef

NOTIFICATION_CHANNELS = ("inbox", "email", "sms", "workorder")
FAILURE_STATUSES = ("temporary-failure", "permanent-failure")
ESCALATION_RECIPIENT_PATTERN = r"^(supervision:[0-9]{6}|dept:[0-9A-HJ-NPQRTUWXY]{18})$"


class NotificationSentV1(ContractSchema):
    notification_id = fields.UUID(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(NOTIFICATION_CHANNELS))
    recipient = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Account id, or a masked address; never a full phone number."},
    )
    template = fields.String(required=True, validate=validate.Length(min=1, max=100))
    case_number = CaseNumber(load_default=None, allow_none=True)
    cause = fields.Nested(EventRef, required=True)
    sent_at = fields.AwareDateTime(required=True, format="iso")


class NotificationFailedV1(ContractSchema):
    """An email or SMS could not be delivered: a temporary failure (it will be tried again
    unless `final`) or a permanent one (never tried again)."""

    notification_id = fields.UUID(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(NOTIFICATION_CHANNELS))
    recipient = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Account id or department; never a full address."},
    )
    template = fields.String(required=True, validate=validate.Length(min=1, max=100))
    case_number = CaseNumber(load_default=None, allow_none=True)
    cause = fields.Nested(EventRef, required=True)
    status = fields.String(required=True, validate=validate.OneOf(FAILURE_STATUSES))
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "What the channel said, with addresses masked."},
    )
    attempts = fields.Integer(required=True, validate=validate.Range(min=1))
    final = fields.Boolean(
        required=True,
        metadata={"description": "No further tries: permanent, or dead-lettered after the last."},
    )
    failed_at = fields.AwareDateTime(required=True, format="iso")


class RectificationEscalatedV1(ContractSchema):
    """A department missed the deadline to rectify a bad review (差评整改), and the node
    where the case is escalated it to the supervising level. Self-contained: the parent
    node's electronic supervision office is told from this event alone, without ever
    having seen the case."""

    rectification_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The rectification, as the escalating node knows it."},
    )
    case_number = CaseNumber(required=True)
    implementation_code = ImplementationCode(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "The item's implementation code; null for a case the escalating "
            "node stored before it kept the code."
        },
    )
    item_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    department = fields.Nested(
        DepartmentRef,
        required=True,
        metadata={
            "description": "The department that missed the deadline; its name as the "
            "escalating node's directory has it (its code when the directory has none)."
        },
    )
    level = fields.String(
        required=True,
        validate=validate.OneOf(EVALUATION_LEVELS),
        metadata={"description": "The evaluation level, as in application.evaluated."},
    )
    comment = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "The applicant's comment, as in application.evaluated."},
    )
    rectify_by = fields.Date(
        required=True, metadata={"description": "The missed rectification deadline."}
    )
    escalated_to = fields.String(
        required=True,
        validate=validate.Regexp(
            ESCALATION_RECIPIENT_PATTERN,
            error="must be supervision:<6-digit division code> or dept:<18-character USCC>",
        ),
        metadata={
            "description": "Who must supervise: supervision:<division>, the electronic "
            "supervision office (电子监察) of the level above, or dept:<USCC>, a supervising "
            "department."
        },
    )
    escalated_at = fields.AwareDateTime(required=True, format="iso")
