"""The audit worker: appends every contract event of the node to the log, signs
checkpoints, and guards the ingress.

The gate validates what department systems publish to `govnet.ingress`: an event that
passes is republished unchanged (canonical form) to `govnet.accepted`, where audit and any
interested service consume it; one that fails goes to `govnet.rejected` with the reason.
"""

from __future__ import annotations

from services.audit.domain import admit_ingress
from services.audit.store import AuditStore
from services.contract.envelope import Event
from services.contract.names import ACCEPTED_EXCHANGE, AUDIT, AUDIT_LOG_QUEUE, INGRESS_GATE_QUEUE
from services.contract.schemas import default_registry
from services.platform.worker import (
    EventPublisher,
    EventTracing,
    ServiceStore,
    batch_handler,
    contract_handler,
    settings_timer,
)


class AuditWorker:
    name = AUDIT

    store: AuditStore = ServiceStore(AuditStore.writer)
    publish = EventPublisher()
    tracing = EventTracing()

    @batch_handler(AUDIT_LOG_QUEUE, batch_setting="audit_batch")
    def record(self, events: list[Event]) -> None:
        self.store.record_many(events)

    @contract_handler(INGRESS_GATE_QUEUE)
    def gate(self, event: Event) -> None:
        admit_ingress(event, default_registry(), self.store.db.source.division)
        self.publish(ACCEPTED_EXCHANGE, event)

    @settings_timer("checkpoint_interval")
    def checkpoint(self) -> None:
        self.store.checkpoint_if_grown()
