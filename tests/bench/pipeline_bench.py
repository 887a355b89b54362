"""The whole node under load (issue "Benchmarks"): applications submitted through gRPC by
concurrent clients, through the outbox, the broker, notifications and audit, measured where
a user would look — the audit log and the inbox — next to the broker's own rate measured in
the same run.

A node here is what `govnet node run` starts: a worker and an API process per service, SQLite
stores, one vhost. The province node (320000) is used: it has no uplink queue to fill.

Times:
- a Submit's *start* is when its client sent it (closed loop), or when it was due (steady load:
  open loop, so a slow node cannot hide its queueing by sending later);
- an event is *audited* at its log entry's `recorded_at` (the audit transaction that stored it),
  and a notification *created* at its row's `created_at`. Client and node share one clock.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import grpc
import kombu

from govnet.applications.v1 import applications_pb2 as pb
from govnet.applications.v1 import applications_pb2_grpc as pb_grpc
from services.catalog.sample import sample_items
from services.client import submit_when_item_known
from services.contract import names
from services.contract.identifiers import resident_check_char
from services.node import init_node
from services.platform.node import division
from services.platform.settings import Settings
from services.platform.topology import STANDALONE
from tests.bench import applications_bench
from tests.bench.report import percentile
from tests.support.nodes import node_env, processes
from tests.support.seeding import teach_applications
from tests.support.waiting import wait_for

DIVISION = "320000"
ITEM = sample_items(division(DIVISION))[0]
EVENTS_PER_CASE = (names.APPLICATION_SUBMITTED, names.NOTIFICATION_SENT)


def _resident(n: int) -> str:
    first17 = f"320102199003{1 + n % 28:02d}{n % 1000:03d}"
    return first17 + resident_check_char(first17)


def submit_request(n: int) -> pb.SubmitRequest:
    """Application number `n`: one of 500 applicants, each with their own ID number."""
    return applications_bench.submit_request(ITEM, _resident(n), f"u-bench-{n % 500}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _broker_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if b"beam.smp" in (entry / "cmdline").read_bytes():
                    return int(entry.name)
    return None


@dataclass
class BenchNode:
    settings: Settings
    var_dir: Path
    pids: dict[str, int] = field(default_factory=dict)
    """The node's processes, and the local broker's and this client's, for CPU accounting."""
    cases: int = 1
    """Cases submitted to it so far (the first, warm-ups, measured runs)."""

    def stub(self) -> pb_grpc.ApplicationsServiceStub:
        return pb_grpc.ApplicationsServiceStub(
            grpc.insecure_channel(self.settings.grpc_address(names.APPLICATIONS))
        )

    def store_path(self, service: str) -> Path:
        return self.var_dir / self.settings.division / f"{service}.db"

    @contextlib.contextmanager
    def read(self, service: str) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(f"file:{self.store_path(service)}?mode=ro", uri=True)
        try:
            yield conn
        finally:
            conn.close()

    def outboxes_empty(self) -> bool:
        """Whether every service has published all it committed (a seeded catalog announces
        each record)."""
        for service in names.SERVICES:
            with self.read(service) as conn:
                query = "select count(*) from outbox where sent_at is null"
                if conn.execute(query).fetchone()[0]:
                    return False
        return True

    def audited_count(self) -> int:
        with self.read(names.AUDIT) as conn:
            marks = ",".join("?" * len(EVENTS_PER_CASE))
            query = f"select count(*) from log where type in ({marks})"
            return int(conn.execute(query, EVENTS_PER_CASE).fetchone()[0])


@contextlib.contextmanager
def running_node(amqp_uri: str, workdir: Path, seed: str = "sample") -> Iterator[BenchNode]:
    """A node of every service as separate worker and API processes (what `govnet node run`
    starts), initialised with `seed`, once its applications replica takes cases and every
    backlog the seeding caused has drained."""
    var_dir = workdir / "var"
    env = node_env(
        amqp_uri=amqp_uri,
        var_dir=var_dir,
        division=DIVISION,
        GOVNET_SEED=seed,
        GOVNET_LOG_LEVEL="warning",
        GOVNET_RELAY_INTERVAL="1.0",
        GOVNET_CHECKPOINT_INTERVAL="3600",
        GOVNET_SUPERVISION_INTERVAL="3600",
        GOVNET_FOLLOW_UP_INTERVAL="3600",
    )
    settings = Settings.from_environment(env)
    init_node(settings)
    if seed != "sample":  # a generated catalog lacks the sample item the clients apply for
        teach_applications(settings, ITEM)
    specs = [(kind, [service]) for service in names.SERVICES for kind in ("worker", "api")]
    with processes(specs, env, workdir / "run") as supervisor:
        node = BenchNode(settings, var_dir)
        node.pids = {c.name: c.proc.pid for c in supervisor.children if c.proc is not None}
        node.pids["bench client"] = os.getpid()
        broker = _broker_pid()
        if broker is not None:
            node.pids["rabbitmq (beam.smp)"] = broker
        warm = submit_when_item_known(node.stub(), submit_request(0), timeout=600)
        assert warm is not None, "the applications replica never learned the item"
        wait_for(lambda: node.audited_count() >= 2, timeout=60, what="the first case audited")
        wait_for(node.outboxes_empty, timeout=1800, what="every outbox published")
        drained(amqp_uri, timeout=1800)
        yield node


