"""Bounded polling: wait for an outcome (an event arrived, a row exists), never a bare sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class TimedOut(AssertionError):
    pass


def wait_for(probe: Callable[[], T], *, timeout: float = 15.0, what: str = "the outcome") -> T:
    """Call `probe` until it returns something truthy, and return that; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    interval = 0.01
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimedOut(f"{what} did not happen within {timeout:.0f}s (last: {result!r})")
        time.sleep(interval)
        interval = min(interval * 2, 0.2)
