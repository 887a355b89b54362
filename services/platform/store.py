"""A service's database: engine, the platform tables every service has, and transactions.

SQLite (WAL) is the embedded default, PostgreSQL the production store, chosen by URL. Every
service store holds three platform tables next to its own:

- `outbox`: events waiting to be published, written in the same transaction as the state
  change that caused them (no dual write); `platform.outbox.Relay` publishes them.
- `counters`: gap-free counters, in the writing transaction: the `sequence` of each source
  and anything else a service numbers (case numbers).
- `processed_events`: the `(source, id)` of every consumed event, written in the consuming
  transaction, so a redelivery changes nothing.
"""

from __future__ import annotations

import contextvars
import logging
import operator
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from services.contract.envelope import Event, Source, encode, new_event, numbered
from services.contract.registry import Registry
from services.platform import tracing

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def platform_tables(metadata: MetaData) -> tuple[Table, Table, Table]:
    outbox = Table(
        "outbox",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(128), nullable=False),
        Column("type", String(100), nullable=False),
        Column("exchange", String(100), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("traceparent", String(64)),
        Column("created_at", Float, nullable=False),
        Column("claimed_until", Float),
        Column("attempts", Integer, nullable=False, default=0),
        Column("sent_at", Float),
    )
    Index(
        "outbox_pending",
        outbox.c.id,
        sqlite_where=outbox.c.sent_at.is_(None),
        postgresql_where=outbox.c.sent_at.is_(None),
    )
    Index("outbox_sent_at", outbox.c.sent_at)
    Index("outbox_event", outbox.c.event_id)
    counters = Table(
        "counters",
        metadata,
        Column("key", String(200), primary_key=True),
        Column("last", Integer, nullable=False),
    )
    processed = Table(
        "processed_events",
        metadata,
        Column("source", String(200), primary_key=True),
        Column("event_id", String(128), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )
    return outbox, counters, processed


_SCHEMA_LOCK = 0x676F766E6574  # "govnet": the advisory lock schema creation takes

SQLITE_CACHE_KIB = 64 * 1024
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}",
    f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}",
    "PRAGMA temp_store=MEMORY",
)


def with_driver(url: str) -> URL:
    """`url` with govnet's PostgreSQL driver: SQLAlchemy 2.1 picks psycopg 3 for a bare
    postgresql:// URL, but govnet ships psycopg2, which eventlet can make green."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine configured for govnet: WAL and immediate write locks on SQLite. Errors do
    not show statement parameters: they hold ID and phone numbers, and errors are logged."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
            hide_parameters=True,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        with_driver(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        hide_parameters=True,
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # A catalog of 150,000 items outgrows SQLite's default 2 MB page cache.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A deferred transaction that later writes can fail at once with "database is
        # locked" (busy_timeout does not apply to lock upgrades); writers take the lock first.
        # Straight to the driver: SQLAlchemy's statement machinery cost more than the BEGIN.
        mode = conn.get_execution_options().get("govnet_write", False)
        _raw(conn, "BEGIN IMMEDIATE" if mode else "BEGIN", ())


@dataclass
class Tx:
    """One open write transaction of a service, with the means to emit events from it."""

    conn: Connection
    db: Database
    now: datetime
    emitted: list[Event] = field(default_factory=list)

    def emit(self, event_type: str, data: dict[str, Any], *, subject: str | None = None) -> Event:
        """Validate and write an event to the outbox; it is published after commit."""
        return self.emit_many([(event_type, data, subject)])[0]

    def emit_many(self, events: Sequence[tuple[Any, ...]]) -> list[Event]:
        """`emit` for many events at once: one sequence reservation and one bulk insert.
        Each is (type, data, subject) — in the current trace — or (type, data, subject,
        traceparent) for events of a batch that each continue their own cause's trace."""
        current = tracing.current_traceparent()
        built = [
            new_event(
                self.db.registry,
                item[0],
                item[1],
                source=self.db.source,
                now=self.now,
                subject=item[2],
                traceparent=item[3] if len(item) > 3 else current,
            )
            for item in events
        ]
        stored = self.db.outbox_add_many(self.conn, built)
        self.emitted.extend(stored)
        return stored


