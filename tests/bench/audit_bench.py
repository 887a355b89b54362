"""The audit log's speed, each figure next to a baseline measured in the same run:

- ingest (the store: de-duplication, leaf hashes, the tree's new nodes, one commit per
  batch) next to a raw SQLite executemany of the same rows into the same table;
- ingest end to end (RabbitMQ → audit worker → log) next to the same raw insert;
- replay through the gRPC stream next to a raw sequential read of the same rows;
- offline verification of an export next to raw SHA-256 over the same event bytes.

The machine is shared, so each figure and its baseline are measured `REPEATS` times,
alternately, and the best of each is kept (as `timeit` does): the same for both sides.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from govnet.audit.v1 import audit_pb2 as pb
from govnet.audit.v1 import audit_pb2_grpc as pb_grpc
from services.audit import client
from services.audit.domain import ReplayFilter
from services.audit.store import AuditStore
from services.audit.verify import verify_export
from services.contract import names
from services.contract.envelope import Event, decode
from services.contract.schemas import default_registry
from services.platform import amqp
from services.platform.settings import Settings
from services.platform.store import Database
from tests.support.audit_logs import audit_signer, synthetic_events
from tests.support.nodes import node_env, processes
from tests.support.taps import publish_many
from tests.support.waiting import wait_for

BATCH = 500
REPEATS = 3
_COLUMNS = (
    "log_index, source, event_id, type, subject, division, sequence, time, recorded_at, "
    "dataschema, canonical, leaf_hash"
)


@dataclass(frozen=True)
class Pair:
    count: int
    seconds: float
    baseline_seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def baseline_rate(self) -> float:
        return self.count / self.baseline_seconds


def events(count: int) -> list[Event]:
    registry = default_registry()
    return [decode(raw, registry) for raw in synthetic_events(count)]


def open_store(path: Path, *, signer: bool = True) -> AuditStore:
    db = Database(
        f"sqlite:///{path}", service="audit", division="320000", registry=default_registry()
    )
    db.create_schema()
    settings = Settings.from_environment({"GOVNET_CHECKPOINT_EVERY": "10000000"})
    return AuditStore(db, settings=settings, signer=audit_signer() if signer else None)


def raw_insert_seconds(source: Path, target: Path, batch: int = BATCH) -> float:
    """Copy the log's rows, already built, into an empty log table: executemany, one
    commit per batch, the same indexes and pragmas as the store."""
    open_store(target, signer=False).db.dispose()  # the same schema, empty
    with contextlib.closing(sqlite3.connect(source)) as src:
        rows = src.execute(f"SELECT {_COLUMNS} FROM log ORDER BY log_index").fetchall()
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    insert = f"INSERT INTO log ({_COLUMNS}) VALUES ({', '.join('?' * 12)})"
    began = time.perf_counter()
    for start in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert, rows[start : start + batch])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - began
    conn.close()
    return seconds


def store_ingest(count: int, workdir: Path, repeats: int = REPEATS) -> Pair:
    """Each time into a new log; the first is kept as `workdir / "ingest.db"`."""
    batch_events = events(count)
    timings, raw_timings = [], []
    for n in range(repeats):
        path = workdir / ("ingest.db" if n == 0 else f"ingest-{n}.db")
        store = open_store(path)
        began = time.perf_counter()
        for start in range(0, count, BATCH):
            store.record_many(batch_events[start : start + BATCH])
        timings.append(time.perf_counter() - began)
        assert store.size() == count
        store.db.dispose()
        raw_timings.append(raw_insert_seconds(path, workdir / f"raw-{n}.db"))
        if n:
            path.unlink()
    return Pair(count, min(timings), min(raw_timings))


@dataclass(frozen=True)
class EndToEnd:
    count: int
    seconds: float
    commits: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def end_to_end_ingest(amqp_uri: str, count: int, workdir: Path) -> EndToEnd:
    """Publish `count` events first, then start the audit worker and time from its first
    commit to its last (process start-up is not ingest)."""
    with amqp.connect(amqp_uri) as conn:
        amqp.declare_topology(conn, delivery_limit=10)
    raw = synthetic_events(count)
    for start in range(0, count, 5000):
        publish_many(
            amqp_uri,
            "applications.events",
            [(names.APPLICATION_SUBMITTED, e) for e in raw[start : start + 5000]],
        )
    env = node_env(amqp_uri=amqp_uri, var_dir=workdir / "var", GOVNET_CHECKPOINT_EVERY="10000000")
    store = open_store(workdir / "var" / "320000" / "audit.db", signer=False)
    with processes([("worker", ["audit"])], env, workdir / "run"):
        first = wait_for(lambda: store.size() > 0 and time.perf_counter(), timeout=120)
        wait_for(lambda: store.size() >= count, timeout=600, what=f"{count} events logged")
        last = time.perf_counter()
    with store.db.read() as conn:
        commits = conn.exec_driver_sql("SELECT count(DISTINCT recorded_at) FROM log").scalar()
        first_batch = conn.exec_driver_sql(
            "SELECT count(*) FROM log WHERE recorded_at = (SELECT min(recorded_at) FROM log)"
        ).scalar()
    store.db.dispose()
    # The first commit happened before `first` was seen: count only what came after it.
    return EndToEnd(count - int(first_batch or 0), last - first, int(commits or 0))


@contextlib.contextmanager
def audit_api(amqp_uri: str, database: Path, workdir: Path) -> Iterator[str]:
    env = node_env(
        amqp_uri=amqp_uri,
        var_dir=workdir / "api-var",
        GOVNET_AUDIT_DATABASE_URL=f"sqlite:///{database}",
    )
    with processes([("api", ["audit"])], env, workdir / "api-run"):
        yield Settings.from_environment(env).grpc_address("audit")


def raw_read_seconds(database: Path) -> tuple[int, float]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        began = time.perf_counter()
        cursor = conn.execute("SELECT log_index, canonical FROM log ORDER BY log_index")
        count = 0
        while rows := cursor.fetchmany(1000):
            count += len(rows)
        return count, time.perf_counter() - began


def scan(database: Path, repeats: int = REPEATS) -> Pair:
    """The store's side of a replay, in process: the rows as the API streams them."""
    store = open_store(database, signer=False)
    timings, raw_timings = [], []
    for _ in range(repeats):
        began = time.perf_counter()
        count = sum(len(chunk.events) for chunk in store.scan(ReplayFilter()))
        timings.append(time.perf_counter() - began)
        raw_count, raw_seconds = raw_read_seconds(database)
        raw_timings.append(raw_seconds)
        assert raw_count == count
    store.db.dispose()
    return Pair(count, min(timings), min(raw_timings))


