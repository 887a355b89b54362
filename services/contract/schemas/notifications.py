"""Events owned by the notifications service."""

from __future__ import annotations

from marshmallow import fields, validate

from services.contract.fields import CaseNumber
from services.contract.schemas.common import ContractSchema, EventRef

NOTIFICATION_CHANNELS = ("inbox", "email", "sms", "workorder")
FAILURE_STATUSES = ("temporary-failure", "permanent-failure")


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
