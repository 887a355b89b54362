"""The audit worker: records every contract event of the node, and guards the ingress.

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
from services.platform.worker import EventPublisher, EventTracing, ServiceStore, contract_handler


class AuditWorker:
    name = AUDIT

    store: AuditStore = ServiceStore(AuditStore)
    publish = EventPublisher()
    tracing = EventTracing()

    @contract_handler(AUDIT_LOG_QUEUE)
    def record(self, event: Event) -> None:
        self.store.record(event)

    @contract_handler(INGRESS_GATE_QUEUE)
    def gate(self, event: Event) -> None:
        admit_ingress(event, default_registry(), self.store.db.source.division)
        self.publish(ACCEPTED_EXCHANGE, event)
