"""Catalog at the seed article's scale: import rate in items/s (and records/s) and search
latency (issue 3 targets: import >= 10,000 items/s on SQLite and >= 50 % of the raw rate;
search p99 <= 20 ms)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.catalog_bench import import_benchmark, open_store, search_benchmark
from tests.bench.report import Figure, Report, percentile


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory, report: Report) -> Path:
    workdir = tmp_path_factory.mktemp("catalog")
    result = import_benchmark("province", workdir)
    print(f"\n  import: {result.report.summary()}")
    raw = f"raw executemany of the same {result.raw_rows:,} rows"
    report.add(
        Figure(
            "catalog import (province scale, SQLite)",
            f"items/s ({result.items:,} items)",
            result.item_rate,
            "items/s",
            baseline=result.raw_item_rate,
            baseline_measure=raw,
            target=">= 10,000 items/s and >= 50 % of raw",
        )
    )
    report.add(
        Figure(
            "catalog import (province scale, SQLite)",
            f"records/s ({result.records:,} items, departments and guides)",
            result.rate,
            "rec/s",
            baseline=result.raw_rate,
            baseline_measure=raw,
        )
    )
    return workdir / "imported.db"


def test_import_at_province_scale(imported: Path) -> None:
    assert imported.exists()


def test_search_at_province_scale(imported: Path, report: Report) -> None:
    store = open_store(imported)
    result = search_benchmark(store, 1000)
    store.db.dispose()
    for q in (50, 99):
        report.add(
            Figure(
                "catalog search (1,000 mixed queries)",
                f"p{q} latency",
                percentile(result.latencies_ms, q),
                "ms",
                baseline=percentile(result.raw_latencies_ms, q),
                baseline_measure="the same SQL through bare sqlite3",
                target="p99 <= 20 ms" if q == 99 else "",
            )
        )
