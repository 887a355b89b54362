"""The schema registry and the payload schemas registered in it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from marshmallow import Schema, fields, validate

from services.contract import errors, names
from services.contract.errors import ContractError, FieldViolation
from services.contract.registry import EventSpec, Registry
from services.contract.schemas import build_registry, default_registry
from services.contract.schemas.platform import REJECT_CODES

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def golden_data(event_type: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((GOLDEN / f"{event_type}.v1.json").read_text("utf-8"))
    data: dict[str, Any] = event["data"]
    return data


def violations(
    registry: Registry, event_type: str, data: Mapping[str, Any], prefix: str = ""
) -> tuple[FieldViolation, ...]:
    with pytest.raises(ContractError) as info:
        registry.validate(event_type, 1, data, prefix=prefix)
    assert info.value.code == errors.INVALID_DATA
    return info.value.violations


# -- a throwaway registry with two majors of one type -----------------------------------------


class PermitIssuedV1(Schema):
    holder = fields.String(required=True, validate=validate.Length(min=1))
    days = fields.Integer(required=True, validate=validate.Range(min=1))


class PermitIssuedV2(Schema):
    holder = fields.Nested(Schema.from_dict({"name": fields.String(required=True)}), required=True)
    valid_days = fields.Integer(required=True, validate=validate.Range(min=1))


def v1_to_v2(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"holder": {"name": data["holder"]}, "valid_days": data["days"]}


@pytest.fixture
def permits() -> Registry:
    registry = Registry()
    registry.register("permit.issued", 1, PermitIssuedV1, description="A permit (v1).")
    registry.register(
        "permit.issued", 2, PermitIssuedV2, description="A permit (v2).", upcaster=v1_to_v2
    )
    return registry


def test_register_returns_the_spec_it_stored(permits: Registry) -> None:
    spec = permits.get("permit.issued", 2)

    assert spec == EventSpec(
        "permit.issued", 2, PermitIssuedV2, "A permit (v2).", ingress=False, upcaster=v1_to_v2
    )
    assert spec.dataschema == "govnet:permit.issued/v2"


def test_registering_the_same_type_and_major_twice_is_refused(permits: Registry) -> None:
    with pytest.raises(ValueError, match=r"^permit\.issued v1 is already registered$"):
        permits.register("permit.issued", 1, PermitIssuedV1, description="again")


def test_a_new_major_without_an_upcaster_from_the_previous_one_is_refused() -> None:
    registry = Registry()
    registry.register("permit.issued", 1, PermitIssuedV1, description="v1")

    with pytest.raises(ValueError, match=r"^permit\.issued v2 needs an upcaster from v1$"):
        registry.register("permit.issued", 2, PermitIssuedV2, description="v2")

    assert registry.majors("permit.issued") == [1]


def test_a_later_major_needs_the_previous_one_registered_first() -> None:
    registry = Registry()

    with pytest.raises(ValueError, match=r"register permit\.issued v1 before v2"):
        registry.register("permit.issued", 2, PermitIssuedV2, description="v2 only")

    assert registry.types() == []


def test_get_of_an_unknown_type_says_unknown_type(permits: Registry) -> None:
    with pytest.raises(ContractError) as info:
        permits.get("permit.revoked", 1)

    assert info.value.code == errors.UNKNOWN_TYPE
    assert info.value.violations == (
        FieldViolation("type", "permit.revoked is not a registered event type"),
    )


def test_get_of_an_unsupported_major_lists_the_supported_ones(permits: Registry) -> None:
    with pytest.raises(ContractError) as info:
        permits.get("permit.issued", 3)

    assert info.value.code == errors.UNSUPPORTED_VERSION
    assert info.value.violations == (
        FieldViolation("dataschema", "permit.issued v3 is not supported (supported: v1, v2)"),
    )


def test_latest_is_the_highest_major(permits: Registry) -> None:
    assert permits.latest("permit.issued").major == 2


def test_latest_of_an_unknown_type_says_unknown_type(permits: Registry) -> None:
    with pytest.raises(ContractError) as info:
        permits.latest("permit.revoked")

    assert info.value.code == errors.UNKNOWN_TYPE
    assert str(info.value) == "type: permit.revoked is not a registered event type"


def test_types_majors_and_iteration_are_sorted(permits: Registry) -> None:
    permits.register("audit.sealed", 1, PermitIssuedV1, description="x")

    assert permits.types() == ["audit.sealed", "permit.issued"]
    assert permits.majors("permit.issued") == [1, 2]
    assert permits.majors("permit.revoked") == []
    assert [(s.type, s.major) for s in permits] == [
        ("audit.sealed", 1),
        ("permit.issued", 1),
        ("permit.issued", 2),
    ]


def test_validate_accepts_a_valid_payload_and_ignores_unknown_fields(permits: Registry) -> None:
    permits.validate("permit.issued", 1, {"holder": "南京某某餐饮有限公司", "days": 30, "extra": 1})


def test_validate_lists_every_violation_with_dotted_paths(permits: Registry) -> None:
    with pytest.raises(ContractError) as info:
        permits.validate("permit.issued", 2, {"holder": {}, "valid_days": 0}, prefix="data")

    assert info.value.code == errors.INVALID_DATA
    assert info.value.violations == (
        FieldViolation("data.holder.name", "missing data for required field"),
        FieldViolation("data.valid_days", "must be greater than or equal to 1"),
    )
    assert str(info.value) == (
        "data.holder.name: missing data for required field; "
        "data.valid_days: must be greater than or equal to 1"
    )


def test_validate_without_a_prefix_uses_bare_field_names(permits: Registry) -> None:
    with pytest.raises(ContractError) as info:
        permits.validate("permit.issued", 1, {"holder": ""})

    assert info.value.violations == (
        FieldViolation("days", "missing data for required field"),
        FieldViolation("holder", "shorter than minimum length 1"),
    )


def test_validate_of_an_unregistered_major_says_unsupported_version(permits: Registry) -> None:
    with pytest.raises(ContractError) as info:
        permits.validate("permit.issued", 9, {})

    assert info.value.code == errors.UNSUPPORTED_VERSION


def test_upcast_brings_a_v1_payload_to_v2(permits: Registry) -> None:
    v1 = {"holder": "南京某某餐饮有限公司", "days": 30}

    v2 = permits.upcast("permit.issued", 1, v1)

    assert v2 == {"holder": {"name": "南京某某餐饮有限公司"}, "valid_days": 30}
    permits.validate("permit.issued", 2, v2)
    assert v1 == {"holder": "南京某某餐饮有限公司", "days": 30}  # the input is left alone


def test_upcast_of_the_latest_major_returns_an_equal_copy(permits: Registry) -> None:
    v2 = {"holder": {"name": "张三"}, "valid_days": 5}

    upcast = permits.upcast("permit.issued", 2, v2)

    assert upcast == v2
    assert upcast is not v2


def test_upcast_chains_through_every_major_in_between(permits: Registry) -> None:
    def v2_to_v3(data: Mapping[str, Any]) -> dict[str, Any]:
        return {**data, "renewable": False}

    permits.register(
        "permit.issued", 3, PermitIssuedV2, description="A permit (v3).", upcaster=v2_to_v3
    )

    assert permits.upcast("permit.issued", 1, {"holder": "李四", "days": 7}) == {
        "holder": {"name": "李四"},
        "valid_days": 7,
        "renewable": False,
    }


# -- the default registry ---------------------------------------------------------------


def test_the_default_registry_holds_every_event_type_named_in_names() -> None:
    event_types = {
        value
        for name, value in vars(names).items()
        if name.isupper()
        and isinstance(value, str)
        and value.split(".")[0]
        in (
            "item",
            "guide",
            "deviation",
            "application",
            "notification",
            "evaluation",
            "event",
            "checkpoint",
            "rectification",
        )
    }
    assert [(s.type, s.major) for s in default_registry()] == [(t, 1) for t in sorted(event_types)]
    assert len(event_types) == 25


def test_only_evaluations_may_come_through_ingress() -> None:
    assert [s.type for s in default_registry() if s.ingress] == [names.EVALUATION_SUBMITTED]


def test_every_spec_has_a_description() -> None:
    assert all(spec.description.strip() for spec in default_registry())


def test_the_default_registry_is_built_once_and_a_fresh_one_is_equal() -> None:
    assert default_registry() is default_registry()
    assert list(build_registry()) == list(default_registry())


# -- the payload schemas ----------------------------------------------------------------


@pytest.mark.parametrize(
    "event_type",
    [
        names.ITEM_PUBLISHED,
        names.APPLICATION_SUBMITTED,
        names.NOTIFICATION_SENT,
        names.EVALUATION_SUBMITTED,
        names.EVENT_REJECTED,
    ],
)
def test_the_golden_payload_of_each_type_is_valid(event_type: str) -> None:
    default_registry().validate(event_type, 1, golden_data(event_type))


def test_item_published_names_every_bad_field_including_nested_ones() -> None:
    data = golden_data(names.ITEM_PUBLISHED)
    data["department"]["code"] = "11320102767342276A"
    data["guide"]["materials"][1] = {"name": ""}
    data["type_code"] = "99"
    data["version"] = 0

    assert violations(default_registry(), names.ITEM_PUBLISHED, data, "data") == (
        FieldViolation("data.department.code", "check character is A, expected U"),
        FieldViolation("data.guide.materials.1.name", "length must be between 1 and 200"),
        FieldViolation("data.guide.materials.1.required", "missing data for required field"),
        FieldViolation(
            "data.type_code", "must be one of: 01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 20"
        ),
        FieldViolation("data.version", "must be greater than or equal to 1"),
    )


def test_a_natural_persons_unmasked_id_number_is_refused() -> None:
    data = golden_data(names.APPLICATION_SUBMITTED)
    data["applicant"]["id_number"] = "320102198803152411"

    assert violations(default_registry(), names.APPLICATION_SUBMITTED, data) == (
        FieldViolation("applicant.id_number", "a natural person's ID number must be masked"),
    )


def test_a_legal_persons_credit_code_and_full_name_are_accepted() -> None:
    data = golden_data(names.APPLICATION_SUBMITTED)
    data["applicant"] = {
        "kind": "legal",
        "name": "南京玄武某某餐饮管理有限公司",
        "id_type": "uscc",
        "id_number": "91320102MA1X7Q2D78",
        "phone": None,
        "account_id": None,
    }

    default_registry().validate(names.APPLICATION_SUBMITTED, 1, data)


def test_application_identifiers_must_be_masked_or_well_formed() -> None:
    data = golden_data(names.APPLICATION_SUBMITTED)
    data["applicant"]["id_number"] = "3201*2411"
    data["applicant"]["phone"] = "13912345678"
    data["case_number"] = "320102-2026-1"
    data["submitted_at"] = "2026-11-27T09:30:00"

    assert violations(default_registry(), names.APPLICATION_SUBMITTED, data) == (
        FieldViolation(
            "applicant.id_number",
            "must be masked (first 4 and last 4 characters kept, e.g. 3201**********123X) "
            "or a unified social credit code",
        ),
        FieldViolation(
            "applicant.phone", "must be masked (first 3 and last 4 digits kept, e.g. 138****1234)"
        ),
        FieldViolation(
            "case_number", "must be a case number: <division>-<YYYYMMDD>-<6-digit sequence>"
        ),
        FieldViolation("submitted_at", "not a valid aware datetime"),
    )


def test_notification_sent_refuses_a_bad_id_and_an_incomplete_cause() -> None:
    data = golden_data(names.NOTIFICATION_SENT)
    data["notification_id"] = "n-1"
    data["channel"] = "wechat"
    data["cause"] = {"type": "application.submitted"}

    assert violations(default_registry(), names.NOTIFICATION_SENT, data) == (
        FieldViolation("cause.id", "missing data for required field"),
        FieldViolation("cause.source", "missing data for required field"),
        FieldViolation("channel", "must be one of: inbox, email, sms, workorder"),
        FieldViolation("notification_id", "not a valid UUID"),
    )


def test_evaluation_levels_are_the_five_of_the_good_and_bad_review_system() -> None:
    data = golden_data(names.EVALUATION_SUBMITTED)
    data["level"] = "good"

    assert violations(default_registry(), names.EVALUATION_SUBMITTED, data) == (
        FieldViolation(
            "level",
            "must be one of: very_satisfied, satisfied, basically_satisfied, dissatisfied, "
            "very_dissatisfied",
        ),
    )


def test_an_evaluations_comment_may_be_absent_or_null() -> None:
    data = golden_data(names.EVALUATION_SUBMITTED)
    data["comment"] = None
    default_registry().validate(names.EVALUATION_SUBMITTED, 1, data)
    del data["comment"]
    default_registry().validate(names.EVALUATION_SUBMITTED, 1, data)


def test_event_rejected_accepts_every_rejection_code_and_no_other() -> None:
    registry = default_registry()
    data = golden_data(names.EVENT_REJECTED)
    for code in REJECT_CODES:
        registry.validate(names.EVENT_REJECTED, 1, {**data, "code": code})

    assert violations(registry, names.EVENT_REJECTED, {**data, "code": "timeout"}) == (
        FieldViolation(
            "code",
            "must be one of: malformed, missing_attribute, invalid_attribute, unknown_type, "
            "unsupported_version, invalid_data, forbidden, handler_failed",
        ),
    )


def test_event_rejected_may_leave_out_what_it_could_not_read() -> None:
    data = golden_data(names.EVENT_REJECTED)
    for name in ("rejected_source", "rejected_id", "rejected_type"):
        data[name] = None

    default_registry().validate(names.EVENT_REJECTED, 1, {**data, "code": "malformed", "field": ""})
