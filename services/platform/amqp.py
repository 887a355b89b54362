"""RabbitMQ plumbing: connections, topology declaration, and a publisher with batched
publisher confirms.

Works unchanged in threaded processes (the gRPC APIs) and eventlet-patched ones (the nameko
workers): py-amqp's sockets become green under the patch.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import amqp
from amqp.method_framing import frame_writer
from kombu import Connection

from services.contract.names import CONTENT_TYPE
from services.platform import topology
from services.platform.errors import Unavailable
from services.platform.settings import redact_uri

log = logging.getLogger(__name__)

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    socket.timeout,
    amqp.exceptions.ConnectionError,
    amqp.exceptions.ChannelError,
    amqp.exceptions.RecoverableConnectionError,
)


def connect(uri: str, *, timeout: float = 5.0, heartbeat: float = 0) -> Connection:
    """An established kombu connection, or `Unavailable` naming the broker (no password)."""
    conn = Connection(uri, connect_timeout=timeout, heartbeat=heartbeat)
    try:
        # One attempt: callers decide how to retry (kombu's connect() sleeps 2 s and retries).
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, reraise_as_library_errors=False
        )
    except CONNECTION_ERRORS as exc:
        conn.release()
        raise Unavailable(f"no RabbitMQ broker answers at {redact_uri(uri)} ({exc})") from exc
    return conn


def declare_topology(
    conn: Connection, *, delivery_limit: int, division: str = "", uplink: bool = True
) -> None:
    """Declare every exchange, queue and binding of a node (idempotent): of the node of
    `division`, or of a standalone node."""
    node = topology.for_division(division, uplink=uplink) if division else topology.STANDALONE
    channel = conn.channel()
    try:
        for name in node.exchanges:
            channel.exchange_declare(name, "topic", durable=True, auto_delete=False)
        for spec in node.queues:
            channel.queue_declare(
                spec.name,
                durable=True,
                auto_delete=False,
                arguments=spec.arguments(delivery_limit),
            )
            for exchange, key in spec.bindings:
                channel.queue_bind(spec.name, exchange, key)
        for source, destination, key in node.exchange_bindings:
            channel.exchange_bind(destination, source, key)
    finally:
        channel.close()


@dataclass(frozen=True)
class Outgoing:
    """One message to publish."""

    exchange: str
    routing_key: str
    body: bytes
    message_id: str | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    content_type: str = CONTENT_TYPE


class _Coalescing:
    """Stands in for a py-amqp transport's `write`: while `holding`, frames are collected and
    `flush()` sends them in one write (one system call, one green-socket round for a
    batch instead of one per message); otherwise writes go straight through."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.pending = bytearray()
        self.holding = False

    def write(self, data: Any) -> None:
        if self.holding:
            self.pending += data  # a copy: py-amqp reuses its frame buffer
        else:
            self.transport.write(data)

    def flush(self) -> None:
        self.holding = False
        if self.pending:
            data, self.pending = bytes(self.pending), bytearray()
            self.transport.write(data)


class ConfirmingPublisher:
    """Publishes batches of persistent messages and waits for the broker's confirms.

    `publish(batch)` returns, per message, whether the broker confirmed it (acked). A lost
    connection raises `Unavailable`; the caller keeps whatever was not confirmed and tries
    again later. One instance is used by one thread (or greenthread) at a time.
    """

    def __init__(self, uri: str, *, confirm_timeout: float = 30.0) -> None:
        self.uri = uri
        self.confirm_timeout = confirm_timeout
        self._conn: Connection | None = None
        self._channel: Any = None
        self._next_tag = 1
        self._pending: dict[int, int] = {}  # delivery tag -> index in the current batch
        self._results: list[bool] = []
        self._lock = threading.Lock()
        self._writes: _Coalescing | None = None

    def publish(self, batch: Sequence[Outgoing]) -> list[bool]:
        if not batch:
            return []
        with self._lock:
            try:
                return self._publish(batch)
            except CONNECTION_ERRORS as exc:
                self.close()
                raise Unavailable(f"publishing to {redact_uri(self.uri)} failed ({exc})") from exc

    def close(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                conn.release()
            except Exception:  # closing a broken connection may fail in many ways
                log.debug("error closing publisher connection", exc_info=True)

    def _ensure_channel(self) -> Any:
        if self._conn is None or self._channel is None or not self._conn.connected:
            self.close()
            self._conn = connect(self.uri)
            raw = self._conn.connection  # py-amqp's, under kombu's
            self._writes = _Coalescing(raw.transport)
            raw.frame_writer = frame_writer(raw, self._writes)
            channel = self._conn.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            self._channel = channel
            self._next_tag = 1
        return self._channel

    def _publish(self, batch: Sequence[Outgoing]) -> list[bool]:
        channel = self._ensure_channel()
        self._results = [False] * len(batch)
        self._pending = {}
        now = int(time.time())
        assert self._writes is not None
        self._writes.holding = True
        try:
            for index, out in enumerate(batch):
                message = amqp.Message(
                    out.body,
                    content_type=out.content_type,
                    content_encoding="utf-8",
                    delivery_mode=2,
                    message_id=out.message_id,
                    timestamp=now,
                    application_headers=dict(out.headers),
                )
                channel.basic_publish(message, exchange=out.exchange, routing_key=out.routing_key)
                self._pending[self._next_tag] = index
                self._next_tag += 1
        finally:
            self._writes.flush()
        deadline = time.monotonic() + self.confirm_timeout
        assert self._conn is not None
        while self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._pending)} confirms did not arrive in time")
            self._conn.drain_events(timeout=remaining)
        return self._results

    def _settle(self, tag: int, multiple: bool, ok: bool) -> None:
        tags = [t for t in self._pending if t <= tag] if multiple else [tag]
        for t in tags:
            index = self._pending.pop(t, None)
            if index is not None:
                self._results[index] = ok

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple, True)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple, False)


def broker_problem(uri: str, *, timeout: float = 3.0) -> str | None:
    """None if a broker answers at `uri`, else one line saying what is wrong."""
    try:
        connect(uri, timeout=timeout).release()
    except Unavailable as exc:
        return str(exc)
    except amqp.exceptions.AccessRefused:
        return f"RabbitMQ at {redact_uri(uri)} refused the user name or password"
    except amqp.exceptions.NotAllowed:
        return f"RabbitMQ at {redact_uri(uri)} does not allow access to that vhost"
    return None
