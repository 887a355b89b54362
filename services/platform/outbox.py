"""The outbox relay: publishes committed events with publisher confirms and marks them sent.

Delivery is at-least-once: a row is marked sent only after the broker confirmed it, so a
crash between confirm and mark republishes it (consumers de-duplicate on `(source, id)`).
Several relays may run against one store (the API's fast path and the worker's relay): each
claims a batch with a lease first, so two relays do not publish the same rows, and a
relay that dies mid-batch only delays its rows until the lease expires.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from services.contract.envelope import Event, encode
from services.platform.amqp import ConfirmingPublisher, Outgoing
from services.platform.errors import Unavailable
from services.platform.store import Database

log = logging.getLogger(__name__)

LEASE_SECONDS = 30.0
KEEP_SENT_SECONDS = 24 * 3600.0


class Relay:
    def __init__(
        self,
        db: Database,
        publisher: ConfirmingPublisher,
        *,
        batch: int = 500,
        lease: float = LEASE_SECONDS,
        name: str | None = None,
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.batch = batch
        self.lease = lease
        self.name = name or f"relay-{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.published = 0

    def relay_once(self) -> int:
        """Publish up to one batch of pending events; return how many were confirmed."""
        rows = self._claim()
        if not rows:
            return 0
        batch = [
            Outgoing(
                exchange=row.exchange,
                routing_key=row.type,
                body=row.body,
                message_id=row.event_id,
                headers={"traceparent": row.traceparent} if row.traceparent else {},
            )
            for row in rows
        ]
        try:
            confirmed = self.publisher.publish(batch)
        except Unavailable:
            self._release([row.id for row in rows])
            raise
        sent = [row.id for row, ok in zip(rows, confirmed, strict=True) if ok]
        refused = [row.id for row, ok in zip(rows, confirmed, strict=True) if not ok]
        self._mark_sent(sent)
        if refused:
            log.warning("broker refused %s events; they stay pending", len(refused))
            self._release(refused)
        self.published += len(sent)
        return len(sent)

    def drain(self) -> int:
        """Relay until nothing is pending (or the broker refuses); return the total."""
        total = 0
        while True:
            count = self.relay_once()
            total += count
            if count < self.batch:
                return total

    def wake(self, events: object = None) -> None:
        """Relay soon (an `on_commit` callback: the events themselves are not needed)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self, interval: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """Relay until `stop()`: at once when woken, else every `interval` seconds."""
        backoff = 0.5
        last_prune = 0.0
        self._wake.set()  # whatever a previous run left pending goes out first
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.drain()
                backoff = 0.5
                if time.monotonic() - last_prune > 600:
                    self.prune()
                    last_prune = time.monotonic()
            except Unavailable as exc:
                log.warning("outbox relay cannot publish, retrying in %.1fs: %s", backoff, exc)
                sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            except Exception:
                log.exception("outbox relay failed; retrying in %.1fs", backoff)
                sleep(backoff)
                backoff = min(backoff * 2, 30.0)
        self.publisher.close()

    def prune(self, keep: float = KEEP_SENT_SECONDS) -> int:
        """Delete rows sent more than `keep` seconds ago."""
        with self.db.transaction() as tx:
            cutoff = time.time() - keep
            result = tx.conn.execute(
                delete(self.db.outbox).where(self.db.outbox.c.sent_at < cutoff)
            )
            return int(result.rowcount or 0)

    def _claim(self) -> list[Any]:
        outbox = self.db.outbox
        now = time.time()
        with self.db.read() as conn:  # an idle poll takes no write lock
            if (
                conn.execute(select(outbox.c.id).where(outbox.c.sent_at.is_(None)).limit(1)).first()
                is None
            ):
                return []
        with self.db.transaction() as tx:
            query = (
                select(outbox.c.id)
                .where(
                    and_(
                        outbox.c.sent_at.is_(None),
                        or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
                    )
                )
                .order_by(outbox.c.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
            ids = list(tx.conn.execute(query).scalars())
            if not ids:
                return []
            tx.conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids))
                .values(claimed_until=now + self.lease, attempts=outbox.c.attempts + 1)
            )
            rows = tx.conn.execute(
                select(
                    outbox.c.id,
                    outbox.c.event_id,
                    outbox.c.type,
                    outbox.c.exchange,
                    outbox.c.body,
                    outbox.c.traceparent,
                )
                .where(outbox.c.id.in_(ids))
                .order_by(outbox.c.id)
            ).all()
        return list(rows)

    def _mark_sent(self, ids: list[int]) -> None:
        if not ids:
            return
        with self.db.transaction() as tx:
            tx.conn.execute(
                update(self.db.outbox)
                .where(self.db.outbox.c.id.in_(ids))
                .values(sent_at=time.time(), claimed_until=None)
            )

    def _release(self, ids: list[int]) -> None:
        with self.db.transaction() as tx:
            tx.conn.execute(
                update(self.db.outbox)
                .where(self.db.outbox.c.id.in_(ids))
                .values(claimed_until=None)
            )


