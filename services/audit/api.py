"""The audit gRPC API."""

from __future__ import annotations

from typing import Any

from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from govnet.audit.v1 import audit_pb2 as pb
from govnet.audit.v1 import audit_pb2_grpc as pb_grpc
from services.audit.store import AuditStore, Entry
from services.platform.grpc_server import Registration


class AuditApi(pb_grpc.AuditServiceServicer):
    def __init__(self, store: AuditStore) -> None:
        self.store = store

    def ListEvents(self, request: pb.ListEventsRequest, context: Any) -> pb.ListEventsResponse:
        entries = self.store.events(
            after_index=request.after_index,
            page_size=request.page_size,
            type=request.type,
            subject=request.subject,
            source=request.source,
        )
        last = entries[-1].log_index if entries else request.after_index
        return pb.ListEventsResponse(events=[to_proto(e) for e in entries], last_index=last)


def registration(store: AuditStore) -> Registration:
    return Registration(
        pb_grpc.add_AuditServiceServicer_to_server,
        AuditApi(store),
        pb.DESCRIPTOR.services_by_name["AuditService"].full_name,
    )


def to_proto(entry: Entry) -> pb.AuditEvent:
    time, recorded = Timestamp(), Timestamp()
    time.FromDatetime(entry.time)
    recorded.FromDatetime(entry.recorded_at)
    data = Struct()
    data.update(entry.data)
    return pb.AuditEvent(
        log_index=entry.log_index,
        id=entry.event_id,
        source=entry.source,
        type=entry.type,
        subject=entry.subject or "",
        division=entry.division,
        sequence=entry.sequence,
        time=time,
        recorded_at=recorded,
        dataschema=entry.dataschema,
        data=data,
    )
