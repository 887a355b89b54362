"""Supervision figures (电子监察, 好差评) computed from a replay of the audit log.

Pure: events in, figures out. The same events in the same order always give the same
report — no clock, no randomness, every list sorted — so two auditors replaying the same
log agree to the digit.

Definitions (per department, per division, and in total):

- received / accepted (of which deemed, 视为受理) / refused / concluded / withdrawn: cases
  with that event;
- on time: concluded cases whose `application.concluded` says `on_time`; the on-time rate
  is on time / concluded;
- currently overdue: cases with a red card (`application.overdue`) and no conclusion,
  withdrawal or refusal later in the log;
- yellow / red: `application.deadline_warning` / `application.overdue` events;
- evaluations per level (好差评), good = the three satisfied levels, bad = the two
  dissatisfied ones; good- and bad-review rates are over all evaluations; the
  active-review rate (主动评价率) is evaluated cases / concluded cases.

A case belongs to the department it is assigned to (the `department` of
`application.submitted`, else of its first department action) and to the division of the
node that holds it (the events' `division`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from services.contract import names
from services.platform.node import UnknownDivision, division

LEVELS = (
    "very_satisfied",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "very_dissatisfied",
)
LEVEL_NAMES = {
    "very_satisfied": "非常满意",
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "dissatisfied": "不满意",
    "very_dissatisfied": "非常不满意",
}
GOOD = frozenset(LEVELS[:3])
_CLOSING = frozenset(
    {names.APPLICATION_CONCLUDED, names.APPLICATION_WITHDRAWN, names.APPLICATION_REFUSED}
)


@dataclass
class Figures:
    received: int = 0
    accepted: int = 0
    deemed: int = 0
    refused: int = 0
    concluded: int = 0
    withdrawn: int = 0
    on_time: int = 0
    currently_overdue: int = 0
    yellow: int = 0
    red: int = 0
    evaluations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    evaluated_cases: int = 0

    @property
    def good(self) -> int:
        return sum(self.evaluations[level] for level in GOOD)

    @property
    def bad(self) -> int:
        return sum(self.evaluations.values()) - self.good

    def rates(self) -> dict[str, float | None]:
        total = sum(self.evaluations.values())
        return {
            "on_time_rate": _ratio(self.on_time, self.concluded),
            "good_review_rate": _ratio(self.good, total),
            "bad_review_rate": _ratio(self.bad, total),
            "active_review_rate": _ratio(self.evaluated_cases, self.concluded),
        }

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["evaluations"] = dict(self.evaluations)
        out.update(good=self.good, bad=self.bad)
        out.update({k: None if v is None else round(v, 4) for k, v in self.rates().items()})
        return out


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class _Case:
    department: str | None
    division: str
    accepted: bool = False
    deemed: bool = False
    refused: bool = False
    concluded: bool = False
    on_time: bool = False
    withdrawn: bool = False
    closed: bool = False
    yellow: int = 0
    red: int = 0
    evaluations: list[str] = field(default_factory=list)


@dataclass
class Report:
    entries: int
    first_index: int | None
    last_index: int | None
    last_time: str | None
    totals: Figures
    departments: dict[str, Figures]
    divisions: dict[str, Figures]
    department_names: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "log": {
                "entries": self.entries,
                "first_index": self.first_index,
                "last_index": self.last_index,
                "last_event_time": self.last_time,
            },
            "totals": self.totals.to_dict(),
            "departments": [
                {"code": code, "name": self.department_names.get(code, "")} | f.to_dict()
                for code, f in sorted(self.departments.items())
            ],
            "divisions": [
                {"code": code, "name": _division_name(code)} | f.to_dict()
                for code, f in sorted(self.divisions.items())
            ],
        }


def compute(events: Iterable[tuple[int | None, Mapping[str, Any]]]) -> Report:
    """The report over `(log index, event)` pairs in log order (events as JSON objects)."""
    cases: dict[str, _Case] = {}
    department_names: dict[str, str] = {}
    entries = 0
    first_index = last_index = None
    last_time = None
    for index, event in events:
        entries += 1
        if index is not None:
            first_index = index if first_index is None else first_index
            last_index = index
        last_time = event.get("time", last_time)
        kind = event.get("type")
        data = event.get("data") or {}
        if kind == names.ITEM_PUBLISHED or kind == names.ITEM_REVISED:
            department = data.get("department") or {}
            if department.get("code") and department.get("name"):
                department_names[department["code"]] = department["name"]
            continue
        if not isinstance(kind, str) or not kind.startswith("application."):
            continue
        number = data.get("case_number")
        if not number:
            continue
        case = cases.get(number)
        if case is None:
            case = cases[number] = _Case(data.get("department"), event.get("division", ""))
        elif case.department is None and data.get("department"):
            case.department = data["department"]
        _apply(case, kind, data)
    return _aggregate(cases, department_names, entries, first_index, last_index, last_time)


def _apply(case: _Case, kind: str, data: Mapping[str, Any]) -> None:
    if kind == names.APPLICATION_ACCEPTED:
        case.accepted = True
        case.deemed = bool(data.get("deemed"))
    elif kind == names.APPLICATION_REFUSED:
        case.refused = True
    elif kind == names.APPLICATION_CONCLUDED:
        case.concluded = True
        case.on_time = bool(data.get("on_time"))
    elif kind == names.APPLICATION_WITHDRAWN:
        case.withdrawn = True
    elif kind == names.APPLICATION_DEADLINE_WARNING:
        case.yellow += 1
    elif kind == names.APPLICATION_OVERDUE:
        case.red += 1
    elif kind == names.APPLICATION_EVALUATED and data.get("level") in LEVELS:
        case.evaluations.append(data["level"])
    if kind in _CLOSING:
        case.closed = True


def _aggregate(
    cases: Mapping[str, _Case],
    department_names: dict[str, str],
    entries: int,
    first_index: int | None,
    last_index: int | None,
    last_time: str | None,
) -> Report:
    totals = Figures()
    departments: dict[str, Figures] = {}
    divisions: dict[str, Figures] = {}
    for case in cases.values():
        groups = [totals, divisions.setdefault(case.division, Figures())]
        groups.append(departments.setdefault(case.department or "unassigned", Figures()))
        for figures in groups:
            figures.received += 1
            figures.accepted += case.accepted
            figures.deemed += case.deemed
            figures.refused += case.refused
            figures.concluded += case.concluded
            figures.withdrawn += case.withdrawn
            figures.on_time += case.concluded and case.on_time
            figures.currently_overdue += bool(case.red) and not case.closed
            figures.yellow += case.yellow
            figures.red += case.red
            figures.evaluated_cases += bool(case.evaluations) and case.concluded
            for level in case.evaluations:
                figures.evaluations[level] += 1
    return Report(
        entries,
        first_index,
        last_index,
        last_time,
        totals,
        departments,
        divisions,
        department_names,
    )


def _division_name(code: str) -> str:
    try:
        return division(code).name
    except (UnknownDivision, ValueError):
        return ""


# -- rendering ------------------------------------------------------------------------


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


_COLUMNS = (
    ("received", "收件"),
    ("accepted", "受理"),
    ("refused", "不予受理"),
    ("concluded", "办结"),
    ("on_time_rate", "按时办结率"),
    ("currently_overdue", "当前超期"),
    ("yellow", "黄牌"),
    ("red", "红牌"),
    ("evaluations", "评价数"),
    ("good_review_rate", "好评率"),
    ("bad_review_rate", "差评率"),
    ("active_review_rate", "主动评价率"),
)


def _cells(figures: Figures) -> list[str]:
    values = figures.to_dict()
    out = []
    for key, _ in _COLUMNS:
        if key == "evaluations":
            out.append(str(sum(figures.evaluations.values())))
        elif key.endswith("_rate"):
            out.append(_percent(values[key]))
        else:
            out.append(str(values[key]))
    return out


def _rows(report: Report) -> list[tuple[str, str, list[tuple[str, str, Figures]]]]:
    departments = [
        (code, report.department_names.get(code, ""), f)
        for code, f in sorted(report.departments.items())
    ]
    divisions = [(code, _division_name(code), f) for code, f in sorted(report.divisions.items())]
    return [("departments", "部门", departments), ("divisions", "区划", divisions)]


def render_text(report: Report) -> str:
    lines = [_summary(report), ""]
    header = ["", *(label for _, label in _COLUMNS)]
    for _, title, rows in _rows(report):
        table = [[title, *header[1:]]]
        table += [[f"{code} {name}".strip(), *_cells(f)] for code, name, f in rows]
        table.append(["合计 total", *_cells(report.totals)])
        widths = [max(_width(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            lines.append(
                "  ".join(
                    cell + " " * (w - _width(cell)) if i == 0 else " " * (w - _width(cell)) + cell
                    for i, (cell, w) in enumerate(zip(row, widths, strict=True))
                ).rstrip()
            )
        lines.append("")
    levels = ", ".join(
        f"{LEVEL_NAMES[level]} {report.totals.evaluations[level]}" for level in LEVELS
    )
    lines.append(f"好差评 by level: {levels}")
    return "\n".join(lines) + "\n"


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _summary(report: Report) -> str:
    span = (
        f"log indexes {report.first_index} to {report.last_index}"
        if report.first_index is not None
        else "a replay"
    )
    return (
        f"Supervision report from {report.entries:,} events ({span}, "
        f"last event {report.last_time or '—'})"
    )


def render_html(report: Report) -> str:
    """A self-contained page: the tables and bar charts (inline SVG, no scripts)."""
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        "<title>govnet supervision report</title><style>",
        "body{font-family:sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}"
        "td:first-child,th:first-child{text-align:left}"
        "th{background:#f3f3f3}tr.total td{font-weight:bold}"
        "svg text{font-size:12px;font-family:sans-serif}",
        "</style></head><body>",
        f"<h1>电子监察与好差评 Supervision report</h1><p>{html.escape(_summary(report))}</p>",
    ]
    for key, title, rows in _rows(report):
        parts.append(f"<h2>{title} ({key})</h2>")
        parts.append(
            _bar_chart(
                [(f"{code} {name}".strip(), f.rates()["on_time_rate"]) for code, name, f in rows],
                "按时办结率 on-time rate",
                "#2e7d32",
            )
        )
        parts.append(
            _bar_chart(
                [
                    (f"{code} {name}".strip(), f.rates()["good_review_rate"])
                    for code, name, f in rows
                ],
                "好评率 good-review rate",
                "#1565c0",
            )
        )
        head = "".join(f"<th>{html.escape(label)}</th>" for _, label in _COLUMNS)
        body = "".join(
            f"<tr><td>{html.escape(f'{code} {name}'.strip())}</td>"
            + "".join(f"<td>{c}</td>" for c in _cells(f))
            + "</tr>"
            for code, name, f in rows
        )
        total = "<tr class='total'><td>合计 total</td>" + "".join(
            f"<td>{c}</td>" for c in _cells(report.totals)
        )
        parts.append(f"<table><tr><th>{title}</th>{head}</tr>{body}{total}</tr></table>")
    parts.append("</body></html>\n")
    return "".join(parts)


def _bar_chart(rows: list[tuple[str, float | None]], title: str, colour: str) -> str:
    label_width, bar_width, row_height = 320, 360, 18
    height = 24 + row_height * len(rows)
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{label_width + bar_width + 60}' "
        f"height='{height}' role='img' aria-label='{html.escape(title)}'>",
        f"<text x='0' y='14' font-weight='bold'>{html.escape(title)}</text>",
    ]
    for i, (label, value) in enumerate(rows):
        y = 24 + i * row_height
        out.append(f"<text x='0' y='{y + 12}'>{html.escape(label[:40])}</text>")
        if value is not None:
            width = round(bar_width * value)
            out.append(
                f"<rect x='{label_width}' y='{y + 2}' width='{width}' height='{row_height - 4}' "
                f"fill='{colour}'/>"
            )
        out.append(f"<text x='{label_width + bar_width + 6}' y='{y + 12}'>{_percent(value)}</text>")
    out.append("</svg>")
    return "".join(out)
