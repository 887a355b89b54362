"""Working days: China's public holidays and make-up working days (调休), year by year.

`WorkCalendar` is pure (values in, values out). Its data comes from the chinese_calendar
package (the State Council's notices, 2004-2026) and from `data/holidays.json` in this
project for later years. A year with no data at all falls back to Monday-Friday; a year
whose data is provisional is used but flagged. Callers log both (`coverage`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources

OFFICIAL = "official"
PROVISIONAL = "provisional"
WEEKDAYS = "weekdays"  # no data: Monday to Friday


@dataclass(frozen=True)
class YearData:
    holidays: frozenset[date]
    workdays: frozenset[date]  # weekend days that are working days (调休上班)
    status: str = OFFICIAL


@dataclass(frozen=True)
class WorkCalendar:
    years: dict[int, YearData] = field(default_factory=dict)

    def coverage(self, year: int) -> str:
        data = self.years.get(year)
        return WEEKDAYS if data is None else data.status

    def is_working_day(self, day: date) -> bool:
        data = self.years.get(day.year)
        if data is None:
            return day.weekday() < 5
        if day in data.workdays:
            return True
        return day.weekday() < 5 and day not in data.holidays

    def add(self, start: date, days: int) -> date:
        """The date of the `days`-th working day after `start` (`start` itself for 0).

        The day of acceptance is not counted: a promise of 1 working day made on a
        Thursday is due on Friday.
        """
        if days < 0:
            raise ValueError("days must not be negative")
        current = start
        remaining = days
        while remaining:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 if `end` <= `start`)."""
        count = 0
        current = start
        while current < end:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return count

    def years_in(self, start: date, end: date) -> list[int]:
        return list(range(start.year, end.year + 1))


@cache
def default_calendar() -> WorkCalendar:
    """chinese_calendar's years, then this project's file (which may add later years)."""
    from chinese_calendar import constants

    years: dict[int, YearData] = {}
    known = {d.year for d in constants.holidays} | {d.year for d in constants.workdays}
    for year in sorted(known):
        years[year] = YearData(
            frozenset(d for d in constants.holidays if d.year == year),
            frozenset(d for d in constants.workdays if d.year == year),
        )
    text = resources.files("services.platform").joinpath("data/holidays.json").read_text("utf-8")
    for key, entry in json.loads(text).items():
        if key.startswith("_"):
            continue
        years[int(key)] = YearData(
            frozenset(date.fromisoformat(d) for d in entry["holidays"]),
            frozenset(date.fromisoformat(d) for d in entry["workdays"]),
            entry.get("status", OFFICIAL),
        )
    return WorkCalendar(years)
