"""The gRPC server bootstrap: errors never leak internals, in-flight calls finish on stop."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from sqlalchemy.exc import OperationalError

from services.client import _channel
from services.platform.errors import NotFound, Unavailable
from services.platform.grpc_server import ApiServer, Registration, Undecodable
from tests.support.nodes import free_port_base

SERVICE = "test.v1.Probe"


def _identity(value: bytes) -> bytes:
    return value


def probe_registration(behaviour: Callable[[bytes, Any], bytes]) -> Registration:
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Call": grpc.unary_unary_rpc_method_handler(
                behaviour, request_deserializer=_identity, response_serializer=_identity
            )
        },
    )
    return Registration(
        lambda _servicer, server: server.add_generic_rpc_handlers((handler,)), None, SERVICE
    )


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[bytes, Any], bytes]], tuple[ApiServer, Any]]]:
    servers: list[ApiServer] = []

    def start(behaviour: Callable[[bytes, Any], bytes]) -> tuple[ApiServer, Any]:
        server = ApiServer(
            f"127.0.0.1:{free_port_base(1)}", [probe_registration(behaviour)], workers=4
        )
        server.start()
        servers.append(server)
        channel = grpc.insecure_channel(server.address)
        call = channel.unary_unary(f"/{SERVICE}/Call", _identity, _identity)
        return server, call

    yield start
    for server in servers:
        server.stop(0)


def raising(exc: Exception) -> Callable[[bytes, Any], bytes]:
    def behaviour(request: bytes, context: Any) -> bytes:
        raise exc

    return behaviour


def test_an_unexpected_error_is_internal_without_a_traceback_or_its_message(serve: Any) -> None:
    _, call = serve(raising(RuntimeError("password=hunter2 in a stack frame")))
    with pytest.raises(grpc.RpcError) as caught:
        call(b"x", timeout=5)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == "internal error; the operators have the details"


@pytest.mark.parametrize(
    ("error", "code", "details"),
    [
        (NotFound("no case 1 at this node"), grpc.StatusCode.NOT_FOUND, "no case 1 at this node"),
        (Unavailable("broker away"), grpc.StatusCode.UNAVAILABLE, "broker away"),
        (
            OperationalError("UPDATE x", {}, Exception("database is locked")),
            grpc.StatusCode.UNAVAILABLE,
            "the store is busy or unreachable; retry shortly",
        ),
    ],
)
def test_domain_and_infrastructure_errors_map_to_their_status(
    serve: Any, error: Exception, code: grpc.StatusCode, details: str
) -> None:
    _, call = serve(raising(error))
    with pytest.raises(grpc.RpcError) as caught:
        call(b"x", timeout=5)
    assert (caught.value.code(), caught.value.details()) == (code, details)


def test_stop_lets_an_in_flight_call_finish_and_refuses_new_ones(serve: Any) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(request: bytes, context: Any) -> bytes:
        entered.set()
        release.wait(10)
        return b"done:" + request

    server, call = serve(slow)
    result: list[bytes] = []
    caller = threading.Thread(target=lambda: result.append(call(b"1", timeout=10)))
    caller.start()
    assert entered.wait(5)
    stopper = threading.Thread(target=server.stop, args=(10,))
    stopper.start()
    assert server.refusing.wait(5)
    with pytest.raises(grpc.RpcError) as caught:
        call(b"2", timeout=2)
    # On the open connection a refused call is cancelled; a new connection finds no server.
    assert caught.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    release.set()
    caller.join(10)
    stopper.join(10)
    assert result == [b"done:1"]


def test_a_port_in_use_is_refused_with_the_address() -> None:
    port = free_port_base(1)
    first = ApiServer(f"127.0.0.1:{port}", [probe_registration(raising(RuntimeError()))])
    first.start()
    try:
        with pytest.raises(Unavailable, match=f"cannot listen on 127.0.0.1:{port}"):
            ApiServer(f"127.0.0.1:{port}", [probe_registration(raising(RuntimeError()))])
    finally:
        first.stop(0)


@pytest.mark.parametrize(
    ("meant", "answered"),
    [(None, True), ("320000", True), ("320102", False)],
    ids=["no-header", "this-node", "another-node"],
)
def test_a_call_meant_for_another_node_is_refused_naming_both(
    meant: str | None, answered: bool
) -> None:
    server = ApiServer(
        f"127.0.0.1:{free_port_base(1)}",
        [probe_registration(lambda request, context: b"ok")],
        workers=2,
        division="320000",
    )
    server.start()
    try:
        channel = _channel(server.address, 5, meant or "")
        call = channel.unary_unary(f"/{SERVICE}/Call", _identity, _identity)
        if answered:
            assert call(b"x", timeout=5) == b"ok"
            return
        with pytest.raises(grpc.RpcError) as caught:
            call(b"x", timeout=5)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert caught.value.details() == (
            "this gRPC API is the node of 320000, not of 320102 (GOVNET_DIVISION): start the "
            "320102 node, or set GOVNET_GRPC_PORT_BASE to the ports of the one that runs"
        )
    finally:
        server.stop(0)


def _submit(**fields: Any) -> bytes:
    from govnet.applications.v1 import applications_pb2 as pb

    return pb.SubmitRequest(
        request_id="r-1",
        applicant=pb.Applicant(name=fields.get("name", "王五"), id_number="320102"),
        materials=fields.get("materials", ["申请书"]),
    ).SerializeToString()


def _submit_probe() -> tuple[ApiServer, Any]:
    from govnet.applications.v1 import applications_pb2 as pb

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Call": grpc.unary_unary_rpc_method_handler(
                lambda request, context: request.applicant.name.encode(),
                request_deserializer=pb.SubmitRequest.FromString,
                response_serializer=_identity,
            )
        },
    )
    registration = Registration(
        lambda _servicer, server: server.add_generic_rpc_handlers((handler,)), None, SERVICE
    )
    server = ApiServer(f"127.0.0.1:{free_port_base(1)}", [registration], workers=2)
    server.start()
    return server, grpc.insecure_channel(server.address).unary_unary(
        f"/{SERVICE}/Call", _identity, _identity
    )


@pytest.mark.parametrize(
    ("sent", "field", "reason"),
    [
        # GBK bytes where UTF-8 is due: a department system's usual mistake
        (
            _submit(name="AB").replace(b"AB", "王".encode("gbk")),
            "applicant.name",
            "is not UTF-8 text (send strings encoded as UTF-8, not GBK)",
        ),
        (
            _submit(materials=["申请书", "XY"]).replace(b"XY", b"\xff\xfe"),
            "materials[1]",
            "is not UTF-8 text (send strings encoded as UTF-8, not GBK)",
        ),
        (
            b"\xff\xff\xff",
            "request",
            "the bytes sent are not a govnet.applications.v1.SubmitRequest message",
        ),
    ],
)
def test_a_request_that_cannot_be_decoded_is_invalid_argument_naming_the_field(
    sent: bytes, field: str, reason: str
) -> None:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    server, call = _submit_probe()
    try:
        with pytest.raises(grpc.RpcError) as caught:
            call(sent, timeout=5)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details() == f"{field}: {reason}"
        status = rpc_status.from_call(caught.value)
        assert status is not None
        violations = error_details_pb2.BadRequest()
        status.details[0].Unpack(violations)
        assert [(v.field, v.description) for v in violations.field_violations] == [(field, reason)]
        assert call(_submit(name="王五"), timeout=5) == "王五".encode()  # and it goes on
    finally:
        server.stop(0)


def test_bytes_that_are_not_protobuf_are_answered_without_decoding_them_at_length() -> None:
    from govnet.applications.v1 import applications_pb2 as pb
    from services.platform.grpc_server import lenient, non_utf8_field

    # A key, then a varint a megabyte long: decoding it as a number would take CPU time
    # growing with the square of its length (minutes), holding a gRPC worker thread.
    endless = b"\x08" + b"\xff" * 1_000_000 + b"\x01"
    assert non_utf8_field(pb.SubmitRequest.DESCRIPTOR, endless) is None
    parse = lenient(pb.SubmitRequest.FromString)
    assert parse is not None
    refused = parse(endless)
    assert isinstance(refused, Undecodable)
    assert str(refused.error()) == (
        "request: the bytes sent are not a govnet.applications.v1.SubmitRequest message"
    )
