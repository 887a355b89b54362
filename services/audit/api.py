"""The audit gRPC API: the log, its replay, its signed checkpoints and their proofs."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

import grpc
from google.protobuf.message_factory import GetMessageClass
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from govnet.audit.v1 import audit_pb2 as pb
from govnet.audit.v1 import audit_pb2_grpc as pb_grpc
from services.audit.domain import ReplayFilter
from services.audit.store import (
    MAX_CHUNK,
    MAX_PAGE,
    AuditStore,
    Chunk,
    Entry,
    StoredCheckpoint,
)
from services.contract.envelope import parse_source
from services.contract.errors import ContractError, FieldViolation
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

    def Replay(self, request: pb.ReplayRequest, context: Any) -> Iterator[pb.ReplayChunk | bytes]:
        """The matching entries in log order, a chunk per message; with `jsonl`, each
        chunk comes already serialised (`jsonl_chunk`), which `add_to_server` sends as
        it is. Every bad field is refused at once, before anything is read."""
        problems: list[FieldViolation] = []
        try:
            where = ReplayFilter.parse(
                division=request.division,
                source=request.source,
                type=request.type,
                subject=request.subject,
                time_from=_time(request, "time_from"),
                time_to=_time(request, "time_to"),
            )
        except InvalidArgument as exc:
            problems += exc.violations
        if request.after_index < 0:
            problems.append(FieldViolation("after_index", "must be 0 or a log index"))
        if request.until_index < 0:
            problems.append(FieldViolation("until_index", "must be 0 (the end) or a log index"))
        elif 0 < request.until_index < request.after_index:
            problems.append(
                FieldViolation(
                    "until_index",
                    f"is {request.until_index}, before after_index ({request.after_index}); "
                    "give 0 (the end) or a log index from after_index on",
                )
            )
        if not 0 <= request.chunk_size <= MAX_CHUNK:
            problems.append(FieldViolation("chunk_size", f"must be between 0 and {MAX_CHUNK}"))
        if problems:
            raise InvalidArgument(problems)
        current = self.store.size()
        size = min(request.until_index, current) if request.until_index else current
        chunks = self.store.scan(
            where,
            after_index=request.after_index,
            until_index=size,
            chunk_size=request.chunk_size,
            with_leaves=request.with_leaf_hashes,
        )
        for chunk in chunks:
            for piece in within(chunk, MAX_MESSAGE_BYTES):
                if request.jsonl:
                    yield jsonl_chunk(piece, size)
                    continue
                yield pb.ReplayChunk(
                    log_index=piece.indexes,
                    events=piece.events,
                    leaf_hashes=piece.leaves,
                    types=piece.types,
                    scanned_to=piece.scanned_to,
                    log_size=size,
                )

    def GetCheckpoint(self, request: pb.GetCheckpointRequest, context: Any) -> pb.Checkpoint:
        _require(_signed_size("size", request.size))
        return checkpoint_to_proto(self.store.checkpoint(request.size))

    def ListCheckpoints(
        self, request: pb.ListCheckpointsRequest, context: Any
    ) -> pb.ListCheckpointsResponse:
        problems: list[FieldViolation] = []
        if request.after_size < 0:
            problems.append(FieldViolation("after_size", "must be 0 or a tree size"))
        if not 0 <= request.page_size <= MAX_PAGE:
            problems.append(FieldViolation("page_size", f"must be between 0 and {MAX_PAGE}"))
        _require(problems)
        found = self.store.checkpoints(
            after_size=request.after_size, limit=request.page_size or MAX_PAGE
        )
        return pb.ListCheckpointsResponse(checkpoints=[checkpoint_to_proto(c) for c in found])

    def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: Any
    ) -> pb.InclusionProof:
        problems = _signed_size("tree_size", request.tree_size)
        by_event = bool(request.source or request.id)
        if request.log_index < 0:
            problems.append(FieldViolation("log_index", "must be a log index (from 1)"))
        if request.log_index and by_event:
            problems.append(
                FieldViolation(
                    "log_index", "name the entry by log_index or by source and id, not both"
                )
            )
        elif not request.log_index and not by_event:
            problems.append(FieldViolation("log_index", "required (or source and id)"))
        elif by_event:
            if not request.source:
                problems.append(FieldViolation("source", "required with id"))
            else:
                try:
                    parse_source(request.source)
                except ContractError as exc:
                    problems.append(FieldViolation("source", exc.violations[0].reason))
            if not request.id:
                problems.append(FieldViolation("id", "required with source"))
        _require(problems)
        if request.log_index:
            entry = self.store.entry(request.log_index)
        else:
            entry = self.store.find(request.source, request.id)
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
        problems = _signed_size("second", request.second)
        if request.first < 1:
            problems.append(FieldViolation("first", "must be an earlier tree size (from 1)"))
        _require(problems)
        signed = self.store.checkpoint(request.second)
        if request.first > signed.size:
            raise InvalidArgument.single(
                "first", f"must be between 1 and the checkpoint's size {signed.size}"
            )
        return pb.ConsistencyProof(
            first=request.first,
            second=signed.size,
            hashes=self.store.consistency_proof(request.first, signed.size),
            checkpoint=checkpoint_to_proto(signed),
        )


def _signed_size(field: str, value: int) -> list[FieldViolation]:
    """A request field naming a signed checkpoint by its size (0: the latest)."""
    if value < 0:
        return [FieldViolation(field, "must be 0 (the latest checkpoint) or a checkpoint's size")]
    return []


def _require(problems: list[FieldViolation]) -> None:
    if problems:
        raise InvalidArgument(problems)


def registration(store: AuditStore) -> Registration:
    return Registration(
        add_to_server, AuditApi(store), pb.DESCRIPTOR.services_by_name["AuditService"].full_name
    )


def add_to_server(servicer: AuditApi, server: grpc.Server) -> None:
    """As the generated `add_AuditServiceServicer_to_server`, except that `Replay` may
    yield a chunk already serialised (`jsonl_chunk`)."""
    service = pb.DESCRIPTOR.services_by_name["AuditService"]
    handlers = {}
    for method in service.methods:
        request = GetMessageClass(method.input_type)
        response = GetMessageClass(method.output_type)
        if method.server_streaming:
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                getattr(servicer, method.name),
                request_deserializer=request.FromString,
                response_serializer=_serialized,
            )
        else:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                getattr(servicer, method.name),
                request_deserializer=request.FromString,
                response_serializer=response.SerializeToString,
            )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)


def _serialized(message: Any) -> bytes:
    return message if isinstance(message, bytes) else bytes(message.SerializeToString())


MAX_MESSAGE_BYTES = 2 << 20
"""Bytes of events in one replayed message, at most (but at least one event): far below the
4 MiB a gRPC client receives by default."""


def within(chunk: Chunk, limit: int) -> Iterator[Chunk]:
    """`chunk` cut into runs whose events hold at most `limit` bytes (or one event each);
    every run but the last is scanned up to its own last entry."""
    ends = list(accumulate(map(len, chunk.events)))
    if not ends or ends[-1] <= limit:
        yield chunk
        return
    start = 0
    while start < len(ends):
        base = ends[start - 1] if start else 0
        stop = max(start + 1, bisect.bisect_right(ends, base + limit))
        last = stop == len(ends)
        yield Chunk(
            chunk.indexes[start:stop],
            chunk.events[start:stop],
            chunk.leaves[start:stop],
            chunk.types[start:stop],
            chunk.scanned_to if last else chunk.indexes[stop - 1],
        )
        start = stop


_EVENTS_JSONL = bytes([pb.ReplayChunk.EVENTS_JSONL_FIELD_NUMBER << 3 | 2])  # length-delimited


def jsonl_chunk(chunk: Chunk, log_size: int) -> bytes:
    """The serialised `ReplayChunk` of `chunk` with its events as JSON Lines.

    Protobuf would copy every event into the message and out of it again; here they are
    copied once, straight into the serialised bytes: the other fields as protobuf
    serialises them, then field `events_jsonl` appended (a message is the concatenation
    of its fields)."""
    head = pb.ReplayChunk(
        log_index=chunk.indexes,
        leaf_hashes=chunk.leaves,
        types=chunk.types,
        scanned_to=chunk.scanned_to,
        log_size=log_size,
    ).SerializeToString()
    count = len(chunk.events)
    if not count:
        return bytes(head)
    parts: list[bytes] = [b"\n"] * (2 * count + 1)
    parts[1::2] = chunk.events
    size = sum(map(len, chunk.events)) + count
    parts[0] = head + _EVENTS_JSONL + _varint(size)
    return b"".join(parts)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


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