@dataclass(frozen=True)
class Replayed(Pair):
    stream_seconds: float
    """A bare grpcio server streaming the same number of bytes in 1 MB messages."""

    @property
    def stream_rate(self) -> float:
        return self.count / self.stream_seconds


def replay(amqp_uri: str, database: Path, workdir: Path, repeats: int = REPEATS) -> Replayed:
    """`govnet audit replay`'s path, the disk aside: the stream, each event written out as
    its line, to a sink that drops it. Next to it, a raw sequential read of the rows and a
    bare grpcio stream of as many bytes."""
    from tests.bench.applications_bench import echo_server
    from tests.bench.echo_server import STREAM

    with contextlib.closing(sqlite3.connect(database)) as conn:
        size = conn.execute("SELECT sum(length(canonical) + 1) FROM log").fetchone()[0]
    messages = -(-size // MESSAGE)
    timings, raw_timings, stream_timings = [], [], []
    with (
        audit_api(amqp_uri, database, workdir) as address,
        echo_server(0) as bare,
        grpc.insecure_channel(address) as ch,
        grpc.insecure_channel(bare) as bare_ch,
        open(os.devnull, "wb") as sink,
    ):
        audit = pb_grpc.AuditServiceStub(ch)
        list(audit.Replay(pb.ReplayRequest(until_index=1000, jsonl=True)))  # warm up
        stream = bare_ch.unary_stream(STREAM)
        request = f"{messages},{MESSAGE}".encode()
        for _ in range(repeats):
            began = time.perf_counter()
            chunks = client.replay(audit, client.replay_request(ReplayFilter()))
            count, _ = client.write_jsonl(chunks, sink, start=0, advance=lambda n: None)
            timings.append(time.perf_counter() - began)
            raw_count, raw_seconds = raw_read_seconds(database)
            raw_timings.append(raw_seconds)
            assert raw_count == count
            began = time.perf_counter()
            sink.writelines(stream(request))
            stream_timings.append(time.perf_counter() - began)
    return Replayed(count, min(timings), min(raw_timings), min(stream_timings))


MESSAGE = 1 << 20


@dataclass(frozen=True)
class Verified:
    count: int
    seconds_one: float
    seconds_all: float
    jobs: int
    baseline_seconds: float


def verify(count: int, workdir: Path, jobs: int | None = None, repeats: int = REPEATS) -> Verified:
    from tests.support.audit_logs import build_log, write_export

    raw = synthetic_events(count)
    path = write_export(workdir / "export.jsonl", build_log(raw, (count // 2, count)))
    key = audit_signer().verifier
    jobs = jobs or os.cpu_count() or 1
    baselines: list[float] = []
    timings: dict[int, list[float]] = {1: [], jobs: []}
    for _ in range(repeats):
        began = time.perf_counter()
        for event in raw:
            hashlib.sha256(event).digest()
        baselines.append(time.perf_counter() - began)
        for processes_ in timings:
            began = time.perf_counter()
            result = verify_export(path, key=key, jobs=processes_)
            timings[processes_].append(time.perf_counter() - began)
            assert result.ok, result.problems[:3]
    return Verified(count, min(timings[1]), min(timings[jobs]), jobs, min(baselines))
