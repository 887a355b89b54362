"""Events owned by the catalog service."""

from __future__ import annotations

from marshmallow import fields, validate

from services.contract.fields import BasicCode, ImplementationCode
from services.contract.identifiers import ITEM_TYPES
from services.contract.schemas.common import ContractSchema, DepartmentRef

LEVELS = ("province", "city", "county")
CASE_KINDS = ("immediate", "promised")


class Material(ContractSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    required = fields.Boolean(required=True)


class GuideSummary(ContractSchema):
    """What other services need from the service guide (办事指南) to take a case."""

    case_kind = fields.String(
        required=True,
        validate=validate.OneOf(CASE_KINDS),
        metadata={"description": "immediate (即办件) or promised (承诺件)."},
    )
    legal_limit_days = fields.Integer(
        required=True,
        validate=validate.Range(min=0, max=365),
        metadata={"description": "Legal time limit (法定办结时限), working days."},
    )
    promised_limit_days = fields.Integer(
        required=True,
        validate=validate.Range(min=0, max=365),
        metadata={"description": "Promised time limit (承诺办结时限), working days."},
    )
    materials = fields.List(fields.Nested(Material), required=True)


class ItemPublishedV1(ContractSchema):
    """An item published at a node, carrying its four standard fields (三级四同)."""

    basic_code = BasicCode(required=True)
    implementation_code = ImplementationCode(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type_code = fields.String(
        required=True,
        validate=validate.OneOf(sorted(ITEM_TYPES)),
        metadata={"description": "National item type code (01 行政许可 … 20 公共服务)."},
    )
    legal_basis = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    department = fields.Nested(DepartmentRef, required=True)
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    guide = fields.Nested(GuideSummary, required=True)
