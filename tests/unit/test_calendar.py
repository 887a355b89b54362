"""Working days: weekends, statutory holidays, make-up working days (调休) and unpublished years."""

from __future__ import annotations

import json
from datetime import date, timedelta
from importlib import resources
from typing import Any

import pytest

from services.platform.calendar import (
    OFFICIAL,
    PROVISIONAL,
    WEEKDAYS,
    WorkCalendar,
    default_calendar,
)

CALENDAR = default_calendar()
WITHOUT_2027 = WorkCalendar({y: data for y, data in default_calendar().years.items() if y != 2027})


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def holidays_file() -> dict[str, Any]:
    text = resources.files("services.platform").joinpath("data/holidays.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


# -- which days are working days ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 2), True),  # Monday
        (date(2026, 3, 4), True),  # Wednesday
        (date(2026, 3, 6), True),  # Friday
        (date(2026, 3, 7), False),  # Saturday
        (date(2026, 3, 8), False),  # Sunday
    ],
)
def test_weekdays_are_working_days_and_weekends_are_not(day: date, working: bool) -> None:
    assert CALENDAR.is_working_day(day) is working


@pytest.mark.parametrize(
    "day",
    days(date(2026, 10, 1), date(2026, 10, 7)) + days(date(2026, 2, 15), date(2026, 2, 23)),
    ids=str,
)
def test_national_day_and_spring_festival_2026_are_not_working_days(day: date) -> None:
    assert CALENDAR.is_working_day(day) is False


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 4),  # Sunday, after New Year's Day
        date(2026, 2, 14),  # Saturday, before Spring Festival
        date(2026, 2, 28),  # Saturday, after Spring Festival
        date(2026, 5, 9),  # Saturday, after Labour Day
        date(2026, 9, 20),  # Sunday, before Mid-Autumn and National Day
        date(2026, 10, 10),  # Saturday, after National Day
    ],
    ids=str,
)
def test_a_2026_make_up_working_day_on_a_weekend_is_a_working_day(day: date) -> None:
    assert day.weekday() >= 5
    assert CALENDAR.is_working_day(day) is True


def test_a_calendar_without_data_counts_monday_to_friday() -> None:
    empty = WorkCalendar()
    week = days(date(2026, 9, 28), date(2026, 10, 4))
    assert [empty.is_working_day(d) for d in week] == [True] * 5 + [False] * 2
    assert empty.coverage(2026) == WEEKDAYS


# -- add ------------------------------------------------------------------------------------------


def test_adding_zero_working_days_gives_the_start_day_even_on_a_holiday() -> None:
    assert CALENDAR.add(date(2026, 3, 4), 0) == date(2026, 3, 4)
    assert CALENDAR.add(date(2026, 10, 3), 0) == date(2026, 10, 3)


def test_one_working_day_after_a_thursday_is_the_friday() -> None:
    assert CALENDAR.add(date(2026, 3, 5), 1) == date(2026, 3, 6)


def test_one_working_day_after_a_friday_is_the_monday() -> None:
    assert CALENDAR.add(date(2026, 3, 6), 1) == date(2026, 3, 9)


def test_one_working_day_after_the_eve_of_national_day_2026_is_october_8() -> None:
    assert CALENDAR.add(date(2026, 9, 30), 1) == date(2026, 10, 8)


