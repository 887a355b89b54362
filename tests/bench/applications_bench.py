"""Submit calls/s through the applications gRPC API, next to a bare grpcio echo server with
the same thread pool and message sizes, each with 1 and 8 concurrent clients (threads, each
with its own channel)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from govnet.applications.v1 import applications_pb2 as pb
from govnet.applications.v1 import applications_pb2_grpc as pb_grpc
from services.catalog.domain import Item
from services.catalog.sample import sample_items
from services.contract.identifiers import resident_check_char
from services.platform.node import division
from services.platform.settings import Settings
from tests.support.nodes import free_port_base, node_env, processes
from tests.support.seeding import teach_applications

ITEM = sample_items(division("320102"))[0]
RESIDENT = "32010219900307123" + resident_check_char("32010219900307123")


@dataclass(frozen=True)
class Rate:
    clients: int
    calls: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds


def submit_request(
    item: Item = ITEM, id_number: str = RESIDENT, account_id: str = "u-bench"
) -> pb.SubmitRequest:
    """A valid application for `item` by a natural person, with a new request id."""
    return pb.SubmitRequest(
        request_id=str(uuid.uuid4()),
        implementation_code=item.implementation_code,
        applicant=pb.Applicant(
            kind=pb.APPLICANT_KIND_NATURAL,
            name="王五",
            id_number=id_number,
            phone="13912345678",
            account_id=account_id,
        ),
        channel=pb.CHANNEL_WEB,
        materials=[m.name for m in item.materials if m.required],
    )


def measure(make_call: Callable[[], Callable[[], object]], clients: int, calls: int) -> Rate:
    """`calls` calls split over `clients` threads, each with its own channel and stub."""
    per_client = calls // clients
    callers = [make_call() for _ in range(clients)]
    for call in callers:  # connect and warm up
        call()
    start = threading.Barrier(clients + 1)

    def run(call: Callable[[], object]) -> None:
        start.wait()
        for _ in range(per_client):
            call()

    threads = [threading.Thread(target=run, args=(c,)) for c in callers]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return Rate(clients, per_client * clients, time.perf_counter() - began)


@contextlib.contextmanager
def applications_api(amqp_uri: str, workdir: Path) -> Iterator[str]:
    env = node_env(amqp_uri=amqp_uri, var_dir=workdir, division="320102")
    teach_applications(Settings.from_environment(env), ITEM)
    with processes([("api", ["applications"])], env, workdir / "run"):
        yield Settings.from_environment(env).grpc_address("applications")


@contextlib.contextmanager
def echo_server(reply_size: int, workers: int = 16) -> Iterator[str]:
    port = free_port_base(1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.echo_server", str(port), str(reply_size), str(workers)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def submit_caller(address: str) -> Callable[[], Callable[[], object]]:
    def make() -> Callable[[], object]:
        stub = pb_grpc.ApplicationsServiceStub(grpc.insecure_channel(address))
        return lambda: stub.Submit(submit_request(), timeout=30)

    return make


def echo_caller(address: str, request_size: int) -> Callable[[], Callable[[], object]]:
    payload = b"y" * request_size

    def make() -> Callable[[], object]:
        call = grpc.insecure_channel(address).unary_unary(
            "/bench.Echo/Call", lambda b: b, lambda b: b
        )
        return lambda: call(payload, timeout=30)

    return make


def sizes() -> tuple[int, int]:
    """Byte sizes of a Submit request and a typical reply, for the echo baseline."""
    from datetime import UTC, datetime

    from services.applications.api import to_proto
    from services.applications.domain import Applicant, Case, CatalogItem

    item = CatalogItem.from_event(ITEM.event_data())
    case = Case(
        "320102-20261127-000001",
        "r",
        item,
        Applicant("natural", "王五", RESIDENT, "13912345678", "u-bench"),
        "web",
        "received",
        datetime.now(UTC),
        ("申请书",),
        department_code=item.department_code,
    )
    return len(submit_request().SerializeToString()), len(to_proto(case).SerializeToString())
