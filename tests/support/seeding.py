"""Put a store into a known state directly, as the events that feed it would."""

from __future__ import annotations

from datetime import UTC, datetime

from services.applications.store import ApplicationsStore
from services.catalog.domain import Item
from services.contract import names
from services.contract.envelope import Source, new_event
from services.contract.schemas import default_registry
from services.platform.settings import Settings
from services.platform.store import Database


def teach_applications(settings: Settings, *items: Item) -> None:
    """The applications replica learns `items` as if catalog had published them."""
    db = Database(
        settings.database_url_for("applications"),
        service="applications",
        division=settings.division,
        registry=default_registry(),
    )
    store = ApplicationsStore(db)
    for sequence, item in enumerate(items, start=1):
        published = new_event(
            default_registry(),
            names.ITEM_PUBLISHED,
            item.event_data(),
            source=Source.for_service(settings.division, "catalog"),
            now=datetime.now(UTC),
        ).with_sequence(sequence)
        store.apply_item_event(published)
    db.dispose()
