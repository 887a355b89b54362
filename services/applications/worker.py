"""The applications worker: keeps the replica of catalog items (so intake works while
catalog is down) and relays the applications outbox."""

from __future__ import annotations

from services.applications.store import ApplicationsStore
from services.contract.envelope import Event
from services.contract.names import APPLICATIONS, APPLICATIONS_CATALOG_QUEUE
from services.platform.worker import EventTracing, ServiceStore, contract_handler


class ApplicationsWorker:
    name = APPLICATIONS

    store: ApplicationsStore = ServiceStore(ApplicationsStore)
    tracing = EventTracing()

    @contract_handler(APPLICATIONS_CATALOG_QUEUE)
    def on_catalog_item(self, event: Event) -> None:
        self.store.apply_item_event(event)
