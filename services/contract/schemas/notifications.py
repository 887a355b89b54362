"""Events owned by the notifications service."""

from __future__ import annotations

from marshmallow import fields, validate

from services.contract.fields import CaseNumber
from services.contract.schemas.common import ContractSchema, EventRef

NOTIFICATION_CHANNELS = ("inbox", "email", "sms", "workorder")


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
