"""The pure domain rules of catalog, applications, notifications and audit."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from services.applications.domain import (
    Applicant,
    Case,
    CatalogItem,
    Submission,
    case_number,
    local_date,
    normalise,
    validate_submission,
)
from services.audit.domain import admit_ingress
from services.catalog.domain import Department, Guide, Item, Material, validate_new_item
from services.catalog.sample import department_code, sample_items
from services.contract import errors, names
from services.contract.envelope import Event, decode
from services.contract.errors import ContractError, FieldViolation
from services.contract.identifiers import (
    check_basic_code,
    check_implementation_code,
    check_uscc,
    resident_check_char,
)
from services.contract.schemas import default_registry
from services.notifications.domain import InboxMessage, applicant_message, recipient_for
from services.platform.errors import InvalidArgument
from services.platform.node import Division, division

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

PROVINCE = division("320000")
NANJING = division("320100")
XUANWU = division("320102")
LEVELS = [PROVINCE, NANJING, XUANWU]

RESIDENT_17 = "32010219880315241"
RESIDENT = RESIDENT_17 + resident_check_char(RESIDENT_17)  # 320102198803152411
COMPANY = "91320102MA1X7Q2D78"  # a checksummed USCC of a Xuanwu company
CHINA = timezone(timedelta(hours=8))


def golden(event_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GOLDEN / f"{event_type}.v1.json").read_text("utf-8"))
    return loaded


def violations_of(call: Any, *args: Any) -> tuple[FieldViolation, ...]:
    with pytest.raises(InvalidArgument) as info:
        call(*args)
    assert str(info.value) == "; ".join(str(v) for v in info.value.violations)
    return info.value.violations


# == catalog: sample items ==================================================================


@pytest.mark.parametrize("node", LEVELS, ids=lambda d: d.code)
def test_every_sample_item_is_valid_at_its_node(node: Division) -> None:
    items = sample_items(node)

    assert len(items) == 5
    for item in items:
        validate_new_item(item, node.level)
        assert item.level == node.level
        assert item.division == node.code
        default_registry().validate(names.ITEM_PUBLISHED, 1, item.published_event())


@pytest.mark.parametrize("node", LEVELS, ids=lambda d: d.code)
def test_sample_codes_are_checksummed_and_implemented_by_the_nodes_own_departments(
    node: Division,
) -> None:
    for item in sample_items(node):
        uscc = check_uscc(item.department.code)
        implementation = check_implementation_code(item.implementation_code)
        assert check_basic_code(item.basic_code).type_code == item.type_code
        assert uscc.division == node.code
        assert (uscc.registration_authority, uscc.category) == ("1", "1")
        assert implementation.uscc.value == item.department.code
        assert implementation.basic.value == item.basic_code
        assert implementation.sequence == "001"


def test_every_level_has_the_same_basic_codes() -> None:
    basic = [[item.basic_code for item in sample_items(node)] for node in LEVELS]

    assert basic[0] == basic[1] == basic[2]
    assert basic[0] == [
        "011230010000",
        "010610020000",
        "011080030000",
        "010290010000",
        "200410020000",
    ]


def test_each_level_implements_with_different_department_codes() -> None:
    codes = [sample_items(node)[0].department.code for node in LEVELS]

    assert len(set(codes)) == 3


def test_department_codes_are_stable() -> None:
    assert department_code(XUANWU, "market") == "11320102767342276U"
    assert department_code(XUANWU, "market") == sample_items(XUANWU)[0].department.code


def test_the_market_regulator_is_named_after_its_level() -> None:
    assert sample_items(PROVINCE)[0].department.name == "江苏省市场监督管理局"
    assert sample_items(NANJING)[0].department.name == "南京市市场监督管理局"
    assert sample_items(XUANWU)[0].department.name == "玄武区市场监督管理局"


# == catalog: validate_new_item =============================================================


def food_licence() -> Item:
    """食品经营许可 at Xuanwu District, the valid baseline."""
    return sample_items(XUANWU)[0]


def item_refusals(item: Item, level: str = "county") -> tuple[FieldViolation, ...]:
    return violations_of(validate_new_item, item, level)


OTHER = sample_items(XUANWU)[1]  # 道路旅客运输经营许可, 玄武区交通运输局

ITEM_RULES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    (
        "short basic code",
        {"basic_code": "01123001000"},
        [("basic_code", "must be 12 characters, got 11")],
    ),
    (
        "basic code of no national type",
        {"basic_code": "991230010000"},
        [
            (
                "basic_code",
                "item type code 99 is not a national item type "
                "(known: 01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 20)",
            )
        ],
    ),
    (
        "malformed implementation code",
        {"implementation_code": "11320102767342276U"},
        [("implementation_code", "must be 31 to 36 characters, got 18")],
    ),
    (
        "implementation code of another basic code",
        {"basic_code": OTHER.basic_code},
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
        "type code the basic code contradicts",
        {"type_code": "20"},
        [("type_code", "is 20 but the basic code says 01")],
    ),
    ("blank name", {"name": "  "}, [("name", "must be 1 to 200 characters")]),
    ("long name", {"name": "许" * 201}, [("name", "must be 1 to 200 characters")]),
    (
        "no legal basis",
        {"legal_basis": " "},
        [("legal_basis", "is required (设定依据): no item without a legal basis")],
    ),
    ("wrong level", {"level": "city"}, [("level", "must be county, the level of this node")]),
    (
        "department code with a bad check character",
        {"department": Department("11320102767342276A", "玄武区市场监督管理局")},
        [
            ("department.code", "check character is A, expected U"),
            ("implementation_code", "must start with the implementing department's code"),
        ],
    ),
    (
        "implemented by another department",
        {"department": OTHER.department},
        [("implementation_code", "must start with the implementing department's code")],
    ),
    (
        "blank department name",
        {"department": Department("11320102767342276U", " ")},
        [("department.name", "is required")],
    ),
    (
        "unknown case kind",
        {"guide": Guide("later", 20, 10)},
        [("guide.case_kind", "must be immediate or promised")],
    ),
    (
        "time limits out of range",
        {"guide": Guide("promised", 366, -1)},
        [
            ("guide.legal_limit_days", "must be between 0 and 365 working days"),
            ("guide.promised_limit_days", "must be between 0 and 365 working days"),
        ],
    ),
    (
        "promise longer than the law",
        {"guide": Guide("promised", 5, 10)},
        [("guide.promised_limit_days", "must not be longer than the legal time limit")],
    ),
    (
        "unnamed materials",
        {
            "guide": Guide(
                "promised",
                20,
                10,
                (Material("", True), Material("营业执照复印件", True), Material(" ", False)),
            )
        },
        [("guide.materials.0.name", "is required"), ("guide.materials.2.name", "is required")],
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"),
    [(change, expected) for _, change, expected in ITEM_RULES],
    ids=[name for name, _, _ in ITEM_RULES],
)
def test_each_item_rule_is_refused_with_its_field_and_reason(
    change: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    refused = item_refusals(replace(food_licence(), **change))

    assert [(v.field, v.reason) for v in refused] == expected


def test_every_item_problem_is_reported_at_once() -> None:
    item = replace(food_licence(), name="", legal_basis="", level="province")

    assert [v.field for v in item_refusals(item)] == ["name", "legal_basis", "level"]


def test_an_immediate_item_may_promise_zero_days() -> None:
    validate_new_item(replace(food_licence(), guide=Guide("immediate", 0, 0)), "county")


# == applications ===========================================================================


def catalog_item() -> CatalogItem:
    return CatalogItem.from_event(food_licence().published_event())


REQUIRED_MATERIALS = (
    "食品经营许可申请书",
    "营业执照复印件",
    "与食品经营相适应的主要设备设施布局、操作流程等文件",
)


def natural_applicant(**changes: Any) -> Applicant:
    applicant = Applicant(
        kind="natural",
        name="王芳",
        id_number=RESIDENT,
        phone="13912345678",
        account_id="js-gov-8f3a21c7",
    )
    return replace(applicant, **changes)


def submission(**changes: Any) -> Submission:
    base = Submission(
        request_id="req-20261127-0001",
        implementation_code=catalog_item().implementation_code,
        applicant=natural_applicant(),
        channel="web",
        materials=REQUIRED_MATERIALS,
    )
    return replace(base, **changes)


def test_the_catalog_replica_keeps_only_required_materials() -> None:
    item = catalog_item()

    assert item.required_materials == REQUIRED_MATERIALS
    assert item.department_code == "11320102767342276U"
    assert (item.case_kind, item.legal_limit_days, item.promised_limit_days) == (
        "promised",
        20,
        10,
    )


def test_a_complete_submission_passes() -> None:
    validate_submission(submission(), catalog_item())


def test_every_problem_of_a_submission_is_reported_at_once_with_its_field() -> None:
    bad_check = RESIDENT_17 + "0"
    bad = submission(
        applicant=natural_applicant(id_number=bad_check),
        channel="",
        materials=REQUIRED_MATERIALS[:2],
    )

    assert violations_of(validate_submission, bad, catalog_item()) == (
        FieldViolation(
            "applicant.id_number",
            "is not a valid resident ID number: check character is 0, expected 1",
        ),
        FieldViolation("channel", "must be one of web, mobile, window, terminal, hotline"),
        FieldViolation(
            "materials",
            "missing required materials: 与食品经营相适应的主要设备设施布局、操作流程等文件",
        ),
    )


def test_a_legal_person_with_a_valid_credit_code_passes() -> None:
    legal = Applicant(kind="legal", name="南京玄武某某餐饮管理有限公司", id_number=COMPANY)

    validate_submission(submission(applicant=legal), catalog_item())


def test_a_legal_person_with_a_bad_credit_code_is_refused() -> None:
    legal = Applicant(
        kind="legal", name="南京玄武某某餐饮管理有限公司", id_number=COMPANY[:-1] + "0"
    )

    assert violations_of(validate_submission, submission(applicant=legal), catalog_item()) == (
        FieldViolation(
            "applicant.id_number",
            "is not a valid unified social credit code: check character is 0, expected 8",
        ),
    )


def test_an_item_not_published_at_this_node_is_refused() -> None:
    assert violations_of(validate_submission, submission(), None) == (
        FieldViolation("implementation_code", "is not an item published at this node"),
    )


def test_the_applicants_own_fields_are_each_checked() -> None:
    applicant = Applicant(kind="robot", name=" ", id_number="", phone="12345", account_id="a" * 129)
    bad = submission(request_id="", implementation_code="", applicant=applicant)

    assert violations_of(validate_submission, bad, None) == (
        FieldViolation("request_id", "is required: a client-chosen id that makes retries safe"),
        FieldViolation("implementation_code", "is required"),
        FieldViolation("applicant.kind", "must be natural (自然人) or legal (法人)"),
        FieldViolation("applicant.name", "is required"),
        FieldViolation("applicant.id_number", "is required"),
        FieldViolation(
            "applicant.phone", "must be a mobile number (11 digits) or a landline with area code"
        ),
        FieldViolation("applicant.account_id", "must be at most 128 characters"),
    )


@pytest.mark.parametrize("phone", ["13912345678", "025-84561234", "02584561234", ""])
def test_mobile_and_landline_numbers_are_accepted(phone: str) -> None:
    validate_submission(submission(applicant=natural_applicant(phone=phone)), catalog_item())


def test_a_lowercase_x_resident_id_is_accepted_and_normalised() -> None:
    first17 = "11010519491231002"
    assert resident_check_char(first17) == "X"
    raw = submission(applicant=natural_applicant(id_number=f" {first17}x "), request_id=" r-1 ")

    normalised = normalise(raw)

    assert normalised.applicant.id_number == f"{first17}X"
    assert normalised.request_id == "r-1"
    validate_submission(normalised, catalog_item())


def test_case_numbers_are_division_local_day_and_six_digit_sequence() -> None:
    assert case_number("320102", date(2026, 11, 27), 1) == "320102-20261127-000001"
    assert case_number("320102", date(2026, 11, 27), 999_999) == "320102-20261127-999999"


def test_case_numbers_run_out_after_999999_a_day() -> None:
    with pytest.raises(
        ValueError, match=r"^the daily case sequence is exhausted \(999,999 cases\)$"
    ):
        case_number("320102", date(2026, 11, 27), 1_000_000)


@pytest.mark.parametrize(
    ("utc", "day"),
    [
        (datetime(2026, 11, 26, 15, 59, 59, tzinfo=UTC), date(2026, 11, 26)),
        (datetime(2026, 11, 26, 16, 0, tzinfo=UTC), date(2026, 11, 27)),
        (datetime(2026, 11, 26, 17, 0, tzinfo=UTC), date(2026, 11, 27)),
    ],
)
def test_the_day_of_a_case_is_the_day_in_china(utc: datetime, day: date) -> None:
    assert local_date(utc) == day


def accepted_case(applicant: Applicant | None = None) -> Case:
    return Case(
        case_number="320102-20261127-000001",
        request_id="req-20261127-0001",
        item=catalog_item(),
        applicant=applicant or natural_applicant(),
        channel="web",
        status="received",
        submitted_at=datetime(2026, 11, 27, 9, 30, tzinfo=CHINA),
        materials=REQUIRED_MATERIALS,
    )


def test_the_submitted_event_masks_name_id_number_and_phone() -> None:
    data = accepted_case().submitted_event()

    assert data["applicant"] == {
        "kind": "natural",
        "name": "王*",
        "id_type": "resident_id",
        "id_number": "3201**********2411",
        "phone": "139****5678",
        "account_id": "js-gov-8f3a21c7",
    }
    assert RESIDENT not in json.dumps(data)
    assert "13912345678" not in json.dumps(data)


def test_the_submitted_event_is_a_valid_application_submitted_v1_payload() -> None:
    data = accepted_case().submitted_event()

    default_registry().validate(names.APPLICATION_SUBMITTED, 1, data, prefix="data")
    assert data == golden(names.APPLICATION_SUBMITTED)["data"]


def test_a_legal_persons_submitted_event_keeps_the_public_name_and_code() -> None:
    legal = Applicant(kind="legal", name="南京玄武某某餐饮管理有限公司", id_number=COMPANY)

    data = accepted_case(legal).submitted_event()

    assert data["applicant"] == {
        "kind": "legal",
        "name": "南京玄武某某餐饮管理有限公司",
        "id_type": "uscc",
        "id_number": COMPANY,
        "phone": None,
        "account_id": None,
    }
    default_registry().validate(names.APPLICATION_SUBMITTED, 1, data)


# == notifications ==========================================================================


def test_a_submitted_application_gets_a_message_in_the_applicants_inbox() -> None:
    data = golden(names.APPLICATION_SUBMITTED)["data"]

    message = applicant_message(names.APPLICATION_SUBMITTED, data)

    assert message == InboxMessage(
        recipient="js-gov-8f3a21c7",
        case_number="320102-20261127-000001",
        title="您的“食品经营许可”申请已收到",
        body="王*，您好：您提交的“食品经营许可”申请已收到，"
        "办件编号 320102-20261127-000001，承诺在 10 个工作日内办结。",
        template="application.submitted/zh-CN/v1",
    )


def test_an_immediate_item_is_promised_on_the_spot() -> None:
    data = golden(names.APPLICATION_SUBMITTED)["data"]
    data["promised_limit_days"] = 0

    message = applicant_message(names.APPLICATION_SUBMITTED, data)

    assert message is not None
    assert message.body.endswith("办件编号 320102-20261127-000001，即办件，将当场办结。")


def test_an_applicant_without_an_account_is_reached_through_the_case() -> None:
    data = golden(names.APPLICATION_SUBMITTED)["data"]
    data["applicant"]["account_id"] = None

    message = applicant_message(names.APPLICATION_SUBMITTED, data)

    assert message is not None
    assert message.recipient == "case:320102-20261127-000001"
    assert recipient_for({"account_id": ""}, "320102-20261127-000002") == (
        "case:320102-20261127-000002"
    )


@pytest.mark.parametrize(
    "event_type", [names.ITEM_PUBLISHED, names.NOTIFICATION_SENT, names.EVALUATION_SUBMITTED]
)
def test_other_event_types_send_no_message(event_type: str) -> None:
    assert applicant_message(event_type, golden(event_type)["data"]) is None


# == audit: ingress =========================================================================


def event_from(raw: dict[str, Any]) -> Event:
    return decode(json.dumps(raw), default_registry())


def forbidden(event: Event, node_division: str) -> tuple[str, str, str]:
    with pytest.raises(ContractError) as info:
        admit_ingress(event, default_registry(), node_division)
    assert len(info.value.violations) == 1
    return info.value.code, info.value.field, info.value.violations[0].reason


def test_an_evaluation_from_a_department_of_this_division_is_admitted() -> None:
    event = event_from(golden(names.EVALUATION_SUBMITTED))

    admit_ingress(event, default_registry(), "320102")


def test_a_type_not_open_to_departments_is_forbidden_on_ingress() -> None:
    raw = golden(names.ITEM_PUBLISHED)
    raw["source"] = f"govnet://320102/dept/{department_code(XUANWU, 'market')}"

    assert forbidden(event_from(raw), "320102") == (
        errors.FORBIDDEN,
        "type",
        "item.published is not accepted from department systems "
        "(ingress accepts: evaluation.submitted)",
    )


def test_an_evaluation_under_a_service_source_is_forbidden_on_ingress() -> None:
    raw = golden(names.EVALUATION_SUBMITTED)
    raw["source"] = "govnet://320102/applications"

    assert forbidden(event_from(raw), "320102") == (
        errors.FORBIDDEN,
        "source",
        "must be govnet://<division>/dept/<USCC> on ingress",
    )


def test_an_evaluation_for_another_divisions_node_is_forbidden() -> None:
    event = event_from(golden(names.EVALUATION_SUBMITTED))

    assert forbidden(event, "320100") == (
        errors.FORBIDDEN,
        "division",
        "is 320102, but this is the node of 320100; publish to your own division's node",
    )