def test_a_make_up_saturday_counts_as_a_working_day_when_adding() -> None:
    # 10-08 Thu, 10-09 Fri, 10-10 Sat (调休上班), then Monday 10-12
    assert CALENDAR.add(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert CALENDAR.add(date(2026, 9, 30), 4) == date(2026, 10, 12)


def test_ten_working_days_from_the_eve_of_national_day_end_on_october_20() -> None:
    assert CALENDAR.add(date(2026, 9, 30), 10) == date(2026, 10, 20)


def test_adding_a_negative_number_of_days_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^days must not be negative$"):
        CALENDAR.add(date(2026, 3, 4), -1)


# -- the year-end crossing ------------------------------------------------------------------------


def test_twenty_working_days_from_december_10_skip_new_years_day_2027() -> None:
    assert CALENDAR.add(date(2026, 12, 10), 20) == date(2027, 1, 8)


def test_without_2027_data_new_years_day_would_count_as_a_working_day() -> None:
    assert WITHOUT_2027.coverage(2027) == WEEKDAYS
    assert WITHOUT_2027.add(date(2026, 12, 10), 20) == date(2027, 1, 7)


def test_twenty_working_days_from_november_26_stay_in_2026() -> None:
    assert CALENDAR.add(date(2026, 11, 26), 20) == date(2026, 12, 24)


@pytest.mark.parametrize(
    ("accepted_on", "due", "due_without_2027"),
    [
        (date(2026, 12, 3), date(2026, 12, 31), date(2026, 12, 31)),
        (date(2026, 12, 4), date(2027, 1, 4), date(2027, 1, 1)),
        (date(2026, 12, 7), date(2027, 1, 5), date(2027, 1, 4)),
        (date(2026, 12, 10), date(2027, 1, 8), date(2027, 1, 7)),
        (date(2026, 12, 11), date(2027, 1, 11), date(2027, 1, 8)),
        (date(2026, 12, 13), date(2027, 1, 11), date(2027, 1, 8)),
        (date(2026, 12, 24), date(2027, 1, 22), date(2027, 1, 21)),
        (date(2026, 12, 31), date(2027, 1, 29), date(2027, 1, 28)),
    ],
    ids=str,
)
def test_a_twenty_working_day_deadline_from_december_2026_lands_on_the_exact_day(
    accepted_on: date, due: date, due_without_2027: date
) -> None:
    assert CALENDAR.add(accepted_on, 20) == due
    assert WITHOUT_2027.add(accepted_on, 20) == due_without_2027


# -- between --------------------------------------------------------------------------------------


def test_between_counts_working_days_after_the_start_up_to_and_including_the_end() -> None:
    assert CALENDAR.between(date(2026, 3, 6), date(2026, 3, 11)) == 3  # Fri → Wed
    assert CALENDAR.between(date(2026, 3, 6), date(2026, 3, 9)) == 1  # Fri → Mon
    assert CALENDAR.between(date(2026, 9, 30), date(2026, 10, 9)) == 2  # over National Day


def test_between_is_zero_when_the_end_is_not_after_the_start() -> None:
    assert CALENDAR.between(date(2026, 3, 4), date(2026, 3, 4)) == 0
    assert CALENDAR.between(date(2026, 3, 4), date(2026, 3, 2)) == 0


def test_between_undoes_add_for_every_start_day_of_2026_and_up_to_30_days() -> None:
    for start in days(date(2026, 1, 1), date(2026, 12, 31)):
        for n in range(31):
            due = CALENDAR.add(start, n)
            assert CALENDAR.between(start, due) == n, (start, n)
            if n:
                # the n-th working day is the first day reaching n: a working day itself
                assert CALENDAR.is_working_day(due), (start, n)
                assert CALENDAR.between(start, due - timedelta(days=1)) == n - 1, (start, n)


# -- coverage and unpublished years ---------------------------------------------------------------


def test_2026_is_official_2027_provisional_and_2028_counts_weekdays() -> None:
    assert CALENDAR.coverage(2026) == OFFICIAL
    assert CALENDAR.coverage(2027) == PROVISIONAL
    assert CALENDAR.coverage(2028) == WEEKDAYS


def test_in_2028_monday_to_friday_are_working_days_and_new_years_day_a_saturday_is_not() -> None:
    week = days(date(2028, 1, 3), date(2028, 1, 9))
    assert [d.weekday() for d in week] == [0, 1, 2, 3, 4, 5, 6]
    assert [CALENDAR.is_working_day(d) for d in week] == [True] * 5 + [False] * 2
    assert date(2028, 1, 1).weekday() == 5
    assert CALENDAR.is_working_day(date(2028, 1, 1)) is False


# -- the holidays file ----------------------------------------------------------------------------


def test_every_2027_date_in_the_holidays_file_parses_and_is_in_2027() -> None:
    entry = holidays_file()["2027"]
    listed = [date.fromisoformat(d) for d in (*entry["holidays"], *entry["workdays"])]
    assert listed
    assert {d.year for d in listed} == {2027}


def test_the_provisional_2027_year_lists_the_statutory_holidays() -> None:
    entry = holidays_file()["2027"]
    assert entry["status"] == PROVISIONAL
    assert sorted(date.fromisoformat(d) for d in entry["holidays"]) == [
        date(2027, 1, 1),  # 元旦
        date(2027, 2, 5),  # 春节: 除夕 to 初三
        date(2027, 2, 6),
        date(2027, 2, 7),
        date(2027, 2, 8),
        date(2027, 4, 5),  # 清明
        date(2027, 5, 1),  # 劳动节
        date(2027, 5, 2),
        date(2027, 6, 9),  # 端午
        date(2027, 9, 15),  # 中秋
        date(2027, 10, 1),  # 国庆
        date(2027, 10, 2),
        date(2027, 10, 3),
    ]
    assert entry["workdays"] == []


def test_the_default_calendar_uses_the_provisional_2027_holidays() -> None:
    for day in ("2027-01-01", "2027-02-05", "2027-02-08", "2027-04-05", "2027-06-09"):
        assert CALENDAR.is_working_day(date.fromisoformat(day)) is False, day
    assert CALENDAR.is_working_day(date(2027, 1, 4)) is True
