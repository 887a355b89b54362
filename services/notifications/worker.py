"""The notifications worker: turns events into messages for applicants and departments,
sends emails and SMS, and follows up (evaluation invitations, missed rectifications). It
also tells this level's supervision office of rectifications escalated by the nodes below."""

from __future__ import annotations

import logging
from typing import Any

from nameko.extensions import DependencyProvider

from services.contract.envelope import Event
from services.contract.names import (
    NOTIFICATIONS,
    NOTIFICATIONS_APPLICATIONS_QUEUE,
    NOTIFICATIONS_CATALOG_QUEUE,
    NOTIFICATIONS_FROM_BELOW_QUEUE,
)
from services.notifications.delivery import Deliverer
from services.notifications.store import NotificationsStore
from services.platform.worker import (
    EventTracing,
    ServiceRuntime,
    ServiceStore,
    batch_handler,
    contract_handler,
    settings_timer,
)

log = logging.getLogger(__name__)


class DeliveryLoop(DependencyProvider):
    """Sends due emails and SMS in a managed thread: woken after new ones are stored, and
    every `GOVNET_DELIVERY_INTERVAL` seconds for retries and deferred ones. Gives workers
    `wake()`."""

    runtime = ServiceRuntime()

    def setup(self) -> None:
        import eventlet.event

        store = self.runtime.store(NotificationsStore)
        self.interval = self.runtime.settings.delivery_interval
        self.deliverer = Deliverer.from_settings(store, self.runtime.settings)
        self._woken: Any = eventlet.event.Event()
        self._running = True

    def start(self) -> None:
        self.container.spawn_managed_thread(self._loop, identifier="delivery-loop")

    def stop(self) -> None:
        self._running = False
        self.wake()

    def kill(self) -> None:
        self.stop()

    def wake(self) -> None:
        if not self._woken.ready():
            self._woken.send(True)

    def _loop(self) -> None:
        import eventlet
        import eventlet.event

        while self._running:
            try:
                while self._running and self.deliverer.run_once():
                    pass
            except Exception:  # the store is busy or away: try again next round
                log.exception("a delivery round failed")
            with eventlet.Timeout(self.interval, False):
                self._woken.wait()
            self._woken = eventlet.event.Event()
        self.deliverer.close()

    def get_dependency(self, worker_ctx: Any) -> Any:
        return self.wake


class NotificationsWorker:
    name = NOTIFICATIONS

    store: NotificationsStore = ServiceStore(NotificationsStore)
    wake_delivery = DeliveryLoop()
    tracing = EventTracing()

    @batch_handler(NOTIFICATIONS_APPLICATIONS_QUEUE, batch_setting="consume_batch")
    def on_application_events(self, events: list[Event]) -> None:
        if self.store.apply_many(events).to_deliver:  # inbox messages are delivered already
            self.wake_delivery()

    @contract_handler(NOTIFICATIONS_CATALOG_QUEUE)
    def on_catalog_event(self, event: Event) -> None:
        self.store.handle(event)

    @contract_handler(NOTIFICATIONS_FROM_BELOW_QUEUE)
    def on_escalation_from_below(self, event: Event) -> None:
        """A missed rectification escalated by a node below: this node's supervision
        office hears of it when it is for this division (the store decides)."""
        if self.store.apply_many([event]).to_deliver:
            self.wake_delivery()

    @settings_timer("follow_up_interval")
    def follow_up(self) -> None:
        if any(self.store.follow_up()):
            self.wake_delivery()
