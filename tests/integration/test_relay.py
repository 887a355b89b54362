"""The outbox relay against a real RabbitMQ: confirms, leases, and a broker that is away."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.contract import names
from services.contract.envelope import decode
from services.contract.schemas import default_registry
from services.platform import amqp
from services.platform.errors import Unavailable
from services.platform.outbox import Relay
from services.platform.store import Database
from tests.integration.test_store import rejected_payload
from tests.support.taps import tap

NOW = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def topology(amqp_uri: str) -> str:
    with amqp.connect(amqp_uri) as conn:
        amqp.declare_topology(conn, delivery_limit=5)
    return amqp_uri


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/audit.db"
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(
        url, service="audit", division="320000", registry=default_registry(), clock=lambda: NOW
    )
    database.create_schema()
    yield database
    database.dispose()


def emit(db: Database, count: int) -> list[str]:
    ids = []
    for i in range(count):
        with db.transaction() as tx:
            ids.append(tx.emit(names.EVENT_REJECTED, rejected_payload(f"r{i}"), subject=f"s{i}").id)
    return ids


def test_relay_publishes_committed_events_with_their_attributes(
    db: Database, topology: str
) -> None:
    ids = emit(db, 3)
    with tap(topology, "audit.events") as events:
        relay = Relay(db, amqp.ConfirmingPublisher(topology), batch=2)
        assert relay.drain() == 3
        received = events.take(3)
    assert [m.properties.message_id for m in received] == ids
    assert {m.routing_key for m in received} == {names.EVENT_REJECTED}
    assert {m.properties.content_type for m in received} == {names.CONTENT_TYPE}
    assert {m.properties.delivery_mode for m in received} == {2}
    decoded = [decode(m.body, default_registry()) for m in received]
    assert [(e.sequence, e.subject) for e in decoded] == [(1, "s0"), (2, "s1"), (3, "s2")]
    assert db.pending_count() == 0


def test_a_sent_event_is_not_published_again(db: Database, topology: str) -> None:
    emit(db, 2)
    with tap(topology, "audit.events") as events:
        relay = Relay(db, amqp.ConfirmingPublisher(topology))
        assert relay.drain() == 2
        assert relay.drain() == 0
        events.take(2)
        assert events.quiet() == []


def test_two_relays_on_one_store_publish_every_event_exactly_once(
    db: Database, topology: str
) -> None:
    ids = emit(db, 60)
    with tap(topology, "audit.events") as events:
        relays = [Relay(db, amqp.ConfirmingPublisher(topology), batch=7) for _ in range(2)]
        threads = [threading.Thread(target=r.drain) for r in relays]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        received = events.take(60)
        assert events.quiet() == []
    assert sorted(m.properties.message_id for m in received) == sorted(ids)
    assert sum(r.published for r in relays) == 60


def test_when_the_broker_is_away_events_stay_pending_and_go_out_later(
    db: Database, topology: str
) -> None:
    emit(db, 4)
    away = Relay(db, amqp.ConfirmingPublisher("amqp://guest:guest@127.0.0.1:1/"))
    with pytest.raises(
        Unavailable, match=re.escape("no RabbitMQ broker answers at amqp://guest:***@127.0.0.1:1/")
    ):
        away.relay_once()
    assert db.pending_count() == 4
    with tap(topology, "audit.events") as events:
        # The failed relay released its claim, so another relay need not wait for the lease.
        assert Relay(db, amqp.ConfirmingPublisher(topology)).drain() == 4
        assert len(events.take(4)) == 4


def test_the_fast_path_publishes_commits_at_once_and_marks_them_sent(
    db: Database, topology: str
) -> None:
    from services.platform.outbox import FastPath, start_fast_path

    fast = FastPath(db, amqp.ConfirmingPublisher(topology))
    thread = start_fast_path(fast)
    with tap(topology, "audit.events") as events:
        ids = emit(db, 3)
        received = events.take(3)
    fast.stop()
    thread.join(10)
    assert [m.properties.message_id for m in received] == ids
    assert db.pending_count() == 0, "marked sent, so no relay publishes them again"


def test_events_the_fast_path_cannot_publish_go_back_to_the_relay_at_once(
    db: Database, topology: str
) -> None:
    from services.platform.outbox import FastPath, start_fast_path

    fast = FastPath(db, amqp.ConfirmingPublisher("amqp://guest:guest@127.0.0.1:1/"))
    thread = start_fast_path(fast)
    ids = emit(db, 2)
    fast.stop()
    thread.join(10)
    assert db.pending_count() == 2
    with tap(topology, "audit.events") as events:
        # Not after the 30-second lease: the fast path handed them back.
        assert Relay(db, amqp.ConfirmingPublisher(topology)).relay_once() == 2
        assert [m.properties.message_id for m in events.take(2)] == ids