def drained(amqp_uri: str, timeout: float) -> None:
    """Wait until every queue of the node's topology is empty and unacknowledged-free."""
    with kombu.Connection(amqp_uri) as conn:
        channel = conn.default_channel

        def empty() -> bool:
            return all(
                channel.queue_declare(spec.name, passive=True).message_count == 0
                for spec in STANDALONE.queues
                if spec.name != names.REJECTED_QUEUE
            )

        wait_for(empty, timeout=timeout, what="the node's queues to drain")


@dataclass
class Sent:
    case_number: str
    started: float  # time.time() when sent (or due, for open-loop runs)
    returned: float


@dataclass
class Submitted:
    sent: list[Sent]
    began: float
    ended: float
    audited_before: int
    """Events of the kinds counted that the audit log held before the first submit."""
    cpu_before: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.sent) / (self.ended - self.began)


def closed_loop(node: BenchNode, clients: int, total: int) -> Submitted:
    """`total` Submits split over `clients` threads, each with its own channel, each sending
    its next call when the last returned."""
    return _drive(node, clients, total, interval=None)


def open_loop(node: BenchNode, clients: int, rate: float, seconds: float) -> Submitted:
    """Submits at a fixed `rate` for `seconds`, spread round robin over `clients` threads;
    each call's start is its due time, so queueing in the node counts as latency."""
    return _drive(node, clients, round(rate * seconds), interval=1.0 / rate)


def _drive(node: BenchNode, clients: int, total: int, interval: float | None) -> Submitted:
    stubs = [node.stub() for _ in range(clients)]
    for n, stub in enumerate(stubs):  # connect and warm up each channel
        stub.Submit(submit_request(n + 1), timeout=30)
    node.cases += clients
    expected = len(EVENTS_PER_CASE) * node.cases
    audited_before = wait_for(
        lambda: node.audited_count() >= expected and node.audited_count(),
        timeout=600,
        what="every earlier case audited",
    )
    node.cases += total
    cpu_before = {name: cpu_seconds(pid) for name, pid in node.pids.items()}
    results: list[list[Sent]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    began = 0.0

    def run(client: int) -> None:
        stub, out = stubs[client], results[client]
        barrier.wait()
        for n in range(client, total, clients):
            if interval is None:
                started = time.time()
            else:
                started = began + n * interval
                delay = started - time.time()
                if delay > 0:
                    time.sleep(delay)  # pacing the load, not waiting for an outcome
            reply = stub.Submit(submit_request(1000 + n), timeout=60)
            out.append(Sent(reply.case_number, started, time.time()))

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    began = time.time() + 0.05
    barrier.wait()
    for thread in threads:
        thread.join()
    sent = [s for out in results for s in out]
    return Submitted(sent, began, max(s.returned for s in sent), audited_before, cpu_before)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Outcome:
    submitted: Submitted
    audited_events: int
    audited_rate: float
    notifications: int
    notification_rate: float
    latencies_ms: list[float] = field(repr=False)
    cpu_ms_per_case: dict[str, float] = field(default_factory=dict)
    """CPU milliseconds each process spent per submitted case, from the first submit until
    audit held every event."""

    def latency(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def outcome(node: BenchNode, submitted: Submitted, timeout: float) -> Outcome:
    """Wait until audit holds both events of every submitted case, then read when each was
    stored."""
    numbers = {s.case_number for s in submitted.sent}
    expected = len(EVENTS_PER_CASE) * len(numbers)
    wait_for(
        lambda: node.audited_count() - submitted.audited_before >= expected,
        timeout=timeout,
        what=f"{expected:,} events in the audit log",
    )
    with node.read(names.AUDIT) as conn:
        rows = conn.execute(
            "select subject, type, recorded_at from log where type in (?, ?)",
            EVENTS_PER_CASE,
        ).fetchall()
    stored = {(subject, kind): _epoch(at) for subject, kind, at in rows if subject in numbers}
    assert len(stored) == expected, f"{expected - len(stored)} events missing or mislabelled"
    cpu = {
        name: 1000 * (cpu_seconds(node.pids[name]) - before) / len(numbers)
        for name, before in submitted.cpu_before.items()
    }
    with node.read(names.NOTIFICATIONS) as conn:
        created = [
            _epoch(at)
            for number, at in conn.execute(
                "select case_number, created_at from notifications where channel = 'inbox'"
            )
            if number in numbers
        ]
    assert len(created) == len(numbers)
    latencies = [
        1000 * (stored[(s.case_number, names.APPLICATION_SUBMITTED)] - s.started)
        for s in submitted.sent
    ]
    last_audited = max(stored.values())
    return Outcome(
        submitted,
        expected,
        expected / (last_audited - submitted.began),
        len(created),
        len(created) / (max(created) - submitted.began),
        latencies,
        cpu,
    )