def start_relay_thread(relay: Relay, interval: float) -> threading.Thread:
    """Run a relay in a daemon thread."""
    thread = threading.Thread(target=relay.run, args=(interval,), name=relay.name, daemon=True)
    thread.start()
    return thread


class FastPath:
    """Publishes what this process just committed, from memory, as soon as it commits, to
    the service's own exchange (rows for other exchanges, `Database.routes`, are the relay's).

    The outbox rows of this process's transactions are written already claimed for `lease`
    seconds (`Database.fast_path_lease`), so no relay publishes them meanwhile; the fast
    path publishes them with publisher confirms and marks them sent in batches. If it
    cannot (the broker is away, the process dies), the lease runs out and the worker's relay
    publishes them: the relay stays the guarantee, the fast path saves the latency and the
    claim transaction per commit.
    """

    MARK_EVERY = 0.25  # seconds between "sent" marks, which are only bookkeeping

    def __init__(
        self, db: Database, publisher: ConfirmingPublisher, *, lease: float = LEASE_SECONDS
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.lease = lease
        self._queue: queue.SimpleQueue[list[Event] | None] = queue.SimpleQueue()
        self._confirmed: list[str] = []
        self.published = 0
        db.fast_path_lease = lease
        db.on_commit(self._queue.put)

    def run(self) -> None:
        """Publish until `stop()`; then mark what was confirmed."""
        last_mark = time.monotonic()
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=self.MARK_EVERY)
            except queue.Empty:
                first = []
            batch, stopping = self._take(first)
            if batch:
                self._publish(batch)
            if self._confirmed and (stopping or time.monotonic() - last_mark >= self.MARK_EVERY):
                self._mark()
                last_mark = time.monotonic()
        self.publisher.close()

    def stop(self) -> None:
        self._queue.put(None)

    def _take(self, first: list[Event] | None) -> tuple[list[Event], bool]:
        if first is None:
            return [], True
        batch = list(first)
        while len(batch) < 500:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                return batch, True
            batch.extend(more)
        return batch, False

    def _publish(self, batch: list[Event]) -> None:
        outgoing = [
            Outgoing(
                exchange=self.db.exchange,
                routing_key=event.type,
                body=encode(event),
                message_id=event.id,
                headers={"traceparent": event.traceparent} if event.traceparent else {},
            )
            for event in batch
        ]
        try:
            try:
                confirmed = self.publisher.publish(outgoing)
            except Unavailable:  # a dropped connection: the publisher reconnects on retry
                confirmed = self.publisher.publish(outgoing)
        except Unavailable as exc:
            log.warning("could not publish %s events at once (%s); the relay will", len(batch), exc)
            self._release([event.id for event in batch])
            return
        refused = [e.id for e, ok in zip(batch, confirmed, strict=True) if not ok]
        if refused:
            self._release(refused)
        self._confirmed.extend(e.id for e, ok in zip(batch, confirmed, strict=True) if ok)
        self.published += sum(confirmed)

    def _release(self, ids: list[str]) -> None:
        """Give events this process could not publish back to the relay, now rather than
        when the lease runs out."""
        try:
            with self.db.transaction() as tx:
                tx.conn.execute(
                    update(self.db.outbox)
                    .where(
                        self.db.outbox.c.event_id.in_(ids),
                        self.db.outbox.c.exchange == self.db.exchange,
                        self.db.outbox.c.sent_at.is_(None),
                    )
                    .values(claimed_until=None)
                )
        except Exception:  # the lease still runs out; the relay publishes them then
            log.exception("could not hand %s events back to the relay", len(ids))

    def _mark(self) -> None:
        ids, self._confirmed = self._confirmed, []
        try:
            with self.db.transaction() as tx:
                for start in range(0, len(ids), 500):
                    tx.conn.execute(
                        update(self.db.outbox)
                        .where(
                            self.db.outbox.c.event_id.in_(ids[start : start + 500]),
                            self.db.outbox.c.exchange == self.db.exchange,
                        )
                        .values(sent_at=time.time(), claimed_until=None)
                    )
        except Exception:  # only bookkeeping: at worst the relay publishes them again
            log.exception("could not mark %s published events as sent", len(ids))


def start_fast_path(fast: FastPath) -> threading.Thread:
    thread = threading.Thread(target=fast.run, name="outbox-fast-path", daemon=True)
    thread.start()
    return thread
