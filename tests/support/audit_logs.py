"""Synthetic audit logs and their exports, signed with a fixed test key, for tests that
tamper with them."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.export import ExportWriter
from services.audit.merkle import consistency_proof, leaf_hash, root, tree_nodes
from services.audit.notes import Checkpoint, Signer
from services.contract.envelope import canonical_json

ORIGIN = "govnet/320000/audit"
SOURCES = (
    "govnet://320000/applications",
    "govnet://320000/catalog",
    "govnet://320000/notifications",
)
GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def audit_signer(seed: bytes = b"govnet test audit key") -> Signer:
    """A signer whose key is derived from `seed`: the same in every run."""
    return Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed).digest()))


def synthetic_events(count: int, *, skip: Iterable[tuple[int, int]] = ()) -> list[bytes]:
    """`count` canonical events from three sources in turn, each source numbering its own
    from 1; `skip` lists (source number, sequence) pairs that never reach the log."""
    template = json.loads((GOLDEN / "application.submitted.v1.json").read_text("utf-8"))
    skipped = set(skip)
    sequences = [0] * len(SOURCES)
    out = []
    i = 0
    while len(out) < count:
        which = i % len(SOURCES)
        i += 1
        sequences[which] += 1
        if (which, sequences[which]) in skipped:
            continue
        event: dict[str, Any] = copy.deepcopy(template)
        event["id"] = str(uuid.UUID(int=i))
        event["source"] = SOURCES[which]
        event["division"] = "320000"
        event["sequence"] = sequences[which]
        event["subject"] = f"320000-20261127-{i:06d}"
        event["data"]["case_number"] = event["subject"]
        out.append(canonical_json(event))
    return out


@dataclass
class Log:
    events: list[bytes]
    leaves: list[bytes]
    notes: dict[int, str]  # checkpoint size -> signed note

    def node(self, level: int, index: int) -> bytes:
        return self._nodes[(level, index)]

    def __post_init__(self) -> None:
        self._nodes = tree_nodes(self.leaves)

    def root(self, size: int) -> bytes:
        return root(self.node, size)


def build_log(
    events: Sequence[bytes], checkpoint_sizes: Iterable[int], signer: Signer | None = None
) -> Log:
    signer = signer or audit_signer()
    leaves = [leaf_hash(e) for e in events]
    log = Log(list(events), leaves, {})
    start = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    for n, size in enumerate(sorted(checkpoint_sizes)):
        checkpoint = Checkpoint(ORIGIN, size, log.root(size), start + timedelta(minutes=n))
        log.notes[size] = signer.sign(checkpoint)
    return log


def write_export(path: Path, log: Log, *, signer: Signer | None = None) -> Path:
    """The export of `log` as `govnet audit export` writes it."""
    signer = signer or audit_signer()
    sizes = sorted(log.notes)
    with path.open("wb") as out:
        writer = ExportWriter(
            out,
            origin=ORIGIN,
            verifier_key=str(signer.verifier),
            entries=len(log.events),
            checkpoints=len(sizes),
        )
        previous = None
        for event, leaf in zip(log.events, log.leaves, strict=True):
            writer.entries([event], [leaf])
            if writer.count in log.notes:
                writer.checkpoint(writer.count, log.notes[writer.count])
                if previous is not None:
                    proof = consistency_proof(log.node, previous, writer.count)
                    writer.consistency(previous, writer.count, proof)
                previous = writer.count
        writer.close()
    return path


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def entry_line(lines: Sequence[bytes], index: int) -> int:
    """The position in `lines` of log entry `index` (from 1)."""
    seen = 0
    for position, line in enumerate(lines[1:], 1):
        if not line.startswith(b'{"_'):
            seen += 1
            if seen == index:
                return position
    raise IndexError(index)
