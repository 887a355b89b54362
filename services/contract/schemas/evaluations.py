"""Satisfaction evaluations (好差评), which department systems publish through ingress."""

from __future__ import annotations

from marshmallow import fields, validate

from services.contract.fields import CaseNumber, CreditCode
from services.contract.schemas.common import CHANNELS, ContractSchema

LEVELS = (
    "very_satisfied",  # 非常满意
    "satisfied",  # 满意
    "basically_satisfied",  # 基本满意
    "dissatisfied",  # 不满意
    "very_dissatisfied",  # 非常不满意
)


class EvaluationSubmittedV1(ContractSchema):
    case_number = CaseNumber(required=True)
    department = CreditCode(required=True)
    level = fields.String(
        required=True,
        validate=validate.OneOf(LEVELS),
        metadata={"description": "The last two levels are bad reviews (差评)."},
    )
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    evaluated_at = fields.AwareDateTime(required=True, format="iso")
