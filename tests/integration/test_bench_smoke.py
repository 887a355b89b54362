"""The benchmarks at tiny size, so they cannot rot: each runs end to end and reports
consistent counts. Figures are not asserted (see tests/bench for the real runs)."""

from __future__ import annotations

from pathlib import Path

from tests.bench.catalog_bench import import_benchmark, open_store, search_benchmark
from tests.bench.report import Figure, Report, percentile


def test_the_catalog_benchmarks_run_at_small_scale(tmp_path: Path) -> None:
    result = import_benchmark("small", tmp_path)
    assert result.report.rejected == []
    assert result.report.created == result.records == 1489 + 112 + 76
    assert result.raw_rows >= result.records  # items, departments, guides, events, ...
    store = open_store(tmp_path / "imported.db")
    searched = search_benchmark(store, 50)
    store.db.dispose()
    assert len(searched.latencies_ms) == len(searched.raw_latencies_ms) == 50
    assert searched.hits > 0
    report = Report()
    report.add(Figure("import", "records/s", result.rate, "rec/s", result.raw_rate, "raw"))
    report.add(Figure("search", "p99", percentile(searched.latencies_ms, 99), "ms"))
    report.write(tmp_path / "bench")
    table = (tmp_path / "bench" / "report.md").read_text(encoding="utf-8").splitlines()
    assert [line.split(" | ")[0] for line in table if line.startswith("| ")] == [
        "| benchmark",
        "| import",
        "| search",
    ]


def test_the_submit_benchmark_runs_against_a_real_api_and_echo_server(
    amqp_uri: str, tmp_path: Path
) -> None:
    from tests.bench.applications_bench import (
        applications_api,
        echo_caller,
        echo_server,
        measure,
        sizes,
        submit_caller,
    )

    request_size, reply_size = sizes()
    assert 150 < request_size < 600
    with echo_server(reply_size) as address:
        echo = measure(echo_caller(address, request_size), 2, 20)
    with applications_api(amqp_uri, tmp_path) as address:
        submitted = measure(submit_caller(address), 2, 20)
    assert (echo.calls, submitted.calls) == (20, 20)
    assert echo.per_second > 0
    assert submitted.per_second > 0


def test_the_audit_benchmarks_run_at_small_scale(amqp_uri: str, tmp_path: Path) -> None:
    from tests.bench import audit_bench

    ingested = audit_bench.store_ingest(1200, tmp_path)
    scanned = audit_bench.scan(tmp_path / "ingest.db")
    replayed = audit_bench.replay(amqp_uri, tmp_path / "ingest.db", tmp_path)
    verified = audit_bench.verify(3000, tmp_path, jobs=2)
    from tests.bench.broker import raw_consume_seconds
    from tests.support.audit_logs import synthetic_events

    consumed = raw_consume_seconds(amqp_uri, synthetic_events(600))

    assert (ingested.count, scanned.count, replayed.count, verified.count) == (
        1200,
        1200,
        1200,
        3000,
    )
    assert min(ingested.rate, ingested.baseline_rate, scanned.rate, replayed.rate) > 0
    assert replayed.stream_rate > 0
    assert verified.jobs == 2
    assert consumed > 0
