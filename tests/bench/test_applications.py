"""Submit through the gRPC API (issue 4 target: >= 60 % of a bare grpcio echo server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.applications_bench import (
    applications_api,
    echo_caller,
    echo_server,
    measure,
    sizes,
    submit_caller,
)
from tests.bench.report import Figure, Report

CALLS = 4000


@pytest.mark.parametrize("clients", [1, 8])
def test_submit_rate_next_to_a_bare_echo_server(
    clients: int, amqp_uri: str, tmp_path: Path, report: Report
) -> None:
    request_size, reply_size = sizes()
    with echo_server(reply_size) as address:
        echo = measure(echo_caller(address, request_size), clients, CALLS)
    with applications_api(amqp_uri, tmp_path) as address:
        submit = measure(submit_caller(address), clients, CALLS)
    report.add(
        Figure(
            f"applications Submit, {clients} client{'s' if clients > 1 else ''}",
            "calls/s",
            submit.per_second,
            "calls/s",
            baseline=echo.per_second,
            baseline_measure=f"bare grpcio echo ({request_size} B in, {reply_size} B out)",
            target=">= 60 % of echo",
        )
    )
