"""The clock of a case at its edges: a special procedure the applicant ends by withdrawing,
and promises so short that the case starts inside the yellow threshold (即办件, 0 working
days).

Baseline as in test_lifecycle: 食品经营许可 at 玄武区 (10 working days promised, 20 legal),
received Monday 2026-03-02 and accepted Tuesday 2026-03-03, China time; March 2026 has no
holidays."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.applications.domain import (
    Pause,
    Rules,
    accept,
    pause,
    resume,
    supervise,
    withdraw,
)
from services.platform.calendar import WorkCalendar
from tests.unit.test_lifecycle import (
    ACCEPTED_AT,
    CALENDAR,
    DEPARTMENT,
    ITEM,
    NUMBER,
    OFFICER,
    RULES,
    accepted,
    checked,
    china,
    in_joint_review,
    received,
)

IMMEDIATE = replace(ITEM, case_kind="immediate", promised_limit_days=0, legal_limit_days=0)


# -- a withdrawal ends the special procedure under way ---------------------------------------


def test_a_withdrawal_ends_the_special_procedure_as_resuming_would() -> None:
    paused_at, withdrawn_at = china(2026, 3, 6), china(2026, 3, 11)  # Friday → next Wednesday
    case = pause(in_joint_review(), OFFICER, "hearing", "举行听证", paused_at).case
    t = checked(withdraw(case, " 不再经营 ", withdrawn_at, CALENDAR))
    assert (t.case.status, t.case.paused_from, t.case.closed_at) == ("withdrawn", "", withdrawn_at)
    assert t.case.pauses == (Pause("hearing", "举行听证", paused_at, withdrawn_at, 3),)
    assert (t.case.due_date, t.case.legal_due_date) == (date(2026, 3, 20), date(2026, 4, 3))
    resumed = resume(case, OFFICER, withdrawn_at, CALENDAR).case
    assert (t.case.pauses, t.case.due_date, t.case.legal_due_date) == (
        resumed.pauses,
        resumed.due_date,
        resumed.legal_due_date,
    )
    # The event contract is unchanged: the withdrawal's `at` is when the pause ended.
    assert t.event_type == "application.withdrawn"
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-11T02:00:00+00:00",
        "department": DEPARTMENT,
        "reason": "不再经营",
    }


def test_a_pause_ended_by_a_withdrawal_counts_working_days_only() -> None:
    case = accept(received(submitted_at=china(2026, 9, 28)), OFFICER, china(2026, 9, 29), CALENDAR)
    paused = pause(case.case, OFFICER, "other", "等待外部答复", china(2026, 9, 30)).case
    t = withdraw(paused, "", china(2026, 10, 9), CALENDAR)  # National Day: 10-08, 10-09 count
    assert [(p.ended_at, p.working_days) for p in t.case.pauses] == [(china(2026, 10, 9), 2)]
    assert t.case.due_date == date(2026, 10, 21)
    weekdays_only = withdraw(paused, "", china(2026, 10, 9), WorkCalendar())
    assert [p.working_days for p in weekdays_only.case.pauses] == [7]  # the calendar given


def test_a_withdrawal_leaves_the_pauses_and_deadlines_of_a_running_clock_as_they_were() -> None:
    case = pause(accepted(), OFFICER, "inspection", "现场勘查", china(2026, 3, 4)).case
    case = resume(case, OFFICER, china(2026, 3, 6), CALENDAR).case  # Thu, Fri: 2
    t = withdraw(case, "", china(2026, 3, 10), CALENDAR)
    assert (t.case.pauses, t.case.due_date, t.case.legal_due_date) == (
        case.pauses,
        date(2026, 3, 19),
        date(2026, 4, 2),
    )


# -- a case that starts inside the yellow threshold -----------------------------------------


def test_an_immediate_case_gets_no_yellow_warning_the_day_it_is_accepted() -> None:
    case = accept(received(IMMEDIATE), OFFICER, ACCEPTED_AT, CALENDAR).case
    assert (case.due_date, case.legal_due_date) == (date(2026, 3, 3), date(2026, 3, 3))
    assert supervise(case, ACCEPTED_AT, CALENDAR, RULES) == []
    assert supervise(case, china(2026, 3, 3, 23, 59), CALENDAR, RULES) == []


def test_an_immediate_case_still_open_the_day_after_acceptance_gets_its_red_card() -> None:
    case = accept(received(IMMEDIATE), OFFICER, ACCEPTED_AT, CALENDAR).case
    now = china(2026, 3, 4)
    [t] = supervise(case, now, CALENDAR, RULES)
    checked(t)
    assert t.event_type == "application.overdue"
    assert (t.case.overdue, t.case.warned) == (True, True)
    assert t.data == {
        "case_number": NUMBER,
        "at": "2026-03-04T02:00:00+00:00",
        "department": DEPARTMENT,
        "due_date": "2026-03-03",
        "days_over": 1,
    }
    assert supervise(t.case, china(2026, 3, 5), CALENDAR, RULES) == []


@pytest.mark.parametrize("promised", [1, 2])
def test_a_promise_of_no_more_than_the_warning_days_gets_no_yellow_warning(promised: int) -> None:
    """Two working days or fewer left (the default threshold) from the day of acceptance:
    the case never comes near its deadline, it starts there."""
    case = accept(
        received(replace(ITEM, promised_limit_days=promised)), OFFICER, ACCEPTED_AT, CALENDAR
    ).case
    assert case.due_date == date(2026, 3, 3 + promised)
    said = []
    for day in range(3, 10):  # Tuesday to the next Monday, each day at 10:00
        for t in supervise(case, china(2026, 3, day), CALENDAR, RULES):
            said.append((t.event_type, day))
            case = t.case
    assert said == [("application.overdue", 4 + promised)]


def test_a_promise_just_over_the_warning_days_is_warned_the_day_after_acceptance() -> None:
    case = accept(received(replace(ITEM, promised_limit_days=3)), OFFICER, ACCEPTED_AT, CALENDAR)
    assert supervise(case.case, ACCEPTED_AT, CALENDAR, RULES) == []  # 3 left, 0 % used
    [t] = supervise(case.case, china(2026, 3, 4), CALENDAR, RULES)
    assert (t.event_type, t.data["days_left"], t.data["share_used"]) == (
        "application.deadline_warning",
        2,
        0.333,
    )


def test_with_a_local_threshold_of_no_days_a_one_day_promise_is_warned_on_its_due_date() -> None:
    rules = Rules(warning_days=0, warning_share=1.0)
    case = accept(received(replace(ITEM, promised_limit_days=1)), OFFICER, ACCEPTED_AT, CALENDAR)
    assert supervise(case.case, ACCEPTED_AT, CALENDAR, rules) == []  # 1 left, 0 % used
    [t] = supervise(case.case, china(2026, 3, 4), CALENDAR, rules)
    assert (t.event_type, t.data["days_left"], t.data["share_used"]) == (
        "application.deadline_warning",
        0,
        1.0,
    )
    immediate = accept(received(IMMEDIATE), OFFICER, ACCEPTED_AT, CALENDAR).case
    assert supervise(immediate, ACCEPTED_AT, CALENDAR, rules) == []  # all of it used at once
