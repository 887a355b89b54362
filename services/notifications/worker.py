"""The notifications worker: turns applications events into messages for applicants."""

from __future__ import annotations

from services.contract.envelope import Event
from services.contract.names import NOTIFICATIONS, NOTIFICATIONS_APPLICATIONS_QUEUE
from services.notifications.store import NotificationsStore
from services.platform.worker import EventTracing, ServiceStore, contract_handler


class NotificationsWorker:
    name = NOTIFICATIONS

    store: NotificationsStore = ServiceStore(NotificationsStore)
    tracing = EventTracing()

    @contract_handler(NOTIFICATIONS_APPLICATIONS_QUEUE)
    def on_application_event(self, event: Event) -> None:
        self.store.notify_applicant(event)
