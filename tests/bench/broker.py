"""Baselines measured against the broker itself, for the benchmarks of consumers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

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
