"""What every nameko worker runs on: the service runtime, the contract-event entrypoint and
thin dependency providers.

Delivery semantics of `@contract_handler(queue)`:

- The raw message body is decoded and validated against the registry *before* any service
  code runs. A message that breaks the contract is published unchanged to
  `govnet.rejected` with the reason in its headers, an `event.rejected` event is written
  through the service's outbox, and the message is acknowledged. Nothing is dropped silently.
- The decorated method receives the `Event`. It must commit its work before returning
  (`Database.consume(event)` commits and records `(source, id)` in one transaction); the
  message is acknowledged only after the method returns, so a crash before commit means
  redelivery, and a redelivery after commit changes nothing.
- A `DomainError` or `ContractError` raised by the method is permanent: the message is
  rejected as above. Any other exception is transient: the message is requeued and the
  broker counts the delivery; after `GOVNET_DELIVERY_LIMIT` deliveries the quorum queue
  dead-letters it to `govnet.rejected`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from kombu import Exchange, Queue, binding
from nameko import config
from nameko.amqp.consume import Consumer as ConsumerCore
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import DependencyProvider, SharedExtension
from nameko.messaging import Consumer
from nameko.timer import Timer

from services.contract import names
from services.contract.envelope import Event, decode, encode, peek
from services.contract.errors import ContractError
from services.contract.schemas import default_registry
from services.platform import amqp, topology, tracing
from services.platform.errors import DomainError, Unavailable
from services.platform.outbox import FastPath, Relay
from services.platform.settings import Settings
from services.platform.store import Database

log = logging.getLogger(__name__)

SETTINGS_KEY = "GOVNET_SETTINGS"


def nameko_config(settings: Settings) -> dict[str, Any]:
    """The nameko configuration of a worker process."""
    return {
        "AMQP_URI": settings.amqp_uri,
        "PREFETCH_COUNT": settings.prefetch,
        "max_workers": settings.prefetch,
        "HEARTBEAT": 60,
        "SERIALIZER": "json",
        SETTINGS_KEY: settings,
    }


class ServiceRuntime(SharedExtension):
    """One per worker container: the service's database, a publisher and the outbox relay.

    What a handler commits is published at once from memory by a fast path
    (`outbox.FastPath`, its rows written already claimed); the relay, in a managed thread,
    publishes everything else: rows for other exchanges (`Database.routes`: woken for
    those), and whatever the fast path could not (every `relay_interval`).
    """

    def __init__(self) -> None:
        super().__init__()
        self._setup_lock = threading.Lock()
        self._stores: dict[Callable[..., Any], Any] = {}

    def store(self, factory: Callable[..., Any]) -> Any:
        """The service's store object made by `factory(db, settings=...)`, one per
        container, shared by every provider that asks for it."""
        self.ensure_ready()
        with self._setup_lock:
            if factory not in self._stores:
                self._stores[factory] = factory(self.db, settings=self.settings)
            return self._stores[factory]

    db: Database
    relay: Relay
    publisher: amqp.ConfirmingPublisher
    settings: Settings

    def setup(self) -> None:
        self.ensure_ready()

    def ensure_ready(self) -> None:
        """Build the runtime once. nameko sets extensions up concurrently, so the providers
        that use the runtime call this too instead of relying on setup order."""
        with self._setup_lock:
            if getattr(self, "db", None) is not None:
                return
            self.settings = config[SETTINGS_KEY]
            service = self.container.service_name
            db = Database(
                self.settings.database_url_for(service),
                service=service,
                division=self.settings.division,
                registry=default_registry(),
            )
            db.create_schema()
            with amqp.connect(self.settings.amqp_uri) as conn:
                amqp.declare_topology(
                    conn,
                    delivery_limit=self.settings.delivery_limit,
                    division=self.settings.division,
                    uplink=self.settings.uplink,
                )
            self.publisher = amqp.ConfirmingPublisher(self.settings.amqp_uri)
            self.relay = Relay(
                db,
                amqp.ConfirmingPublisher(self.settings.amqp_uri),
                batch=self.settings.relay_batch,
                name=f"{service}-relay",
            )
            self.fast_path = FastPath(db, amqp.ConfirmingPublisher(self.settings.amqp_uri))
            db.on_commit(self._wake_relay_for_routes)
            self.db = db

    def _wake_relay_for_routes(self, events: list[Event]) -> None:
        routes = self.db.routes
        if routes is not None and any(routes(event) for event in events):
            self.relay.wake()

    def start(self) -> None:
        self.container.spawn_managed_thread(
            partial(self.relay.run, self.settings.relay_interval), identifier="outbox-relay"
        )
        self._fast_thread = self.container.spawn_managed_thread(
            self.fast_path.run, identifier="outbox-fast-path"
        )

    def stop(self) -> None:
        """After the handlers finished: publish what they committed, then stop the relay."""
        if getattr(self, "db", None) is not None:
            self.fast_path.stop()
            fast_thread = getattr(self, "_fast_thread", None)
            if fast_thread is not None:
                fast_thread.wait()
            self.relay.stop()
            self.publisher.close()

    def kill(self) -> None:
        if getattr(self, "db", None) is not None:  # setup may have failed half-way
            self.fast_path.stop()
            self.relay.stop()

    def reject(self, message: Any, error: Exception, queue: str) -> None:
        """Park a refused message on govnet.rejected and tell its producer why."""
        code = error.code if isinstance(error, ContractError) else "handler_failed"
        field = error.field if isinstance(error, ContractError) else ""
        reason = str(error) or type(error).__name__
        service = self.container.service_name
        headers = {
            names.REJECT_REASON_HEADER: reason[:2000],
            names.REJECT_FIELD_HEADER: field,
            names.REJECT_CODE_HEADER: code,
            names.REJECT_BY_HEADER: f"govnet://{self.settings.division}/{service}",
            names.REJECT_QUEUE_HEADER: queue,
        }
        routing_key = message.delivery_info.get("routing_key") or "unroutable"
        body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        confirmed = self.publisher.publish(
            [
                amqp.Outgoing(
                    exchange=names.REJECTED_EXCHANGE,
                    routing_key=routing_key,
                    body=body,
                    message_id=message.properties.get("message_id"),
                    headers=headers,
                    content_type=message.content_type or "application/octet-stream",
                )
            ]
        )
        if not all(confirmed):
            raise Unavailable("the broker did not confirm the rejected message")
        # The refused event's sequence number is used up: naming it lets an auditor tell
        # this refusal from an event lost or deleted (`govnet audit verify`).
        seen = peek(body)
        with self.db.transaction() as tx:
            tx.emit(
                names.EVENT_REJECTED,
                {
                    "rejected_source": seen.get("source"),
                    "rejected_id": seen.get("id"),
                    "rejected_type": seen.get("type"),
                    "rejected_sequence": seen.get("sequence"),
                    "code": code,
                    "field": field,
                    "reason": reason[:2000],
                    "queue": queue,
                    "received_at": tx.now.isoformat(),
                },
                subject=seen.get("source"),
            )
        log.warning(
            "rejected a message",
            extra={"queue": queue, "code": code, "field": field, "event_type": seen.get("type")},
        )


class _RawConsumer(ConsumerCore):
    """nameko's consumer, handing over undecoded messages: decoding is validation, and a
    message that cannot be decoded must be rejected, not crash the consumer."""

    def get_consumers(self, consumer_cls: Any, channel: Any) -> list[Any]:
        consumer = consumer_cls(
            queues=self.queues, on_message=self._on_raw, **self.consumer_options
        )
        consumer.qos(prefetch_count=self.prefetch_count)
        return [consumer]

    def _on_raw(self, message: Any) -> None:
        self.on_message(None, message)


class ContractHandler(Consumer):
    """Entrypoint: handle contract events from one queue of the node's topology."""

    consumer_cls = _RawConsumer
    runtime = ServiceRuntime()

    def __init__(self, queue_name: str, **kwargs: Any) -> None:
        self.queue_name = queue_name
        super().__init__(queue=None, requeue_on_error=True, **kwargs)

    def setup(self) -> None:
        settings: Settings = config[SETTINGS_KEY]
        spec = topology.for_division(settings.division, uplink=settings.uplink).queue(
            self.queue_name
        )
        self.queue = Queue(
            spec.name,
            bindings=[
                binding(Exchange(ex, type="topic", durable=True), key) for ex, key in spec.bindings
            ],
            durable=True,
            queue_arguments=spec.arguments(settings.delivery_limit),
        )
        super().setup()

    def handle_message(self, body: Any, message: Any) -> None:
        try:
            event = decode(message.body, default_registry())
        except ContractError as error:
            self._reject_in_thread(message, error)
            return
        self._spawn(event, message)

    def _spawn(self, event: Event, message: Any) -> None:
        handle_result = partial(self.handle_result, message)

        def spawn_worker() -> None:
            try:
                self.container.spawn_worker(
                    self, (event,), {}, context_data={}, handle_result=handle_result
                )
            except ContainerBeingKilled:
                self.consumer.requeue_message(message)

        # A thread, so that a full worker pool does not block the AMQP consumer's heartbeat.
        self.container.spawn_managed_thread(
            spawn_worker, identifier=f"ContractHandler.spawn[{self.method_name}]"
        )

    def _reject_in_thread(self, message: Any, error: Exception) -> None:
        def reject() -> None:
            try:
                self.runtime.reject(message, error, self.queue_name)
            except Exception:
                log.exception("could not park a rejected message; requeueing it")
                self.consumer.requeue_message(message)
                return
            self.consumer.ack_message(message)

        self.container.spawn_managed_thread(reject, identifier="ContractHandler.reject")

    def handle_message_processed(
        self, message: Any, result: Any = None, exc_info: Any = None
    ) -> None:
        if exc_info is None:
            self.consumer.ack_message(message)
            return
        error = exc_info[1]
        if isinstance(error, DomainError | ContractError):
            self._reject_in_thread(message, error)
            return
        self.consumer.requeue_message(message)


