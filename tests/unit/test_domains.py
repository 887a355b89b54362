"""The pure domain rules of applications and audit (catalog and notifications: their own
modules)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from services.applications.domain import (
    MAX_ACCOUNT_ID,
    MAX_NAME,
    MAX_REQUEST_ID,
    Applicant,
    Case,
    CaseQuery,
    CatalogItem,
    Submission,
    case_number,
    check_case_number,
    check_query,
    local_date,
    next_page_token,
    normalise,
    validate_submission,
)
from services.audit.domain import admit_ingress
from services.catalog.sample import department_code, sample_items
from services.contract import errors, names
from services.contract.envelope import Event, decode
from services.contract.errors import ContractError, FieldViolation
from services.contract.identifiers import (
    resident_check_char,
)
from services.contract.schemas import default_registry
from services.platform.errors import InvalidArgument
from services.platform.node import division

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


# == applications ===========================================================================


def food_licence() -> Any:
    """食品经营许可 at Xuanwu District."""
    return sample_items(XUANWU)[0]


def catalog_item() -> CatalogItem:
    return CatalogItem.from_event(food_licence().event_data())


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


def test_a_material_name_longer_than_the_contract_allows_is_named_by_its_position() -> None:
    handed_in = ("", *REQUIRED_MATERIALS, "材" * (MAX_NAME + 1))

    assert violations_of(
        validate_submission, normalise(submission(materials=handed_in)), catalog_item()
    ) == (FieldViolation("materials.4", "must be at most 200 characters"),)


def test_blank_materials_are_left_out_of_the_case_but_keep_the_positions_given() -> None:
    given = normalise(submission(materials=(" ", *REQUIRED_MATERIALS, "")))

    assert given.materials == ("", *REQUIRED_MATERIALS, "")
    assert given.handed_in == REQUIRED_MATERIALS
    validate_submission(given, catalog_item())


def test_control_characters_in_submitted_texts_are_refused_naming_each_field() -> None:
    bad = submission(
        request_id="req\x00-1",
        applicant=natural_applicant(name="王\x00芳", account_id="acct\x1b"),
        materials=(*REQUIRED_MATERIALS, "健康\n证明"),
    )

    assert violations_of(validate_submission, normalise(bad), catalog_item()) == (
        FieldViolation("request_id", "must not contain control characters"),
        FieldViolation("applicant.name", "must not contain control characters"),
        FieldViolation("applicant.account_id", "must not contain control characters"),
        FieldViolation("materials.3", "must not contain control characters"),
    )


def test_the_longest_texts_a_submission_may_carry_make_a_valid_submitted_event() -> None:
    longest = submission(
        request_id="r" * MAX_REQUEST_ID,
        applicant=natural_applicant(name="王" * MAX_NAME, account_id="a" * MAX_ACCOUNT_ID),
        materials=(*REQUIRED_MATERIALS, "材" * MAX_NAME),
    )
    legal = replace(
        longest,
        applicant=Applicant(kind="legal", name="公" * MAX_NAME, id_number=COMPANY),
    )
    for given in (longest, legal):
        validate_submission(normalise(given), catalog_item())
        case = replace(accepted_case(given.applicant), materials=given.handed_in)
        default_registry().validate(names.APPLICATION_SUBMITTED, 1, case.submitted_event())


# -- listings --------------------------------------------------------------------------------


STATUS_REASON = (
    "must be one of received, accepted, supplement_requested, supplemented, in_review, "
    "reviewed, paused, concluded, refused, withdrawn"
)


def test_a_listing_spells_codes_the_way_they_are_stored() -> None:
    first17 = "11010519491231002"
    stored = CaseQuery(
        applicant_id_number=f"{first17}X",
        account_id="u-wang",
        department_code="11320102767342276U",
    )
    token = next_page_token(stored, "320102-20261127-000001")
    query = check_query(
        CaseQuery(
            applicant_id_number=f" {first17}x ",
            account_id=" u-wang ",
            department_code=" 11320102767342276u",
            page_size=7,
            page_token=f" {token} ",
        )
    )

    assert query == replace(stored, page_size=7, page_token=token, after="320102-20261127-000001")


def test_a_listing_page_token_of_another_query_is_refused_naming_it() -> None:
    token = next_page_token(CaseQuery(account_id="u-wang"), "320102-20261127-000001")
    others = [
        CaseQuery(),
        CaseQuery(account_id="u-li"),
        CaseQuery(account_id="u-wang", status="received"),
        CaseQuery(account_id="u-wang", overdue=True),
        CaseQuery(account_id="u-wang", department_code="11320102767342276U"),
    ]
    for other in others:
        assert violations_of(check_query, replace(other, page_token=token)) == (
            FieldViolation(
                "page_token",
                "belongs to another query: send the filters of the query that returned it, "
                "or no page_token for a first page",
            ),
        ), other
    # A query refused for other reasons is not told its token is another query's.
    assert violations_of(
        check_query, CaseQuery(account_id="u-wang", status="lost", page_token=token)
    ) == (FieldViolation("status", STATUS_REASON),)


def test_a_listing_lists_every_field_it_cannot_use() -> None:
    bad = CaseQuery(
        applicant_id_number="12345",
        account_id="a" * 129,
        department_code="11320102767342276A",
        status="lost",
        page_size=201,
        page_token="next please",
    )

    assert violations_of(check_query, bad) == (
        FieldViolation(
            "applicant_id_number",
            "must be the applicant's resident ID number or unified social credit code",
        ),
        FieldViolation("account_id", "must be at most 128 characters"),
        FieldViolation("department_code", "check character is A, expected U"),
        FieldViolation("status", STATUS_REASON),
        FieldViolation("page_size", "must be between 0 and 200"),
        FieldViolation(
            "page_token",
            "is not a token this API returned (garbled, cut short, or made by an earlier "
            "version): search again without it",
        ),
    )


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "is required"),
        ("  ", "is required"),
        (
            "320102-2026112-000001",
            "must be a case number: <division>-<YYYYMMDD>-<6-digit sequence>",
        ),
        ("x" * 5000, "must be a case number: <division>-<YYYYMMDD>-<6-digit sequence>"),
    ],
)
def test_a_case_number_that_cannot_be_one_is_refused(given: str, reason: str) -> None:
    assert violations_of(check_case_number, given) == (FieldViolation("case_number", reason),)


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
