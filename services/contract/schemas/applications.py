"""Events owned by the applications service."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from services.contract.fields import (
    BasicCode,
    CaseNumber,
    ImplementationCode,
    MaskedIdNumber,
    MaskedPhone,
)
from services.contract.schemas.common import CHANNELS, ContractSchema

APPLICANT_KINDS = ("natural", "legal")
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