contract_handler = ContractHandler.decorator


class BatchContractHandler(ContractHandler):
    """Entrypoint: contract events from one queue, handed to the method a batch at a time.

    Messages are collected while they arrive back to back; the batch goes to the method as
    soon as the consumer has nothing more to read right now, or holds `batch` messages (the
    queue's prefetch is twice that, so the broker keeps sending while a batch commits). The
    method receives `list[Event]`, in arrival order, and must commit them in one
    transaction. Then:

    - success: the whole batch is acknowledged with one multiple-ack;
    - failure: each event is tried again alone, so that one bad event cannot hold back the
      rest; alone, a `DomainError`/`ContractError` parks it on govnet.rejected and anything
      else requeues it (counted by the quorum queue's delivery limit, as for single events).

    A message that breaks the contract is rejected before the batch is formed, as with
    `contract_handler`. Batches of one queue are handled one after the other, in order.
    """

    _STOP = object()

    def __init__(self, queue_name: str, *, batch_setting: str, **kwargs: Any) -> None:
        self.batch_setting = batch_setting
        super().__init__(queue_name, **kwargs)

    def setup(self) -> None:
        import eventlet.queue

        self.batch = int(getattr(config[SETTINGS_KEY], self.batch_setting))
        self.consumer_options["prefetch_count"] = 2 * self.batch
        self._arrivals: Any = eventlet.queue.LightQueue()
        super().setup()

    def start(self) -> None:
        super().start()
        self.container.spawn_managed_thread(
            self._flush_loop, identifier=f"BatchContractHandler.flush[{self.method_name}]"
        )

    def stop(self) -> None:
        super().stop()
        self._arrivals.put(self._STOP)

    def handle_message(self, body: Any, message: Any) -> None:
        self._arrivals.put(message)

    def _flush_loop(self) -> None:
        while True:
            first = self._arrivals.get()
            if first is self._STOP:
                return
            messages = [first]
            while len(messages) < self.batch and not self._arrivals.empty():
                more = self._arrivals.get_nowait()
                if more is self._STOP:
                    self._flush(messages)
                    return
                messages.append(more)
            try:
                self._flush(messages)
            except Exception:  # never let the loop die: the messages go back to the queue
                log.exception("a batch failed unexpectedly; requeueing it")
                for message in messages:
                    self.consumer.requeue_message(message)

    def _flush(self, messages: list[Any]) -> None:
        events: list[Event] = []
        kept: list[Any] = []
        registry = default_registry()
        for message in messages:
            try:
                events.append(decode(message.body, registry))
                kept.append(message)
            except ContractError as error:
                self._reject_now(message, error)
        if not events:
            return
        if self._run(events) is None:
            _ack_up_to(kept[-1])
            return
        for event, message in zip(events, kept, strict=True):
            error = self._run([event])
            if error is None:
                self.consumer.ack_message(message)
            elif isinstance(error, DomainError | ContractError):
                self._reject_now(message, error)
            else:
                self.consumer.requeue_message(message)

    def _run(self, events: list[Event]) -> BaseException | None:
        """Run the method on `events` in a worker; return its exception, if any."""
        import eventlet.event

        done: Any = eventlet.event.Event()

        def handle_result(worker_ctx: Any, result: Any = None, exc_info: Any = None) -> Any:
            done.send(None if exc_info is None else exc_info[1])
            return result, exc_info

        try:
            self.container.spawn_worker(
                self, (events,), {}, context_data={}, handle_result=handle_result
            )
        except ContainerBeingKilled as exc:
            return exc
        return done.wait()  # type: ignore[no-any-return]

    def _reject_now(self, message: Any, error: Exception) -> None:
        try:
            self.runtime.reject(message, error, self.queue_name)
        except Exception:
            log.exception("could not park a rejected message; requeueing it")
            self.consumer.requeue_message(message)
            return
        self.consumer.ack_message(message)


