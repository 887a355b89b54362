"""The auditor's side: replay, export, proofs and reports against a node's audit API.

Nothing here trusts the node: proofs are verified locally against a signed checkpoint,
with a key the auditor pins (`--key`) or, failing that, the key the node names (and the
output says which).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from govnet.audit.v1 import audit_pb2 as pb
from govnet.audit.v1 import audit_pb2_grpc as pb_grpc
from services.audit.domain import ReplayFilter
from services.audit.export import ExportWriter
from services.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from services.audit.notes import NoteError, SignedCheckpoint, VerifierKey, open_note
from services.contract import names
from services.platform import amqp

RETRIES = 5
Advance = Callable[[int], None]


class AuditClientError(Exception):
    """Something an auditor can act on: the node's answer, or a proof that fails."""


def stub(channel: grpc.Channel) -> pb_grpc.AuditServiceStub:
    return pb_grpc.AuditServiceStub(channel)


def replay_request(
    where: ReplayFilter, *, after: int = 0, until: int = 0, with_leaves: bool = False
) -> pb.ReplayRequest:
    request = pb.ReplayRequest(
        after_index=after,
        until_index=until,
        division=where.division,
        source=where.source,
        type=where.type,
        subject=where.subject,
        with_leaf_hashes=with_leaves,
        chunk_size=1000,
        jsonl=True,
    )
    for name, value in (("time_from", where.time_from), ("time_to", where.time_to)):
        if value is not None:
            stamp = Timestamp()
            stamp.FromDatetime(value)
            getattr(request, name).CopyFrom(stamp)
    return request


def replay(
    audit: pb_grpc.AuditServiceStub, request: pb.ReplayRequest, *, on_size: Advance | None = None
) -> Iterator[pb.ReplayChunk]:
    """The chunks of a replay; after a dropped stream it resumes where it got to."""
    position, until = request.after_index, request.until_index
    attempts = 0
    while True:
        resumed = pb.ReplayRequest()
        resumed.CopyFrom(request)
        resumed.after_index, resumed.until_index = position, until
        try:
            for chunk in audit.Replay(resumed):
                if not until:
                    until = chunk.log_size  # a resumed replay stops where the first one would
                    if on_size is not None:
                        on_size(max(0, until - request.after_index))
                position = chunk.scanned_to
                attempts = 0
                yield chunk
            return
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or attempts >= RETRIES:
                raise
            attempts += 1
            time.sleep(0.2 * 2**attempts)


def events_of(chunk: pb.ReplayChunk) -> list[bytes]:
    """A chunk's events, each its canonical bytes, however the node sent them."""
    jsonl = chunk.events_jsonl
    if jsonl:
        return jsonl.split(b"\n")[:-1]
    return list(chunk.events)


_ID = b',"id":"'


def event_id_of(event: bytes) -> str | None:
    """The `id` of an event given as its canonical bytes, read without parsing them all:
    `data` sorts first and every attribute after it is a string, a number or a boolean, so
    the last `,"id":"` is the envelope's (a JSON string holds no bare `"`)."""
    at = event.rfind(_ID)
    end = event.find(b'"', at + len(_ID)) if at >= 0 else -1
    if end < 0:
        found = json.loads(event).get("id")
        return found if isinstance(found, str) else None
    return event[at + len(_ID) : end].decode()


def write_jsonl(
    chunks: Iterator[pb.ReplayChunk], out: IO[bytes], *, start: int, advance: Advance
) -> tuple[int, int]:
    """Write each replayed event as one line (its canonical bytes); return how many, and
    the log index to resume after."""
    count, position = 0, start
    for chunk in chunks:
        jsonl = chunk.events_jsonl
        if jsonl:
            out.write(jsonl)
        else:
            out.writelines(event + b"\n" for event in chunk.events)
        count += len(chunk.log_index)
        advance(chunk.scanned_to - position)
        position = chunk.scanned_to
    return count, position


@dataclass
class Republished:
    count: int
    last_index: int


FORBIDDEN_TARGETS = frozenset(
    {
        names.INGRESS_EXCHANGE,
        names.ACCEPTED_EXCHANGE,
        names.REJECTED_EXCHANGE,
        names.STANDARDS_EXCHANGE,
        *(names.events_exchange(s) for s in names.SERVICES),
    }
)


