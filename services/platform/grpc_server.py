"""The gRPC server every API process runs: health, reflection, error mapping, tracing and a
graceful stop.

Errors are mapped here and only here. A person gets a status they can act on:
`InvalidArgument` → INVALID_ARGUMENT (with a `google.rpc.BadRequest` detail listing every
field), `NotFound` → NOT_FOUND, `FailedPrecondition` → FAILED_PRECONDITION,
`PermissionDenied` → PERMISSION_DENIED, `AlreadyExists` → ALREADY_EXISTS, an unreachable
broker or busy store → UNAVAILABLE. Anything else is a bug: INTERNAL with the trace id, and
the traceback goes to the log, never on the wire.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from sqlalchemy.exc import OperationalError

from services.platform import tracing
from services.platform.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)

log = logging.getLogger(__name__)

_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
)


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a caller sees for an exception raised by a servicer."""
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code, str(exc)
    if isinstance(exc, OperationalError):
        return grpc.StatusCode.UNAVAILABLE, "the store is busy or unreachable; retry shortly"
    trace_id = tracing.current_trace_id()
    where = f" (trace {trace_id})" if trace_id else ""
    return grpc.StatusCode.INTERNAL, f"internal error{where}; the operators have the details"


def _abort(context: grpc.ServicerContext, exc: BaseException, method: str) -> None:
    code, message = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("unexpected error in %s", method, exc_info=exc)
    elif not isinstance(exc, DomainError):
        log.warning("%s failed: %s", method, message)
    if isinstance(exc, InvalidArgument):
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.reason)
                    for v in exc.violations
                ]
            )
        )
        status = status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT, message=message, details=[detail]
        )
        context.abort_with_status(rpc_status.to_status(status))
    context.abort(code, message)


NODE_HEADER = "govnet-division"
"""Request metadata: the division whose node the caller means to reach. govnet's own tools
send it (GOVNET_DIVISION), so that a command run for one node is never answered by another
node that holds the port; other callers may leave it out."""


def wrong_node(node: str, asked: str) -> str | None:
    """Why a call meant for the node of `asked` cannot be answered by the node of `node`."""
    if not asked or asked == node:
        return None
    return (
        f"this gRPC API is the node of {node}, not of {asked} (GOVNET_DIVISION): start the "
        f"{asked} node, or set GOVNET_GRPC_PORT_BASE to the ports of the one that runs"
    )


