"""The audit log: every contract event seen at this node, once, in arrival order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    select,
)

from services.contract.envelope import Event, encode
from services.platform.errors import InvalidArgument
from services.platform.settings import Settings
from services.platform.store import Database

metadata = MetaData()

log_entries = Table(
    "log",
    metadata,
    Column("log_index", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("type", String(100), nullable=False),
    Column("subject", String(256)),
    Column("division", String(6), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("dataschema", String(120), nullable=False),
    Column("canonical", LargeBinary, nullable=False),
    # The de-duplication key: a redelivered or duplicated event is ignored.
    UniqueConstraint("source", "event_id", name="log_once"),
)
Index("log_by_subject", log_entries.c.subject, log_entries.c.log_index)
Index("log_by_type", log_entries.c.type, log_entries.c.log_index)

MAX_PAGE = 1000
DEFAULT_PAGE = 100


@dataclass(frozen=True)
class Entry:
    log_index: int
    source: str
    event_id: str
    type: str
    subject: str | None
    division: str
    sequence: int
    time: datetime
    recorded_at: datetime
    dataschema: str
    canonical: bytes

    @property
    def data(self) -> dict[str, Any]:
        return dict(json.loads(self.canonical)["data"])


class AuditStore:
    def __init__(self, db: Database, *, settings: Settings | None = None) -> None:
        """`settings`: the node's settings (this store needs none of them)."""
        self.db = db
        db.create_schema(metadata)

    def record(self, event: Event) -> bool:
        """Append `event` to the log unless it is already there; return whether it was new."""
        stmt = (
            self.db.upsert(log_entries)
            .values(
                source=event.source,
                event_id=event.id,
                type=event.type,
                subject=event.subject,
                division=event.division,
                sequence=event.sequence,
                time=event.time,
                recorded_at=self.db.clock(),
                dataschema=event.dataschema,
                canonical=encode(event),
            )
            .on_conflict_do_nothing()
        )
        with self.db.transaction() as tx:
            return tx.conn.execute(stmt).rowcount == 1

    def events(
        self,
        *,
        after_index: int = 0,
        page_size: int = 0,
        type: str = "",
        subject: str = "",
        source: str = "",
    ) -> list[Entry]:
        if after_index < 0:
            raise InvalidArgument.single("after_index", "must be 0 or a log index")
        if page_size < 0 or page_size > MAX_PAGE:
            raise InvalidArgument.single("page_size", f"must be between 0 and {MAX_PAGE}")
        query = select(log_entries).where(log_entries.c.log_index > after_index)
        if type:
            query = query.where(log_entries.c.type == type)
        if subject:
            query = query.where(log_entries.c.subject == subject)
        if source:
            query = query.where(log_entries.c.source == source)
        query = query.order_by(log_entries.c.log_index).limit(page_size or DEFAULT_PAGE)
        with self.db.read() as conn:
            return [_entry(row._mapping) for row in conn.execute(query)]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _entry(row: Any) -> Entry:
    return Entry(
        log_index=row["log_index"],
        source=row["source"],
        event_id=row["event_id"],
        type=row["type"],
        subject=row["subject"],
        division=row["division"],
        sequence=row["sequence"],
        time=_utc(row["time"]),
        recorded_at=_utc(row["recorded_at"]),
        dataschema=row["dataschema"],
        canonical=bytes(row["canonical"]),
    )
