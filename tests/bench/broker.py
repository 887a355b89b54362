"""Baselines measured against the broker itself, for the benchmarks of consumers."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import kombu

from services.platform import amqp
from tests.support.taps import publish_many


def raw_consume_seconds(amqp_uri: str, bodies: Sequence[bytes], batch: int = 500) -> float:
    """The same messages consumed with the same client library as the workers (py-amqp) and
    the same prefetch, doing nothing but a multiple-ack per batch: what the broker and the
    client cost alone. Timed from the first message to the last."""
    queue = f"bench.raw-consume-{uuid.uuid4().hex[:8]}"
    with amqp.connect(amqp_uri) as conn:
        conn.default_channel.queue_declare(queue, durable=True, auto_delete=False)
    publish_many(amqp_uri, "", [(queue, body) for body in bodies])
    count = len(bodies)
    received = 0
    began = 0.0
    with amqp.connect(amqp_uri) as conn:
        channel = conn.default_channel
        channel.basic_qos(0, 2 * batch, False)

        def on_message(message: Any) -> None:
            nonlocal received, began
            if not received:
                began = time.perf_counter()
            received += 1
            if received % batch == 0 or received == count:
                channel.basic_ack(message.delivery_tag, multiple=True)

        channel.basic_consume(queue, callback=on_message)
        while received < count:
            conn.drain_events(timeout=30)
        seconds = time.perf_counter() - began
        channel.queue_delete(queue)
    return seconds


@dataclass(frozen=True)
class RawRate:
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def raw_broker(amqp_uri: str, count: int, size: int = 1024, prefetch: int = 1000) -> RawRate:
    """Persistent `size`-byte messages published with kombu to a durable quorum queue (the
    kind every govnet consumer reads) while a kombu consumer on another connection takes
    them with a multiple-ack per `prefetch // 2`: what the broker moves through one queue
    on this machine, timed from the first publish to the last message consumed."""
    queue_name = f"bench.raw-{uuid.uuid4().hex[:8]}"
    queue = kombu.Queue(
        queue_name, durable=True, auto_delete=False, queue_arguments={"x-queue-type": "quorum"}
    )
    body = b"x" * size
    batch = max(1, prefetch // 2)
    consumed = threading.Event()
    received = 0
    began = 0.0
    with kombu.Connection(amqp_uri) as consumer_conn, kombu.Connection(amqp_uri) as publisher_conn:
        channel = consumer_conn.channel()
        queue(channel).declare()

        def on_message(message: Any) -> None:
            nonlocal received
            received += 1
            if received % batch == 0 or received == count:
                message.channel.basic_ack(message.delivery_tag, multiple=True)
            if received == count:
                consumed.set()

        consumer = kombu.Consumer(channel, [queue], on_message=on_message, accept=None)
        consumer.qos(prefetch_count=prefetch)

        def consume() -> None:
            with consumer:
                while not consumed.is_set():
                    with contextlib.suppress(TimeoutError):
                        consumer_conn.drain_events(timeout=1)

        reader = threading.Thread(target=consume)
        reader.start()
        producer = kombu.Producer(publisher_conn.channel())
        began = time.perf_counter()
        for _ in range(count):
            producer.publish(
                body,
                routing_key=queue_name,
                delivery_mode=2,
                content_type="application/octet-stream",
            )
        reader.join(timeout=600)
        seconds = time.perf_counter() - began
        publisher_conn.channel().queue_delete(queue_name)
    assert received == count, f"the raw consumer got {received} of {count}"
    return RawRate(count, seconds)
