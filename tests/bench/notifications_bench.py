"""Events in → inbox notifications stored, per second, through the real notifications
worker, next to the raw consume rate of the same events (tests/bench/broker.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from services.contract import names
from services.contract.schemas import default_registry
from services.notifications.store import NotificationsStore
from services.platform import amqp
from services.platform.settings import Settings
from services.platform.store import Database
from tests.support.audit_logs import synthetic_events
from tests.support.nodes import node_env, processes
from tests.support.taps import publish_many
from tests.support.waiting import wait_for


@dataclass(frozen=True)
class Ingest:
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def inbox_ingest(amqp_uri: str, count: int, workdir: Path) -> Ingest:
    """`count` application.submitted events queued first; then the notifications worker
    starts, and the rate is timed from its first stored message to the last."""
    with amqp.connect(amqp_uri) as conn:
        amqp.declare_topology(conn, delivery_limit=10)
    events = synthetic_events(count)
    for start in range(0, count, 5000):
        publish_many(
            amqp_uri,
            "applications.events",
            [(names.APPLICATION_SUBMITTED, e) for e in events[start : start + 5000]],
        )
    env = node_env(amqp_uri=amqp_uri, var_dir=workdir / "var", division="320000")
    settings = Settings.from_environment(env)
    db = Database(
        settings.database_url_for("notifications"),
        service="notifications",
        division="320000",
        registry=default_registry(),
    )
    store = NotificationsStore(db, settings=settings)
    with processes([("worker", ["notifications"])], env, workdir / "run"):
        first = wait_for(lambda: store.count() > 0 and (time.perf_counter(), store.count()),
                         timeout=120)  # fmt: skip
        wait_for(lambda: store.count() >= count, timeout=600, what=f"{count} inbox messages")
        last = time.perf_counter()
    db.dispose()
    began, already = first
    return Ingest(count - already, last - began)
