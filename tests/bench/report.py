"""Benchmark figures, each next to a baseline measured in the same run, and their ratio.

`make bench` writes them to var/bench/report.md and var/bench/report.json, with any charts
as SVG files beside them, and prints the table. Figures are reported, never asserted:
tests do not assert on time.
"""

from __future__ import annotations

import json
import platform
import statistics
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

REPORT_DIR = Path("var/bench")


@dataclass(frozen=True)
class Figure:
    benchmark: str
    measure: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_measure: str = ""
    target: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline  # type: ignore[operator]

    def row(self) -> str:
        ratio = f"{self.ratio:.0%}" if self.ratio is not None else "—"
        baseline = (
            f"{self.baseline:,.1f} {self.unit} ({self.baseline_measure})"
            if self.baseline is not None
            else "—"
        )
        return (
            f"| {self.benchmark} | {self.measure} | {self.value:,.1f} {self.unit} | {baseline} "
            f"| {ratio} | {self.target or '—'} |"
        )


class Report:
    def __init__(self) -> None:
        self.figures: list[Figure] = []
        self.charts: dict[str, tuple[str, str]] = {}  # file name -> (title, SVG)

    def add_chart(self, name: str, title: str, svg: str) -> None:
        """A chart written next to the report as `name`.svg and shown in report.md."""
        self.charts[f"{name}.svg"] = (title, svg)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(
            f"\n  {figure.benchmark}: {figure.measure} = {figure.value:,.1f} {figure.unit}"
            + (
                f"  (baseline {figure.baseline_measure}: {figure.baseline:,.1f}; "
                f"ratio {figure.ratio:.0%})"
                if figure.baseline is not None
                else ""
            )
        )
        return figure

    def markdown(self) -> str:
        lines = [
            "# govnet benchmarks",
            "",
            f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC} on {platform.node()} "
            f"({platform.processor() or platform.machine()}, Python {platform.python_version()})",
            "",
            "| benchmark | measure | value | baseline (same run) | ratio | target |",
            "|---|---|---|---|---|---|",
            *(f.row() for f in self.figures),
            "",
            *(f"![{title}]({file})\n" for file, (title, _) in self.charts.items()),
        ]
        return "\n".join(lines)

    def write(self, directory: Path = REPORT_DIR) -> None:
        if not self.figures:
            return
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "report.md").write_text(self.markdown(), encoding="utf-8")
        payload = [asdict(f) | {"ratio": f.ratio} for f in self.figures]
        (directory / "report.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
        for file, (_, svg) in self.charts.items():
            (directory / file).write_text(svg, encoding="utf-8")


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(samples: list[float]) -> float:
    return statistics.median(samples)
