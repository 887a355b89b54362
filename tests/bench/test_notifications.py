"""Notifications: events in → inbox notifications stored per second, next to the raw
consume rate of the same events in the same run."""

from __future__ import annotations

from pathlib import Path

from tests.bench.broker import raw_consume_seconds
from tests.bench.notifications_bench import inbox_ingest
from tests.bench.report import Figure, Report
from tests.support.audit_logs import synthetic_events

COUNT = 30_000


def test_events_in_inbox_messages_stored(amqp_uri: str, tmp_path: Path, report: Report) -> None:
    result = inbox_ingest(amqp_uri, COUNT, tmp_path)
    consume = raw_consume_seconds(amqp_uri, synthetic_events(COUNT))
    report.add(
        Figure(
            "notifications: application.submitted → inbox message stored",
            f"events/s ({COUNT:,} queued events)",
            result.rate,
            "ev/s",
            baseline=COUNT / consume,
            baseline_measure="raw consume of the same messages (py-amqp, same prefetch)",
        )
    )
