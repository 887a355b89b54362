"""Events owned by the applications service."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from services.contract.fields import (
    BasicCode,
    CaseNumber,
    CreditCode,
    ImplementationCode,
    MaskedIdNumber,
    MaskedPhone,
)
from services.contract.identifiers import ITEM_TYPES
from services.contract.schemas.common import CHANNELS, ContractSchema

APPLICANT_KINDS = ("natural", "legal")
PAUSE_KINDS = ("hearing", "inspection", "expert_review", "testing", "public_notice", "other")
EVALUATION_LEVELS = (
    "very_satisfied",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "very_dissatisfied",
)
ID_TYPES = ("resident_id", "uscc")


class ApplicantV1(ContractSchema):
    """The applicant, with personal data masked."""

    kind = fields.String(
        required=True,
        validate=validate.OneOf(APPLICANT_KINDS),
        metadata={"description": "natural (自然人) or legal (法人) person."},
    )
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Masked for natural persons (张*), full for legal persons."},
    )
    id_type = fields.String(required=True, validate=validate.OneOf(ID_TYPES))
    id_number = MaskedIdNumber(required=True)
    phone = MaskedPhone(load_default=None, allow_none=True)
    account_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=128),
        metadata={"description": "The applicant's account on the unified identity platform."},
    )

    @validates_schema
    def _natural_persons_are_masked(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("kind") == "natural" and "*" not in data.get("id_number", "*"):
            raise ValidationError("a natural person's ID number must be masked", "id_number")


class ApplicationSubmittedV1(ContractSchema):
    case_number = CaseNumber(required=True)
    implementation_code = ImplementationCode(required=True)
    basic_code = BasicCode(required=True)
    item_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    item_version = fields.Integer(required=True, validate=validate.Range(min=1))
    applicant = fields.Nested(ApplicantV1, required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    submitted_at = fields.AwareDateTime(required=True, format="iso")
    promised_limit_days = fields.Integer(required=True, validate=validate.Range(min=0))
    materials = fields.List(
        fields.String(validate=validate.Length(min=1, max=200)),
        load_default=list,
        metadata={"description": "Names of the materials handed in."},
    )
    department = CreditCode(
        load_default=None,
        allow_none=True,
        metadata={"description": "The department the case is assigned to (implementing body)."},
    )
    type_code = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(sorted(ITEM_TYPES)),
        metadata={"description": "The item's national type code."},
    )


class CaseEventV1(ContractSchema):
    """What every later event of a case carries: the case, when, and who acted."""

    case_number = CaseNumber(required=True)
    at = fields.AwareDateTime(required=True, format="iso")
    department = CreditCode(
        required=True, metadata={"description": "The department that acted (or is assigned)."}
    )
    officer_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The acting officer; absent when the system or applicant acts."},
    )


class ApplicationAcceptedV1(CaseEventV1):
    due_date = fields.Date(required=True, metadata={"description": "Promised deadline (承诺)."})
    legal_due_date = fields.Date(required=True, metadata={"description": "Legal deadline."})
    promised_limit_days = fields.Integer(required=True, validate=validate.Range(min=0))
    deemed = fields.Boolean(
        required=True,
        metadata={"description": "True when nobody decided within 5 working days (视为受理)."},
    )


class ApplicationRefusedV1(CaseEventV1):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ApplicationSupplementRequestedV1(CaseEventV1):
    materials = fields.List(
        fields.String(validate=validate.Length(min=1, max=200)),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "Every missing material, in one notice (一次性告知)."},
    )


class ApplicationSupplementedV1(CaseEventV1):
    materials = fields.List(fields.String(validate=validate.Length(min=1, max=200)), required=True)


class ApplicationReviewAssignedV1(CaseEventV1):
    reviewers = fields.List(CreditCode(), required=True, validate=validate.Length(min=1))


class ApplicationReviewCompletedV1(CaseEventV1):
    approved = fields.Boolean(required=True)
    opinion = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    remaining = fields.Integer(
        required=True,
        validate=validate.Range(min=0),
        metadata={"description": "Reviews still open; 0 means the case is reviewed."},
    )


class ApplicationClockPausedV1(CaseEventV1):
    kind = fields.String(required=True, validate=validate.OneOf(PAUSE_KINDS))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ApplicationClockResumedV1(CaseEventV1):
    paused_working_days = fields.Integer(required=True, validate=validate.Range(min=0))
    due_date = fields.Date(required=True)
    legal_due_date = fields.Date(required=True)


class ApplicationConcludedV1(CaseEventV1):
    result_code = fields.Integer(
        required=True,
        validate=validate.Range(min=0, max=5),
        metadata={"description": "0 出证办结, 1 不予许可, 2 作废, 3 删除, 4 转报, 5 退件."},
    )
    reason = fields.String(load_default="", validate=validate.Length(max=2000))
    certificate = fields.String(load_default="", validate=validate.Length(max=200))
    due_date = fields.Date(load_default=None, allow_none=True)
    on_time = fields.Boolean(required=True)


class ApplicationWithdrawnV1(CaseEventV1):
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class ApplicationEvaluatedV1(CaseEventV1):
    level = fields.String(required=True, validate=validate.OneOf(EVALUATION_LEVELS))
    bad = fields.Boolean(required=True, metadata={"description": "A bad review (差评)."})
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    basic_code = BasicCode(required=True)
    source = fields.String(
        load_default="api",
        metadata={"description": "api, or the source of the department event it came from."},
    )


class ApplicationDeadlineWarningV1(CaseEventV1):
    due_date = fields.Date(required=True)
    days_left = fields.Integer(required=True, validate=validate.Range(min=0))
    share_used = fields.Float(required=True, validate=validate.Range(min=0, max=1))


class ApplicationOverdueV1(CaseEventV1):
    due_date = fields.Date(required=True)
    days_over = fields.Integer(required=True, validate=validate.Range(min=0))
