"""The applications worker: keeps the replica of catalog items (so intake works while
catalog is down), records evaluations that department systems collect, runs electronic
supervision (电子监察) on a timer, and relays the applications outbox."""

from __future__ import annotations

import logging
from collections import Counter

from services.applications.store import ApplicationsStore
from services.contract.envelope import Event
from services.contract.names import (
    APPLICATIONS,
    APPLICATIONS_CATALOG_QUEUE,
    APPLICATIONS_EVALUATIONS_QUEUE,
)
from services.platform.worker import (
    EventTracing,
    ServiceStore,
    batch_handler,
    contract_handler,
    settings_timer,
)

log = logging.getLogger(__name__)


class ApplicationsWorker:
    name = APPLICATIONS

    store: ApplicationsStore = ServiceStore(ApplicationsStore)
    tracing = EventTracing()

    @batch_handler(APPLICATIONS_CATALOG_QUEUE, batch_setting="consume_batch")
    def on_catalog_items(self, events: list[Event]) -> None:
        self.store.apply_item_events(events)

    @contract_handler(APPLICATIONS_EVALUATIONS_QUEUE)
    def on_evaluation(self, event: Event) -> None:
        self.store.record_evaluation(event)

    @settings_timer("supervision_interval", eager=True)
    def supervise(self) -> None:
        announced = self.store.supervise()
        if announced:
            counts = Counter(t.event_type for t in announced)
            log.info("supervision: %s", dict(counts), extra={"announced": len(announced)})
