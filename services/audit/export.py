"""The audit export file (`govnet audit export`), written for offline verification.

JSON Lines, UTF-8. Every entry of the log is one line holding exactly its event's
canonical bytes, so that SHA-256(0x00 || line) is its leaf hash; everything else is a
record whose first key starts with `_` (no event attribute can):

    {"_format":"govnet-audit-export/1","origin":…,"verifier_key":…,"entries":N,"checkpoints":K}
    <event 1>
    …
    <event 1024>
    {"_leaves":{"from":1,"hashes":"<hex of the 1024 leaf hashes the log recorded>"}}
    <event 1025>
    …
    {"_checkpoint":{"size":S,"note":"<signed note>"}}             right after entry S
    {"_consistency":{"first":A,"second":S,"proof":["<hex>",…]}}  after each checkpoint but
                                                                   the first; A: the one before

A `_leaves` record follows every 1024th entry and the last one. docs/audit.md describes
the format for auditors who write their own verifier; `services.audit.verify` is ours.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

FORMAT = "govnet-audit-export/1"
BLOCK = 1024
"""Entries per `_leaves` record (a power of two: blocks are complete subtrees)."""


class ExportWriter:
    """Writes an export: the header, then entries and checkpoints in log order, then
    `close()` for the last `_leaves` record."""

    def __init__(
        self, out: IO[bytes], *, origin: str, verifier_key: str, entries: int, checkpoints: int
    ) -> None:
        self.out = out
        self.count = 0
        self._leaves: list[bytes] = []
        header = {
            "_format": FORMAT,
            "origin": origin,
            "verifier_key": verifier_key,
            "entries": entries,
            "checkpoints": checkpoints,
        }
        out.write(_canonical(header) + b"\n")

    def entries(self, events: Iterable[bytes], leaves: Iterable[bytes]) -> None:
        """Entries `count + 1` onwards, with the leaf hashes the log recorded."""
        write = self.out.write
        for event, leaf in zip(events, leaves, strict=True):
            write(event + b"\n")
            self._leaves.append(leaf)
            self.count += 1
            if len(self._leaves) == BLOCK:
                self._flush()

    def checkpoint(self, size: int, note: str) -> None:
        self._record("_checkpoint", {"size": size, "note": note})

    def consistency(self, first: int, second: int, proof: Iterable[bytes]) -> None:
        self._record(
            "_consistency", {"first": first, "second": second, "proof": [h.hex() for h in proof]}
        )

    def close(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._leaves:
            first = self.count - len(self._leaves) + 1
            self._record("_leaves", {"from": first, "hashes": b"".join(self._leaves).hex()})
            self._leaves.clear()

    def _record(self, name: str, value: object) -> None:
        self.out.write(_canonical({name: value}) + b"\n")


def _canonical(value: dict[str, object]) -> bytes:
    # Imported here: the verifier's worker processes import this module for its constants
    # only, and the contract's schemas take longer to import than a range takes to check.
    from services.contract.envelope import canonical_json

    return canonical_json(value)
