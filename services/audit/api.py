"""The audit gRPC API: the log, its replay, its signed checkpoints and their proofs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from govnet.audit.v1 import audit_pb2 as pb
from govnet.audit.v1 import audit_pb2_grpc as pb_grpc
from services.audit.domain import ReplayFilter
from services.audit.store import MAX_PAGE, AuditStore, Entry, StoredCheckpoint
from services.platform.errors import InvalidArgument
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

    def Replay(self, request: pb.ReplayRequest, context: Any) -> Iterator[pb.ReplayChunk]:
        where = ReplayFilter.parse(
            division=request.division,
            source=request.source,
            type=request.type,
            subject=request.subject,
            time_from=_time(request, "time_from"),
            time_to=_time(request, "time_to"),
        )
        if request.until_index < 0:
            raise InvalidArgument.single("until_index", "must be 0 (the end) or a log index")
        current = self.store.size()
        size = min(request.until_index, current) if request.until_index else current
        with_leaves = request.with_leaf_hashes
        for chunk in self.store.scan(
            where,
            after_index=request.after_index,
            until_index=size,
            chunk_size=request.chunk_size,
            with_leaves=with_leaves,
        ):
            yield pb.ReplayChunk(
                log_index=chunk.indexes,
                events=chunk.events,
                leaf_hashes=chunk.leaves,
                types=chunk.types,
                scanned_to=chunk.scanned_to,
                log_size=size,
            )

    def GetCheckpoint(self, request: pb.GetCheckpointRequest, context: Any) -> pb.Checkpoint:
        return checkpoint_to_proto(self.store.checkpoint(request.size))

    def ListCheckpoints(
        self, request: pb.ListCheckpointsRequest, context: Any
    ) -> pb.ListCheckpointsResponse:
        if not 0 <= request.page_size <= MAX_PAGE:
            raise InvalidArgument.single("page_size", f"must be between 0 and {MAX_PAGE}")
        found = self.store.checkpoints(
            after_size=request.after_size, limit=request.page_size or MAX_PAGE
        )
        return pb.ListCheckpointsResponse(checkpoints=[checkpoint_to_proto(c) for c in found])

    def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: Any
    ) -> pb.InclusionProof:
        if request.log_index and (request.source or request.id):
            raise InvalidArgument.single(
                "log_index", "name the entry by log_index or by source and id, not both"
            )
        if request.log_index:
            entry = self.store.entry(request.log_index)
        elif request.source and request.id:
            entry = self.store.find(request.source, request.id)
        else:
            raise InvalidArgument.single("log_index", "required (or source and id)")
        signed = self.store.checkpoint(request.tree_size)
        if entry.log_index > signed.size:
            raise InvalidArgument.single(
                "tree_size",
                f"the checkpoint of size {signed.size} does not cover entry {entry.log_index} "
                "yet; ask again after the next checkpoint",
            )
        return pb.InclusionProof(
            log_index=entry.log_index,
            tree_size=signed.size,
            leaf_hash=entry.leaf_hash,
            hashes=self.store.inclusion_proof(entry.log_index, signed.size),
            event=entry.canonical,
            checkpoint=checkpoint_to_proto(signed),
        )

    def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: Any
    ) -> pb.ConsistencyProof:
        signed = self.store.checkpoint(request.second)
        if not 1 <= request.first <= signed.size:
            raise InvalidArgument.single(
                "first", f"must be between 1 and the checkpoint's size {signed.size}"
            )
        return pb.ConsistencyProof(
            first=request.first,
            second=signed.size,
            hashes=self.store.consistency_proof(request.first, signed.size),
            checkpoint=checkpoint_to_proto(signed),
        )


def registration(store: AuditStore) -> Registration:
    return Registration(
        pb_grpc.add_AuditServiceServicer_to_server,
        AuditApi(store),
        pb.DESCRIPTOR.services_by_name["AuditService"].full_name,
    )


def _time(request: pb.ReplayRequest, field: str) -> datetime | None:
    if not request.HasField(field):
        return None
    value: Timestamp = getattr(request, field)
    return value.ToDatetime(tzinfo=UTC)


def _timestamp(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


def checkpoint_to_proto(signed: StoredCheckpoint) -> pb.Checkpoint:
    checkpoint = signed.checkpoint
    return pb.Checkpoint(
        origin=checkpoint.origin,
        size=checkpoint.size,
        root=checkpoint.root,
        time=_timestamp(checkpoint.time),
        note=signed.note,
        verifier_key=signed.key,
    )


def to_proto(entry: Entry) -> pb.AuditEvent:
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
        time=_timestamp(entry.time),
        recorded_at=_timestamp(entry.recorded_at),
        dataschema=entry.dataschema,
        data=data,
        leaf_hash=entry.leaf_hash,
    )
