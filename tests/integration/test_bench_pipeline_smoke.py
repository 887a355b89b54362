"""The pipeline benchmark at tiny size, so it cannot rot: a whole node, a closed-loop and an
open-loop run, every case traced to the audit log and the inbox. Figures are not asserted."""

from __future__ import annotations

from pathlib import Path

from tests.bench.broker import raw_broker
from tests.bench.charts import latency_chart
from tests.bench.pipeline_bench import closed_loop, open_loop, outcome, running_node


def test_the_pipeline_benchmark_traces_every_case_to_audit_and_inbox(
    amqp_uri: str, tmp_path: Path
) -> None:
    raw = raw_broker(amqp_uri, 300)
    assert raw.messages == 300
    with running_node(amqp_uri, tmp_path) as node:
        loaded = outcome(node, closed_loop(node, clients=2, total=40), timeout=60)
        steady = outcome(node, open_loop(node, clients=2, rate=20, seconds=1), timeout=60)
    assert (len(loaded.submitted.sent), loaded.audited_events, loaded.notifications) == (40, 80, 40)
    assert (len(steady.submitted.sent), steady.audited_events, steady.notifications) == (20, 40, 20)
    assert len(loaded.latencies_ms) == 40
    assert min(loaded.latencies_ms) > 0
    assert {"api-applications", "worker-audit", "bench client"} <= set(loaded.cpu_ms_per_case)
    chart = latency_chart(
        {"loaded": loaded.latencies_ms, "steady": steady.latencies_ms}, title="t", target_ms=100
    )
    assert chart.count("<polyline") == 2
