"""Delivery semantics of a worker, with its store on PostgreSQL: at-least-once in,
exactly-once effect, and a message whose handler keeps failing is dead-lettered to
govnet.rejected after the delivery limit instead of looping or vanishing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy

from services.audit.store import AuditStore
from services.contract import names
from services.contract.schemas import default_registry
from services.platform.store import Database, with_driver
from tests.support.events import evaluation, to_bytes
from tests.support.nodes import node_env, processes
from tests.support.taps import publish, tap
from tests.support.waiting import wait_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def audit_on_postgres(
    amqp_uri: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuditStore]:
    var = tmp_path_factory.mktemp("var")
    env = node_env(
        amqp_uri=amqp_uri,
        var_dir=var,
        GOVNET_AUDIT_DATABASE_URL=postgres_url,
        GOVNET_DELIVERY_LIMIT="2",
    )
    db = Database(postgres_url, service="audit", division="320000", registry=default_registry())
    store = AuditStore(db)
    with processes([("worker", ["audit"])], env, var / "run"):
        yield store
    db.dispose()


def test_a_redelivered_event_is_stored_once(amqp_uri: str, audit_on_postgres: AuditStore) -> None:
    event = evaluation()
    for _ in range(3):
        publish(amqp_uri, names.INGRESS_EXCHANGE, event["type"], to_bytes(event))
    later = evaluation(sequence=2)
    publish(amqp_uri, names.INGRESS_EXCHANGE, later["type"], to_bytes(later))

    def stored() -> list[str]:
        ids = [e.event_id for e in audit_on_postgres.events(page_size=100)]
        return ids if later["id"] in ids and event["id"] in ids else []

    assert sorted(wait_for(stored)) == sorted([event["id"], later["id"]])


def test_a_message_whose_handler_keeps_failing_is_dead_lettered_then_work_resumes(
    amqp_uri: str, audit_on_postgres: AuditStore
) -> None:
    engine = sqlalchemy.create_engine(with_driver(audit_on_postgres.db.url))
    with engine.begin() as conn:  # the store breaks under the worker
        conn.execute(sqlalchemy.text("ALTER TABLE log RENAME TO log_away"))
    doomed = evaluation()
    with tap(amqp_uri, names.REJECTED_EXCHANGE) as rejected:
        publish(amqp_uri, names.INGRESS_EXCHANGE, doomed["type"], to_bytes(doomed))
        [dead] = rejected.take(1, timeout=30)
    # The gate accepted it; recording it failed on every delivery, so the broker gave up.
    assert dead.routing_key == "evaluation.submitted"
    death = dead.headers["x-death"][0]
    assert death["queue"] == names.AUDIT_LOG_QUEUE
    assert death["reason"] == b"delivery_limit" or death["reason"] == "delivery_limit"
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("ALTER TABLE log_away RENAME TO log"))
    engine.dispose()

    healed = evaluation(sequence=2)
    publish(amqp_uri, names.INGRESS_EXCHANGE, healed["type"], to_bytes(healed))
    wait_for(
        lambda: [e for e in audit_on_postgres.events(page_size=100) if e.event_id == healed["id"]],
        what="an event recorded after the store came back",
    )
