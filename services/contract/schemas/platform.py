"""Events every service may emit."""

from __future__ import annotations

from marshmallow import fields, validate

from services.contract.errors import (
    FORBIDDEN,
    INVALID_ATTRIBUTE,
    INVALID_DATA,
    MALFORMED,
    MISSING_ATTRIBUTE,
    UNKNOWN_TYPE,
    UNSUPPORTED_VERSION,
)
from services.contract.schemas.common import ContractSchema

REJECT_CODES = (
    MALFORMED,
    MISSING_ATTRIBUTE,
    INVALID_ATTRIBUTE,
    UNKNOWN_TYPE,
    UNSUPPORTED_VERSION,
    INVALID_DATA,
    FORBIDDEN,
    "handler_failed",
)


class EventRejectedV1(ContractSchema):
    """Tells a producer its message was refused, and why. Never carries the message itself.

    `rejected_*` are the refused message's own attributes, when they could be read. The
    `sequence` of a refused event is used up: the event never enters the log, and an
    auditor's sequence check counts the number as accounted for by this event.
    """

    rejected_source = fields.String(load_default=None, allow_none=True)
    rejected_id = fields.String(load_default=None, allow_none=True)
    rejected_type = fields.String(load_default=None, allow_none=True)
    rejected_sequence = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={"description": "The refused event's sequence: never in the log, but not lost."},
    )
    code = fields.String(required=True, validate=validate.OneOf(REJECT_CODES))
    field = fields.String(required=True, metadata={"description": "Dotted path, or empty."})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    queue = fields.String(required=True, metadata={"description": "Where it was refused."})
    received_at = fields.AwareDateTime(required=True, format="iso")
