"""A gRPC call's trace context with export off: what a caller sends is carried on, and a
call without one costs no span."""

from __future__ import annotations

from services.platform import tracing

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_callers_trace_is_carried_into_what_the_call_emits_with_export_off() -> None:
    with tracing.server_span(
        "/govnet.applications.v1.ApplicationsService/Submit", {"traceparent": CALLER}
    ):
        carried = tracing.current_traceparent()
    assert carried is not None
    assert carried.split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_call_without_a_trace_runs_without_one() -> None:
    with tracing.server_span("/govnet.catalog.v1.CatalogService/GetItem", {}) as span:
        assert not span.get_span_context().is_valid
        assert tracing.current_traceparent() is None