def _ack_up_to(message: Any) -> None:
    """Acknowledge `message` and every earlier unacknowledged delivery of its channel."""
    if message.channel.connection:
        message.ack(multiple=True)


batch_handler = BatchContractHandler.decorator


class SettingsTimer(Timer):
    """nameko's timer, with its interval read from a setting when the worker starts (the
    `@timer` decorator needs it when the class is defined, before settings exist)."""

    def __init__(self, setting: str, *, eager: bool = False, **kwargs: Any) -> None:
        self.setting = setting
        super().__init__(interval=None, eager=eager, **kwargs)

    def setup(self) -> None:
        self.interval = getattr(config[SETTINGS_KEY], self.setting)
        super().setup()


settings_timer = SettingsTimer.decorator


class ServiceStore(DependencyProvider):
    """Gives workers the service's store object, built once from the runtime's database."""

    runtime = ServiceRuntime()

    def __init__(self, factory: Callable[..., Any]) -> None:
        self.factory = factory  # called as factory(db, settings=settings)

    def setup(self) -> None:
        self.store = self.runtime.store(self.factory)

    def get_dependency(self, worker_ctx: Any) -> Any:
        return self.store


class EventPublisher(DependencyProvider):
    """Gives workers `publish(exchange, event)`: publishes the event's canonical bytes with
    a publisher confirm, raising `Unavailable` if the broker does not confirm (so the
    message being handled is requeued, not lost)."""

    runtime = ServiceRuntime()

    def get_dependency(self, worker_ctx: Any) -> Callable[[str, Event], None]:
        def publish(exchange: str, event: Event) -> None:
            headers = {"traceparent": event.traceparent} if event.traceparent else {}
            confirmed = self.runtime.publisher.publish(
                [amqp.Outgoing(exchange, event.type, encode(event), event.id, headers)]
            )
            if not all(confirmed):
                raise Unavailable(f"the broker did not confirm the publish to {exchange}")

        return publish


