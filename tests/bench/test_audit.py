"""The audit log's speed (issue 5 targets: ingest >= 5,000 events/s, replay >= 50,000
events/s, and ingest, replay and verify each >= 50 % of its baseline — the issue's three
pairs: the store's ingest next to a raw SQLite insert of the same rows, the store's replay
next to a raw sequential read, verify next to raw SHA-256 of the same bytes).

The end-to-end ingest (through RabbitMQ) and the replay stream (through gRPC) are measured
too, for what a node and an auditor see; their baselines leave out the broker or the
network, so they carry the rate targets only."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.audit import verify as verify_module
from tests.bench import audit_bench
from tests.bench.broker import raw_consume_seconds
from tests.bench.report import Figure, Report
from tests.support.audit_logs import synthetic_events

COUNT = 100_000
END_TO_END = 50_000
VERIFY = 400_000  # processes pay off for big exports only


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit")


def test_ingest_into_the_store(workdir: Path, report: Report) -> None:
    result = audit_bench.store_ingest(COUNT, workdir)
    report.add(
        Figure(
            f"audit ingest, store (batches of {audit_bench.BATCH}, SQLite)",
            f"events/s ({COUNT:,} events)",
            result.rate,
            "ev/s",
            baseline=result.baseline_rate,
            baseline_measure="raw executemany of the same rows, same table and batches",
            target=">= 5,000/s and >= 50 % of raw",
        )
    )


def test_ingest_end_to_end(amqp_uri: str, workdir: Path, report: Report) -> None:
    raw = audit_bench.store_ingest(20_000, workdir / "raw")
    result = audit_bench.end_to_end_ingest(amqp_uri, END_TO_END, workdir / "e2e")
    print(f"\n  end to end: {result.commits} commits for {END_TO_END:,} events")
    consume = raw_consume_seconds(amqp_uri, synthetic_events(END_TO_END))
    for baseline, measure in (
        (raw.baseline_rate, "raw executemany of the same rows"),
        (END_TO_END / consume, "raw consume of the same messages (py-amqp, same prefetch)"),
    ):
        report.add(
            Figure(
                "audit ingest, RabbitMQ → worker → log",
                f"events/s ({END_TO_END:,} queued events)",
                result.rate,
                "ev/s",
                baseline=baseline,
                baseline_measure=measure,
                target=">= 5,000/s",
            )
        )


def test_replay_scan_in_the_store(workdir: Path, report: Report) -> None:
    result = audit_bench.scan(workdir / "ingest.db")
    report.add(
        Figure(
            "audit replay, the store's scan (in process)",
            f"events/s ({result.count:,} events)",
            result.rate,
            "ev/s",
            baseline=result.baseline_rate,
            baseline_measure="raw sequential read of the same rows (sqlite3)",
            target=">= 50,000/s and >= 50 % of raw",
        )
    )


def test_replay_through_grpc(amqp_uri: str, workdir: Path, report: Report) -> None:
    result = audit_bench.replay(amqp_uri, workdir / "ingest.db", workdir)
    for baseline, measure, target in (
        (
            result.baseline_rate,
            "raw sequential read of the same rows (sqlite3), in process",
            ">= 50,000/s",
        ),
        (result.stream_rate, "bare grpcio stream of as many bytes, 1 MB messages", "—"),
    ):
        report.add(
            Figure(
                "audit replay, gRPC stream to a client",
                f"events/s ({result.count:,} events)",
                result.rate,
                "ev/s",
                baseline=baseline,
                baseline_measure=measure,
                target=target,
            )
        )


def test_verify_an_export(workdir: Path, report: Report) -> None:
    result = audit_bench.verify(VERIFY, workdir)
    # With the C inner loops the scans run on threads; without them, on spawned processes.
    compiled = verify_module.COMPILED
    for jobs, seconds in ((1, result.seconds_one), (result.jobs, result.seconds_all)):
        plural = "" if jobs == 1 else "s" if compiled else "es"
        unit = ("thread" if compiled else "process") + plural
        loops = "C loops" if compiled else "Python loops"
        report.add(
            Figure(
                f"audit verify, offline ({jobs} {unit}, {loops})",
                f"entries/s ({VERIFY:,} entries)",
                VERIFY / seconds,
                "entries/s",
                baseline=VERIFY / result.baseline_seconds,
                baseline_measure="raw SHA-256 of each entry's bytes (hashlib), one thread",
                target=">= 50 % of raw",
            )
        )
