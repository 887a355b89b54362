"""Notifications tables and queries: the in-app inbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
)

from services.contract import names
from services.contract.envelope import Event
from services.notifications.domain import applicant_message
from services.platform.errors import InvalidArgument
from services.platform.settings import Settings
from services.platform.store import Database

metadata = MetaData()

inbox = Table(
    "inbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("recipient", String(200), nullable=False),
    Column("case_number", String(32)),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("template", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("read", Boolean, nullable=False, default=False),
    Column("cause_source", String(200), nullable=False),
    Column("cause_id", String(128), nullable=False),
    Column("cause_type", String(100), nullable=False),
    # One event never yields two messages to one recipient, even when redelivered.
    UniqueConstraint("cause_source", "cause_id", "recipient", name="inbox_once"),
)
Index("inbox_by_recipient", inbox.c.recipient, inbox.c.seq)

MAX_PAGE = 500
DEFAULT_PAGE = 50


@dataclass(frozen=True)
class StoredMessage:
    id: str
    seq: int
    recipient: str
    case_number: str | None
    title: str
    body: str
    template: str
    created_at: datetime
    read: bool
    cause_id: str
    cause_type: str


class NotificationsStore:
    def __init__(self, db: Database, *, settings: Settings | None = None) -> None:
        """`settings`: the node's settings (this store needs none of them)."""
        self.db = db
        db.create_schema(metadata)

    def notify_applicant(self, event: Event) -> StoredMessage | None:
        """Store the inbox message `event` calls for (once) and emit `notification.sent`."""
        with self.db.consume(event) as tx:
            if tx is None:
                return None
            message = applicant_message(event.type, dict(event.data))
            if message is None:
                return None
            stored = StoredMessage(
                id=str(uuid.uuid4()),
                seq=0,
                recipient=message.recipient,
                case_number=message.case_number,
                title=message.title,
                body=message.body,
                template=message.template,
                created_at=tx.now,
                read=False,
                cause_id=event.id,
                cause_type=event.type,
            )
            tx.conn.execute(
                insert(inbox).values(
                    id=stored.id,
                    recipient=stored.recipient,
                    case_number=stored.case_number,
                    title=stored.title,
                    body=stored.body,
                    template=stored.template,
                    created_at=stored.created_at,
                    read=False,
                    cause_source=event.source,
                    cause_id=event.id,
                    cause_type=event.type,
                )
            )
            tx.emit(
                names.NOTIFICATION_SENT,
                {
                    "notification_id": stored.id,
                    "channel": "inbox",
                    "recipient": stored.recipient,
                    "template": stored.template,
                    "case_number": stored.case_number,
                    "cause": {"source": event.source, "id": event.id, "type": event.type},
                    "sent_at": tx.now.isoformat(),
                },
                subject=stored.case_number,
            )
            return stored

    def inbox(
        self, recipient: str, *, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[StoredMessage], str]:
        """A recipient's messages, newest first; returns (page, next page token or "")."""
        if not recipient.strip():
            raise InvalidArgument.single(
                "recipient", "is required (an account id or case:<number>)"
            )
        if page_size < 0 or page_size > MAX_PAGE:
            raise InvalidArgument.single("page_size", f"must be between 0 and {MAX_PAGE}")
        size = page_size or DEFAULT_PAGE
        before = None
        if page_token:
            if not page_token.isdigit():
                raise InvalidArgument.single("page_token", "is not a token this API returned")
            before = int(page_token)
        query = select(inbox).where(inbox.c.recipient == recipient.strip())
        if before is not None:
            query = query.where(inbox.c.seq < before)
        query = query.order_by(inbox.c.seq.desc()).limit(size + 1)
        with self.db.read() as conn:
            rows = [_message(r._mapping) for r in conn.execute(query)]
        more = len(rows) > size
        rows = rows[:size]
        return rows, (str(rows[-1].seq) if more else "")


def _message(row: Any) -> StoredMessage:
    created = row["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return StoredMessage(
        id=row["id"],
        seq=row["seq"],
        recipient=row["recipient"],
        case_number=row["case_number"],
        title=row["title"],
        body=row["body"],
        template=row["template"],
        created_at=created,
        read=row["read"],
        cause_id=row["cause_id"],
        cause_type=row["cause_type"],
    )