class EventTracing(DependencyProvider):
    """Opens a CONSUMER span, child of the event's `traceparent`, around each handler."""

    def setup(self) -> None:
        self._spans: dict[Any, Any] = {}

    def worker_setup(self, worker_ctx: Any) -> None:
        if not isinstance(worker_ctx.entrypoint, ContractHandler) or not worker_ctx.args:
            return
        if isinstance(worker_ctx.args[0], list):  # a batch: one span per event, same length
            manager: Any = tracing.batch_spans(worker_ctx.args[0], worker_ctx.entrypoint.queue_name)
            manager.__enter__()
            self._spans[worker_ctx] = manager
            return
        event: Event = worker_ctx.args[0]
        manager = tracing.consumer_span(
            f"{event.type} process",
            event.traceparent,
            **{
                "messaging.system": "rabbitmq",
                "messaging.destination.name": worker_ctx.entrypoint.queue_name,
                "messaging.message.id": event.id,
                "govnet.event.source": event.source,
                "govnet.event.type": event.type,
                "govnet.event.subject": event.subject,
            },
        )
        manager.__enter__()
        self._spans[worker_ctx] = manager

    def worker_teardown(self, worker_ctx: Any) -> None:
        manager = self._spans.pop(worker_ctx, None)
        if manager is not None:
            manager.__exit__(None, None, None)
