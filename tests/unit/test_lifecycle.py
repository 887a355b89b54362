"""The case lifecycle (办件): every transition, allowed and refused, and supervision (电子监察).

The baseline is 食品经营许可 at 玄武区 (10 working days promised, 20 legal), received on Monday
2026-03-02 and accepted on Tuesday 2026-03-03, China time. March 2026 has no holidays: the
promised deadline is Tuesday 2026-03-17, the legal one Tuesday 2026-03-31.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.applications.domain import (
    MAX_NAME,
    MAX_OFFICER,
    MAX_REASON,
    Actor,
    Applicant,
    Case,
    CatalogItem,
    Pause,
    Review,
    Rules,
    Submission,
    Transition,
    accept,
    acceptance,
    assign_review,
    case_number,
    complete_review,
    conclude,
    evaluate,
    local_date,
    pause,
    refuse,
    request_supplement,
    resume,
    supervise,
    supplement,
    validate_submission,
    withdraw,
)
from services.catalog.sample import department_code, sample_items
from services.contract.schemas import default_registry
from services.platform.calendar import default_calendar
from services.platform.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.platform.node import division

XUANWU = division("320102")
ITEM = CatalogItem.from_event(sample_items(XUANWU)[0].event_data())
DEPARTMENT = ITEM.department_code  # 玄武区市场监督管理局
TRANSPORT = department_code(XUANWU, "transport")  # 玄武区交通运输局
HOUSING = department_code(XUANWU, "housing")  # 玄武区住房和城乡建设局
CIVIL = department_code(XUANWU, "civil")  # 玄武区民政局: valid, but not on the item
JOINT_ITEM = replace(ITEM, collaborating_departments=(TRANSPORT, HOUSING))
BAD_USCC = "91350100M000100Y44"  # check character 4, expected 3
CALENDAR = default_calendar()
RULES = Rules()
NUMBER = "320102-20260302-000001"
OFFICER = Actor(DEPARTMENT, "officer-0427", "王芳")
TRANSPORT_OFFICER = Actor(TRANSPORT, "officer-1102", "李强")
HOUSING_OFFICER = Actor(HOUSING, "officer-2310", "赵敏")
APPLICANT = Applicant("natural", "张三", "320102198506120421", "13912345678", "acct-88")
LEVELS_MESSAGE = (
    "must be one of very_satisfied, satisfied, basically_satisfied, dissatisfied, very_dissatisfied"
)
CHANNELS_MESSAGE = "must be one of web, mobile, window, terminal, hotline"


def china(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A moment given as China time (UTC+8), expressed in UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


SUBMITTED_AT = china(2026, 3, 2, 9, 30)  # Monday
ACCEPTED_AT = china(2026, 3, 3, 10)  # Tuesday
DUE = date(2026, 3, 17)
LEGAL_DUE = date(2026, 3, 31)


def checked(transition: Transition) -> Transition:
    """The transition, once its event payload satisfies the contract."""
    default_registry().validate(transition.event_type, 1, transition.data)
    return transition


def violations(error: pytest.ExceptionInfo[InvalidArgument]) -> list[tuple[str, str]]:
    return [(v.field, v.reason) for v in error.value.violations]


def received(item: CatalogItem = ITEM, submitted_at: datetime = SUBMITTED_AT) -> Case:
    return Case(
        case_number=NUMBER,
        request_id="web-7f3a9c",
        item=item,
        applicant=APPLICANT,
        channel="web",
        status="received",
        submitted_at=submitted_at,
        materials=item.required_materials,
        department_code=item.department_code,
    )


def accepted(item: CatalogItem = ITEM) -> Case:
    return accept(received(item), OFFICER, ACCEPTED_AT, CALENDAR).case


def in_joint_review() -> Case:
    """A joint item's case, accepted: the transport and housing departments review it in
    parallel, both reviews opened on acceptance."""
    return acceptance(received(JOINT_ITEM), OFFICER, ACCEPTED_AT, CALENDAR)[-1].case


def concluded(item: CatalogItem = ITEM) -> Case:
    return conclude(accepted(item), OFFICER, 0, "", "JY13201020012345", china(2026, 3, 12)).case


def asked_for(materials: tuple[str, ...] = ("食品安全管理制度文本",)) -> Case:
    return request_supplement(
        received(), OFFICER, materials, china(2026, 3, 4), CALENDAR, RULES
    ).case


def in_state(status: str) -> Case:
    """A case in `status`, reached through the transitions."""
    made: dict[str, Any] = {
        "received": received,
        "accepted": accepted,
        "supplement_requested": asked_for,
        "supplemented": lambda: (
            supplement(asked_for(), ("食品安全管理制度文本",), china(2026, 3, 5)).case
        ),
        "in_review": in_joint_review,
        "reviewed": lambda: (
            assign_review(accepted(), OFFICER, (DEPARTMENT,), china(2026, 3, 4)).case
        ),
        "paused": lambda: (
            pause(accepted(), OFFICER, "inspection", "现场勘查经营场所", china(2026, 3, 6)).case
        ),
        "concluded": concluded,
        "refused": lambda: (
            refuse(received(), OFFICER, "申请事项不属于本机关职权范围", ACCEPTED_AT).case
        ),
        "withdrawn": lambda: withdraw(received(), "不再经营", ACCEPTED_AT, CALENDAR).case,
    }
    case: Case = made[status]()
    if status == "reviewed":
        case = complete_review(case, OFFICER, True, "符合条件", china(2026, 3, 5)).case
    assert case.status == status
    return case


OPEN = (
    "received",
    "accepted",
    "supplement_requested",
    "supplemented",
    "in_review",
    "reviewed",
    "paused",
)
CLOSED = ("concluded", "refused", "withdrawn")
ALL = OPEN + CLOSED


# -- case numbers and China time ------------------------------------------------------------------


def test_a_case_number_is_division_date_and_six_digit_sequence() -> None:
    assert case_number("320102", date(2026, 3, 2), 1) == "320102-20260302-000001"
    assert case_number("320000", date(2027, 1, 1), 999_999) == "320000-20270101-999999"


def test_case_sequences_start_at_one() -> None:
    with pytest.raises(ValueError, match=r"^case sequences start at 1, got 0$"):
        case_number("320102", date(2026, 3, 2), 0)


def test_the_daily_case_sequence_stops_after_999999() -> None:
    with pytest.raises(
        ValueError, match=r"^the daily case sequence is exhausted \(999,999 cases\)$"
    ):
        case_number("320102", date(2026, 3, 2), 1_000_000)


def test_the_local_date_is_the_day_in_china_time() -> None:
    assert local_date(datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)) == date(2026, 12, 31)
    assert local_date(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == date(2027, 1, 1)


# -- submissions ----------------------------------------------------------------------------------


def submission(**changes: Any) -> Submission:
    values: dict[str, Any] = {
        "request_id": "web-7f3a9c",
        "implementation_code": ITEM.implementation_code,
        "applicant": APPLICANT,
        "channel": "web",
        "materials": ITEM.required_materials,
    }
    return Submission(**(values | changes))


def test_a_complete_submission_is_valid() -> None:
    validate_submission(submission(), ITEM)


def test_a_submission_lists_every_problem_at_once() -> None:
    bad = submission(
        request_id=" ",
        applicant=replace(APPLICANT, name="", phone="12345"),
        channel="fax",
        materials=("营业执照复印件",),
    )
    with pytest.raises(InvalidArgument) as error:
        validate_submission(bad, ITEM)
    assert violations(error) == [
        ("request_id", "is required: a client-chosen id that makes retries safe"),
        ("applicant.name", "is required"),
        ("applicant.phone", "must be a mobile number (11 digits) or a landline with area code"),
        ("channel", "must be one of web, mobile, window, terminal, hotline"),
        (
            "materials",
            "missing required materials: 食品经营许可申请书、"
            "与食品经营相适应的主要设备设施布局、操作流程等文件",
        ),
    ]


def test_a_submission_for_an_item_not_published_here_is_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        validate_submission(submission(), None)
    assert violations(error) == [("implementation_code", "is not an item published at this node")]


def test_the_submitted_event_masks_personal_data() -> None:
    data = received().submitted_event()
    default_registry().validate("application.submitted", 1, data)
    assert data["applicant"]["id_number"] == "3201**********0421"
    assert data["applicant"]["name"] != "张三"
    assert data["department"] == DEPARTMENT


# -- accept ---------------------------------------------------------------------------------------


def test_accepting_a_received_case_starts_the_promised_and_legal_clocks() -> None:
    t = checked(accept(received(), OFFICER, ACCEPTED_AT, CALENDAR))
    assert t.case.status == "accepted"
    assert t.case.accepted_at == ACCEPTED_AT
    assert (t.case.due_date, t.case.legal_due_date) == (DUE, LEGAL_DUE)
    assert t.case.deemed_accepted is False
    assert t.case.officer_id == "officer-0427"
    assert t.event_type == "application.accepted"
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-03T02:00:00+00:00",
        "department": DEPARTMENT,
        "officer_id": "officer-0427",
        "due_date": "2026-03-17",
        "legal_due_date": "2026-03-31",
        "promised_limit_days": 10,
        "deemed": False,
    }


def test_a_supplemented_case_can_be_accepted() -> None:
    t = checked(accept(in_state("supplemented"), OFFICER, china(2026, 3, 6), CALENDAR))
    assert t.case.status == "accepted"
    assert (t.case.due_date, t.case.legal_due_date) == (date(2026, 3, 20), date(2026, 4, 3))


def test_the_acceptance_day_is_the_day_in_china_time() -> None:
    late_tuesday_utc = datetime(2026, 3, 3, 17, 30, tzinfo=UTC)  # Wednesday 01:30 in Nanjing
    t = accept(received(), OFFICER, late_tuesday_utc, CALENDAR)
    assert (t.case.due_date, t.case.legal_due_date) == (date(2026, 3, 18), date(2026, 4, 1))


def test_an_acceptance_before_national_day_skips_the_holidays_and_counts_the_make_up_day() -> None:
    t = accept(received(submitted_at=china(2026, 9, 29)), OFFICER, china(2026, 9, 30), CALENDAR)
    assert (t.case.due_date, t.case.legal_due_date) == (date(2026, 10, 20), date(2026, 11, 3))


def test_an_acceptance_in_december_2026_counts_new_years_day_2027_as_a_holiday() -> None:
    t = accept(received(submitted_at=china(2026, 12, 9)), OFFICER, china(2026, 12, 10), CALENDAR)
    assert (t.case.due_date, t.case.legal_due_date) == (date(2026, 12, 24), date(2027, 1, 8))


@pytest.mark.parametrize("status", [s for s in ALL if s not in ("received", "supplemented")])
def test_a_case_is_accepted_only_when_received_or_supplemented(status: str) -> None:
    with pytest.raises(FailedPrecondition) as error:
        accept(in_state(status), OFFICER, china(2026, 3, 13), CALENDAR)
    assert str(error.value) == (
        f"case {NUMBER} is {status}; it cannot be accepted (only when received or supplemented)"
    )


def test_another_department_cannot_accept_the_case() -> None:
    with pytest.raises(PermissionDenied) as error:
        accept(received(), TRANSPORT_OFFICER, ACCEPTED_AT, CALENDAR)
    assert str(error.value) == (
        f"case {NUMBER} is assigned to department {DEPARTMENT}; "
        f"department {TRANSPORT} cannot act on it"
    )


def test_an_actor_with_a_bad_credit_code_and_no_officer_is_refused_naming_both_fields() -> None:
    with pytest.raises(InvalidArgument) as error:
        accept(received(), Actor(BAD_USCC, "  "), ACCEPTED_AT, CALENDAR)
    assert violations(error) == [
        ("actor.department_code", "check character is 4, expected 3"),
        ("actor.officer_id", "is required: who acts"),
    ]


# -- refuse ---------------------------------------------------------------------------------------


def test_a_refusal_closes_the_case_with_result_code_6_and_its_reason() -> None:
    t = checked(refuse(received(), OFFICER, "  申请事项不属于本机关职权范围 ", ACCEPTED_AT))
    assert t.case.status == "refused"
    assert (t.case.result_code, t.case.reason) == (6, "申请事项不属于本机关职权范围")
    assert t.case.closed_at == ACCEPTED_AT
    assert t.event_type == "application.refused"
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-03T02:00:00+00:00",
        "department": DEPARTMENT,
        "officer_id": "officer-0427",
        "reason": "申请事项不属于本机关职权范围",
    }


def test_a_supplemented_case_can_be_refused() -> None:
    t = refuse(in_state("supplemented"), OFFICER, "补正材料仍不符合法定形式", china(2026, 3, 6))
    assert (t.case.status, t.case.result_code) == ("refused", 6)


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_refusal_without_a_reason_is_refused(reason: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        refuse(received(), OFFICER, reason, ACCEPTED_AT)
    assert violations(error) == [("reason", "is required: say why")]


def test_a_refusal_reason_longer_than_2000_characters_is_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        refuse(received(), OFFICER, "不" * 2001, ACCEPTED_AT)
    assert violations(error) == [("reason", "must be at most 2000 characters")]


def test_an_accepted_case_cannot_be_refused() -> None:
    with pytest.raises(FailedPrecondition) as error:
        refuse(accepted(), OFFICER, "不符合条件", china(2026, 3, 4))
    assert str(error.value) == (
        f"case {NUMBER} is accepted; it cannot be refused (only when received or supplemented)"
    )


def test_another_department_cannot_refuse_the_case() -> None:
    with pytest.raises(PermissionDenied):
        refuse(received(), TRANSPORT_OFFICER, "不符合条件", ACCEPTED_AT)


# -- request_supplement and supplement ------------------------------------------------------------


def test_one_supplement_notice_lists_every_material_once_in_the_order_given() -> None:
    now = china(2026, 3, 4)
    asked = (" 食品安全管理制度文本 ", "", "法定代表人身份证明", "食品安全管理制度文本", "  ")
    t = checked(request_supplement(received(), OFFICER, asked, now, CALENDAR, RULES))
    assert t.case.status == "supplement_requested"
    assert t.case.supplement == ("食品安全管理制度文本", "法定代表人身份证明")
    assert t.case.supplement_requested_at == now
    assert t.event_type == "application.supplement_requested"
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-04T02:00:00+00:00",
        "department": DEPARTMENT,
        "officer_id": "officer-0427",
        "materials": ["食品安全管理制度文本", "法定代表人身份证明"],
    }


def test_a_supplement_notice_must_list_at_least_one_material() -> None:
    with pytest.raises(InvalidArgument) as error:
        request_supplement(received(), OFFICER, ("", "  "), china(2026, 3, 4), CALENDAR, RULES)
    assert violations(error) == [("materials", "list every missing material (at least one)")]


def test_a_supplement_can_be_asked_for_on_the_last_day_of_the_window() -> None:
    # received Monday 03-02: the 5 working days end on Monday 03-09, at midnight China time
    last_minute = china(2026, 3, 9, 23, 59)
    t = request_supplement(received(), OFFICER, ("营业执照复印件",), last_minute, CALENDAR, RULES)
    assert t.case.status == "supplement_requested"


def test_a_supplement_asked_for_after_the_window_is_refused() -> None:
    with pytest.raises(FailedPrecondition) as error:
        request_supplement(
            received(), OFFICER, ("营业执照复印件",), china(2026, 3, 10, 0, 1), CALENDAR, RULES
        )
    assert str(error.value) == (
        "the 5 working days to ask for a supplement ended on 2026-03-09; "
        "the application counts as accepted"
    )


def test_the_supplement_window_skips_national_day_and_counts_the_make_up_saturday() -> None:
    case = received(submitted_at=china(2026, 9, 29))
    # 09-30, 10-08, 10-09, 10-10 (调休), 10-12
    request_supplement(case, OFFICER, ("营业执照复印件",), china(2026, 10, 12), CALENDAR, RULES)
    with pytest.raises(FailedPrecondition, match="ended on 2026-10-12;"):
        request_supplement(case, OFFICER, ("营业执照复印件",), china(2026, 10, 13), CALENDAR, RULES)


@pytest.mark.parametrize("status", [s for s in ALL if s != "received"])
def test_a_supplement_is_asked_for_only_when_received(status: str) -> None:
    with pytest.raises(FailedPrecondition) as error:
        request_supplement(
            in_state(status), OFFICER, ("营业执照复印件",), china(2026, 3, 4), CALENDAR, RULES
        )
    assert str(error.value) == (
        f"case {NUMBER} is {status}; it cannot be asked for a supplement (only when received)"
    )


def test_another_department_cannot_ask_for_a_supplement() -> None:
    with pytest.raises(PermissionDenied):
        request_supplement(
            received(), TRANSPORT_OFFICER, ("营业执照复印件",), china(2026, 3, 4), CALENDAR, RULES
        )


def test_a_supplement_must_hand_in_everything_the_notice_listed() -> None:
    case = asked_for(("食品安全管理制度文本", "法定代表人身份证明", "场所使用证明"))
    with pytest.raises(InvalidArgument) as error:
        supplement(case, ("法定代表人身份证明",), china(2026, 3, 5))
    assert violations(error) == [
        ("materials", "the notice also asked for: 食品安全管理制度文本、场所使用证明")
    ]


def test_a_complete_supplement_adds_the_materials_to_the_case() -> None:
    case = asked_for(("食品安全管理制度文本", "法定代表人身份证明"))
    handed_in = (" 食品安全管理制度文本", "法定代表人身份证明", "营业执照复印件", "")
    t = checked(supplement(case, handed_in, china(2026, 3, 5)))
    assert t.case.status == "supplemented"
    assert t.case.materials == (
        "食品经营许可申请书",
        "营业执照复印件",
        "与食品经营相适应的主要设备设施布局、操作流程等文件",
        "法定代表人身份证明",
        "食品安全管理制度文本",
    )
    assert t.event_type == "application.supplemented"
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-05T02:00:00+00:00",
        "department": DEPARTMENT,
        "materials": ["法定代表人身份证明", "营业执照复印件", "食品安全管理制度文本"],
    }


@pytest.mark.parametrize("status", [s for s in ALL if s != "supplement_requested"])
def test_materials_are_supplemented_only_when_a_supplement_was_asked_for(status: str) -> None:
    with pytest.raises(FailedPrecondition) as error:
        supplement(in_state(status), ("食品安全管理制度文本",), china(2026, 3, 5))
    assert str(error.value) == (
        f"case {NUMBER} is {status}; it cannot be supplemented (only when supplement_requested)"
    )


# -- assign_review and complete_review ------------------------------------------------------------
#
# Acceptance opens the joint review by itself (see "joint review" below). AssignReview is for the
# implementing department's own review, a second round, and cases accepted before acceptance
# opened the joint review: `accepted(JOINT_ITEM)` builds one with `accept` alone.


def test_the_implementing_and_a_collaborating_department_review_in_parallel() -> None:
    now = china(2026, 3, 4)
    t = checked(assign_review(accepted(JOINT_ITEM), OFFICER, (DEPARTMENT, TRANSPORT), now))
    assert t.case.status == "in_review"
    assert t.case.reviews == (Review(DEPARTMENT, now), Review(TRANSPORT, now))
    assert [r.department_code for r in t.case.open_reviews] == [DEPARTMENT, TRANSPORT]
    assert t.event_type == "application.review_assigned"
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-04T02:00:00+00:00",
        "department": DEPARTMENT,
        "officer_id": "officer-0427",
        "reviewers": [DEPARTMENT, TRANSPORT],
    }


def test_a_department_named_twice_in_one_assignment_reviews_once() -> None:
    t = assign_review(accepted(JOINT_ITEM), OFFICER, (HOUSING, f" {HOUSING} "), china(2026, 3, 4))
    assert [r.department_code for r in t.case.reviews] == [HOUSING]


def test_a_valid_department_that_does_not_collaborate_on_the_item_cannot_review() -> None:
    with pytest.raises(InvalidArgument) as error:
        assign_review(accepted(JOINT_ITEM), OFFICER, (TRANSPORT, CIVIL), china(2026, 3, 4))
    assert violations(error) == [
        (
            "departments.1",
            f"{CIVIL} is neither the implementing department nor a collaborating "
            "department of this item",
        )
    ]


def test_without_collaborating_departments_only_the_implementing_department_reviews() -> None:
    with pytest.raises(InvalidArgument) as error:
        assign_review(accepted(), OFFICER, (TRANSPORT,), china(2026, 3, 4))
    assert [field for field, _ in violations(error)] == ["departments.0"]


def test_a_malformed_reviewer_credit_code_is_refused_naming_its_index() -> None:
    with pytest.raises(InvalidArgument) as error:
        assign_review(accepted(JOINT_ITEM), OFFICER, (BAD_USCC, "X", HOUSING), china(2026, 3, 4))
    assert violations(error) == [
        ("departments.0", "check character is 4, expected 3"),
        ("departments.1", "must be 18 characters, got 1"),
    ]


def test_a_refused_reviewer_is_named_by_its_position_in_the_request() -> None:
    with pytest.raises(InvalidArgument) as error:
        assign_review(
            accepted(JOINT_ITEM), OFFICER, (DEPARTMENT, DEPARTMENT, CIVIL), china(2026, 3, 4)
        )
    assert [field for field, _ in violations(error)] == ["departments.2"]


def test_a_department_already_reviewing_cannot_be_assigned_again() -> None:
    with pytest.raises(InvalidArgument) as error:
        assign_review(in_joint_review(), OFFICER, (DEPARTMENT, TRANSPORT), china(2026, 3, 5))
    assert violations(error) == [("departments.1", f"{TRANSPORT} is already reviewing")]


def test_the_implementing_department_can_join_the_review_of_its_collaborators() -> None:
    now = china(2026, 3, 4)
    t = checked(assign_review(in_joint_review(), OFFICER, (DEPARTMENT,), now))
    assert t.case.status == "in_review"
    assert [r.department_code for r in t.case.open_reviews] == [TRANSPORT, HOUSING, DEPARTMENT]
    assert t.data["reviewers"] == [DEPARTMENT]


def test_a_department_whose_review_is_done_can_be_asked_for_a_second_round() -> None:
    case = in_state("reviewed")
    t = assign_review(case, OFFICER, (DEPARTMENT,), china(2026, 3, 6))
    assert t.case.status == "in_review"
    assert [r.open for r in t.case.reviews] == [False, True]


def test_an_assignment_must_name_a_department() -> None:
    with pytest.raises(InvalidArgument) as error:
        assign_review(accepted(), OFFICER, ("", " "), china(2026, 3, 4))
    assert violations(error) == [("departments", "name at least one reviewing department")]


def test_only_the_implementing_department_assigns_reviews() -> None:
    with pytest.raises(PermissionDenied):
        assign_review(accepted(JOINT_ITEM), TRANSPORT_OFFICER, (TRANSPORT,), china(2026, 3, 4))


@pytest.mark.parametrize(
    "status", [s for s in ALL if s not in ("accepted", "in_review", "reviewed")]
)
def test_reviews_are_assigned_only_after_acceptance(status: str) -> None:
    with pytest.raises(FailedPrecondition) as error:
        assign_review(in_state(status), OFFICER, (DEPARTMENT,), china(2026, 3, 13))
    assert str(error.value) == (
        f"case {NUMBER} is {status}; it cannot be sent to review "
        "(only when accepted or in_review or reviewed)"
    )


def test_each_completed_review_counts_down_and_the_last_makes_the_case_reviewed() -> None:
    first_at, last_at = china(2026, 3, 5), china(2026, 3, 6)
    first = checked(complete_review(in_joint_review(), TRANSPORT_OFFICER, True, " 同意 ", first_at))
    assert first.case.status == "in_review"
    assert first.event_type == "application.review_completed"
    assert first.data == {
        "case_number": NUMBER,
        "at": "2026-03-05T02:00:00+00:00",
        "department": TRANSPORT,
        "officer_id": "officer-1102",
        "approved": True,
        "opinion": "同意",
        "remaining": 1,
    }
    last = checked(complete_review(first.case, HOUSING_OFFICER, False, "布局不符合要求", last_at))
    assert last.case.status == "reviewed"
    assert (last.data["approved"], last.data["remaining"]) == (False, 0)
    assert last.case.reviews == (
        Review(TRANSPORT, ACCEPTED_AT, first_at, True, "同意", "officer-1102"),
        Review(HOUSING, ACCEPTED_AT, last_at, False, "布局不符合要求", "officer-2310"),
    )
    assert last.case.open_reviews == []


def test_a_department_without_an_open_review_cannot_complete_one() -> None:
    case = in_joint_review()
    with pytest.raises(PermissionDenied) as error:
        complete_review(case, OFFICER, True, "同意", china(2026, 3, 5))
    assert str(error.value) == f"department {DEPARTMENT} has no open review of case {NUMBER}"
    done = complete_review(case, TRANSPORT_OFFICER, True, "同意", china(2026, 3, 5)).case
    with pytest.raises(PermissionDenied) as again:
        complete_review(done, TRANSPORT_OFFICER, True, "同意", china(2026, 3, 6))
    assert str(again.value) == f"department {TRANSPORT} has no open review of case {NUMBER}"


def test_a_review_needs_an_opinion() -> None:
    with pytest.raises(InvalidArgument) as error:
        complete_review(in_joint_review(), TRANSPORT_OFFICER, True, "  ", china(2026, 3, 5))
    assert violations(error) == [("opinion", "is required: say why")]


def test_a_reviewer_with_a_bad_credit_code_is_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        complete_review(in_joint_review(), Actor(BAD_USCC, "x"), True, "同意", china(2026, 3, 5))
    assert violations(error) == [("actor.department_code", "check character is 4, expected 3")]


@pytest.mark.parametrize("status", [s for s in ALL if s != "in_review"])
def test_a_review_is_completed_only_while_the_case_is_in_review(status: str) -> None:
    with pytest.raises(FailedPrecondition) as error:
        complete_review(in_state(status), OFFICER, True, "同意", china(2026, 3, 13))
    assert str(error.value) == (
        f"case {NUMBER} is {status}; it cannot be reviewed (only when in_review)"
    )


def test_a_case_cannot_be_concluded_while_a_review_is_open() -> None:
    with pytest.raises(FailedPrecondition) as both:
        conclude(in_joint_review(), OFFICER, 0, "", "", china(2026, 3, 5))
    assert str(both.value) == f"case {NUMBER} still waits for the review of {TRANSPORT}, {HOUSING}"
    case = complete_review(in_joint_review(), HOUSING_OFFICER, True, "同意", china(2026, 3, 5)).case
    with pytest.raises(FailedPrecondition) as one:
        conclude(case, OFFICER, 0, "", "", china(2026, 3, 6))
    assert str(one.value) == f"case {NUMBER} still waits for the review of {TRANSPORT}"
    case = complete_review(case, TRANSPORT_OFFICER, True, "同意", china(2026, 3, 6)).case
    t = checked(conclude(case, OFFICER, 0, "", "JY13201020012345", china(2026, 3, 9)))
    assert (t.case.status, t.case.result_code) == ("concluded", 0)


# -- joint review (联审) --------------------------------------------------------------------------


def test_accepting_a_joint_item_opens_one_review_per_collaborating_department() -> None:
    accepted_t, opened = acceptance(received(JOINT_ITEM), OFFICER, ACCEPTED_AT, CALENDAR)
    checked(accepted_t)
    checked(opened)
    assert accepted_t.event_type == "application.accepted"
    assert opened.event_type == "application.review_assigned"
    assert opened.data == {
        "case_number": NUMBER,
        "at": "2026-03-03T02:00:00+00:00",
        "department": DEPARTMENT,
        "officer_id": "officer-0427",
        "reviewers": [TRANSPORT, HOUSING],
    }
    assert opened.case.status == "in_review"
    assert opened.case.reviews == (Review(TRANSPORT, ACCEPTED_AT), Review(HOUSING, ACCEPTED_AT))
    assert (opened.case.due_date, opened.case.legal_due_date) == (DUE, LEGAL_DUE)


def test_accepting_an_item_without_collaborating_departments_opens_no_review() -> None:
    [t] = acceptance(received(), OFFICER, ACCEPTED_AT, CALENDAR)
    assert (t.event_type, t.case.status, t.case.reviews) == ("application.accepted", "accepted", ())


def test_the_implementing_department_named_as_collaborator_is_not_asked_to_review_itself() -> None:
    item = replace(ITEM, collaborating_departments=(DEPARTMENT, HOUSING, HOUSING))
    opened = acceptance(received(item), OFFICER, ACCEPTED_AT, CALENDAR)[-1]
    assert opened.data["reviewers"] == [HOUSING]


def test_a_deemed_acceptance_of_a_joint_item_opens_the_reviews_too() -> None:
    now = china(2026, 3, 10, 0, 1)
    accepted_t, opened = supervise(received(JOINT_ITEM), now, CALENDAR, RULES)
    checked(opened)
    assert (accepted_t.event_type, accepted_t.data["deemed"]) == ("application.accepted", True)
    assert opened.data == {
        "case_number": NUMBER,
        "at": now.isoformat(),
        "department": DEPARTMENT,
        "reviewers": [TRANSPORT, HOUSING],
    }
    assert opened.case.status == "in_review"


def test_a_joint_case_accepted_before_its_reviews_opened_waits_for_every_collaborator() -> None:
    case = accepted(JOINT_ITEM)  # accepted by `accept` alone: no review open
    with pytest.raises(FailedPrecondition) as error:
        conclude(case, OFFICER, 0, "", "", china(2026, 3, 5))
    assert str(error.value) == f"case {NUMBER} still waits for the review of {TRANSPORT}, {HOUSING}"
    case = assign_review(case, OFFICER, (TRANSPORT,), china(2026, 3, 5)).case
    case = complete_review(case, TRANSPORT_OFFICER, True, "同意", china(2026, 3, 6)).case
    assert case.status == "reviewed"
    with pytest.raises(FailedPrecondition) as still:
        conclude(case, OFFICER, 0, "", "", china(2026, 3, 6))
    assert str(still.value) == f"case {NUMBER} still waits for the review of {HOUSING}"


def test_a_review_that_disapproves_still_completes_the_joint_review() -> None:
    case = complete_review(in_joint_review(), TRANSPORT_OFFICER, False, "不同意", china(2026, 3, 5))
    case = complete_review(case.case, HOUSING_OFFICER, True, "同意", china(2026, 3, 5))
    t = checked(conclude(case.case, OFFICER, 1, "交通运输局审查不同意", "", china(2026, 3, 6)))
    assert (t.case.status, t.case.result_code) == ("concluded", 1)


# -- pause and resume -----------------------------------------------------------------------------


def test_a_special_procedure_stops_the_clock() -> None:
    now = china(2026, 3, 6)  # Friday
    t = checked(pause(in_joint_review(), OFFICER, "expert_review", " 组织专家评审 ", now))
    assert t.case.status == "paused"
    assert t.case.paused_from == "in_review"
    assert t.case.pauses == (Pause("expert_review", "组织专家评审", now),)
    assert t.event_type == "application.clock_paused"
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-06T02:00:00+00:00",
        "department": DEPARTMENT,
        "officer_id": "officer-0427",
        "kind": "expert_review",
        "reason": "组织专家评审",
    }


def test_resuming_moves_both_deadlines_by_the_working_days_paused() -> None:
    paused_at, resumed_at = china(2026, 3, 6), china(2026, 3, 11)  # Friday → next Wednesday
    case = pause(in_joint_review(), OFFICER, "hearing", "举行听证", paused_at).case
    t = checked(resume(case, OFFICER, resumed_at, CALENDAR))
    assert t.case.status == "in_review"
    assert t.case.paused_from == ""
    assert (t.case.due_date, t.case.legal_due_date) == (date(2026, 3, 20), date(2026, 4, 3))
    assert t.case.pauses == (Pause("hearing", "举行听证", paused_at, resumed_at, 3),)
    assert t.event_type == "application.clock_resumed"
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-11T02:00:00+00:00",
        "department": DEPARTMENT,
        "officer_id": "officer-0427",
        "paused_working_days": 3,
        "due_date": "2026-03-20",
        "legal_due_date": "2026-04-03",
    }


def test_a_case_paused_from_accepted_returns_to_accepted() -> None:
    case = pause(accepted(), OFFICER, "testing", "送检", china(2026, 3, 6)).case
    t = resume(case, OFFICER, china(2026, 3, 6, 16), CALENDAR)
    assert t.case.status == "accepted"
    assert t.case.pauses[0].working_days == 0
    assert (t.case.due_date, t.case.legal_due_date) == (DUE, LEGAL_DUE)


def test_paused_working_days_add_up_over_several_special_procedures() -> None:
    case = accepted()
    case = pause(case, OFFICER, "inspection", "现场勘查", china(2026, 3, 4)).case
    case = resume(case, OFFICER, china(2026, 3, 6), CALENDAR).case  # Thu, Fri: 2
    case = pause(case, OFFICER, "public_notice", "公示", china(2026, 3, 9)).case
    t = resume(case, OFFICER, china(2026, 3, 10), CALENDAR)  # Tue: 1
    assert [p.working_days for p in t.case.pauses] == [2, 1]
    assert (t.case.due_date, t.case.legal_due_date) == (date(2026, 3, 20), date(2026, 4, 3))


def test_a_pause_over_national_day_counts_only_working_days() -> None:
    case = accept(received(submitted_at=china(2026, 9, 28)), OFFICER, china(2026, 9, 29), CALENDAR)
    assert case.case.due_date == date(2026, 10, 19)
    paused = pause(case.case, OFFICER, "other", "等待外部答复", china(2026, 9, 30)).case
    t = resume(paused, OFFICER, china(2026, 10, 9), CALENDAR)  # 10-08, 10-09
    assert t.data["paused_working_days"] == 2
    assert t.case.due_date == date(2026, 10, 21)


@pytest.mark.parametrize("kind", ["", "lunch", "Hearing"])
def test_an_unknown_kind_of_special_procedure_is_refused(kind: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        pause(accepted(), OFFICER, kind, "听证", china(2026, 3, 6))
    assert violations(error) == [
        ("kind", "must be one of hearing, inspection, expert_review, testing, public_notice, other")
    ]


def test_a_special_procedure_needs_a_reason() -> None:
    with pytest.raises(InvalidArgument) as error:
        pause(accepted(), OFFICER, "hearing", " ", china(2026, 3, 6))
    assert violations(error) == [("reason", "is required: say why")]


@pytest.mark.parametrize(
    "status", [s for s in ALL if s not in ("accepted", "in_review", "reviewed")]
)
def test_the_clock_pauses_only_once_the_case_is_accepted(status: str) -> None:
    with pytest.raises(FailedPrecondition) as error:
        pause(in_state(status), OFFICER, "hearing", "听证", china(2026, 3, 13))
    assert str(error.value) == (
        f"case {NUMBER} is {status}; it cannot be paused "
        "(only when accepted or in_review or reviewed)"
    )


@pytest.mark.parametrize("status", [s for s in ALL if s != "paused"])
def test_a_case_that_is_not_paused_cannot_be_resumed(status: str) -> None:
    with pytest.raises(FailedPrecondition) as error:
        resume(in_state(status), OFFICER, china(2026, 3, 13), CALENDAR)
    assert str(error.value) == f"case {NUMBER} is {status}; it cannot be resumed (only when paused)"


def test_another_department_cannot_pause_or_resume_the_case() -> None:
    with pytest.raises(PermissionDenied):
        pause(accepted(), TRANSPORT_OFFICER, "hearing", "听证", china(2026, 3, 6))
    with pytest.raises(PermissionDenied):
        resume(in_state("paused"), TRANSPORT_OFFICER, china(2026, 3, 9), CALENDAR)


# -- conclude -------------------------------------------------------------------------------------


def test_an_issued_conclusion_needs_no_reason_and_keeps_the_certificate() -> None:
    now = china(2026, 3, 12)
    t = checked(conclude(accepted(), OFFICER, 0, "", " JY13201020012345 ", now))
    assert t.case.status == "concluded"
    assert (t.case.result_code, t.case.reason) == (0, "")
    assert t.case.certificate == "JY13201020012345"
    assert t.case.closed_at == now
    assert t.event_type == "application.concluded"
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-12T02:00:00+00:00",
        "department": DEPARTMENT,
        "officer_id": "officer-0427",
        "result_code": 0,
        "reason": "",
        "certificate": "JY13201020012345",
        "due_date": "2026-03-17",
        "on_time": True,
    }


@pytest.mark.parametrize("code", [1, 2, 3, 4, 5])
def test_a_conclusion_with_code_1_to_5_records_its_reason(code: int) -> None:
    t = checked(
        conclude(in_state("reviewed"), OFFICER, code, " 不符合许可条件 ", "", china(2026, 3, 12))
    )
    assert (t.case.status, t.case.result_code, t.case.reason) == (
        "concluded",
        code,
        "不符合许可条件",
    )
    assert t.data["reason"] == "不符合许可条件"


@pytest.mark.parametrize("code", [1, 2, 3, 4, 5])
def test_a_conclusion_with_code_1_to_5_without_a_reason_is_refused(code: int) -> None:
    with pytest.raises(InvalidArgument) as error:
        conclude(accepted(), OFFICER, code, " ", "", china(2026, 3, 12))
    assert violations(error) == [("reason", "is required: say why")]


@pytest.mark.parametrize("code", [6, 7, -1])
def test_a_conclusion_code_outside_0_to_5_points_to_refuse(code: int) -> None:
    with pytest.raises(InvalidArgument) as error:
        conclude(accepted(), OFFICER, code, "不予受理", "", china(2026, 3, 12))
    assert violations(error) == [
        ("result_code", "must be 0 to 5 (6, 不予受理, is a refusal: use Refuse)")
    ]


def test_a_conclusion_on_the_due_date_in_china_time_is_on_time() -> None:
    t = conclude(accepted(), OFFICER, 0, "", "", china(2026, 3, 17, 23, 59))
    assert t.data["on_time"] is True


def test_a_conclusion_after_the_due_date_is_late() -> None:
    t = checked(conclude(accepted(), OFFICER, 0, "", "", china(2026, 3, 18, 0, 1)))
    assert (t.data["due_date"], t.data["on_time"]) == ("2026-03-17", False)


@pytest.mark.parametrize(
    "status", [s for s in ALL if s not in ("accepted", "in_review", "reviewed")]
)
def test_a_case_is_concluded_only_once_accepted_and_not_paused(status: str) -> None:
    with pytest.raises(FailedPrecondition) as error:
        conclude(in_state(status), OFFICER, 0, "", "", china(2026, 3, 13))
    assert str(error.value) == (
        f"case {NUMBER} is {status}; it cannot be concluded "
        "(only when accepted or reviewed or in_review)"
    )


def test_another_department_cannot_conclude_the_case() -> None:
    with pytest.raises(PermissionDenied):
        conclude(accepted(), TRANSPORT_OFFICER, 0, "", "", china(2026, 3, 12))


# -- withdraw -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", OPEN)
def test_the_applicant_withdraws_an_open_case(status: str) -> None:
    now = china(2026, 3, 13)
    t = checked(withdraw(in_state(status), " 不再经营 ", now, CALENDAR))
    assert (t.case.status, t.case.reason, t.case.closed_at) == ("withdrawn", "不再经营", now)
    assert t.case.result_code == 5  # 退件 returned, as DOMAIN gives a withdrawn application
    assert t.event_type == "application.withdrawn"
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-13T02:00:00+00:00",
        "department": DEPARTMENT,
        "reason": "不再经营",
    }


@pytest.mark.parametrize("status", CLOSED)
def test_a_closed_case_cannot_be_withdrawn(status: str) -> None:
    with pytest.raises(FailedPrecondition) as error:
        withdraw(in_state(status), "", china(2026, 3, 13), CALENDAR)
    assert str(error.value) == f"case {NUMBER} is {status}; it cannot be withdrawn"


# -- evaluate -------------------------------------------------------------------------------------


def test_a_concluded_case_is_evaluated_once() -> None:
    now = china(2026, 3, 13)
    t = checked(evaluate(concluded(), "satisfied", "mobile", " 办事很快 ", now, RULES))
    assert t.case.evaluation is not None
    assert (t.case.evaluation.level, t.case.evaluation.comment) == ("satisfied", "办事很快")
    assert t.case.status == "concluded"
    assert t.event_type == "application.evaluated"
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-13T02:00:00+00:00",
        "department": DEPARTMENT,
        "level": "satisfied",
        "bad": False,
        "channel": "mobile",
        "comment": "办事很快",
        "basic_code": "011230010000",
        "source": "api",
    }
    with pytest.raises(FailedPrecondition) as error:
        evaluate(t.case, "very_satisfied", "web", "", china(2026, 3, 14), RULES)
    assert str(error.value) == f"case {NUMBER} was already evaluated (一事一评)"


@pytest.mark.parametrize(
    ("level", "bad"),
    [
        ("very_satisfied", False),
        ("satisfied", False),
        ("basically_satisfied", False),
        ("dissatisfied", True),
        ("very_dissatisfied", True),
    ],
)
def test_dissatisfied_and_very_dissatisfied_are_bad_reviews(level: str, bad: bool) -> None:
    t = checked(evaluate(concluded(), level, "hotline", "", china(2026, 3, 13), RULES, "12345"))
    assert (t.data["bad"], t.data["comment"], t.data["source"]) == (bad, None, "12345")


@pytest.mark.parametrize("status", [s for s in ALL if s != "concluded"])
def test_by_default_a_case_is_evaluated_only_after_conclusion(status: str) -> None:
    with pytest.raises(FailedPrecondition) as error:
        evaluate(in_state(status), "satisfied", "web", "", china(2026, 3, 13), RULES)
    assert str(error.value) == (
        f"case {NUMBER} is {status}; it cannot be evaluated (only when concluded)"
    )


@pytest.mark.parametrize("status", ["accepted", "in_review", "reviewed", "paused", "concluded"])
def test_where_configured_a_case_is_evaluated_from_acceptance(status: str) -> None:
    rules = Rules(evaluate_at_acceptance=True)
    t = checked(evaluate(in_state(status), "satisfied", "window", "", china(2026, 3, 13), rules))
    assert t.case.evaluation is not None
    assert t.case.status == status


@pytest.mark.parametrize("status", ["received", "supplement_requested", "supplemented"])
def test_where_configured_a_case_not_yet_accepted_is_still_not_evaluated(status: str) -> None:
    rules = Rules(evaluate_at_acceptance=True)
    with pytest.raises(FailedPrecondition) as error:
        evaluate(in_state(status), "satisfied", "web", "", china(2026, 3, 13), rules)
    assert str(error.value) == (
        f"case {NUMBER} is {status}; it cannot be evaluated "
        "(only when concluded or accepted or in_review or reviewed or paused)"
    )


def test_a_case_evaluated_at_acceptance_is_not_evaluated_again_after_conclusion() -> None:
    rules = Rules(evaluate_at_acceptance=True)
    case = evaluate(accepted(), "satisfied", "web", "", china(2026, 3, 4), rules).case
    case = conclude(case, OFFICER, 0, "", "", china(2026, 3, 12)).case
    with pytest.raises(FailedPrecondition) as error:
        evaluate(case, "dissatisfied", "web", "", china(2026, 3, 13), rules)
    assert str(error.value) == f"case {NUMBER} was already evaluated (一事一评)"


@pytest.mark.parametrize("type_code", ["02", "03", "06"])
def test_penalties_compulsory_measures_and_inspections_are_not_evaluated(type_code: str) -> None:
    case = concluded(replace(ITEM, type_code=type_code))
    with pytest.raises(FailedPrecondition) as error:
        evaluate(case, "satisfied", "web", "", china(2026, 3, 13), RULES)
    assert str(error.value) == (
        f"item type {type_code} (penalties, compulsory measures, inspections) is not evaluated"
    )


@pytest.mark.parametrize("type_code", ["04", "07", "20"])
def test_other_item_types_are_evaluated(type_code: str) -> None:
    case = concluded(replace(ITEM, type_code=type_code))
    assert evaluate(case, "satisfied", "web", "", china(2026, 3, 13), RULES).case.evaluation


def test_a_bad_level_and_a_bad_channel_are_refused_together() -> None:
    with pytest.raises(InvalidArgument) as error:
        evaluate(concluded(), "good", "fax", "x" * 2001, china(2026, 3, 13), RULES)
    assert violations(error) == [
        ("level", LEVELS_MESSAGE),
        ("channel", CHANNELS_MESSAGE),
        ("comment", "must be at most 2000 characters"),
    ]


# -- texts a request carries, within the event contract ------------------------------------------
#
# Every text a transition puts into its event is refused, naming its field, before it could
# break the contract (which would fail the call as INTERNAL); tests/integration/
# test_applications_api.py walks every text field of every request over gRPC.

LONGEST_ACTOR = Actor(DEPARTMENT, "o" * MAX_OFFICER, "名" * MAX_OFFICER)
LONGEST_NAME = "材" * MAX_NAME
LONGEST_REASON = "理" * MAX_REASON


def test_the_longest_texts_a_request_may_carry_still_make_valid_events() -> None:
    actor = LONGEST_ACTOR
    reviewer = Actor(TRANSPORT, "o" * MAX_OFFICER)
    now = china(2026, 3, 4)
    asked = checked(request_supplement(received(), actor, (LONGEST_NAME,), now, CALENDAR, RULES))
    checked(supplement(asked.case, (LONGEST_NAME, "另" * MAX_NAME), now))
    checked(refuse(received(), actor, LONGEST_REASON, now))
    for t in acceptance(received(JOINT_ITEM), actor, ACCEPTED_AT, CALENDAR):
        checked(t)
    reviewed = checked(complete_review(in_joint_review(), reviewer, False, LONGEST_REASON, now))
    assert reviewed.data["opinion"] == LONGEST_REASON
    paused = checked(pause(accepted(), actor, "hearing", LONGEST_REASON, now))
    checked(resume(paused.case, actor, china(2026, 3, 5), CALENDAR))
    for code in (0, 1):
        done = checked(conclude(accepted(), actor, code, LONGEST_REASON, LONGEST_NAME, now))
        assert (done.data["reason"], done.data["certificate"]) == (LONGEST_REASON, LONGEST_NAME)
    checked(withdraw(received(), LONGEST_REASON, now, CALENDAR))
    checked(evaluate(concluded(), "satisfied", "web", LONGEST_REASON, china(2026, 3, 13), RULES))


ONE_TOO_MANY: dict[str, tuple[Any, tuple[str, str]]] = {
    "a supplement notice's material": (
        lambda: request_supplement(
            received(), OFFICER, ("营业执照复印件", "材" * 201), china(2026, 3, 4), CALENDAR, RULES
        ),
        ("materials.1", "must be at most 200 characters"),
    ),
    "a supplemented material": (
        lambda: supplement(asked_for(), ("食品安全管理制度文本", "材" * 201), china(2026, 3, 5)),
        ("materials.1", "must be at most 200 characters"),
    ),
    "an officer id": (
        lambda: accept(received(), Actor(DEPARTMENT, "o" * 65), ACCEPTED_AT, CALENDAR),
        ("actor.officer_id", "must be at most 64 characters"),
    ),
    "an officer name": (
        lambda: refuse(received(), Actor(DEPARTMENT, "o-1", "名" * 65), "不符合", ACCEPTED_AT),
        ("actor.officer_name", "must be at most 64 characters"),
    ),
    "a reviewer's officer id": (
        lambda: complete_review(
            in_joint_review(), Actor(TRANSPORT, "o" * 65), True, "同意", china(2026, 3, 5)
        ),
        ("actor.officer_id", "must be at most 64 characters"),
    ),
    "a certificate": (
        lambda: conclude(accepted(), OFFICER, 0, "", "证" * 201, china(2026, 3, 12)),
        ("certificate", "must be at most 200 characters"),
    ),
    "the reason of an issued conclusion": (
        lambda: conclude(accepted(), OFFICER, 0, "理" * 2001, "", china(2026, 3, 12)),
        ("reason", "must be at most 2000 characters"),
    ),
    "a review opinion": (
        lambda: complete_review(
            in_joint_review(), TRANSPORT_OFFICER, True, "理" * 2001, china(2026, 3, 5)
        ),
        ("opinion", "must be at most 2000 characters"),
    ),
    "the reason of a special procedure": (
        lambda: pause(accepted(), OFFICER, "hearing", "理" * 2001, china(2026, 3, 6)),
        ("reason", "must be at most 2000 characters"),
    ),
    "a withdrawal reason (no longer cut short)": (
        lambda: withdraw(received(), "理" * 2001, ACCEPTED_AT, CALENDAR),
        ("reason", "must be at most 2000 characters"),
    ),
}


@pytest.mark.parametrize("what", ONE_TOO_MANY)
def test_one_character_over_the_contracts_limit_is_refused_naming_the_field(what: str) -> None:
    call, expected = ONE_TOO_MANY[what]
    with pytest.raises(InvalidArgument) as error:
        call()
    assert violations(error) == [expected]


def test_a_certificate_and_a_too_long_reason_are_refused_together() -> None:
    with pytest.raises(InvalidArgument) as error:
        conclude(accepted(), OFFICER, 2, "理" * 2001, "证" * 201, china(2026, 3, 12))
    assert violations(error) == [
        ("reason", "must be at most 2000 characters"),
        ("certificate", "must be at most 200 characters"),
    ]


CONTROL = "must not contain control characters"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda: request_supplement(
                received(), OFFICER, ("营业执照\x00复印件",), china(2026, 3, 4), CALENDAR, RULES
            ),
            ("materials.0", CONTROL),
        ),
        (
            lambda: accept(received(), Actor(DEPARTMENT, "officer\x00"), ACCEPTED_AT, CALENDAR),
            ("actor.officer_id", CONTROL),
        ),
        (
            lambda: refuse(received(), OFFICER, "不符合\x00条件", ACCEPTED_AT),
            ("reason", CONTROL),
        ),
        (
            lambda: conclude(accepted(), OFFICER, 0, "", "JY1\n3201", china(2026, 3, 12)),
            ("certificate", CONTROL),
        ),
        (
            lambda: evaluate(concluded(), "satisfied", "web", "好\x07", china(2026, 3, 13), RULES),
            ("comment", CONTROL),
        ),
    ],
    ids=["material", "officer id", "reason", "certificate", "comment"],
)
def test_control_characters_are_refused_naming_the_field(
    call: Any, expected: tuple[str, str]
) -> None:
    with pytest.raises(InvalidArgument) as error:
        call()
    assert violations(error) == [expected]


def test_reasons_opinions_and_comments_may_run_over_several_lines() -> None:
    text = "一、场所布局不符合要求；\r\n二、\t设备不足。"
    assert checked(refuse(received(), OFFICER, text, ACCEPTED_AT)).data["reason"] == text
    done = complete_review(in_joint_review(), TRANSPORT_OFFICER, False, text, china(2026, 3, 5))
    assert checked(done).data["opinion"] == text
    rated = evaluate(concluded(), "satisfied", "web", text, china(2026, 3, 13), RULES)
    assert checked(rated).data["comment"] == text


# -- supervise (电子监察) -------------------------------------------------------------------------


def test_a_received_case_is_not_deemed_accepted_within_the_supplement_window() -> None:
    assert supervise(received(), china(2026, 3, 9, 23, 59), CALENDAR, RULES) == []


def test_a_received_case_older_than_the_supplement_window_is_deemed_accepted() -> None:
    now = china(2026, 3, 10, 0, 1)
    [t] = supervise(received(), now, CALENDAR, RULES)
    checked(t)
    assert t.event_type == "application.accepted"
    assert (t.case.status, t.case.deemed_accepted, t.case.officer_id) == ("accepted", True, "")
    # It counts as accepted from the day of receipt; the event says when supervision saw it.
    assert t.case.accepted_at == received().submitted_at
    assert t.data["at"] == now.isoformat()
    assert t.data["deemed"] is True
    assert t.data["department"] == DEPARTMENT
    assert "officer_id" not in t.data


def test_a_deemed_acceptance_counts_its_deadlines_from_the_day_of_receipt() -> None:
    [t] = supervise(received(), china(2026, 3, 12), CALENDAR, RULES)
    assert (t.case.due_date, t.case.legal_due_date) == (date(2026, 3, 16), date(2026, 3, 30))


def test_no_warning_while_more_than_two_working_days_and_less_than_80_percent_remain() -> None:
    assert supervise(accepted(), china(2026, 3, 12), CALENDAR, RULES) == []  # 3 left, 70 %


def test_a_case_two_working_days_from_its_due_date_gets_one_yellow_warning() -> None:
    now = china(2026, 3, 13)  # Friday: Monday 16 and Tuesday 17 left
    [t] = supervise(accepted(), now, CALENDAR, RULES)
    checked(t)
    assert t.event_type == "application.deadline_warning"
    assert t.case.warned is True
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-13T02:00:00+00:00",
        "department": DEPARTMENT,
        "due_date": "2026-03-17",
        "days_left": 2,
        "share_used": 0.8,
    }
    assert supervise(t.case, now, CALENDAR, RULES) == []
    assert supervise(t.case, china(2026, 3, 17), CALENDAR, RULES) == []


def test_a_case_past_its_due_date_gets_one_red_card() -> None:
    now = china(2026, 3, 21)  # Saturday; 18, 19, 20 were working days past the due date
    [t] = supervise(accepted(), now, CALENDAR, RULES)
    checked(t)
    assert t.event_type == "application.overdue"
    assert (t.case.overdue, t.case.warned) == (True, True)
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-21T02:00:00+00:00",
        "department": DEPARTMENT,
        "due_date": "2026-03-17",
        "days_over": 3,
    }
    assert supervise(t.case, china(2026, 3, 23), CALENDAR, RULES) == []


def test_a_warned_case_still_gets_its_red_card_the_day_after_the_due_date() -> None:
    [warning] = supervise(accepted(), china(2026, 3, 16), CALENDAR, RULES)
    [overdue] = supervise(warning.case, china(2026, 3, 18), CALENDAR, RULES)
    assert (overdue.event_type, overdue.data["days_over"]) == ("application.overdue", 1)


def test_a_paused_case_gets_no_warning_and_no_red_card() -> None:
    case = in_state("paused")
    assert supervise(case, china(2026, 3, 16), CALENDAR, RULES) == []
    assert supervise(case, china(2026, 4, 1), CALENDAR, RULES) == []


@pytest.mark.parametrize("status", ["supplement_requested", "supplemented", *CLOSED])
def test_a_case_without_a_running_clock_or_closed_gets_nothing(status: str) -> None:
    assert supervise(in_state(status), china(2026, 4, 30), CALENDAR, RULES) == []


def test_a_local_half_way_threshold_warns_when_half_the_period_is_used() -> None:
    rules = Rules(warning_days=0, warning_share=0.5)
    assert supervise(accepted(), china(2026, 3, 9), CALENDAR, rules) == []  # 6 left, 40 %
    assert supervise(accepted(), china(2026, 3, 10), CALENDAR, RULES) == []  # defaults: nothing
    [t] = supervise(accepted(), china(2026, 3, 10), CALENDAR, rules)
    checked(t)
    assert (t.data["days_left"], t.data["share_used"]) == (5, 0.5)


def test_with_no_share_threshold_the_warning_comes_on_the_due_date() -> None:
    rules = Rules(warning_days=0, warning_share=1.0)
    assert supervise(accepted(), china(2026, 3, 16), CALENDAR, rules) == []
    [t] = supervise(accepted(), china(2026, 3, 17), CALENDAR, rules)
    assert (t.data["days_left"], t.data["share_used"]) == (0, 1.0)


def test_a_resumption_that_moves_the_deadline_does_not_warn_a_second_time() -> None:
    [warning] = supervise(accepted(), china(2026, 3, 13), CALENDAR, RULES)
    case = pause(warning.case, OFFICER, "testing", "送检", china(2026, 3, 13)).case
    resumed = resume(case, OFFICER, china(2026, 3, 18), CALENDAR).case  # 16, 17, 18
    assert (resumed.due_date, resumed.warned) == (date(2026, 3, 20), True)
    assert supervise(resumed, china(2026, 3, 19), CALENDAR, RULES) == []  # 1 day left
    [overdue] = supervise(resumed, china(2026, 3, 23), CALENDAR, RULES)
    assert (overdue.event_type, overdue.data["due_date"], overdue.data["days_over"]) == (
        "application.overdue",
        "2026-03-20",
        1,
    )


def test_supervision_every_hour_says_each_card_exactly_once_over_a_cases_life() -> None:
    """Accepted 03-03, warned, paused 03-13 to 03-18 (the deadline moves to 03-20), late."""
    case = accepted()
    said: list[tuple[str, str]] = []
    now = ACCEPTED_AT
    while now < china(2026, 4, 10):
        if now == china(2026, 3, 13, 16):
            case = pause(case, OFFICER, "testing", "送检", now).case
        if now == china(2026, 3, 18, 16):
            case = resume(case, OFFICER, now, CALENDAR).case
        for t in supervise(case, now, CALENDAR, RULES):
            checked(t)
            said.append((t.event_type, local_date(now).isoformat()))
            case = t.case
        now += timedelta(hours=1)
    assert said == [
        ("application.deadline_warning", "2026-03-13"),
        ("application.overdue", "2026-03-21"),
    ]


def test_time_in_a_special_procedure_does_not_count_as_period_used() -> None:
    case = pause(accepted(), OFFICER, "expert_review", "专家评审", china(2026, 3, 3, 15)).case
    resumed = resume(case, OFFICER, china(2026, 4, 30), CALENDAR).case  # 40 working days later
    assert resumed.due_date == date(2026, 5, 18)
    assert supervise(resumed, china(2026, 4, 30, 16), CALENDAR, RULES) == []