def _raw(conn: Connection, statement: str, params: Any, *, many: bool = False) -> Any:
    """Run `statement` on the DB-API connection under `conn` (sqlite3, for the SQLite fast
    paths): the same transaction, none of SQLAlchemy's per-statement work. Driver errors
    come out as SQLAlchemy's own (`IntegrityError`, `OperationalError`, ...), as they would
    through `conn.execute`."""
    driver = conn.connection.driver_connection
    try:
        if many:
            return driver.executemany(statement, params)  # type: ignore[union-attr]
        return driver.execute(statement, params)  # type: ignore[union-attr]
    except sqlite3.Error as exc:
        raise DBAPIError.instance(
            statement, params, exc, sqlite3.Error, hide_parameters=True
        ) from exc


class Prepared:
    """A statement compiled once for the store's database, for the hot paths of request
    handling. On SQLite it runs straight through the driver, with each column type's own
    bind and result processors: SQLAlchemy's per-execution machinery costs several times
    SQLite's own work for a small statement. Elsewhere it runs through SQLAlchemy as usual.

    Rows come back as mappings of column name to value. Parameters are a mapping of bind
    names to values, as for `Connection.execute`.
    """

    def __init__(self, statement: Any, engine: Engine) -> None:
        self.statement = statement
        self.raw = engine.dialect.name == "sqlite"
        if not self.raw:
            return
        compiled = statement.compile(dialect=engine.dialect)
        self.sql: str = compiled.string
        binds = compiled._bind_processors
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        # Values written into the statement itself (a literal compared with); the other
        # binds must be given at each execution.
        self.fixed = {
            name: value
            for name, value in compiled.params.items()
            if not compiled.binds[name].required
        }
        # Column defaults SQLAlchemy would fill in at execution: constants are taken as
        # fixed values; a default that must be computed is refused here, not lost later.
        for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
            default = column.onupdate if column in compiled.update_prefetch else column.default
            if default is None or not default.is_scalar:
                raise ValueError(f"Prepared cannot compute the default of {column}")
            self.fixed[column.key] = default.arg
        self.binders = [
            (i, binds[name]) for i, name in enumerate(self.names) if binds.get(name) is not None
        ]
        columns = compiled._result_columns
        self.keys: tuple[str, ...] = tuple(column[0] for column in columns)
        self.readers = [
            (i, processor)
            for i, column in enumerate(columns)
            if (processor := column[3]._cached_result_processor(engine.dialect, None)) is not None
        ]

    def _cursor(self, conn: Connection, params: dict[str, Any]) -> Any:
        values = [params[name] if name in params else self.fixed[name] for name in self.names]
        for i, process in self.binders:
            values[i] = process(values[i])
        return _raw(conn, self.sql, values)

    def _mapping(self, row: Sequence[Any]) -> dict[str, Any]:
        if self.readers:
            values = list(row)
            for i, process in self.readers:
                values[i] = process(values[i])
            row = values
        return dict(zip(self.keys, row, strict=True))

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        if not self.raw:
            return [dict(row._mapping) for row in conn.execute(self.statement, params)]
        return [self._mapping(row) for row in self._cursor(conn, params).fetchall()]

    def first(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any] | None:
        if not self.raw:
            found = conn.execute(self.statement, params).first()
            return None if found is None else dict(found._mapping)
        # fetchall, not fetchone: it steps the statement to its end, so an INSERT ...
        # RETURNING is complete (and its cursor idle) before anything else runs.
        found = self._cursor(conn, params).fetchall()
        return self._mapping(found[0]) if found else None

    def scalar(self, conn: Connection, params: dict[str, Any]) -> Any:
        """The first column of the one row the statement returns."""
        if not self.raw:
            return conn.execute(self.statement, params).scalar_one()
        found = self.first(conn, params)
        assert found is not None, "the statement returned no row"
        return found[self.keys[0]]

    def run(self, conn: Connection, params: dict[str, Any]) -> int:
        """Execute; return the number of rows it changed."""
        if not self.raw:
            return int(conn.execute(self.statement, params).rowcount)
        return int(self._cursor(conn, params).rowcount)


