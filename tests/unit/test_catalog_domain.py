"""Catalog rules: item values, 三级四同, revisions, deviations and search tokens."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from services.catalog import domain
from services.catalog.domain import (
    Fee,
    Guide,
    GuideFee,
    GuideMaterial,
    Item,
    Material,
    ProcessStep,
    Standard,
)
from services.catalog.sample import department_code, sample_items, sample_records
from services.contract.envelope import Source, encode, new_event
from services.contract.errors import FieldViolation
from services.contract.export import event_schema
from services.contract.identifiers import check_basic_code, check_implementation_code, check_uscc
from services.contract.schemas import default_registry
from services.platform.errors import FailedPrecondition, InvalidArgument, NotFound
from services.platform.node import division

PROVINCE = division("320000")
NANJING = division("320100")
XUANWU = division("320102")
LEVELS = [PROVINCE, NANJING, XUANWU]


def food_licence(node: Any = XUANWU) -> Item:
    """食品经营许可 as implemented at `node`: the valid baseline."""
    return sample_items(node)[0]


OTHER = sample_items(XUANWU)[1]  # 道路旅客运输经营许可, 玄武区交通运输局
STANDARD = food_licence(PROVINCE).standard


def refusals(item: Item) -> list[tuple[str, str]]:
    return [(v.field, v.reason) for v in domain.item_violations(item)]


# -- the sample catalog ----------------------------------------------------------------------


@pytest.mark.parametrize("node", LEVELS, ids=lambda d: d.code)
def test_every_sample_item_is_valid_and_checksummed_at_its_node(node: Any) -> None:
    for item in sample_items(node):
        assert domain.item_violations(item) == []
        check_basic_code(item.basic_code)
        code = check_implementation_code(item.implementation_code)
        assert code.uscc.value == item.department_code
        assert check_uscc(item.department_code).division == node.code
        assert (item.level, item.division) == (node.level, node.code)


def test_the_same_basic_codes_and_standard_fields_hold_at_every_level() -> None:
    standards = [[i.standard for i in sample_items(node)] for node in LEVELS]
    assert standards[0] == standards[1] == standards[2]


def test_each_level_implements_through_its_own_department() -> None:
    assert food_licence(PROVINCE).department_name == "江苏省市场监督管理局"
    assert food_licence(NANJING).department_name == "南京市市场监督管理局"
    assert food_licence(XUANWU).department_name == "玄武区市场监督管理局"
    assert food_licence(XUANWU).department_code == department_code(XUANWU, "market")


def test_a_county_sample_brings_the_provincial_standards_with_it() -> None:
    records = sample_records(XUANWU)
    items = [r for r in records if isinstance(r, Item)]
    assert [i.division for i in items] == ["320000"] * 5 + ["320102"] * 5
    assert len(records) == 20  # 10 departments, 10 items


def test_item_events_validate_against_the_contract() -> None:
    registry = default_registry()
    for item in sample_items(XUANWU):
        registry.validate("item.published", 1, item.event_data())


# -- value rules -------------------------------------------------------------------------------

RULES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    (
        "short basic code",
        {"basic_code": "01123001000"},
        [("basic_code", "must be 12 characters, got 11")],
    ),
    (
        "malformed implementation code",
        {"implementation_code": "11320102767342276U"},
        [("implementation_code", "must be 31 to 36 characters, got 18")],
    ),
    (
        "implementation code of another basic code",
        {"basic_code": OTHER.basic_code, "type_code": "01"},
        [("implementation_code", "embeds basic code 011230010000, not 010610020000")],
    ),
    (
        "unknown type code",
        {"type_code": "99"},
        [
            (
                "type_code",
                "must be a national item type code (01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 20)",
            )
        ],
    ),
    (
        "type the basic code contradicts",
        {"type_code": "20"},
        [("type_code", "is 20 but the basic code says 01")],
    ),
    ("blank name", {"name": "  "}, [("name", "must be 1 to 200 characters")]),
    ("long name", {"name": "许" * 201}, [("name", "must be 1 to 200 characters")]),
    (
        "power without a legal basis",
        {"legal_basis": " "},
        [("legal_basis", "is required (设定依据): no power without a legal basis")],
    ),
    ("unknown level", {"level": "village"}, [("level", "must be one of province, city, county")]),
    (
        "a county item declared provincial",
        {"level": "province"},
        [("level", "must be county, the level of division 320102")],
    ),
    (
        "a county item declared at a city",
        {"division": "320100"},
        [("level", "must be city, the level of division 320100")],
    ),
    (
        "malformed division",
        {"division": "3201"},
        [("division", "must be 6 digits, got 4 characters")],
    ),
    ("unknown kind", {"kind": "other"}, [("kind", "must be one of power, convenience")]),
    (
        "implemented by another department",
        {"department_code": OTHER.department_code},
        [("implementation_code", "must start with the implementing department's code")],
    ),
    ("blank department name", {"department_name": " "}, [("department_name", "is required")]),
    (
        "unknown case kind",
        {"case_kind": "later"},
        [("case_kind", "must be immediate (即办件) or promised (承诺件)")],
    ),
    (
        "limits out of range",
        {"legal_limit_days": 366, "promised_limit_days": -1},
        [
            ("legal_limit_days", "must be a whole number of working days from 0 to 365"),
            ("promised_limit_days", "must be a whole number of working days from 0 to 365"),
        ],
    ),
    (
        "promise longer than the law",
        {"legal_limit_days": 5, "promised_limit_days": 10},
        [("promised_limit_days", "must not be longer than the legal time limit")],
    ),
    (
        "an immediate case with a promise",
        {"case_kind": "immediate", "legal_limit_days": 5, "promised_limit_days": 3},
        [("promised_limit_days", "must be 0 for an immediate case (即办件)")],
    ),
    (
        "unnamed materials",
        {"materials": (Material(""), Material("营业执照复印件"), Material(" ", False))},
        [("materials.0.name", "is required"), ("materials.2.name", "is required")],
    ),
    ("unnamed fee", {"fees": (Fee("", "10 元"),)}, [("fees.0.item", "is required")]),
]


@pytest.mark.parametrize(("change", "expected"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_each_item_rule_names_its_field_and_reason(
    change: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert refusals(replace(food_licence(), **change)) == expected


def test_every_problem_of_an_item_is_reported_at_once() -> None:
    item = replace(food_licence(), name="", legal_basis="", case_kind="x")
    assert [f for f, _ in refusals(item)] == ["name", "legal_basis", "case_kind"]


def test_a_convenience_item_needs_no_legal_basis() -> None:
    assert refusals(replace(food_licence(), kind="convenience", legal_basis="")) == []


# -- 三级四同 ----------------------------------------------------------------------------------


def test_only_the_province_defines_items() -> None:
    with pytest.raises(FailedPrecondition, match="only the province node defines standard items"):
        domain.define(food_licence(XUANWU), "county", "320102")
    assert domain.define(food_licence(PROVINCE), "province", "320000") == food_licence(PROVINCE)


def test_an_implementation_copies_empty_standard_fields_from_the_standard() -> None:
    bare = replace(food_licence(), name="", type_code="", legal_basis="")
    implemented = domain.implement(bare, replace(STANDARD, version=3), "county", "320102")
    assert (implemented.name, implemented.type_code, implemented.legal_basis) == (
        "食品经营许可",
        "01",
        "《中华人民共和国食品安全法》第三十五条",
    )
    assert implemented.standard_version == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "食品经营许可（县级）"),
        ("type_code", "20"),
        ("legal_basis", "《玄武区食品管理办法》第三条"),
    ],
)
def test_a_local_implementation_cannot_change_a_standard_field(field: str, value: str) -> None:
    with pytest.raises(FailedPrecondition) as info:
        domain.implement(replace(food_licence(), **{field: value}), STANDARD, "county", "320102")
    assert str(info.value) == (
        f"{field} is a standard field (三级四同): the province defines it as "
        f"{STANDARD.field(field)!r}; leave it empty or give the same value"
    )


def test_an_implementation_needs_a_published_standard() -> None:
    with pytest.raises(
        NotFound, match="no published provincial standard with basic_code 011230010000"
    ):
        domain.implement(food_licence(), None, "county", "320102")
    with pytest.raises(NotFound):
        domain.implement(food_licence(), replace(STANDARD, status="revoked"), "county", "320102")


@pytest.mark.parametrize(
    ("basic_code", "reason"),
    [
        ("", "must be 12 characters, got 0"),
        ("01123001000X", "contains non-digit character 'X' at position 12"),
    ],
)
def test_an_implementation_with_a_malformed_basic_code_is_invalid_not_unknown(
    basic_code: str, reason: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        domain.implement(replace(food_licence(), basic_code=basic_code), None, "county", "320102")
    assert info.value.violations[0] == FieldViolation("basic_code", reason)


def test_an_implementation_is_checked_before_its_standard_is_looked_for() -> None:
    bare = replace(food_licence(), name="", type_code="", legal_basis="", promised_limit_days=99)
    with pytest.raises(InvalidArgument) as info:
        domain.implement(bare, None, "county", "320102")
    assert [(v.field, v.reason) for v in info.value.violations] == [
        ("promised_limit_days", "must not be longer than the legal time limit")
    ]


def test_an_item_is_implemented_at_its_own_node_only() -> None:
    with pytest.raises(InvalidArgument) as info:
        domain.implement(food_licence(NANJING), STANDARD, "county", "320102")
    assert [(v.field, v.reason) for v in info.value.violations] == [
        ("level", "must be county, the level of this node"),
        ("division", "must be 320102, the division of this node"),
    ]


@pytest.mark.parametrize("node", [NANJING, XUANWU], ids=lambda d: d.level)
@pytest.mark.parametrize("field", ["name", "basic_code", "type_code", "legal_basis"])
def test_a_local_revision_of_any_standard_field_is_refused_naming_it(field: str, node: Any) -> None:
    with pytest.raises(FailedPrecondition) as info:
        domain.revise(food_licence(node), {field: "x"}, node.level)
    assert str(info.value) == (
        f"{field} is a standard field (三级四同): only the province node defines it; "
        f"this node is {node.level}"
    )


def test_the_province_never_revises_a_basic_code_it_identifies_the_standard() -> None:
    with pytest.raises(InvalidArgument) as info:
        domain.revise(food_licence(PROVINCE), {"basic_code": "011230020000"}, "province")
    assert [(v.field, v.reason) for v in info.value.violations] == [
        (
            "basic_code",
            "identifies the provincial standard and is part of the implementation code, so "
            "it is never revised: publish the item under the new basic code and revoke this "
            "one",
        )
    ]


def test_giving_the_current_basic_code_is_no_change() -> None:
    revised = domain.revise(
        food_licence(), {"basic_code": "011230010000", "address": "玄武大道 1 号"}, "county"
    )
    assert (revised.basic_code, revised.address, revised.version) == (
        "011230010000",
        "玄武大道 1 号",
        2,
    )


def test_a_county_may_revise_its_implementation_fields() -> None:
    revised = domain.revise(
        food_licence(), {"promised_limit_days": 5, "address": "玄武大道 1 号"}, "county"
    )
    assert (revised.version, revised.promised_limit_days, revised.address) == (
        2,
        5,
        "玄武大道 1 号",
    )
    assert domain.changed_fields(food_licence(), revised) == ["promised_limit_days", "address"]


def test_the_province_may_revise_a_standard_field() -> None:
    revised = domain.revise(
        food_licence(PROVINCE),
        {"legal_basis": "《中华人民共和国食品安全法》第三十五条、第三十七条"},
        "province",
    )
    assert revised.version == 2


def test_codes_and_placement_are_never_revised() -> None:
    with pytest.raises(InvalidArgument) as info:
        domain.revise(
            food_licence(),
            {"implementation_code": "x", "division": "320104", "colour": "red"},
            "county",
        )
    assert [(v.field, v.reason) for v in info.value.violations] == [
        (
            "implementation_code",
            "cannot be revised (the implementation code, kind, level and division are fixed; "
            "status and versions follow the lifecycle)",
        ),
        (
            "division",
            "cannot be revised (the implementation code, kind, level and division are fixed; "
            "status and versions follow the lifecycle)",
        ),
        ("colour", "is not a field of an item"),
    ]


def test_a_revision_that_changes_nothing_is_refused() -> None:
    with pytest.raises(FailedPrecondition, match="nothing to revise"):
        domain.revise(food_licence(), {"name": "食品经营许可"}, "county")


def test_a_revision_must_still_be_valid() -> None:
    with pytest.raises(InvalidArgument) as info:
        domain.revise(food_licence(), {"promised_limit_days": 30}, "county")
    assert [v.field for v in info.value.violations] == ["promised_limit_days"]


def test_revoked_items_cannot_be_revised_or_revoked_again() -> None:
    revoked = domain.revoke(food_licence())
    assert (revoked.status, revoked.version) == ("revoked", 2)
    with pytest.raises(FailedPrecondition, match="is revoked"):
        domain.revise(revoked, {"address": "x"}, "county")
    with pytest.raises(FailedPrecondition, match="already revoked"):
        domain.revoke(revoked)


def test_a_guide_is_published_for_a_draft_or_published_item_but_not_a_revoked_one() -> None:
    for status in ("draft", "published"):
        assert domain.check_guide_item(replace(food_licence(), status=status)) is None
    revoked = domain.revoke(food_licence())
    with pytest.raises(FailedPrecondition) as info:
        domain.check_guide_item(revoked)
    assert str(info.value) == f"item {revoked.implementation_code} is revoked"


def test_an_import_may_replace_any_item_but_a_revoked_one() -> None:
    assert [domain.import_violation(status) for status in ("draft", "published")] == [None, None]
    assert domain.import_violation("revoked") == FieldViolation(
        "status",
        "the item is revoked in this catalog; an import never changes or re-publishes a "
        "revoked item (publish it under a new implementation code to offer it again)",
    )


def test_only_a_draft_is_published_from_draft() -> None:
    published = domain.publish_draft(replace(food_licence(), status="draft"))
    assert (published.status, published.version) == ("published", 2)
    with pytest.raises(FailedPrecondition, match="is published, not a draft"):
        domain.publish_draft(food_licence())


# -- deviations ------------------------------------------------------------------------------


def test_a_conforming_implementation_has_no_deviation() -> None:
    assert domain.deviations(food_licence(), STANDARD) == []


def test_each_differing_standard_field_is_one_deviation() -> None:
    local = replace(
        food_licence(), name="食品经营许可证核发", legal_basis="《江苏省食品小作坊条例》"
    )
    found = domain.deviations(local, STANDARD)
    assert [(d.field, d.standard_value, d.local_value) for d in found] == [
        ("name", "食品经营许可", "食品经营许可证核发"),
        ("legal_basis", "《中华人民共和国食品安全法》第三十五条", "《江苏省食品小作坊条例》"),
    ]
    assert {(d.division, d.department_code) for d in found} == {("320102", local.department_code)}


def test_a_revoked_implementation_has_no_deviation() -> None:
    local = replace(food_licence(), name="食品经营许可证核发", status="revoked")
    assert domain.deviations(local, STANDARD) == []
    assert domain.deviations(local, None) == []


def test_an_implementation_of_an_unknown_standard_is_a_basic_code_deviation() -> None:
    [found] = domain.deviations(food_licence(), None)
    assert (found.field, found.standard_value, found.local_value) == (
        "basic_code",
        "",
        "011230010000",
    )


# -- guides ----------------------------------------------------------------------------------


def test_a_guide_names_each_bad_field() -> None:
    guide = Guide(
        implementation_code=food_licence().implementation_code,
        service_object=("company",),
        online_depth=5,
        visits=-1,
        materials=(GuideMaterial("", copies=-2),),
        collaborating_departments=("11320102767342276A",),
    )
    assert [v.field for v in domain.guide_violations(guide)] == [
        "service_object",
        "online_depth",
        "visits",
        "materials.0.name",
        "materials.0.copies",
        "collaborating_departments.0",
    ]


def test_guide_events_validate_against_the_contract() -> None:
    guide = Guide(food_licence().implementation_code, materials=(GuideMaterial("申请书"),))
    default_registry().validate("guide.published", 1, guide.event_data(food_licence()))


# -- events: what other services and department systems receive --------------------------------

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def on_the_wire(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """`data` as a department system receives it: built and validated by the producer, then
    checked against the published JSON Schema (schemas/<type>.v1.json)."""
    registry = default_registry()
    event = new_event(
        registry,
        event_type,
        data,
        source=Source.for_service("320102", "catalog"),
        now=datetime(2026, 11, 27, 1, 30, tzinfo=UTC),
        subject=data["implementation_code"],
    ).with_sequence(1)
    raw: dict[str, Any] = json.loads(encode(event))
    validator = Draft202012Validator(
        event_schema(registry.latest(event_type)),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    assert [error.message for error in validator.iter_errors(raw)] == []
    return raw["data"]  # type: ignore[no-any-return]


def test_a_revoked_item_event_carries_the_four_standard_fields() -> None:
    revoked = domain.revoke(food_licence())
    data = on_the_wire("item.revoked", revoked.revoked_event_data("改由市级实施", False))
    assert data == {
        "basic_code": "011230010000",
        "implementation_code": revoked.implementation_code,
        "name": "食品经营许可",
        "type_code": "01",
        "legal_basis": "《中华人民共和国食品安全法》第三十五条",
        "level": "county",
        "kind": "power",
        "department": {"code": revoked.department_code, "name": "玄武区市场监督管理局"},
        "version": 2,
        "standard_version": 1,
        "reason": "改由市级实施",
        "standard_revoked": False,
    }


def test_a_guide_event_carries_the_standard_fields_and_what_an_applicant_needs() -> None:
    item = food_licence()
    guide = Guide(
        item.implementation_code,
        version=2,
        service_object=("legal",),
        acceptance_conditions="具有与经营的食品品种相适应的经营场所",
        process=(ProcessStep("受理", "窗口受理", 1), ProcessStep("审查", limit_days=5)),
        office_hours="工作日 9:00-17:00",
        consultation_phone="025-12345678",
        complaint_phone="12345",
        fees=(GuideFee("工本费", "不收费"),),
        materials=(GuideMaterial("食品经营许可申请书"), GuideMaterial("营业执照", "复印件")),
        online_url="https://www.jszwfw.gov.cn/",
        online_depth=4,
        visits=0,
        collaborating_departments=(OTHER.department_code,),
        result_type="证照",
        result_name="食品经营许可证",
    )
    data = on_the_wire("guide.published", guide.event_data(item))
    assert data == {
        "implementation_code": item.implementation_code,
        "basic_code": "011230010000",
        "name": "食品经营许可",
        "type_code": "01",
        "legal_basis": "《中华人民共和国食品安全法》第三十五条",
        "level": "county",
        "kind": "power",
        "department": {"code": item.department_code, "name": "玄武区市场监督管理局"},
        "standard_version": 1,
        "version": 2,
        "case_kind": "promised",
        "legal_limit_days": 20,
        "promised_limit_days": 10,
        "service_object": ["legal"],
        "acceptance_conditions": "具有与经营的食品品种相适应的经营场所",
        "process": [
            {"step": "受理", "description": "窗口受理", "limit_days": 1},
            {"step": "审查", "description": "", "limit_days": 5},
        ],
        "address": "玄武区政务服务中心",
        "office_hours": "工作日 9:00-17:00",
        "consultation_phone": "025-12345678",
        "complaint_phone": "12345",
        "materials": [
            {"name": "食品经营许可申请书", "required": True, "form": "原件", "copies": 1},
            {"name": "营业执照", "required": True, "form": "复印件", "copies": 1},
        ],
        "fees": [{"item": "工本费", "standard": "不收费"}],
        "online_url": "https://www.jszwfw.gov.cn/",
        "mobile_url": "",
        "online_depth": 4,
        "visits": 0,
        "collaborating_departments": [OTHER.department_code],
        "result_type": "证照",
        "result_name": "食品经营许可证",
    }


ADDED_WITHIN_V1 = {
    "item.revoked": {"type_code", "legal_basis", "kind", "standard_version"},
    "guide.published": {
        "type_code",
        "legal_basis",
        "level",
        "kind",
        "department",
        "standard_version",
        "acceptance_conditions",
        "process",
        "address",
        "office_hours",
        "consultation_phone",
        "complaint_phone",
        "online_url",
        "mobile_url",
        "result_type",
    },
}


@pytest.mark.parametrize("event_type", sorted(ADDED_WITHIN_V1))
def test_v1_events_from_before_the_standard_fields_were_added_still_load(
    event_type: str,
) -> None:
    golden = json.loads((GOLDEN / f"{event_type}.v1.json").read_text("utf-8"))["data"]
    older = {k: v for k, v in golden.items() if k not in ADDED_WITHIN_V1[event_type]}
    default_registry().validate(event_type, 1, older)
    fields = default_registry().schema(event_type, 1).fields
    assert ADDED_WITHIN_V1[event_type] <= set(fields)
    assert not any(fields[name].required for name in ADDED_WITHIN_V1[event_type])


# -- search ----------------------------------------------------------------------------------


def test_names_are_indexed_one_token_per_chinese_character_latin_letter_and_digit() -> None:
    assert domain.search_text("食品经营许可（ICP 备案）2024") == (
        "食 品 经 营 许 可 i c p 备 案 2 0 2 4"
    )


def test_a_latin_query_is_a_phrase_of_its_letters_so_it_matches_any_part_of_a_word() -> None:
    # Partial codes and abbreviations: "CP" is the letters c, p in a row, as in ICP.
    assert domain.parse_query("CP").tokens == ("c", "p")
    assert domain.parse_query("icp备").tokens == ("i", "c", "p", "备")
    assert " ".join(domain.parse_query("CP").tokens) in domain.search_text("ICP备案")


TYPE_CODES = "01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 20"
NOT_A_TOKEN = (
    "is not a token this API returned (garbled, cut short, or made by an earlier version): "
    "search again without it"
)


def test_a_query_is_validated_naming_each_bad_filter() -> None:
    with pytest.raises(InvalidArgument) as info:
        domain.parse_query(
            "！？",
            department_code="11320102767342276A",
            type_code="99",
            level="town",
            page_size=500,
            division="32",
            kind="any",
            status="gone",
            page_token="abc",
        )
    assert [(v.field, v.reason) for v in info.value.violations] == [
        ("department_code", "check character is A, expected U"),
        ("type_code", f"must be a national item type code ({TYPE_CODES})"),
        ("level", "must be one of province, city, county"),
        ("division", "must be 6 digits, got 2 characters"),
        ("kind", "must be one of power, convenience"),
        ("status", "must be draft, published, revoked or any"),
        ("text", "has no letters, digits or Chinese characters"),
        ("page_size", "must be between 0 and 200"),
        ("page_token", NOT_A_TOKEN),
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"type_code": "99"}, ("type_code", f"must be a national item type code ({TYPE_CODES})")),
        ({"division": "abc"}, ("division", "must be 6 digits, got 3 characters")),
        ({"division": "3201xx"}, ("division", "must be 6 digits, got '3201xx'")),
        (
            {"division": "990000"},
            ("division", "division 990000 is not a GB/T 2260 province prefix (99)"),
        ),
        (
            {"department_code": "玄武区市场监督管理局"},
            ("department_code", "must be 18 characters, got 10"),
        ),
        ({"kind": "service"}, ("kind", "must be one of power, convenience")),
    ],
)
def test_a_bad_filter_is_refused_naming_it_never_taken_as_matching_nothing(
    filters: dict[str, str], expected: tuple[str, str]
) -> None:
    with pytest.raises(InvalidArgument) as info:
        domain.parse_filters(**filters)
    assert [(v.field, v.reason) for v in info.value.violations] == [expected]


def test_filters_are_stripped_and_a_department_code_upper_cased() -> None:
    assert domain.parse_filters(
        department_code=" 11320102767342276u ", division=" 320102", status="any"
    ) == domain.Filters(department_code="11320102767342276U", division="320102")
    token = domain.next_page_token(domain.parse_query("许可", type_code="01"), 40)
    query = domain.parse_query(" 许可 ", type_code="01 ", page_token=token)
    assert (query.text, query.type_code, query.status, query.after) == (
        "许可",
        "01",
        "published",
        40,
    )


def test_codes_are_recognised_for_exact_lookup() -> None:
    assert domain.looks_like_code("011230010000")
    assert domain.looks_like_code(food_licence().implementation_code)
    assert not domain.looks_like_code("食品")
    assert not domain.looks_like_code("01123")


def test_standard_fields_read_by_name() -> None:
    assert Standard("011230010000", "食品经营许可", "01", "x").field("type_code") == "01"
    assert FieldViolation("a", "b") == FieldViolation("a", "b")


def test_a_garbled_page_token_is_refused_naming_it() -> None:
    query = domain.parse_query("许可")
    good = domain.next_page_token(query, 40)
    beyond = domain.next_page_token(query, domain.MAX_POSITION).encode()
    garbled = [
        "9" * 25,
        "1" * 5000,
        "40",  # a bare position, as the previous version made them
        good[:-2],  # cut short
        good + "AA",  # too long
        good.replace(good[3], "!" if good[3] != "!" else "?"),  # not base64url
        "Ａ" * len(good),  # not ASCII
        good[:1] + ("B" if good[1] != "B" else "C") + good[2:],  # unknown format version
    ]
    for token in garbled:
        with pytest.raises(InvalidArgument) as info:
            domain.parse_query("许可", page_token=token)
        assert [(v.field, v.reason) for v in info.value.violations] == [
            ("page_token", NOT_A_TOKEN)
        ], token
    assert domain.parse_query("许可", page_token=beyond.decode()).after == domain.MAX_POSITION


def test_a_page_token_is_opaque_url_safe_and_works_again_for_its_query() -> None:
    query = domain.parse_query("ICP 备案", division="320102", status="any")
    token = domain.next_page_token(query, 123456)
    assert re.fullmatch("[A-Za-z0-9_-]+", token), token
    assert "123456" not in token
    assert token == domain.next_page_token(query, 123456)  # the same on every call and process
    # The same query however it is typed (spacing, case, full-width letters), at any page
    # size.
    again = domain.parse_query(
        " ｉｃｐ备案 ", division=" 320102", status="any", page_size=50, page_token=token
    )
    assert (again.after, again.page_size) == (123456, 50)


@pytest.mark.parametrize(
    "other",
    [
        {"text": "许可"},
        {"text": "ICP 备案", "division": "320100", "status": "any"},
        {"text": "ICP 备案", "division": "320102"},  # status published, not any
        {"text": "ICP 备案", "division": "320102", "status": "any", "type_code": "01"},
        {"text": "", "division": "320102", "status": "any"},
    ],
)
def test_a_page_token_of_another_query_is_refused_naming_it(other: dict[str, str]) -> None:
    token = domain.next_page_token(
        domain.parse_query("ICP 备案", division="320102", status="any"), 9
    )
    text = other.pop("text")
    with pytest.raises(InvalidArgument) as info:
        domain.parse_query(text, page_token=token, **other)
    assert [(v.field, v.reason) for v in info.value.violations] == [
        (
            "page_token",
            "belongs to another query: send the text and filters of the query that returned "
            "it, or no page_token for a first page",
        )
    ]


def test_a_code_typed_in_lower_case_or_with_spaces_is_searched_as_the_code() -> None:
    code = food_licence().implementation_code
    assert domain.parse_query(code.lower()).text == code
    assert domain.parse_query(f" {code[:18]} {code[18:30]} {code[30:]} ").text == code
    assert domain.parse_query("0112 3001 0000").text == "011230010000"
    # Words stay words: only a whole code is taken as one.
    assert domain.parse_query("icp 备案").text == "icp 备案"


def test_full_width_letters_digits_and_rare_characters_are_tokens() -> None:
    # Chinese input methods type full-width Latin letters and digits; names use them too.
    assert domain.search_tokens("ＩＣＰ备案（５Ｇ）") == ["i", "c", "p", "备", "案", "5", "g"]
    assert domain.search_tokens("ICP备案（5G）") == domain.search_tokens("ＩＣＰ备案（５Ｇ）")
    # CJK Extension B and later, and 〇, are Chinese characters too.
    assert domain.search_tokens("𠀾〇口") == ["𠀾", "〇", "口"]
    assert domain.parse_query("ＩＣＰ").tokens == ("i", "c", "p")
