"""One trace from a gRPC call through the outbox and the broker into every handler it causes,
exported over OTLP to a real receiver; and none at all unless export is configured."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from govnet.applications.v1 import applications_pb2_grpc as apps_grpc
from services.platform.settings import Settings
from tests.integration.test_api import DIVISION, ITEM, submit_request
from tests.support.nodes import node_env, processes
from tests.support.otlp import Receiver, otlp_receiver
from tests.support.seeding import teach_applications
from tests.support.waiting import wait_for

SERVER, CONSUMER = 2, 5  # OTLP span kinds


@pytest.fixture(scope="module")
def traced_node(
    amqp_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Receiver]]:
    var = tmp_path_factory.mktemp("var")
    with otlp_receiver() as receiver:
        env = node_env(
            amqp_uri=amqp_uri,
            var_dir=var,
            division=DIVISION,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="50",
        )
        settings = Settings.from_environment(env)
        teach_applications(settings, ITEM)
        specs = [("api", ["applications"]), ("worker", ["notifications"]), ("worker", ["audit"])]
        with processes(specs, env, var / "run"):
            yield settings, receiver


def test_one_trace_runs_from_the_grpc_call_into_every_handler(
    traced_node: tuple[Settings, Any],
) -> None:
    settings, receiver = traced_node
    trace_id = secrets.token_hex(16)
    caller_span = secrets.token_hex(8)
    stub = apps_grpc.ApplicationsServiceStub(
        grpc.insecure_channel(settings.grpc_address("applications"))
    )
    stub.Submit(
        submit_request(),
        metadata=[("traceparent", f"00-{trace_id}-{caller_span}-01")],
        timeout=5,
    )

    expected = {
        ("applications-api", "/govnet.applications.v1.ApplicationsService/Submit", SERVER),
        ("notifications-worker", "application.submitted process", CONSUMER),
        ("audit-worker", "application.submitted process", CONSUMER),
        ("audit-worker", "notification.sent process", CONSUMER),
    }

    def complete() -> list[Any]:
        spans = receiver.in_trace(trace_id)
        return spans if expected <= {(s.service, s.name, s.kind) for s in spans} else []

    spans = wait_for(complete, what="the spans of the whole trace")
    by_name = {(s.service, s.name): s for s in spans}
    submit = by_name[("applications-api", "/govnet.applications.v1.ApplicationsService/Submit")]
    assert submit.parent_id == caller_span
    notify = by_name[("notifications-worker", "application.submitted process")]
    assert notify.parent_id == submit.span_id
    assert by_name[("audit-worker", "application.submitted process")].parent_id == submit.span_id
    # The notification was emitted inside the notifications handler, so it continues there.
    assert by_name[("audit-worker", "notification.sent process")].parent_id == notify.span_id