class Database:
    """The store of one service at one node.

    `transaction()` opens a write transaction; `consume(event)` opens one only if the event
    was not applied before. Both commit on a clean exit and roll back on an exception.
    After a commit that emitted events, `on_commit` callbacks run (the relay's wake-up).

    Never do network I/O inside a transaction: on SQLite the write lock is held throughout,
    and in an eventlet worker a greenthread that yields while holding it stalls every other
    writer of the process.
    """

    def __init__(
        self,
        url: str,
        *,
        service: str,
        division: str,
        registry: Registry,
        clock: Clock = utcnow,
        pool_size: int = 10,
    ) -> None:
        self.url = url
        self.service = service
        self.source = Source.for_service(division, service)
        self.exchange = f"{service}.events"
        self.registry = registry
        self.clock = clock
        self.engine = make_engine(url, pool_size=pool_size)
        self.metadata = MetaData()
        self.outbox, self.counters, self.processed = platform_tables(self.metadata)
        self._on_commit: list[Callable[[list[Event]], None]] = []
        self._lock = threading.Lock()
        # SQLite has one writer at a time; waiting writers are put to sleep by its busy
        # handler (1, 2, 5, 10 ms ...). Writers of this process queue on a lock instead,
        # which hands over at once. (Other processes still meet the busy handler.)
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        self._group: GroupCommit | None = None
        self.routes: Callable[[Event], Sequence[str]] | None = None
        """Other exchanges an event goes to as well (the province's standards go down on
        `catalog.standards`): their outbox rows are left to the relay."""
        self.fast_path_lease: float | None = None
        """Set by a process that publishes its own commits at once (`outbox.FastPath`):
        outbox rows are then written already claimed for that long, so no other relay
        publishes them unless that process fails to."""
        self._next_value = self.prepare(self._next_value_statement())
        self._mark_processed = self.prepare(
            self.upsert(self.processed)
            .values(
                source=bindparam("source"),
                event_id=bindparam("event_id"),
                processed_at=bindparam("processed_at"),
            )
            .on_conflict_do_nothing()
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def prepare(self, statement: Any) -> Prepared:
        """`statement` compiled once for this database (see `Prepared`)."""
        return Prepared(statement, self.engine)

    def create_schema(self, *metadatas: MetaData) -> None:
        """Create whatever tables are missing, in one write transaction. Every process of a
        service does this at start, so two may do it at once: the write lock is taken first
        (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so the second waits for the
        first instead of failing on a lock it cannot upgrade or a table made meanwhile."""
        with self._writer(), self.engine.connect() as conn:
            conn = conn.execution_options(govnet_write=True)
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
                for metadata in (self.metadata, *metadatas):
                    metadata.create_all(conn)
                    _add_missing_columns(conn, metadata)

    def on_commit(self, callback: Callable[[list[Event]], None]) -> None:
        """Call `callback(events)` after each commit that emitted events."""
        with self._lock:
            self._on_commit.append(callback)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def transaction(self, conn: Connection | None = None) -> Iterator[Tx]:
        """A write transaction on `conn`, a connection the caller keeps (made by `writing`),
        or on one from the pool."""
        held = nullcontext(conn) if conn is not None else self._pooled_writing()
        with self._writer(), held as writing, writing.begin():
            tx = Tx(writing, self, self.clock())
            yield tx
        if tx.emitted:
            self._committed(tx.emitted)

    @staticmethod
    def writing(conn: Connection) -> Connection:
        """`conn` as a write connection: its transactions take the write lock at once."""
        return conn.execution_options(govnet_write=True)

    @contextmanager
    def _pooled_writing(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield self.writing(conn)

    def write(self, work: Callable[[Tx], T]) -> T:
        """Run `work(tx)` in a write transaction and return its result.

        With group commit on (`enable_group_commit`), the work joins the next batch of the
        process's writer thread: its own savepoint, one commit for the batch, the result
        (or the work's exception) handed back only after that commit. Otherwise it runs in
        a transaction of its own. Either way it commits before this returns.
        """
        if self._group is not None:
            return self._group.run(work)
        with self.transaction() as tx:
            return work(tx)

    def enable_group_commit(self) -> None:
        """Batch concurrent writes of this process into shared transactions (SQLite API
        processes: one writer at a time anyway, so one commit and no lock hand-offs)."""
        if self._group is None:
            self._group = GroupCommit(self)

    def close_group_commit(self) -> None:
        if self._group is not None:
            self._group.stop()
            self._group = None

    @contextmanager
    def _writer(self) -> Iterator[None]:
        if self._write_lock is None:
            yield
            return
        with self._write_lock:
            yield

    @contextmanager
    def consume(self, event: Event) -> Iterator[Tx | None]:
        """A transaction for applying `event` exactly once: yields None if already applied.

        The `(source, id)` is recorded in the same transaction as the handler's writes, so
        either both commit or neither does.
        """
        with self.transaction() as tx:
            first = self.mark_processed(tx.conn, event.source, event.id, tx.now)
            yield tx if first else None

    def mark_processed(self, conn: Connection, source: str, event_id: str, now: datetime) -> bool:
        """Record `(source, id)`; False if it was already there."""
        params = {"source": source, "event_id": event_id, "processed_at": now}
        return self._mark_processed.run(conn, params) == 1

    def outbox_add_many(self, conn: Connection, built: Sequence[Event]) -> list[Event]:
        """Assign the source's next sequences and write the events to the outbox, in order."""
        if not built:
            return []
        last = self.next_value(conn, f"sequence:{self.source}", len(built))
        first = last - len(built) + 1
        stored = [numbered(e, first + i) for i, e in enumerate(built)]
        now = time.time()
        claimed = now + self.fast_path_lease if self.fast_path_lease else None
        rows = [
            {
                "event_id": e.id,
                "type": e.type,
                "exchange": self.exchange,
                "body": encode(e),
                "traceparent": e.traceparent,
                "created_at": now,
                "claimed_until": claimed,
                "attempts": 0,
            }
            for e in stored
        ]
        if self.routes is not None:
            rows += [
                {**row, "exchange": exchange, "claimed_until": None}
                for row, e in zip(list(rows), stored, strict=True)
                for exchange in self.routes(e)
            ]
        self.bulk_insert(conn, self.outbox, rows)
        return stored

    def next_value(self, conn: Connection, key: str, count: int = 1) -> int:
        """Advance counter `key` by `count` (from 0) inside the caller's transaction and
        return its new value: gap-free, because a rollback takes the increment back too."""
        params = {"key": key, "count": count, "step": count}
        return int(self._next_value.scalar(conn, params))

    def _next_value_statement(self) -> Any:
        # Built once: constructing an upsert costs more than running it.
        statement = self.upsert(self.counters).values(key=bindparam("key"), last=bindparam("count"))
        return statement.on_conflict_do_update(
            index_elements=[self.counters.c.key],
            set_={"last": self.counters.c.last + bindparam("step")},
        ).returning(self.counters.c.last)

    def bulk_insert(self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert many rows. On SQLite the rows go to the driver's executemany as tuples
        (converted by each column type's own bind processor), skipping SQLAlchemy's per-row
        parameter handling, which costs as much as SQLite's own work in bulk imports."""
        if not rows:
            return
        if self.dialect != "sqlite":
            conn.execute(insert(table), list(rows))
            return
        columns = list(rows[0])
        processors = [
            table.c[name].type._cached_bind_processor(self.engine.dialect) for name in columns
        ]
        statement = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        getter = operator.itemgetter(*columns)
        typed = [(i, process) for i, process in enumerate(processors) if process is not None]
        if len(columns) == 1:
            params: list[Any] = [(getter(row),) for row in rows]
        elif not typed:
            params = [getter(row) for row in rows]
        else:
            params = []
            for row in rows:
                values = list(getter(row))
                for i, process in typed:
                    values[i] = process(values[i])
                params.append(tuple(values))
        _raw(conn, statement, params, many=True)

    def insert_tuples(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        """Insert rows given as tuples of values the driver takes as they are (int, str,
        bytes, None): on SQLite straight to the driver's executemany."""
        if not rows:
            return
        if self.dialect != "sqlite":
            conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
            return
        statement = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        _raw(conn, statement, list(rows), many=True)

    def driver_value(self, column: Column[Any], value: Any) -> Any:
        """`value` as `insert_tuples` takes it for `column`: converted by the column type's
        own bind processor on SQLite (a datetime becomes SQLAlchemy's text form), as it is
        elsewhere (SQLAlchemy converts it there). For a value many rows share."""
        if self.dialect != "sqlite":
            return value
        process = column.type._cached_bind_processor(self.engine.dialect)
        return process(value) if process is not None else value

    def upsert(self, table: Table) -> Any:
        """The dialect's INSERT, which has ON CONFLICT on both SQLite and PostgreSQL."""
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        return dialect_insert(table)

    def pending_count(self) -> int:
        from sqlalchemy import func

        with self.read() as conn:
            stmt = (
                select(func.count()).select_from(self.outbox).where(self.outbox.c.sent_at.is_(None))
            )
            return int(conn.execute(stmt).scalar_one())

    def _committed(self, events: list[Event]) -> None:
        for callback in list(self._on_commit):
            try:
                callback(events)
            except Exception:  # a wake-up must never fail a committed request
                log.exception("on-commit callback failed")


def _add_missing_columns(conn: Connection, metadata: MetaData) -> None:
    """Add to existing tables the nullable columns a newer version defined (a store made
    by an older version lacks them; `create_all` makes only missing tables). A column that
    may not be null cannot be added to rows that have none: that takes a migration, and is
    refused at start naming the table and column."""
    inspector = inspect(conn)
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(
                    f"table {table.name} has no column {column.name}, which may not be "
                    "null: this store needs a migration"
                )
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
            log.info(
                "added column %s.%s to a store made by an older version", table.name, column.name
            )


class GroupCommit:
    """One writer thread that runs the writes of many request threads in shared
    transactions, each write in its own savepoint."""

    MAX_BATCH = 64

    @dataclass
    class _Work:
        work: Callable[[Tx], Any]
        context: contextvars.Context
        done: threading.Event = field(default_factory=threading.Event)
        result: Any = None
        error: BaseException | None = None

    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: queue.SimpleQueue[GroupCommit._Work | None] = queue.SimpleQueue()
        self._conn: Connection | None = None
        self._thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
        self._thread.start()

    def run(self, work: Callable[[Tx], T]) -> T:
        item = GroupCommit._Work(work, contextvars.copy_context())
        self._queue.put(item)
        while not item.done.wait(1.0):
            if not self._thread.is_alive():  # stopped, or died: nobody will commit it
                raise RuntimeError("the store's writer has stopped; the write was not made")
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[no-any-return]

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        try:
            while self._next():
                pass
        finally:
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            with suppress(Exception):  # a broken connection: the pool discards it
                self._conn.close()
            self._conn = None

    def _next(self) -> bool:
        """Run the next batch; False once stopped."""
        first = self._queue.get()
        if first is None:
            return False
        batch = [first]
        while len(batch) < self.MAX_BATCH:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._commit(batch)
                return False
            batch.append(more)
        self._commit(batch)
        return True

    def _commit(self, batch: list[GroupCommit._Work]) -> None:
        try:
            if self._conn is None and self.db.dialect == "sqlite":
                # The writer keeps its connection: no checkout per batch. (Elsewhere the
                # pool's checkout pings it, which a server-side disconnect needs.)
                self._conn = self.db.writing(self.db.engine.connect())
            with self.db.transaction(self._conn) as tx:
                if len(batch) == 1:  # alone, it needs no savepoint: its failure rolls back
                    self._run_alone(batch[0], tx)
                    return
                savepoints = Savepoints(tx.conn)
                for item in batch:
                    savepoints.begin()
                    emitted = len(tx.emitted)
                    try:
                        item.result = item.context.run(item.work, tx)
                        savepoints.release()
                    except BaseException as exc:  # this work fails alone; the writer goes on
                        savepoints.rollback()
                        del tx.emitted[emitted:]
                        item.error = exc
        except _RolledBack:
            pass
        except Exception as exc:  # the commit failed: every work of the batch did
            self._close()  # the next batch starts on a fresh connection
            for item in batch:
                if item.error is None:
                    item.error = exc
        finally:
            for item in batch:
                item.done.set()

    @staticmethod
    def _run_alone(item: GroupCommit._Work, tx: Tx) -> None:
        try:
            item.result = item.context.run(item.work, tx)
        except BaseException as exc:  # raised to its caller, whatever it is; the writer goes on
            item.error = exc
            raise _RolledBack from exc


class _RolledBack(Exception):
    """The work of a batch of one failed: its transaction is rolled back."""


class Savepoints:
    """One savepoint at a time. On SQLite straight through the driver: SQLAlchemy's
    nested-transaction machinery costs more than the work of a small request."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        self.nested: Any = None

    def begin(self) -> None:
        if self.raw is not None:
            self.raw.execute("SAVEPOINT govnet_work")
        else:
            self.nested = self.conn.begin_nested()

    def release(self) -> None:
        if self.raw is not None:
            self.raw.execute("RELEASE govnet_work")
        else:
            self.nested.commit()

    def rollback(self) -> None:
        if self.raw is not None:
            self.raw.execute("ROLLBACK TO govnet_work")
            self.raw.execute("RELEASE govnet_work")
        else:
            self.nested.rollback()


def is_retryable(exc: BaseException) -> bool:
    """Database errors worth retrying (locks, lost connections), as opposed to bugs."""
    return isinstance(exc, OperationalError) and not isinstance(exc, IntegrityError)
