"""Events owned by the catalog service.

Item events carry the four standard fields (三级四同) and everything other services need to
take cases while catalog is down (event-carried state). Province item events are also how
standards reach city and county nodes.
"""

from __future__ import annotations

from marshmallow import fields, validate

from services.contract.fields import BasicCode, CreditCode, ImplementationCode
from services.contract.identifiers import ITEM_TYPES
from services.contract.schemas.common import ContractSchema, DepartmentRef

LEVELS = ("province", "city", "county")
CASE_KINDS = ("immediate", "promised")
ITEM_KINDS = ("power", "convenience")
STANDARD_FIELDS = ("name", "basic_code", "type_code", "legal_basis")


class Material(ContractSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    required = fields.Boolean(required=True)


class Fee(ContractSchema):
    item = fields.String(required=True, validate=validate.Length(min=1, max=200))
    standard = fields.String(required=True, validate=validate.Length(max=500))


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


class ItemStateV1(ContractSchema):
    """An item as implemented at a node, with its four standard fields (三级四同)."""

    basic_code = BasicCode(required=True)
    implementation_code = ImplementationCode(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type_code = fields.String(
        required=True,
        validate=validate.OneOf(sorted(ITEM_TYPES)),
        metadata={"description": "National item type code (01 行政许可 … 20 公共服务)."},
    )
    legal_basis = fields.String(required=True, validate=validate.Length(max=4000))
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    department = fields.Nested(DepartmentRef, required=True)
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    guide = fields.Nested(GuideSummary, required=True)
    kind = fields.String(
        load_default="power",
        validate=validate.OneOf(ITEM_KINDS),
        metadata={"description": "power (权力清单) or convenience (便民服务事项)."},
    )
    standard_version = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1),
        metadata={"description": "Version of the provincial standard this item follows."},
    )
    address = fields.String(load_default="", validate=validate.Length(max=500))
    fees = fields.List(fields.Nested(Fee), load_default=list)


ItemPublishedV1 = ItemStateV1


class ItemRevisedV1(ItemStateV1):
    """The item after a revision: the full new state, and which fields changed."""

    changed_fields = fields.List(fields.String(), required=True)
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class ItemRevokedV1(ContractSchema):
    """An item was revoked: which one, with its four standard fields (三级四同)."""

    basic_code = BasicCode(required=True)
    implementation_code = ImplementationCode(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    department = fields.Nested(DepartmentRef, required=True)
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    reason = fields.String(load_default="", validate=validate.Length(max=2000))
    standard_revoked = fields.Boolean(
        load_default=False,
        metadata={
            "description": "True when no provincial implementation of the standard "
            "remains, so the standard itself is withdrawn."
        },
    )
    # Added within v1 (producers always send them; events from before may lack them):
    type_code = fields.String(
        validate=validate.OneOf(sorted(ITEM_TYPES)),
        metadata={"description": "National item type code (01 行政许可 … 20 公共服务)."},
    )
    legal_basis = fields.String(
        validate=validate.Length(max=4000), metadata={"description": "设定依据."}
    )
    kind = fields.String(
        validate=validate.OneOf(ITEM_KINDS),
        metadata={"description": "power (权力清单) or convenience (便民服务事项)."},
    )
    standard_version = fields.Integer(
        validate=validate.Range(min=1),
        metadata={"description": "Version of the provincial standard the item followed."},
    )


class GuideMaterialSummary(ContractSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    required = fields.Boolean(required=True)
    form = fields.String(load_default="原件")
    copies = fields.Integer(load_default=1, validate=validate.Range(min=0))


class GuideStep(ContractSchema):
    """One step of the handling process (办理流程)."""

    step = fields.String(required=True, validate=validate.Length(min=1))
    description = fields.String(load_default="")
    limit_days = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0),
        metadata={"description": "Time limit of the step, working days (0: none given)."},
    )


class GuidePublishedV1(ContractSchema):
    """A service guide (办事指南) was published or revised: the guide, with its item's four
    standard fields (三级四同), implementing department and time limits."""

    implementation_code = ImplementationCode(required=True)
    basic_code = BasicCode(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    case_kind = fields.String(required=True, validate=validate.OneOf(CASE_KINDS))
    legal_limit_days = fields.Integer(required=True, validate=validate.Range(min=0, max=365))
    promised_limit_days = fields.Integer(required=True, validate=validate.Range(min=0, max=365))
    service_object = fields.List(
        fields.String(validate=validate.OneOf(("natural", "legal"))), required=True
    )
    materials = fields.List(fields.Nested(GuideMaterialSummary), required=True)
    fees = fields.List(fields.Nested(Fee), load_default=list)
    online_depth = fields.Integer(load_default=1, validate=validate.Range(min=1, max=4))
    visits = fields.Integer(load_default=1, validate=validate.Range(min=0, max=10))
    collaborating_departments = fields.List(CreditCode(), load_default=list)
    result_name = fields.String(load_default="")
    # Added within v1 (producers always send them; events from before may lack them):
    type_code = fields.String(
        validate=validate.OneOf(sorted(ITEM_TYPES)),
        metadata={"description": "National item type code (01 行政许可 … 20 公共服务)."},
    )
    legal_basis = fields.String(
        validate=validate.Length(max=4000), metadata={"description": "设定依据."}
    )
    level = fields.String(validate=validate.OneOf(LEVELS))
    kind = fields.String(
        validate=validate.OneOf(ITEM_KINDS),
        metadata={"description": "power (权力清单) or convenience (便民服务事项)."},
    )
    department = fields.Nested(
        DepartmentRef, metadata={"description": "The implementing department (实施主体)."}
    )
    standard_version = fields.Integer(
        validate=validate.Range(min=1),
        metadata={"description": "Version of the provincial standard the item follows."},
    )
    acceptance_conditions = fields.String(metadata={"description": "受理条件."})
    process = fields.List(fields.Nested(GuideStep), metadata={"description": "办理流程."})
    address = fields.String(metadata={"description": "Where to apply (办理地点)."})
    office_hours = fields.String(metadata={"description": "办理时间."})
    consultation_phone = fields.String(metadata={"description": "咨询电话."})
    complaint_phone = fields.String(metadata={"description": "监督投诉电话."})
    online_url = fields.String(metadata={"description": "Online handling address (网办地址)."})
    mobile_url = fields.String(metadata={"description": "Mobile handling address."})
    result_type = fields.String(metadata={"description": "证照 | 批文 | 其他."})


class DeviationDetectedV1(ContractSchema):
    """A local implementation differs from the provincial standard in one field."""

    implementation_code = ImplementationCode(required=True)
    basic_code = BasicCode(required=True)
    department = CreditCode(required=True)
    field = fields.String(
        required=True,
        validate=validate.OneOf(STANDARD_FIELDS),
        metadata={"description": "basic_code means the standard is unknown at this node."},
    )
    standard_value = fields.String(required=True, validate=validate.Length(max=4000))
    local_value = fields.String(required=True, validate=validate.Length(max=4000))
