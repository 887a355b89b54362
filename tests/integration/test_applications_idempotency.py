"""Idempotent intake under concurrency, on PostgreSQL (where writers really run in
parallel): a client that retries `Submit` while its first call is still being handled gets
the one case, never an internal error, and the case number sequence keeps no gap."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from services.applications.domain import Applicant, Case, Submission
from services.applications.store import ApplicationsStore, cases
from services.catalog.domain import Guide, GuideMaterial
from services.contract import names
from services.contract.schemas import default_registry
from services.platform.errors import FailedPrecondition
from services.platform.store import Database
from tests.integration.test_applications_lifecycle import ITEM, MONDAY, RESIDENT, catalog_event


def submission(request_id: str = "web-7f3a", name: str = "王五") -> Submission:
    return Submission(
        request_id,
        ITEM.implementation_code,
        Applicant("natural", name, RESIDENT, "13912345678"),
        "web",
        ("食品经营许可申请书",),
    )


@pytest.fixture
def store(postgres_url: str) -> Iterator[ApplicationsStore]:
    db = Database(
        postgres_url,
        service="applications",
        division="320102",
        registry=default_registry(),
        clock=lambda: MONDAY,
    )
    store = ApplicationsStore(db)
    store.apply_item_event(catalog_event(names.ITEM_PUBLISHED, ITEM.event_data(), 1))
    guide = Guide(ITEM.implementation_code, materials=(GuideMaterial("食品经营许可申请书"),))
    store.apply_item_event(catalog_event(names.GUIDE_PUBLISHED, guide.event_data(ITEM), 2))
    yield store
    db.dispose()


def race(store: ApplicationsStore, first: Submission, second: Submission) -> list[Any]:
    """Submit both at once: each looks for its request id before either has stored a case
    (a barrier holds the first two look-ups until both were made)."""
    both_looked = threading.Barrier(2, timeout=30)
    look_up = store._by_request
    calls = 0
    lock = threading.Lock()

    def looking(conn: Any, request_id: str) -> Case | None:
        nonlocal calls
        found = look_up(conn, request_id)
        with lock:
            calls += 1
            racing = calls <= 2
        if racing:
            both_looked.wait()
        return found

    store._by_request = looking  # type: ignore[method-assign]
    outcomes: list[Any] = [None, None]

    def run(index: int, given: Submission) -> None:
        try:
            outcomes[index] = store.submit(given)
        except Exception as exc:  # the outcome is asserted, whatever it is
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.postgres
def test_a_retry_racing_its_first_submit_returns_the_same_case(store: ApplicationsStore) -> None:
    outcomes = race(store, submission(), submission())

    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    (one, one_new), (other, other_new) = outcomes
    assert one.case_number == other.case_number == "320102-20261123-000001"
    assert sorted((one_new, other_new)) == [False, True]
    with store.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(cases)).scalar() == 1
    # The loser's increment of the day's sequence was taken back: the next case is 000002.
    case, created = store.submit(submission("web-8b41"))
    assert (case.case_number, created) == ("320102-20261123-000002", True)


@pytest.mark.postgres
def test_a_request_id_racing_a_different_application_is_refused_by_name(
    store: ApplicationsStore,
) -> None:
    outcomes = race(store, submission(name="王五"), submission(name="王五六"))

    stored = [o for o in outcomes if isinstance(o, tuple)]
    refused = [o for o in outcomes if isinstance(o, FailedPrecondition)]
    assert (len(stored), len(refused)) == (1, 1), outcomes
    assert str(refused[0]) == (
        "request_id web-7f3a was already used for case 320102-20261123-000001 with different "
        "content"
    )