def republish(
    chunks: Iterator[pb.ReplayChunk],
    amqp_uri: str,
    exchange: str,
    *,
    origin: str,
    start: int,
    advance: Advance,
    batch: int = 500,
) -> Republished:
    """Publish every replayed event to `exchange` (routing key = type, publisher confirms),
    so that a new consumer can rebuild its state from history. The node's own exchanges
    are refused: their live consumers would see history twice."""
    if exchange in FORBIDDEN_TARGETS:
        raise AuditClientError(
            f"{exchange} is one of the node's own exchanges; replay into an exchange of "
            "your own, bound to the queue of the consumer that rebuilds"
        )
    with amqp.connect(amqp_uri) as conn:
        try:
            conn.default_channel.exchange_declare(exchange, "topic", passive=True)
        except Exception as exc:  # amqp.exceptions.NotFound, by channel error code
            raise AuditClientError(
                f"exchange {exchange!r} does not exist on the broker ({exc}); declare it and "
                "bind your consumer's queue first"
            ) from None
    publisher = amqp.ConfirmingPublisher(amqp_uri)
    count = last = 0
    pending: list[amqp.Outgoing] = []

    def flush() -> None:
        if pending and not all(publisher.publish(pending)):
            raise AuditClientError("the broker did not confirm every replayed event")
        pending.clear()

    try:
        for chunk in chunks:
            for index, event_bytes, event_type in zip(
                chunk.log_index, events_of(chunk), chunk.types, strict=True
            ):
                event_id = event_id_of(event_bytes)
                headers = {"x-govnet-replayed-from": origin, "x-govnet-log-index": index}
                pending.append(amqp.Outgoing(exchange, event_type, event_bytes, event_id, headers))
                if len(pending) >= batch:
                    flush()
                count, last = count + 1, index
            flush()
            advance(chunk.scanned_to - start)
            start = chunk.scanned_to
    finally:
        publisher.close()
    return Republished(count, last)


# -- checkpoints and proofs ---------------------------------------------------------------


def trusted_key(pinned: str | None, checkpoint: pb.Checkpoint) -> tuple[VerifierKey, bool]:
    """The key to check signatures with, and whether the auditor pinned it."""
    text = pinned or checkpoint.verifier_key
    try:
        return VerifierKey.parse(text), bool(pinned)
    except NoteError as exc:
        where = "--key" if pinned else "the node's verifier key"
        raise AuditClientError(f"{where}: {exc}") from None


def check_signed(checkpoint: pb.Checkpoint, key: VerifierKey) -> SignedCheckpoint:
    try:
        signed = open_note(checkpoint.note, key)
    except NoteError as exc:
        raise AuditClientError(f"the checkpoint of size {checkpoint.size}: {exc}") from None
    if signed.checkpoint.size != checkpoint.size or signed.checkpoint.root != checkpoint.root:
        raise AuditClientError("the checkpoint's fields disagree with its signed note")
    return signed


@dataclass
class InclusionResult:
    proof: pb.InclusionProof
    signed: SignedCheckpoint
    pinned: bool


def prove_inclusion(
    audit: pb_grpc.AuditServiceStub,
    request: pb.GetInclusionProofRequest,
    pinned_key: str | None,
) -> InclusionResult:
    """Fetch and verify locally that an entry is in a signed checkpoint's tree."""
    proof = audit.GetInclusionProof(request, timeout=30)
    key, pinned = trusted_key(pinned_key, proof.checkpoint)
    signed = check_signed(proof.checkpoint, key)
    _check_signed_size(request.tree_size, signed)
    if proof.tree_size != signed.checkpoint.size:
        raise AuditClientError(
            f"the node's proof is for a tree of {proof.tree_size} entries, but its checkpoint "
            f"signs {signed.checkpoint.size}"
        )
    if leaf_hash(proof.event) != proof.leaf_hash:
        raise AuditClientError("the entry's bytes do not hash to the leaf the node gave")
    _check_proved_entry(request, proof)
    if not verify_inclusion(
        proof.leaf_hash,
        proof.log_index - 1,
        proof.tree_size,
        list(proof.hashes),
        signed.checkpoint.root,
    ):
        raise AuditClientError(
            f"the inclusion proof of entry {proof.log_index} does not verify against the "
            f"signed root of size {proof.tree_size}"
        )
    return InclusionResult(proof, signed, pinned)


def _check_signed_size(asked: int, signed: SignedCheckpoint) -> None:
    """The node answered with the checkpoint asked for (`asked`: its size, 0 = the latest)."""
    if asked and signed.checkpoint.size != asked:
        raise AuditClientError(
            f"asked for the checkpoint of size {asked}, the node answered with the one of "
            f"size {signed.checkpoint.size}"
        )


def _check_proved_entry(request: pb.GetInclusionProofRequest, proof: pb.InclusionProof) -> None:
    """The node proved the entry asked for, not another one that is in the log too."""
    if request.log_index:
        if proof.log_index != request.log_index:
            raise AuditClientError(
                f"asked for entry {request.log_index}, the node proved entry {proof.log_index}"
            )
        return
    try:
        event = json.loads(proof.event)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        raise AuditClientError(f"the node proved entry {proof.log_index}, which is not an event")
    if (event.get("source"), event.get("id")) != (request.source, request.id):
        raise AuditClientError(
            f"asked for event {request.id} of {request.source}, the node proved entry "
            f"{proof.log_index}: event {event.get('id')} of {event.get('source')}"
        )


@dataclass
class ConsistencyResult:
    proof: pb.ConsistencyProof
    first: SignedCheckpoint
    second: SignedCheckpoint
    pinned: bool
    first_from_node: bool


