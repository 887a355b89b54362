"""OpenTelemetry: one trace from a gRPC call through the outbox and the broker into every
handler it causes.

Export is off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (OTLP over HTTP) or
`OTEL_TRACES_EXPORTER=console` is set. The context travels as the event's `traceparent`
attribute (and the AMQP `traceparent` header), so a department system's own trace joins too.
Spans never carry personal data: only event types, ids, case numbers and item codes.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_configured = False


def setup_tracing(role: str, division: str, environ: Mapping[str, str] | None = None) -> bool:
    """Install a tracer provider if export is configured; return whether it was."""
    global _configured
    env = os.environ if environ is None else environ
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    console = env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console"
    if _configured or not (endpoint or console):
        return _configured

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    service = role.split("-")[0]
    resource = Resource.create(
        {
            "service.name": f"govnet-{service}",
            "service.instance.id": f"{division}-{role}-{os.getpid()}",
            "govnet.division": division,
            "govnet.role": role,
        }
    )
    provider = TracerProvider(resource=resource)
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if console:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True
    return True


def shutdown_tracing() -> None:
    """Flush spans on the way out (a no-op when export is off)."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        shutdown()


def tracer() -> trace.Tracer:
    return trace.get_tracer("govnet")


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, or None when there is no valid span."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def current_trace_id() -> str | None:
    span = trace.get_current_span().get_span_context()
    return format(span.trace_id, "032x") if span.is_valid else None


def context_from(traceparent: str | None) -> context.Context:
    if not traceparent:
        return context.Context()
    return _propagator.extract({"traceparent": traceparent})


@contextmanager
def consumer_span(name: str, traceparent: str | None, **attributes: Any) -> Iterator[trace.Span]:
    """A CONSUMER span, child of the producer's context carried by `traceparent`."""
    token = context.attach(context_from(traceparent))
    try:
        with tracer().start_as_current_span(name, kind=SpanKind.CONSUMER) as span:
            for key, value in attributes.items():
                if value is not None:
                    span.set_attribute(key, value)
            yield span
    finally:
        context.detach(token)


_batch: contextvars.ContextVar[dict[str, trace.Span]] = contextvars.ContextVar("govnet_batch")


@contextmanager
def batch_spans(events: Sequence[Any], queue: str) -> Iterator[None]:
    """One CONSUMER span per event of a batch, each the child of its own producer, all
    covering the batch's processing (`event_context` makes one current). Nothing at all
    when export is off."""
    if not _configured:
        yield
        return
    spans: dict[str, trace.Span] = {}
    for event in events:
        span = tracer().start_span(
            f"{event.type} process", context=context_from(event.traceparent), kind=SpanKind.CONSUMER
        )
        span.set_attribute("messaging.system", "rabbitmq")
        span.set_attribute("messaging.destination.name", queue)
        span.set_attribute("messaging.message.id", event.id)
        span.set_attribute("messaging.batch.message_count", len(events))
        span.set_attribute("govnet.event.type", event.type)
        spans[event.id] = span
    token = _batch.set(spans)
    try:
        yield
    finally:
        _batch.reset(token)
        for span in spans.values():
            span.end()


@contextmanager
def event_context(event: Any) -> Iterator[None]:
    """While one event of a batch is handled: its span current (or, with export off, its
    producer's context), so that the events it causes continue its trace."""
    span = _batch.get({}).get(event.id)
    ctx = trace.set_span_in_context(span) if span is not None else context_from(event.traceparent)
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)


@contextmanager
def server_span(name: str, metadata: Mapping[str, str]) -> Iterator[trace.Span]:
    """A SERVER span for a gRPC call, continuing the caller's trace from its metadata.

    With export off and no trace to continue there is nothing to record or pass on: the
    call runs without a span (this sits on every call of every API)."""
    if not _configured and "traceparent" not in metadata:
        yield trace.INVALID_SPAN
        return
    token = context.attach(_propagator.extract(dict(metadata)))
    try:
        with tracer().start_as_current_span(name, kind=SpanKind.SERVER) as span:
            yield span
    finally:
        context.detach(token)


def inject_metadata() -> list[tuple[str, str]]:
    """gRPC client metadata carrying the current trace (for the CLI and tests)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return list(carrier.items())
