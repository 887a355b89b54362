"""The benchmark report's latency chart: one curve per run, the target line, a valid SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.bench.charts import latency_chart
from tests.bench.report import Figure, Report

SVG = "{http://www.w3.org/2000/svg}"


def test_each_run_is_a_curve_that_rises_to_every_case() -> None:
    runs = {
        "flat out": [40.0, 12.5, 300.0, 7.0],
        "steady 250/s": [float(n) for n in range(1, 1001)],
    }
    root = ET.fromstring(latency_chart(runs, title="p < & >", target_ms=100))
    curves = root.findall(f"{SVG}polyline")
    assert [c.findtext(f"{SVG}title") for c in curves] == ["flat out", "steady 250/s"]
    for curve in curves:
        points = [tuple(map(float, p.split(","))) for p in curve.get("points", "").split()]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        assert xs == sorted(xs)  # latencies grow to the right
        assert ys == sorted(ys, reverse=True)  # the share of cases grows upwards
        assert ys[-1] == 40.0  # the top of the plot: every case (99.9 % and up)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"0 %", "50 %", "90 %", "99 %", "99.9 %"} <= set(texts)
    assert "target 100 ms" in texts
    assert "p < & >" in texts
    assert {"1 ms", "10 ms", "100 ms", "1000 ms"} <= set(texts)


def test_a_chart_needs_latencies() -> None:
    with pytest.raises(ValueError, match="no latencies to draw"):
        latency_chart({"empty": []}, title="t")


def test_the_report_writes_its_charts_beside_it_and_shows_them(tmp_path: Path) -> None:
    report = Report()
    report.add(Figure("pipeline", "submits/s", 500.0, "calls/s"))
    report.add_chart("latency-sample", "submit → audited", latency_chart({"a": [5.0]}, title="t"))
    report.write(tmp_path)
    assert (tmp_path / "latency-sample.svg").read_text(encoding="utf-8").startswith("<svg")
    assert "![submit → audited](latency-sample.svg)" in (tmp_path / "report.md").read_text(
        encoding="utf-8"
    )