def prove_consistency(
    audit: pb_grpc.AuditServiceStub,
    *,
    first: int,
    second: int,
    pinned_key: str | None,
    held: str | None,
) -> ConsistencyResult:
    """Fetch and verify locally that the checkpoint of `second` extends the tree of
    `first`: from the auditor's own copy of that checkpoint (`held`, a signed note), or
    else the node's."""
    proof = audit.GetConsistencyProof(
        pb.GetConsistencyProofRequest(first=first, second=second), timeout=30
    )
    key, pinned = trusted_key(pinned_key, proof.checkpoint)
    later = check_signed(proof.checkpoint, key)
    _check_signed_size(second, later)
    if held is not None:
        try:
            earlier = open_note(held, key)
        except NoteError as exc:
            raise AuditClientError(f"your checkpoint: {exc}") from None
        if earlier.checkpoint.size != first:
            raise AuditClientError(
                f"your checkpoint has size {earlier.checkpoint.size}, not {first}"
            )
    else:
        earlier = check_signed(audit.GetCheckpoint(pb.GetCheckpointRequest(size=first)), key)
        _check_signed_size(first, earlier)
    if not verify_consistency(
        first,
        later.checkpoint.size,
        earlier.checkpoint.root,
        later.checkpoint.root,
        list(proof.hashes),
    ):
        raise AuditClientError(
            f"the log of size {later.checkpoint.size} is NOT an extension of the log of size "
            f"{first}: history was rewritten"
        )
    return ConsistencyResult(proof, earlier, later, pinned, held is None)


# -- export -------------------------------------------------------------------------------


@dataclass
class Exported:
    entries: int
    checkpoints: int
    last_checkpoint: int


def export(
    audit: pb_grpc.AuditServiceStub,
    out: IO[bytes],
    *,
    include_unsigned: bool,
    on_size: Advance,
    advance: Advance,
) -> Exported:
    """Write the log and its checkpoints to `out` (see `services.audit.export`): up to the
    latest checkpoint, or with `include_unsigned` to the end of the log."""
    signed: list[pb.Checkpoint] = []
    after = 0
    while True:
        page = audit.ListCheckpoints(pb.ListCheckpointsRequest(after_size=after), timeout=60)
        if not page.checkpoints:
            break
        signed.extend(page.checkpoints)
        after = page.checkpoints[-1].size
    if not signed and not include_unsigned:
        raise AuditClientError(
            "no checkpoint has been signed yet; wait for one (GOVNET_CHECKPOINT_INTERVAL) "
            "or export with --all"
        )
    until = 0 if include_unsigned else signed[-1].size
    proofs = {
        later.size: audit.GetConsistencyProof(
            pb.GetConsistencyProofRequest(first=earlier.size, second=later.size), timeout=60
        ).hashes
        for earlier, later in itertools.pairwise(signed)
    }
    chunks = replay(
        audit, replay_request(ReplayFilter(), until=until, with_leaves=True), on_size=on_size
    )
    first_chunk = next(chunks, None)
    size = first_chunk.log_size if first_chunk is not None else 0
    checkpoints = [c for c in signed if c.size <= size]
    writer = ExportWriter(
        out,
        origin=checkpoints[-1].origin if checkpoints else "",
        verifier_key=checkpoints[-1].verifier_key if checkpoints else "",
        entries=size,
        checkpoints=len(checkpoints),
    )
    pending = iter(checkpoints)
    upcoming = next(pending, None)
    previous: int | None = None

    def emit_checkpoints() -> None:
        nonlocal upcoming, previous
        while upcoming is not None and upcoming.size == writer.count:
            writer.checkpoint(upcoming.size, upcoming.note)
            if previous is not None:
                writer.consistency(previous, upcoming.size, proofs[upcoming.size])
            previous = upcoming.size
            upcoming = next(pending, None)

    for chunk in _chain(first_chunk, chunks):
        events = events_of(chunk)
        for index, event, leaf in zip(chunk.log_index, events, chunk.leaf_hashes, strict=True):
            if index != writer.count + 1:
                raise AuditClientError(f"the node replayed entry {index} after {writer.count}")
            writer.entries([event], [leaf])
            emit_checkpoints()
        advance(len(events))
    writer.close()
    emit_checkpoints()
    return Exported(writer.count, len(checkpoints), previous or 0)


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if first is not None:
        yield first
        yield from rest


def parse_when(text: str, field: str) -> datetime:
    """A time given on the command line: RFC 3339, or a date (00:00 in UTC+8)."""
    from datetime import timedelta, timezone

    value = text.strip()
    try:
        if len(value) == 10:
            parsed = datetime.fromisoformat(value).replace(tzinfo=timezone(timedelta(hours=8)))
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AuditClientError(
            f"{field}: {text!r} is not a date (2026-11-27) or an RFC 3339 time"
        ) from None
    if parsed.tzinfo is None:
        raise AuditClientError(f"{field}: {text!r} needs a time zone (e.g. +08:00 or Z)")
    return parsed
