"""Supervision figures from a replay: exact counts and rates per department and division,
and the same log always giving the same report."""

from __future__ import annotations

from typing import Any

import pytest

from services.audit import supervision
from services.audit.domain import ReplayFilter
from services.platform.errors import InvalidArgument
from tests.support.events import department_uscc

MARKET = department_uscc("320102", "01400001")
TAX = department_uscc("320104", "01400002")


def case_event(
    kind: str, number: str, department: str, division: str, **data: Any
) -> dict[str, Any]:
    return {
        "type": f"application.{kind}",
        "division": division,
        "time": "2026-12-01T02:00:00.000000Z",
        "data": {"case_number": number, "department": department, **data},
    }


def scenario() -> list[tuple[int, dict[str, Any]]]:
    a, b = "320102", "320104"
    events = [
        {
            "type": "item.published",
            "division": a,
            "time": "2026-12-01T01:00:00.000000Z",
            "data": {"department": {"code": MARKET, "name": "玄武区市场监督管理局"}},
        },
        case_event("submitted", "c1", MARKET, a),
        case_event("accepted", "c1", MARKET, a, deemed=False),
        case_event("concluded", "c1", MARKET, a, on_time=True, result_code=0),
        case_event("evaluated", "c1", MARKET, a, level="very_satisfied"),
        case_event("submitted", "c2", MARKET, a),
        case_event("accepted", "c2", MARKET, a, deemed=False),
        case_event("deadline_warning", "c2", MARKET, a),
        case_event("overdue", "c2", MARKET, a),
        case_event("submitted", "c3", MARKET, a),
        case_event("refused", "c3", MARKET, a, reason="材料不全"),
        case_event("submitted", "c4", MARKET, a),
        case_event("accepted", "c4", MARKET, a, deemed=True),
        case_event("deadline_warning", "c4", MARKET, a),
        case_event("overdue", "c4", MARKET, a),
        case_event("concluded", "c4", MARKET, a, on_time=False, result_code=0),
        case_event("evaluated", "c4", MARKET, a, level="dissatisfied"),
        case_event("submitted", "c5", TAX, b),
        case_event("accepted", "c5", TAX, b, deemed=False),
        case_event("concluded", "c5", TAX, b, on_time=True, result_code=0),
        case_event("submitted", "c6", TAX, b),
        case_event("withdrawn", "c6", TAX, b),
        {"type": "notification.sent", "division": a, "data": {"case_number": "c1"}},
    ]
    return list(enumerate(events, 1))


def test_the_totals_count_every_case_once_with_exact_rates() -> None:
    totals = supervision.compute(scenario()).to_dict()["totals"]

    assert totals == {
        "received": 6,
        "accepted": 4,
        "deemed": 1,
        "refused": 1,
        "concluded": 3,
        "withdrawn": 1,
        "on_time": 2,
        "currently_overdue": 1,
        "yellow": 2,
        "red": 2,
        "evaluations": {
            "very_satisfied": 1,
            "satisfied": 0,
            "basically_satisfied": 0,
            "dissatisfied": 1,
            "very_dissatisfied": 0,
        },
        "evaluated_cases": 2,
        "good": 1,
        "bad": 1,
        "on_time_rate": 0.6667,
        "good_review_rate": 0.5,
        "bad_review_rate": 0.5,
        "active_review_rate": 0.6667,
    }


def test_figures_are_given_per_department_with_its_name_and_per_division() -> None:
    report = supervision.compute(scenario()).to_dict()

    market, tax = report["departments"]
    assert (market["code"], market["name"]) == (MARKET, "玄武区市场监督管理局")
    assert (market["received"], market["refused"], market["concluded"]) == (4, 1, 2)
    assert (market["on_time_rate"], market["currently_overdue"], market["red"]) == (0.5, 1, 2)
    assert market["active_review_rate"] == 1.0
    assert (tax["code"], tax["name"]) == (TAX, "")
    assert (tax["received"], tax["withdrawn"], tax["on_time_rate"]) == (2, 1, 1.0)
    assert tax["good_review_rate"] is None  # nobody evaluated: no rate, not 0 %
    assert [(d["code"], d["name"], d["received"]) for d in report["divisions"]] == [
        ("320102", "玄武区", 4),
        ("320104", "秦淮区", 2),
    ]
    assert report["log"] == {
        "entries": 23,
        "first_index": 1,
        "last_index": 23,
        "last_event_time": "2026-12-01T02:00:00.000000Z",
    }


def test_the_same_log_always_gives_the_same_report_in_every_format() -> None:
    first, second = supervision.compute(scenario()), supervision.compute(scenario())

    assert supervision.render_json(first) == supervision.render_json(second)
    assert supervision.render_text(first) == supervision.render_text(second)
    assert supervision.render_html(first) == supervision.render_html(second)


def test_the_text_report_has_a_row_per_department_and_a_total() -> None:
    text = supervision.render_text(supervision.compute(scenario()))

    market_row = next(line for line in text.splitlines() if line.startswith(MARKET))
    assert market_row.split()[-12:] == [
        "4", "3", "1", "2", "50.0%", "1", "2", "2", "2", "50.0%", "50.0%", "100.0%"
    ]  # fmt: skip
    assert "好差评 by level: 非常满意 1, 满意 0, 基本满意 0, 不满意 1, 非常不满意 0" in text


def test_the_html_report_stands_alone_with_charts() -> None:
    page = supervision.render_html(supervision.compute(scenario()))

    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 4  # on-time and good-review rates, for departments and divisions
    assert "玄武区市场监督管理局" in page
    assert "<script" not in page


# -- replay filters -----------------------------------------------------------------------


def test_a_city_filter_covers_its_districts_and_a_type_prefix_its_types() -> None:
    where = ReplayFilter.parse(division="320100", type="application.*")

    assert where.conditions() == [
        ("division", "LIKE", "3201%"),
        ("type", ">=", "application."),
        ("type", "<", "application/"),
    ]


def test_every_bad_replay_filter_is_reported_at_once_naming_its_field() -> None:
    from datetime import UTC, datetime

    with pytest.raises(InvalidArgument) as refused:
        ReplayFilter.parse(
            division="3201",
            source="http://elsewhere",
            type="Application",
            time_from=datetime(2026, 12, 2, tzinfo=UTC),
            time_to=datetime(2026, 12, 1, tzinfo=UTC),
        )

    assert [(v.field, v.reason) for v in refused.value.violations] == [
        ("division", "must be 6 digits, got 4 characters"),
        ("source", "must be govnet://<division>/<service> or govnet://<division>/dept/<USCC>"),
        ("type", "must be an event type or a prefix like application.*"),
        ("time_to", "must be later than time_from"),
    ]
