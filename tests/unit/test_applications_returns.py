"""退件 (result code 5): an application whose supplement never came is returned by the
department, from where it waits; nothing else concludes a case that was never accepted.

Baseline as in test_lifecycle: 食品经营许可 at 玄武区, received Monday 2026-03-02, a supplement
asked for on Wednesday 2026-03-04 (China time)."""

from __future__ import annotations

import pytest

from services.applications.domain import conclude, request_supplement, supplement
from services.platform.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from tests.unit.test_lifecycle import (
    CALENDAR,
    DEPARTMENT,
    JOINT_ITEM,
    NUMBER,
    OFFICER,
    RULES,
    TRANSPORT_OFFICER,
    asked_for,
    checked,
    china,
    received,
    violations,
)


def test_a_case_whose_supplement_never_came_is_returned_with_code_5() -> None:
    now = china(2026, 4, 1)
    t = checked(conclude(asked_for(), OFFICER, 5, " 逾期未补正材料 ", "", now))
    assert (t.case.status, t.case.result_code, t.case.reason) == ("concluded", 5, "逾期未补正材料")
    assert (t.case.closed_at, t.case.accepted_at, t.case.due_date) == (now, None, None)
    assert t.event_type == "application.concluded"
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-04-01T02:00:00+00:00",
        "department": DEPARTMENT,
        "officer_id": "officer-0427",
        "result_code": 5,
        "reason": "逾期未补正材料",
        "certificate": "",
        "due_date": None,
        "on_time": True,
    }


def test_a_returned_joint_case_waits_for_no_review() -> None:
    """The collaborating departments review accepted cases only: this one never was."""
    waiting = request_supplement(
        received(JOINT_ITEM), OFFICER, ("食品安全管理制度文本",), china(2026, 3, 4), CALENDAR, RULES
    ).case
    t = checked(conclude(waiting, OFFICER, 5, "逾期未补正材料", "", china(2026, 4, 1)))
    assert (t.case.status, t.case.result_code, t.case.reviews) == ("concluded", 5, ())


def test_a_returned_case_needs_its_reason() -> None:
    with pytest.raises(InvalidArgument) as error:
        conclude(asked_for(), OFFICER, 5, " ", "", china(2026, 4, 1))
    assert violations(error) == [("reason", "is required: say why")]


@pytest.mark.parametrize("code", [0, 1, 2, 3, 4])
def test_a_case_waiting_for_its_supplement_concludes_with_no_other_code(code: int) -> None:
    with pytest.raises(FailedPrecondition) as error:
        conclude(asked_for(), OFFICER, code, "不符合条件", "", china(2026, 4, 1))
    assert str(error.value) == (
        f"case {NUMBER} is supplement_requested; it cannot be concluded "
        "(only when accepted or reviewed or in_review)"
    )


@pytest.mark.parametrize("status", ["received", "supplemented"])
def test_a_case_not_waiting_for_a_supplement_is_not_returned_before_acceptance(
    status: str,
) -> None:
    case = received()
    if status == "supplemented":
        case = supplement(asked_for(), ("食品安全管理制度文本",), china(2026, 3, 5)).case
    with pytest.raises(FailedPrecondition) as error:
        conclude(case, OFFICER, 5, "逾期未补正材料", "", china(2026, 4, 1))
    assert str(error.value) == (
        f"case {NUMBER} is {status}; it cannot be concluded "
        "(only when accepted or reviewed or in_review)"
    )


def test_only_the_implementing_department_returns_the_case() -> None:
    with pytest.raises(PermissionDenied) as error:
        conclude(asked_for(), TRANSPORT_OFFICER, 5, "逾期未补正材料", "", china(2026, 4, 1))
    assert str(error.value) == (
        f"case {NUMBER} is assigned to department {DEPARTMENT}; "
        f"department {TRANSPORT_OFFICER.department_code} cannot act on it"
    )
