"""The platform store on SQLite and on PostgreSQL: one suite, run against both."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from services.contract import names
from services.contract.envelope import Event, decode
from services.contract.schemas import default_registry
from services.platform.logs import JsonFormatter
from services.platform.store import Database

NOW = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)


def rejected_payload(reason: str = "test") -> dict[str, object]:
    return {
        "rejected_source": None,
        "rejected_id": None,
        "rejected_type": None,
        "code": "malformed",
        "field": "",
        "reason": reason,
        "queue": "audit.ingress",
        "received_at": NOW.isoformat(),
    }


class StoreSuite:
    """Subclasses provide `url`."""

    @pytest.fixture
    def db(self, url: str) -> Iterator[Database]:
        database = Database(
            url, service="audit", division="320102", registry=default_registry(), clock=lambda: NOW
        )
        database.create_schema()
        yield database
        database.dispose()

    def outbox_events(self, db: Database) -> list[Event]:
        with db.read() as conn:
            bodies = conn.execute(select(db.outbox.c.body).order_by(db.outbox.c.id)).scalars()
            return [decode(body, default_registry()) for body in bodies]

    def test_emitted_events_are_numbered_one_two_three_per_source(self, db: Database) -> None:
        for reason in ("a", "b", "c"):
            with db.transaction() as tx:
                tx.emit(names.EVENT_REJECTED, rejected_payload(reason))
        events = self.outbox_events(db)
        assert [e.sequence for e in events] == [1, 2, 3]
        assert {e.source for e in events} == {"govnet://320102/audit"}
        assert [e.data["reason"] for e in events] == ["a", "b", "c"]

    def test_a_rolled_back_transaction_leaves_no_event_and_no_gap(self, db: Database) -> None:
        with db.transaction() as tx:
            tx.emit(names.EVENT_REJECTED, rejected_payload("kept"))

        def failing_change() -> None:
            with db.transaction() as tx:
                tx.emit(names.EVENT_REJECTED, rejected_payload("rolled back"))
                raise RuntimeError("the state change failed")

        with pytest.raises(RuntimeError):
            failing_change()
        with db.transaction() as tx:
            tx.emit(names.EVENT_REJECTED, rejected_payload("next"))
        events = self.outbox_events(db)
        assert [(e.sequence, e.data["reason"]) for e in events] == [(1, "kept"), (2, "next")]

    def test_concurrent_writers_get_distinct_gap_free_sequences(self, db: Database) -> None:
        def writer() -> None:
            for _ in range(10):
                with db.transaction() as tx:
                    tx.emit(names.EVENT_REJECTED, rejected_payload())

        threads = [threading.Thread(target=writer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(e.sequence for e in self.outbox_events(db)) == list(range(1, 41))

    def test_group_commit_gives_each_concurrent_write_its_own_result(self, db: Database) -> None:
        db.enable_group_commit()
        results: dict[tuple[int, int], object] = {}

        def writer(n: int) -> None:
            for i in range(10):
                results[(n, i)] = db.write(
                    lambda tx, n=n, i=i: (
                        tx.emit(names.EVENT_REJECTED, rejected_payload(f"{n}.{i}")),
                        (n, i),
                    )[1]
                )

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        db.close_group_commit()
        assert all(result == key for key, result in results.items())
        assert len(results) == 80
        events = self.outbox_events(db)
        assert sorted(e.sequence for e in events) == list(range(1, 81))
        assert sorted(e.data["reason"] for e in events) == sorted(f"{n}.{i}" for n, i in results)

    def test_a_failing_write_of_a_group_fails_alone_and_emits_nothing(self, db: Database) -> None:
        db.enable_group_commit()
        held, release = threading.Event(), threading.Event()

        def hold(tx: Any) -> str:  # keeps the writer busy while the next batch queues up
            tx.emit(names.EVENT_REJECTED, rejected_payload("first"))
            held.set()
            release.wait(10)
            return "first"

        def good(reason: str) -> Callable[[Any], str]:
            def work(tx: Any) -> str:
                tx.emit(names.EVENT_REJECTED, rejected_payload(reason))
                return reason

            return work

        def bad(tx: Any) -> str:
            tx.emit(names.EVENT_REJECTED, rejected_payload("bad"))
            raise ValueError("this write is refused")

        outcomes: dict[str, object] = {}

        def call(name: str, work: Callable[[Any], str]) -> None:
            try:
                outcomes[name] = db.write(work)
            except ValueError as exc:
                outcomes[name] = exc

        first = threading.Thread(target=call, args=("first", hold))
        first.start()
        assert held.wait(10)
        others = [
            threading.Thread(target=call, args=(name, work))
            for name, work in (("a", good("a")), ("bad", bad), ("b", good("b")))
        ]
        for thread in others:
            thread.start()
        queued = db._group._queue  # type: ignore[union-attr]
        for _ in range(10_000):  # until all three wait behind the held write: one batch
            if queued.qsize() == 3:
                break
            release.wait(0.001)
        assert queued.qsize() == 3
        release.set()
        for thread in [first, *others]:
            thread.join()
        db.close_group_commit()
        assert outcomes["first"] == "first"
        assert outcomes["a"] == "a"
        assert outcomes["b"] == "b"
        assert isinstance(outcomes["bad"], ValueError)
        events = self.outbox_events(db)
        assert sorted(e.data["reason"] for e in events) == ["a", "b", "first"]
        assert sorted(e.sequence for e in events) == [1, 2, 3]

    def test_a_database_error_does_not_show_the_values_written(self, db: Database) -> None:
        # Errors are logged, and the values of a request hold ID and phone numbers.
        secret = "320102198506120421"
        insert_prepared = db.prepare(
            insert(db.processed).values(
                source=bindparam("source"),
                event_id=bindparam("event_id"),
                processed_at=bindparam("processed_at"),
            )
        )
        row = {"source": secret, "event_id": "e-1", "processed_at": NOW}
        for run in (
            lambda tx: tx.conn.execute(insert(db.processed), row),  # through SQLAlchemy
            lambda tx: insert_prepared.run(tx.conn, row),  # straight to the driver on SQLite
        ):
            with db.transaction() as tx:
                run(tx)
            with pytest.raises(IntegrityError) as caught, db.transaction() as tx:
                run(tx)
            assert "[SQL parameters hidden due to hide_parameters=True]" in str(caught.value)
            # PostgreSQL's own message repeats the key ("Key (source, event_id)=(...)"):
            # the log line masks it.
            record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), None)
            record.exc_info = (IntegrityError, caught.value, caught.value.__traceback__)
            line = JsonFormatter().format(record)
            assert secret not in line
            assert "Traceback" in line
            with db.transaction() as tx:
                tx.conn.execute(db.processed.delete())

    def test_a_failing_write_alone_leaves_nothing_and_the_writer_goes_on(
        self, db: Database
    ) -> None:
        db.enable_group_commit()

        def bad(tx: Any) -> str:
            tx.emit(names.EVENT_REJECTED, rejected_payload("bad"))
            raise ValueError("this write is refused")

        with pytest.raises(ValueError, match="this write is refused"):
            db.write(bad)
        assert (
            db.write(lambda tx: tx.emit(names.EVENT_REJECTED, rejected_payload("good")).sequence)
            == 1
        )  # the failed write's sequence was rolled back with it
        db.close_group_commit()
        assert [e.data["reason"] for e in self.outbox_events(db)] == ["good"]

    def test_a_write_that_raises_a_base_exception_gets_it_and_the_writer_goes_on(
        self, db: Database
    ) -> None:
        db.enable_group_commit()

        def exits(tx: Any) -> str:
            tx.emit(names.EVENT_REJECTED, rejected_payload("lost"))
            raise SystemExit(3)

        with pytest.raises(SystemExit):
            db.write(exits)
        assert db.write(lambda tx: tx.emit(names.EVENT_REJECTED, rejected_payload("kept")).type)
        db.close_group_commit()
        assert [e.data["reason"] for e in self.outbox_events(db)] == ["kept"]

    def test_a_write_after_the_writer_stopped_is_refused_not_left_waiting(
        self, db: Database
    ) -> None:
        db.enable_group_commit()
        group = db._group
        assert group is not None
        group.stop()
        with pytest.raises(RuntimeError, match="the store's writer has stopped"):
            group.run(lambda tx: "never")
        db._group = None

    def test_a_write_whose_commit_fails_gets_the_error_and_the_next_one_commits(
        self, db: Database
    ) -> None:
        db.enable_group_commit()

        def breaks_the_connection(tx: Any) -> str:
            tx.emit(names.EVENT_REJECTED, rejected_payload("lost"))
            tx.conn.connection.driver_connection.close()
            return "lost"

        with pytest.raises(DBAPIError):
            db.write(breaks_the_connection)
        assert db.write(lambda tx: tx.emit(names.EVENT_REJECTED, rejected_payload("kept")).type)
        db.close_group_commit()
        assert [e.data["reason"] for e in self.outbox_events(db)] == ["kept"]

    def test_a_store_made_by_an_older_version_gets_the_new_nullable_columns(
        self, db: Database
    ) -> None:
        older = MetaData()
        Table("cards", older, Column("code", String(10), primary_key=True))
        db.create_schema(older)
        with db.transaction() as tx:
            tx.conn.execute(text("INSERT INTO cards (code) VALUES ('old')"))
        newer = MetaData()
        cards = Table(
            "cards",
            newer,
            Column("code", String(10), primary_key=True),
            Column("item", String(40)),
            Column("seen", DateTime(timezone=True)),
        )
        db.create_schema(newer)
        db.create_schema(newer)  # again: nothing left to add
        with db.transaction() as tx:
            tx.conn.execute(insert(cards).values(code="new", item="X-1", seen=NOW))
        with db.read() as conn:
            rows = conn.execute(select(cards).order_by(cards.c.code)).all()
        # (SQLite gives the time back without its zone, as it does for every table.)
        assert [(r.code, r.item, r.seen and r.seen.replace(tzinfo=UTC)) for r in rows] == [
            ("new", "X-1", NOW),
            ("old", None, None),
        ]

    def test_a_missing_column_that_may_not_be_null_is_refused_by_name(self, db: Database) -> None:
        older = MetaData()
        Table("cards", older, Column("code", String(10), primary_key=True))
        db.create_schema(older)
        newer = MetaData()
        Table(
            "cards",
            newer,
            Column("code", String(10), primary_key=True),
            Column("kind", String(10), nullable=False),
        )
        with pytest.raises(RuntimeError, match="table cards has no column kind, which may not"):
            db.create_schema(newer)

    def test_an_event_is_applied_once_however_often_it_is_consumed(self, db: Database) -> None:
        with db.transaction() as tx:
            event = tx.emit(names.EVENT_REJECTED, rejected_payload())
        applied = []
        for _ in range(3):
            with db.consume(event) as tx:
                if tx is not None:
                    applied.append(tx.now)
        assert applied == [NOW]

    def test_a_failed_consumer_transaction_does_not_mark_the_event_processed(
        self, db: Database
    ) -> None:
        with db.transaction() as tx:
            event = tx.emit(names.EVENT_REJECTED, rejected_payload())

        def failing_handler() -> None:
            with db.consume(event) as tx:
                assert tx is not None
                raise RuntimeError("handler failed before commit")

        with pytest.raises(RuntimeError):
            failing_handler()
        with db.consume(event) as tx:
            assert tx is not None, "the redelivery must be applied"

    def test_counters_count_per_key(self, db: Database) -> None:
        with db.transaction() as tx:
            values = [
                db.next_value(tx.conn, key)
                for key in ("case:20261126", "case:20261126", "case:20261127")
            ]
        assert values == [1, 2, 1]

    def test_commit_wakes_the_relay_only_when_events_were_emitted(self, db: Database) -> None:
        woken = []
        db.on_commit(lambda events: woken.append(len(events) > 0))
        with db.transaction():
            pass
        assert woken == []
        with db.transaction() as tx:
            tx.emit(names.EVENT_REJECTED, rejected_payload())
        assert woken == [True]

    def test_a_prepared_statement_reads_and_writes_every_column_type_as_sqlalchemy_does(
        self, db: Database
    ) -> None:
        metadata = MetaData()
        things = Table(
            "things",
            metadata,
            Column("code", String(10), primary_key=True),
            Column("kind", String(10), nullable=False),
            Column("count", Integer, nullable=False),
            Column("done", Boolean, nullable=False),
            Column("at", DateTime(timezone=True), nullable=False),
            Column("day", Date),
            Column("note", Text),
            Column("tries", Integer, nullable=False, default=0),
        )
        db.create_schema(metadata)
        given = [c.name for c in things.c if c.name != "tries"]  # its default fills it in
        add = db.prepare(insert(things).values({name: bindparam(name) for name in given}))
        row = {
            "code": "a",
            "kind": "x",
            "count": 3,
            "done": True,
            "at": NOW,
            "day": date(2027, 1, 4),
            "note": None,
        }
        with db.transaction() as tx:
            assert add.run(tx.conn, row) == 1
            assert add.run(tx.conn, row | {"code": "b", "kind": "y", "done": False}) == 1
        of_kind = db.prepare(
            select(things).where(things.c.kind == "x", things.c.count >= bindparam("least"))
        )
        bump = db.prepare(
            update(things)
            .where(things.c.code == bindparam("key"))
            .values(count=things.c.count + bindparam("by"))
            .returning(things.c.count)
        )
        with db.read() as conn:
            [found] = of_kind.rows(conn, {"least": 2})
            assert of_kind.first(conn, {"least": 4}) is None
            expected = conn.execute(select(things).where(things.c.code == "a")).one()._mapping
        assert found == dict(expected)
        assert (found["done"], found["day"], found["note"]) == (True, date(2027, 1, 4), None)
        assert found["tries"] == 0
        assert found["at"].replace(tzinfo=UTC) == NOW
        with db.transaction() as tx:
            assert bump.scalar(tx.conn, {"key": "b", "by": 4}) == 7
            assert bump.run(tx.conn, {"key": "nobody", "by": 1}) == 0

    def test_a_fast_path_insert_fails_with_sqlalchemys_own_error(self, db: Database) -> None:
        with pytest.raises(IntegrityError), db.transaction() as tx:
            db.bulk_insert(tx.conn, db.counters, [{"key": "a", "last": 1}, {"key": "a", "last": 2}])
        with db.read() as conn:
            assert conn.execute(select(db.counters)).all() == []


class TestSqliteStore(StoreSuite):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/audit.db"

    def test_sqlite_stores_run_in_wal_mode(self, db: Database) -> None:
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.postgres
class TestPostgresStore(StoreSuite):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_processes_creating_one_schema_at_once_all_succeed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/race.db"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    script = (
        "import sys\n"
        "from services.contract.schemas import default_registry\n"
        "from services.applications.store import ApplicationsStore\n"
        "from services.platform.store import Database\n"
        "db = Database(sys.argv[1], service='applications', division='320102',\n"
        "              registry=default_registry())\n"
        "ApplicationsStore(db)\n"
        "db.dispose()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = [(p.wait(timeout=60), p.stderr.read() if p.stderr else "") for p in procs]
    assert results == [(0, "")] * 4
