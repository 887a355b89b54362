"""The catalog worker: applies provincial standards arriving from the parent node, and
relays the catalog's outbox.

At a city or county node the `catalog.standards` queue receives the province's item events
(federated downward by the broker, issue "Regions"); each keeps the standard current and makes
this node's implementations follow it. At the province the queue stays empty.
"""

from __future__ import annotations

from services.catalog.store import CatalogStore
from services.contract.envelope import Event
from services.contract.names import CATALOG, CATALOG_STANDARDS_QUEUE
from services.platform.worker import EventTracing, ServiceStore, contract_handler


class CatalogWorker:
    name = CATALOG

    store: CatalogStore = ServiceStore(CatalogStore)
    tracing = EventTracing()

    @contract_handler(CATALOG_STANDARDS_QUEUE)
    def on_standard(self, event: Event) -> None:
        self.store.apply_standard(event)