class _EdgeInterceptor(grpc.ServerInterceptor):
    """Opens a SERVER span per call and maps exceptions to statuses; refuses a call meant
    for another node (`NODE_HEADER`) with FAILED_PRECONDITION."""

    def __init__(self, division: str | None) -> None:
        self.division = division

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        metadata = {
            k: v for k, v in (handler_call_details.invocation_metadata or ()) if isinstance(v, str)
        }
        refusal = (
            wrong_node(self.division, metadata.get(NODE_HEADER, "")) if self.division else None
        )

        if handler.unary_unary:
            inner = handler.unary_unary

            def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
                if refusal:
                    context.abort(grpc.StatusCode.FAILED_PRECONDITION, refusal)
                with tracing.server_span(method, metadata):
                    try:
                        if isinstance(request, Undecodable):
                            raise request.error()
                        return inner(request, context)
                    except Exception as exc:
                        _abort(context, exc, method)
                        raise  # unreachable: abort raises

            return grpc.unary_unary_rpc_method_handler(
                unary_unary,
                request_deserializer=lenient(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            inner_stream = handler.unary_stream

            def unary_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                if refusal:
                    context.abort(grpc.StatusCode.FAILED_PRECONDITION, refusal)
                with tracing.server_span(method, metadata):
                    try:
                        if isinstance(request, Undecodable):
                            raise request.error()
                        yield from inner_stream(request, context)
                    except Exception as exc:
                        _abort(context, exc, method)
                        raise

            return grpc.unary_stream_rpc_method_handler(
                unary_stream,
                request_deserializer=lenient(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        return handler


@dataclass(frozen=True)
class Undecodable:
    """A request whose bytes are not a message of its method's type, in place of the message:
    the servicer's wrapper refuses it with INVALID_ARGUMENT (grpcio itself would answer
    INTERNAL, "Exception deserializing request!")."""

    type_name: str
    field: str | None  # the text field that is not UTF-8, if that is what is wrong

    def error(self) -> InvalidArgument:
        if self.field is not None:
            return InvalidArgument.single(
                self.field, "is not UTF-8 text (send strings encoded as UTF-8, not GBK)"
            )
        return InvalidArgument.single(
            "request", f"the bytes sent are not a {self.type_name} message"
        )


@functools.cache  # the interceptor asks at every call, for a few methods' deserializers
def lenient(
    deserialize: Callable[[bytes], Any] | None,
) -> Callable[[bytes], Any] | None:
    """`deserialize`, giving an `Undecodable` for bytes it cannot parse instead of raising."""
    if deserialize is None:
        return None
    descriptor = getattr(getattr(deserialize, "__self__", None), "DESCRIPTOR", None)

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:  # protobuf's DecodeError, or anything else the bytes cause
            if descriptor is None:
                return Undecodable("request", None)
            return Undecodable(descriptor.full_name, non_utf8_field(descriptor, data))

    return parse


def non_utf8_field(descriptor: Any, data: bytes, prefix: str = "") -> str | None:
    """The path (`applicant.name`, `materials[2]`) of the first string field in the
    protobuf-encoded `data` whose bytes are not UTF-8; None if there is none or the bytes
    are not protobuf at all."""
    seen: dict[int, int] = {}
    pos = 0
    try:
        while pos < len(data):
            key, pos = _varint(data, pos)
            number, wire = key >> 3, key & 7
            if wire == 0:
                _, pos = _varint(data, pos)
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                length, pos = _varint(data, pos)
                chunk, pos = data[pos : pos + length], pos + length
                field = descriptor.fields_by_number.get(number)
                if field is None:
                    continue
                name = prefix + field.name
                if field.is_repeated:
                    seen[number] = seen.get(number, -1) + 1
                    name += f"[{seen[number]}]"
                if field.type == field.TYPE_STRING:
                    try:
                        chunk.decode("utf-8")
                    except UnicodeDecodeError:
                        return name
                elif field.type == field.TYPE_MESSAGE:
                    found = non_utf8_field(field.message_type, chunk, name + ".")
                    if found is not None:
                        return found
            else:
                return None
    except (IndexError, ValueError, RecursionError):  # not protobuf: no field to name
        return None
    return None


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """A varint of at most 10 bytes, as protobuf's; a longer run is not protobuf (and decoding
    it would take time growing with the square of its length)."""
    value = 0
    for shift in range(0, 70, 7):
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
    raise ValueError("a varint longer than 10 bytes")


@dataclass(frozen=True)
class Registration:
    """A servicer and how to add it: `add(servicer, server)` from the generated `_grpc` module."""

    add: Callable[[Any, grpc.Server], None]
    servicer: Any
    full_name: str  # e.g. govnet.catalog.v1.CatalogService


class ApiServer:
    """A grpcio server (threads, no eventlet) for one or more services."""

    def __init__(
        self,
        address: str,
        registrations: Sequence[Registration],
        *,
        workers: int = 16,
        division: str | None = None,
    ):
        """`division`: the node's; calls meant for another node are refused (`NODE_HEADER`)."""
        self.address = address
        self.registrations = list(registrations)
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
            interceptors=[_EdgeInterceptor(division)],
            options=[("grpc.so_reuseport", 0)],
        )
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        for registration in self.registrations:
            registration.add(registration.servicer, self.server)
        names: Iterable[str] = [r.full_name for r in self.registrations]
        reflection.enable_server_reflection(
            (*names, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        self.refusing = threading.Event()
        """Set once `stop()` has begun: new calls are refused from then on."""
        try:
            self.port = self.server.add_insecure_port(address)
        except RuntimeError:  # recent grpcio raises where older versions returned 0
            self.port = 0
        if self.port == 0:
            raise Unavailable(
                f"cannot listen on {address} (in use, or not an address of this host); "
                "change GOVNET_GRPC_PORT_BASE or GOVNET_GRPC_HOST"
            )

    def start(self) -> None:
        self.server.start()
        self._set_health(health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float) -> None:
        """Refuse new calls, let in-flight calls finish for up to `grace` seconds."""
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        done = self.server.stop(grace)
        self.refusing.set()
        done.wait()

    def wait(self, timeout: float | None = None) -> bool:
        return bool(self.server.wait_for_termination(timeout))

    def _set_health(self, status: int) -> None:
        self.health.set("", status)
        for registration in self.registrations:
            self.health.set(registration.full_name, status)
