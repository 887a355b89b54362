"""The catalog worker: relays the catalog's outbox (item events) to the broker.

Handlers for catalog standards arriving from the parent node come with issue "Regions".
"""

from __future__ import annotations

from services.catalog.store import CatalogStore
from services.contract.names import CATALOG
from services.platform.worker import EventTracing, ServiceStore


class CatalogWorker:
    name = CATALOG

    store: CatalogStore = ServiceStore(CatalogStore)
    tracing = EventTracing()
