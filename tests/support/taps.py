"""Watch what reaches the broker, with a plain AMQP client (pika), as a department would."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pika

from tests.support.waiting import wait_for


@dataclass
class Received:
    routing_key: str
    body: bytes
    properties: Any
    exchange: str

    @property
    def headers(self) -> dict[str, Any]:
        return dict(self.properties.headers or {})


@dataclass
class Tap:
    """A temporary queue bound to an exchange; `take(n)` waits for n messages."""

    channel: Any
    queue: str
    received: list[Received] = field(default_factory=list)

    def _drain(self) -> None:
        while True:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return
            self.received.append(Received(method.routing_key, body, properties, method.exchange))

    def take(self, count: int, timeout: float = 15.0) -> list[Received]:
        def enough() -> bool:
            self._drain()
            return len(self.received) >= count

        wait_for(enough, timeout=timeout, what=f"{count} messages on {self.queue}")
        taken, self.received = self.received[:count], self.received[count:]
        return taken

    def quiet(self) -> list[Received]:
        """Everything that arrived so far, without waiting."""
        self._drain()
        taken, self.received = self.received, []
        return taken


@contextlib.contextmanager
def tap(amqp_uri: str, exchange: str, routing_key: str = "#") -> Iterator[Tap]:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    channel = connection.channel()
    channel.exchange_declare(exchange, "topic", durable=True)
    name = f"tap-{uuid.uuid4().hex[:8]}"
    channel.queue_declare(name, exclusive=True, auto_delete=True)
    channel.queue_bind(name, exchange, routing_key)
    try:
        yield Tap(channel, name)
    finally:
        with contextlib.suppress(Exception):
            connection.close()


def publish(
    amqp_uri: str,
    exchange: str,
    routing_key: str,
    body: bytes,
    content_type: str = "application/cloudevents+json",
) -> None:
    """Publish one persistent message with a publisher confirm, like a department system."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            exchange,
            routing_key,
            body,
            pika.BasicProperties(content_type=content_type, delivery_mode=2),
        )
    finally:
        connection.close()


def publish_many(amqp_uri: str, exchange: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish (routing key, body) pairs on one connection, each confirmed."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(
            content_type="application/cloudevents+json", delivery_mode=2
        )
        for routing_key, body in messages:
            channel.basic_publish(exchange, routing_key, body, properties)
    finally:
        connection.close()
