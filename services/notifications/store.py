"""Notifications tables and queries.

- `cases`: what notifications knows of each case (from `application.submitted`), to
  address later events' notifications and to invite unrated cases to evaluation.
- `contacts`, `departments`: how to reach applicants (by account) and departments. They
  hold full addresses — the only tables that do; everything else masks them.
- `notifications`: every message, one per (cause event, recipient, channel) — a unique key,
  so a redelivered event never yields a second message — with its status: created →
  sending → delivered | temporary-failure (tried again later, dead-lettered after the last
  try) | permanent-failure. The inbox is the delivered `inbox` rows.
- `work_orders`: 12345 call-back work orders. `rectifications`: bad reviews a department
  must rectify by a deadline.

Emails and SMS are written `created` in the transaction that consumed their cause and sent
by `claim_due` / `record_outcome` (the delivery loop); inbox messages and work orders are
delivered in that same transaction, with their `notification.sent` events.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

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
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from services.contract import names
from services.contract.envelope import Event
from services.contract.errors import FieldViolation
from services.contract.fields import CASE_NUMBER_PATTERN
from services.contract.identifiers import IdentifierError, check_division_code, check_uscc
from services.notifications import domain
from services.notifications.channels import mask_email, mask_phone
from services.notifications.domain import (
    CREATED,
    DELIVERED,
    EMAIL,
    INBOX,
    PERMANENT,
    SENDING,
    SMS,
    TEMPORARY,
    WORKORDER,
    Case,
    Contact,
    Planned,
)
from services.notifications.templates import TemplateSet, load_templates
from services.platform import paging, tracing
from services.platform.calendar import WorkCalendar, default_calendar
from services.platform.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.platform.node import UnknownDivision, division
from services.platform.settings import Settings
from services.platform.store import Database, Tx

log = logging.getLogger(__name__)
metadata = MetaData()

cases = Table(
    "cases",
    metadata,
    Column("case_number", String(32), primary_key=True),
    Column("recipient", String(200), nullable=False),
    Column("account_id", String(128)),
    Column("applicant_name", String(200), nullable=False),
    Column("item_name", String(200), nullable=False),
    Column("implementation_code", String(40)),  # for the escalation event
    Column("channel", String(20), nullable=False),
    Column("department", String(18)),
    Column("division", String(6), nullable=False),
    Column("concluded_at", DateTime(timezone=True)),
    Column("concluded", Text),  # the application.concluded payload, for the invitation
    Column("concluded_source", String(200)),
    Column("concluded_id", String(128)),
    Column("evaluated", Boolean, nullable=False, default=False),
    Column("invited", Boolean, nullable=False, default=False),
)
Index("cases_to_invite", cases.c.invited, cases.c.evaluated, cases.c.concluded_at)

contacts = Table(
    "contacts",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("language", String(8), nullable=False),
    Column("email", String(254)),
    Column("phone", String(20)),
    Column("email_enabled", Boolean, nullable=False),
    Column("sms_enabled", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

departments = Table(
    "departments",
    metadata,
    Column("code", String(18), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("email", String(254)),
    Column("phone", String(20)),
    Column("supervisor", String(18)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("recipient", String(200), nullable=False),
    Column("channel", String(12), nullable=False),
    Column("to_masked", String(254)),
    Column("template", String(100), nullable=False),
    Column("language", String(8), nullable=False),
    Column("title", String(400), nullable=False),
    Column("body", Text, nullable=False),
    Column("case_number", String(32)),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("lease_until", DateTime(timezone=True)),
    Column("deferred", String(200)),
    Column("last_error", String(500)),
    Column("dead_lettered", Boolean, nullable=False, default=False),
    Column("read", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Column("cause_source", String(200), nullable=False),
    Column("cause_id", String(128), nullable=False),
    Column("cause_type", String(100), nullable=False),
    # One event never yields two notifications to one recipient on one channel.
    UniqueConstraint("cause_source", "cause_id", "recipient", "channel", name="notify_once"),
)
Index(
    "notifications_inbox", notifications.c.recipient, notifications.c.channel, notifications.c.seq
)
Index("notifications_due", notifications.c.status, notifications.c.next_attempt_at)
Index(
    "notifications_recent",
    notifications.c.recipient,
    notifications.c.channel,
    notifications.c.last_attempt_at,
)
Index("notifications_by_case", notifications.c.case_number)

work_orders = Table(
    "work_orders",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("case_number", String(32), nullable=False),
    Column("division", String(6), nullable=False),
    Column("department", String(18)),
    Column("template", String(100), nullable=False),
    Column("title", String(400), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("outcome", String(2000)),
    Column("operator", String(64)),
    Column("notification_id", String(36), nullable=False),
)
Index("work_orders_open", work_orders.c.division, work_orders.c.status, work_orders.c.seq)

rectifications = Table(
    "rectifications",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("case_number", String(32), nullable=False),
    Column("department", String(18), nullable=False),
    Column("division", String(6), nullable=False),
    Column("level", String(30), nullable=False),
    Column("review", Text, nullable=False),  # the application.evaluated payload
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("due_date", String(10), nullable=False),
    Column("status", String(10), nullable=False),  # open, done, escalated
    Column("done_at", DateTime(timezone=True)),
    Column("note", String(2000)),
    Column("escalated_at", DateTime(timezone=True)),
    Column("cause_source", String(200), nullable=False),
    Column("cause_id", String(128), nullable=False),
    UniqueConstraint("cause_source", "cause_id", name="rectify_once"),
)
Index("rectifications_due", rectifications.c.status, rectifications.c.due_date)

_CASE_COLUMNS = frozenset(
    {
        "case_number",
        "recipient",
        "account_id",
        "applicant_name",
        "item_name",
        "implementation_code",
        "channel",
        "department",
        "division",
        "evaluated",
        "invited",
    }
)
_CASE = select(cases).where(cases.c.case_number == bindparam("case_number"))
_CONTACT = select(contacts).where(contacts.c.account_id == bindparam("account_id"))
_DEPARTMENT = select(departments).where(departments.c.code == bindparam("code"))

MAX_PAGE = 500
DEFAULT_PAGE = 50
LEASE = timedelta(minutes=2)
LANGUAGES = ("zh-CN", "en")
WORK_ORDER_STATUSES = ("open", "closed")
RECTIFICATION_STATUSES = ("open", "done", "escalated")
STATUSES = (CREATED, SENDING, DELIVERED, TEMPORARY, PERMANENT)


class CaseNotKnown(Exception):
    """An event about a case whose `application.submitted` has not arrived yet: transient,
    so the broker redelivers it later."""


@dataclass(frozen=True)
class Notification:
    id: str
    seq: int
    recipient: str
    channel: str
    to_masked: str | None
    template: str
    language: str
    title: str
    body: str
    case_number: str | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    deferred: str | None
    last_error: str | None
    dead_lettered: bool
    read: bool
    created_at: datetime
    delivered_at: datetime | None
    cause_source: str
    cause_id: str
    cause_type: str


@dataclass(frozen=True)
class WorkOrder:
    id: str
    seq: int
    case_number: str
    division: str
    department: str | None
    template: str
    title: str
    body: str
    status: str
    created_at: datetime
    closed_at: datetime | None
    outcome: str | None
    operator: str | None


@dataclass(frozen=True)
class Rectification:
    id: str
    seq: int
    case_number: str
    department: str
    division: str
    level: str
    requested_at: datetime
    due_date: date
    status: str
    done_at: datetime | None
    note: str | None
    escalated_at: datetime | None


@dataclass(frozen=True)
class Claimed:
    """An email or SMS taken for sending, with the address resolved from the directory."""

    notification: Notification
    address: str | None


class NotificationsStore:
    def __init__(
        self,
        db: Database,
        *,
        settings: Settings | None = None,
        templates: TemplateSet | None = None,
        calendar: WorkCalendar | None = None,
    ) -> None:
        """`settings` decide the channels, deadlines and limits (defaults without them);
        the templates are loaded and checked here, so a bad file stops the service."""
        self.db = db
        self.settings = settings or Settings.from_environment({})
        path = Path(self.settings.templates_file) if self.settings.templates_file else None
        self.templates = templates or load_templates(path, db.registry)
        self.calendar = calendar or default_calendar()
        self.channels = frozenset(
            c
            for c, on in (
                (EMAIL, bool(self.settings.smtp_url)),
                (SMS, bool(self.settings.sms_gateway_url)),
            )
            if on
        )
        try:
            self.division_name = division(db.source.division).name
        except UnknownDivision:
            self.division_name = ""
        db.create_schema(metadata)
        # Built once: constructing a statement costs more than running it.
        self._insert_case = db.prepare(
            db.upsert(cases)
            .values({c.name: bindparam(c.name) for c in cases.columns if c.name in _CASE_COLUMNS})
            .on_conflict_do_nothing()
        )
        self._case_row = db.prepare(_CASE)
        self._contact_row = db.prepare(_CONTACT)
        self._department_row = db.prepare(_DEPARTMENT)

    # -- consuming events -----------------------------------------------------------

    def handle_many(self, events: Sequence[Event]) -> int:
        """Apply events in one transaction, each once; return how many notifications were
        created. Raises `CaseNotKnown` (transient) for an event that came before its case."""
        return self.apply_many(events).created

    def handle(self, event: Event) -> int:
        return self.handle_many([event])

    def apply_many(self, events: Sequence[Event]) -> Applied:
        """`handle_many`, telling also how many of the notifications wait for the delivery
        loop (emails and SMS; inbox messages and work orders are delivered on the spot)."""
        with self.db.transaction() as tx:
            batch = _Batch()
            for event in events:
                if self.db.mark_processed(tx.conn, event.source, event.id, tx.now):
                    with tracing.event_context(event):
                        self._apply(tx, batch, event)
            created = self._flush(tx, batch)
        return Applied(created, sum(1 for row in batch.rows if row["status"] == CREATED))

    def _apply(self, tx: Tx, batch: _Batch, event: Event) -> None:
        data = dict(event.data)
        if event.type in (names.ITEM_PUBLISHED, names.ITEM_REVISED):
            self._learn_department(tx.conn, data.get("department") or {}, tx.now)
            batch.departments.clear()
            return
        if event.type == names.RECTIFICATION_ESCALATED:
            self._receive_escalation(tx, batch, event)
            return
        if not event.type.startswith("application."):
            return
        if event.type == names.APPLICATION_SUBMITTED:
            case = domain.case_from_submitted(data, event.division)
            self._save_case(tx.conn, case)
        else:
            case = self._case(tx.conn, data["case_number"])
        rectify_by = None
        if event.type == names.APPLICATION_CONCLUDED:
            tx.conn.execute(
                update(cases)
                .where(cases.c.case_number == case.case_number)
                .values(
                    concluded_at=tx.now,
                    concluded=json.dumps(data, ensure_ascii=False),
                    concluded_source=event.source,
                    concluded_id=event.id,
                )
            )
        if event.type == names.APPLICATION_EVALUATED:
            tx.conn.execute(
                update(cases).where(cases.c.case_number == case.case_number).values(evaluated=True)
            )
            if data.get("bad"):
                rectify_by = self._rectify_by(tx.now)
        department_code = data.get("department") or case.department
        plan = domain.plan_event(
            event.type,
            data,
            case,
            applicant=batch.contact(self, tx.conn, case.account_id),
            department=batch.department(self, tx.conn, department_code),
            base=self._context(tx.conn, case, batch),
            channels=self.channels,
            templates=self.templates,
            rectify_by=rectify_by,
            rectify_days=self.settings.rectify_days,
            reviewers={
                code: batch.department(self, tx.conn, code) for code in domain.collaborators(data)
            }
            if event.type == names.APPLICATION_REVIEW_ASSIGNED
            else None,
        )
        if plan.rectification_due is not None and department_code:
            tx.conn.execute(
                insert(rectifications).values(
                    id=str(uuid.uuid4()),
                    case_number=case.case_number,
                    department=department_code,
                    division=case.division,
                    level=data.get("level", ""),
                    review=json.dumps(data, ensure_ascii=False),
                    requested_at=tx.now,
                    due_date=plan.rectification_due.isoformat(),
                    status="open",
                    cause_source=event.source,
                    cause_id=event.id,
                )
            )
        self._create(tx, batch, plan.notifications, event.source, event.id, event.type, case)

    def _receive_escalation(self, tx: Tx, batch: _Batch, event: Event) -> None:
        """An escalation from a node below: when it is for this division's supervision
        office, that office's inbox message, as the escalating node wrote it there."""
        try:
            escalated_from = division(event.division).name
        except UnknownDivision:
            escalated_from = ""
        planned = domain.plan_received_escalation(
            event.data,
            division=self.db.source.division,
            escalated_by=event.division,
            escalated_from=escalated_from,
            channels=self.channels,
            templates=self.templates,
        )
        if not planned:
            log.debug(
                "an escalation for another level or department, or from a node this one "
                "does not supervise; nothing to do",
                extra={"cause_id": event.id, "cause_type": event.type},
            )
        self._create(
            tx, batch, planned, event.source, event.id, event.type, None,
            case_number=event.data["case_number"],
        )  # fmt: skip

    def _rectify_by(self, now: datetime) -> date:
        """`rectify_days` working days after today (China Standard Time)."""
        today = now.astimezone(domain.CHINA).date()
        return self.calendar.add(today, self.settings.rectify_days)

    # -- creating notifications -----------------------------------------------------

    def _create(
        self,
        tx: Tx,
        batch: _Batch,
        planned: Iterable[Planned],
        cause_source: str,
        cause_id: str,
        cause_type: str,
        case: Case | None,
        *,
        case_number: str | None = None,
    ) -> None:
        """Render and queue the notifications for `_flush`. Inbox messages and work orders
        are delivered on the spot; emails and SMS wait for the delivery loop. (The cause was
        marked processed in this transaction, so none of these can exist already.) Their
        case is `case`, or only `case_number` for a case this node does not hold.

        A message whose text renders empty (a template made only of fields the event left
        empty) is not queued: nobody is sent a blank message; the log says which."""
        traceparent = tracing.current_traceparent()
        for item in planned:
            rendered = self.templates[item.template_id].render(item.language, item.values)
            if not rendered.text_for(item.channel).strip():
                log.warning(
                    "template %s renders an empty %s message; not sent",
                    rendered.template,
                    item.channel,
                    extra={"cause_id": cause_id, "cause_type": cause_type},
                )
                continue
            notification_id = str(uuid.uuid4())
            immediate = item.channel in (INBOX, WORKORDER)
            row = {
                "id": notification_id,
                "recipient": item.recipient,
                "channel": item.channel,
                "to_masked": _mask(item.channel, item.address),
                "template": rendered.template,
                "language": rendered.language,
                "title": rendered.title,
                "body": rendered.text_for(item.channel),
                "case_number": case.case_number if case else case_number,
                "status": DELIVERED if immediate else CREATED,
                "attempts": 1 if immediate else 0,
                "next_attempt_at": None if immediate else tx.now,
                "dead_lettered": False,
                "read": False,
                "created_at": tx.now,
                "delivered_at": tx.now if immediate else None,
                "cause_source": cause_source,
                "cause_id": cause_id,
                "cause_type": cause_type,
            }
            batch.rows.append(row)
            if item.channel == WORKORDER and case is not None:
                batch.work_orders.append(
                    {
                        "id": str(uuid.uuid4()),
                        "case_number": case.case_number,
                        "division": case.division,
                        "department": case.department,
                        "template": rendered.template,
                        "title": rendered.title,
                        "body": rendered.body,
                        "status": "open",
                        "created_at": tx.now,
                        "notification_id": notification_id,
                    }
                )
            if immediate:
                batch.emits.append(
                    (
                        names.NOTIFICATION_SENT,
                        _sent(row, tx.now),
                        row["case_number"],
                        traceparent,
                    )
                )

    def _flush(self, tx: Tx, batch: _Batch) -> int:
        self.db.bulk_insert(tx.conn, notifications, batch.rows)
        self.db.bulk_insert(tx.conn, work_orders, batch.work_orders)
        if batch.emits:
            tx.emit_many(batch.emits)
        return len(batch.rows)

    def _emit_sent(self, tx: Tx, row: Mapping[str, Any]) -> None:
        tx.emit(names.NOTIFICATION_SENT, _sent(row, tx.now), subject=row["case_number"])

    # -- follow-ups: invitations and escalations --------------------------------------

    def follow_up(self) -> tuple[int, int]:
        """Invite the applicants of cases concluded `invitation_days` ago and still
        unrated; escalate rectifications past their deadline. Returns (invited, escalated).
        Each happens once per case / rectification, also when several workers follow up
        at once (on PostgreSQL each takes rows the others have not locked)."""
        return self._invite(), self._escalate()

    def _invite(self) -> int:
        invited = 0
        with self.db.transaction() as tx:
            batch = _Batch()
            due = tx.now - timedelta(days=self.settings.invitation_days)
            rows = tx.conn.execute(
                select(cases)
                .where(
                    cases.c.invited.is_(False),
                    cases.c.evaluated.is_(False),
                    cases.c.concluded_at.is_not(None),
                    cases.c.concluded_at <= due,
                )
                .limit(500)
                .with_for_update(skip_locked=True)  # another worker's are its own
            ).all()
            for row in rows:
                case = _case(row._mapping)
                concluded = json.loads(row.concluded)
                tx.conn.execute(
                    update(cases)
                    .where(cases.c.case_number == case.case_number)
                    .values(invited=True)
                )
                planned = domain.plan_invitation(
                    concluded,
                    case,
                    applicant=self._contact(tx.conn, case.account_id),
                    base=self._context(tx.conn, case),
                    channels=self.channels,
                    templates=self.templates,
                    invitation_days=self.settings.invitation_days,
                )
                invited += 1
                self._create(
                    tx, batch, planned, str(self.db.source), f"invitation:{case.case_number}",
                    "evaluation.invitation", case,
                )  # fmt: skip
            self._flush(tx, batch)
        return invited

    def _escalate(self) -> int:
        escalated = 0
        with self.db.transaction() as tx:
            batch = _Batch()
            today = tx.now.astimezone(domain.CHINA).date().isoformat()
            rows = tx.conn.execute(
                select(rectifications)
                .where(rectifications.c.status == "open", rectifications.c.due_date < today)
                .limit(500)
                .with_for_update(skip_locked=True)  # another worker's are its own
            ).all()
            for row in rows:
                case = self._case(tx.conn, row.case_number)
                late = self._department(tx.conn, row.department)
                supervisor = (
                    self._department(tx.conn, late.supervisor)
                    if late is not None and late.supervisor
                    else None
                )
                if supervisor is None and late is not None and late.supervisor:
                    supervisor = Contact(domain.department_key(late.supervisor))
                review = json.loads(row.review)
                rectify_by = date.fromisoformat(row.due_date)
                planned = domain.plan_escalation(
                    review,
                    supervisor=supervisor,
                    division=row.division,
                    base=self._context(tx.conn, case),
                    channels=self.channels,
                    templates=self.templates,
                    rectify_by=rectify_by,
                    rectify_days=self.settings.rectify_days,
                )
                tx.conn.execute(
                    update(rectifications)
                    .where(rectifications.c.id == row.id)
                    .values(status="escalated", escalated_at=tx.now)
                )
                escalated += 1
                self._create(
                    tx, batch, planned, str(self.db.source), f"escalation:{row.id}",
                    names.RECTIFICATION_ESCALATED, case,
                )  # fmt: skip
                # The supervising level hears of it in its own node too (its notifications
                # service applies the event when it is for its office).
                batch.emits.append(
                    (
                        names.RECTIFICATION_ESCALATED,
                        domain.escalation_data(
                            row.id,
                            review,
                            case,
                            department=late,
                            department_code=row.department,
                            escalated_to=domain.escalation_recipient(supervisor, row.division),
                            rectify_by=rectify_by,
                            escalated_at=tx.now,
                        ),
                        case.case_number,
                    )
                )
            self._flush(tx, batch)
        return escalated

    # -- delivery ---------------------------------------------------------------------

    def claim_due(self, limit: int = 20) -> list[Claimed]:
        """Take up to `limit` emails and SMS that are due, marking them `sending` under a
        lease. A message in SMS quiet hours or over its recipient's rate limit is deferred
        to when it may go — never dropped — and not counted as a try.

        Any number of delivery loops, in any number of processes, may claim from one store
        at once: each message is claimed by one of them (until its lease runs out), and a
        recipient's rate limit holds across all of them. On PostgreSQL the due rows are
        locked (`FOR UPDATE SKIP LOCKED`: another loop takes the next ones instead of
        waiting) and each (recipient, channel) whose tries are counted is locked for the
        transaction (`_lock_recipients`); on SQLite a writer holds the whole database."""
        claimed: list[Claimed] = []
        with self.db.transaction() as tx:
            now = tx.now
            rows = tx.conn.execute(
                select(notifications)
                .where(
                    notifications.c.status.in_((CREATED, TEMPORARY, SENDING)),
                    notifications.c.dead_lettered.is_(False),
                    notifications.c.next_attempt_at <= now,
                    or_(notifications.c.lease_until.is_(None), notifications.c.lease_until < now),
                )
                .order_by(notifications.c.next_attempt_at, notifications.c.seq)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            self._lock_recipients(tx.conn, {(row.recipient, row.channel) for row in rows})
            for row in rows:
                message = _notification(row._mapping)
                wait = self._may_go(tx.conn, message, now)
                if wait is not None:
                    until, reason = wait
                    tx.conn.execute(
                        update(notifications)
                        .where(notifications.c.id == message.id)
                        .values(next_attempt_at=until, deferred=reason, lease_until=None)
                    )
                    continue
                tx.conn.execute(
                    update(notifications)
                    .where(notifications.c.id == message.id)
                    .values(
                        status=SENDING,
                        attempts=message.attempts + 1,
                        last_attempt_at=now,
                        lease_until=now + LEASE,
                        deferred=None,
                    )
                )
                claimed.append(
                    Claimed(
                        _notification(
                            {**row._mapping, "status": SENDING, "attempts": message.attempts + 1}
                        ),
                        self._address(tx.conn, message),
                    )
                )
        return claimed

    def _lock_recipients(self, conn: Connection, keys: set[tuple[str, str]]) -> None:
        """Hold, until this transaction ends, a lock per (recipient, channel) in `keys`, so
        that no other claiming transaction counts that recipient's recent tries while this
        one may still add to them: it waits, and then sees them (PostgreSQL, read
        committed). Locks are taken in one order (sorted keys), so two claimers never wait
        for each other. Transaction-level advisory locks: nothing to clean up, and a
        collision of two keys only makes one claimer wait. SQLite needs none (one writer)."""
        if not keys or self.db.dialect != "postgresql":
            return
        tx_locks = sorted({_lock_key(recipient, channel) for recipient, channel in keys})
        conn.execute(
            text(
                "SELECT pg_advisory_xact_lock(:space, k) "
                "FROM unnest(CAST(:keys AS integer[])) WITH ORDINALITY AS t(k, n) ORDER BY n"
            ),
            {"space": _RATE_LOCK_SPACE, "keys": tx_locks},
        )

    def _may_go(
        self, conn: Connection, message: Notification, now: datetime
    ) -> tuple[datetime, str] | None:
        if message.channel == SMS:
            quiet = domain.quiet_until(now, self.settings.sms_quiet_hours)
            if quiet is not None:
                return quiet.astimezone(UTC), "quiet hours"
        limit = (
            self.settings.rate_limit_sms
            if message.channel == SMS
            else self.settings.rate_limit_email
        )
        since = now - timedelta(seconds=limit[1])
        recent = conn.execute(
            select(notifications.c.last_attempt_at).where(
                notifications.c.recipient == message.recipient,
                notifications.c.channel == message.channel,
                notifications.c.last_attempt_at > since,
                notifications.c.id != message.id,
            )
        ).scalars()
        until = domain.rate_limited_until([_utc(t) for t in recent], limit, now)
        if until is not None:
            return until, f"rate limit {limit[0]} per {limit[1]} s"
        return None

    def _address(self, conn: Connection, message: Notification) -> str | None:
        if message.recipient.startswith("dept:"):
            contact = self._department(conn, message.recipient.removeprefix("dept:"))
        else:
            contact = self._contact(conn, message.recipient)
        if contact is None:
            return None
        return contact.email if message.channel == EMAIL else contact.phone

    def record_outcome(self, claimed: Claimed, status: str, detail: str) -> Notification:
        """What the channel said about a claimed message: delivered, a temporary failure
        (retried with exponential backoff until the last try, then dead-lettered) or a
        permanent one. Emits `notification.sent` or `notification.failed`.

        A claim whose lease ran out may have been taken over by another delivery loop (a
        send that hung past the lease). Its failure is then stale and is not recorded: the
        newer claim decides. Its success is recorded unless the message is already
        delivered — it did reach the recipient — and then the newer claim's outcome is
        the stale one. So a message is marked delivered, and announced, once."""
        message = claimed.notification
        attempts = message.attempts
        current = notifications.c.id == message.id
        if status == DELIVERED:
            current &= notifications.c.status != DELIVERED
        else:
            current &= (notifications.c.status == SENDING) & (notifications.c.attempts == attempts)
        with self.db.transaction() as tx:
            values: dict[str, Any] = {"lease_until": None, "last_error": detail[:500] or None}
            if status == DELIVERED:
                values.update(status=DELIVERED, delivered_at=tx.now, last_error=None)
            elif status == TEMPORARY:
                final = attempts >= self.settings.delivery_attempts
                delay = domain.retry_delay(
                    attempts, self.settings.retry_base, self.settings.retry_max
                )
                values.update(
                    status=TEMPORARY,
                    dead_lettered=final,
                    next_attempt_at=None if final else tx.now + timedelta(seconds=delay),
                )
            else:
                values.update(status=PERMANENT, next_attempt_at=None)
            updated = tx.conn.execute(update(notifications).where(current).values(**values))
            if updated.rowcount == 0:
                log.warning(
                    "notification %s: the outcome of try %d (%s) came after a newer claim "
                    "and was not recorded",
                    message.id,
                    attempts,
                    status,
                )
            else:
                self._announce_outcome(tx, message, status, detail, attempts, values)
        return self.notification(message.id)

    def _announce_outcome(
        self,
        tx: Tx,
        message: Notification,
        status: str,
        detail: str,
        attempts: int,
        values: Mapping[str, Any],
    ) -> None:
        row = {
            "id": message.id,
            "channel": message.channel,
            "recipient": message.recipient,
            "template": message.template,
            "case_number": message.case_number,
            "cause_source": message.cause_source,
            "cause_id": message.cause_id,
            "cause_type": message.cause_type,
        }
        if status == DELIVERED:
            self._emit_sent(tx, row)
        else:
            self._emit_failed(tx, row, status, detail, attempts, values)

    def _emit_failed(
        self,
        tx: Tx,
        row: Mapping[str, Any],
        status: str,
        detail: str,
        attempts: int,
        values: Mapping[str, Any],
    ) -> None:
        tx.emit(
            names.NOTIFICATION_FAILED,
            {
                "notification_id": row["id"],
                "channel": row["channel"],
                "recipient": row["recipient"],
                "template": row["template"],
                "case_number": row["case_number"],
                "cause": {
                    "source": row["cause_source"],
                    "id": row["cause_id"],
                    "type": row["cause_type"],
                },
                "status": status,
                "reason": (detail or status)[:500],
                "attempts": attempts,
                "final": status == PERMANENT or bool(values.get("dead_lettered")),
                "failed_at": tx.now.isoformat(),
            },
            subject=row["case_number"],
        )

    def retry(self, notification_id: str) -> Notification:
        """Put a dead-lettered or permanently failed email/SMS back in the queue (after the
        operator fixed what was wrong); its tries start again."""
        _refuse(_required("id", notification_id))
        with self.db.transaction() as tx:
            row = tx.conn.execute(
                select(notifications).where(notifications.c.id == notification_id)
            ).first()
            if row is None:
                raise NotFound(f"no notification {notification_id}")
            if row.status == DELIVERED or row.channel not in (EMAIL, SMS):
                raise FailedPrecondition(
                    f"notification {notification_id} is {row.status} on {row.channel}: only "
                    "failed emails and SMS are retried"
                )
            if row.status not in (PERMANENT, TEMPORARY) or (
                row.status == TEMPORARY and not row.dead_lettered
            ):
                raise FailedPrecondition(
                    f"notification {notification_id} is {row.status} and will be tried anyway"
                )
            tx.conn.execute(
                update(notifications)
                .where(notifications.c.id == notification_id)
                .values(
                    status=CREATED,
                    attempts=0,
                    dead_lettered=False,
                    next_attempt_at=tx.now,
                    lease_until=None,
                )
            )
        return self.notification(notification_id)

    # -- the directory ----------------------------------------------------------------

    def put_contact(
        self,
        account_id: str,
        *,
        email: str,
        phone: str,
        language: str,
        email_enabled: bool,
        sms_enabled: bool,
    ) -> Contact:
        problems = []
        if not account_id.strip() or len(account_id) > 128:
            problems.append(("account_id", "is required (1 to 128 characters)"))
        if email and (reason := domain.check_email(email)):
            problems.append(("email", reason))
        if phone and (reason := domain.check_mobile(phone)):
            problems.append(("phone", reason))
        if language and language not in LANGUAGES:
            problems.append(("language", f"must be one of {', '.join(LANGUAGES)}"))
        _refuse(problems)
        values = {
            "language": language or "zh-CN",
            "email": email or None,
            "phone": phone or None,
            "email_enabled": email_enabled,
            "sms_enabled": sms_enabled,
        }
        with self.db.transaction() as tx:
            statement = self.db.upsert(contacts).values(
                account_id=account_id, updated_at=tx.now, **values
            )
            tx.conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[contacts.c.account_id], set_={**values, "updated_at": tx.now}
                )
            )
        return Contact(account_id, **values)  # type: ignore[arg-type]

    def contact(self, account_id: str) -> Contact:
        _refuse(_required("account_id", account_id))
        with self.db.read() as conn:
            found = self._contact(conn, account_id)
        if found is None:
            raise NotFound(f"no contact details for account {account_id}")
        return found

    def delete_contact(self, account_id: str) -> bool:
        """Forget an account's contact details; False if there were none."""
        _refuse(_required("account_id", account_id))
        with self.db.transaction() as tx:
            return bool(
                tx.conn.execute(
                    delete(contacts).where(contacts.c.account_id == account_id)
                ).rowcount
            )

    def put_department(
        self, code: str, *, name: str, email: str, phone: str, supervisor: str
    ) -> Contact:
        problems: list[tuple[str, str]] = []
        code = _uscc("code", code, problems, required=True)
        supervisor = _uscc("supervisor", supervisor, problems)
        if supervisor and supervisor == code:
            problems.append(("supervisor", "cannot be the department itself"))
        if email and (reason := domain.check_email(email)):
            problems.append(("email", reason))
        if phone and (reason := domain.check_mobile(phone)):
            problems.append(("phone", reason))
        if len(name) > 200:
            problems.append(("name", "must be at most 200 characters"))
        _refuse(problems)
        values = {
            "email": email or None,
            "phone": phone or None,
            "supervisor": supervisor or None,
        }
        with self.db.transaction() as tx:
            named = {"name": name} if name else {}
            statement = self.db.upsert(departments).values(
                code=code, name=name, updated_at=tx.now, **values
            )
            tx.conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[departments.c.code],
                    set_={**values, **named, "updated_at": tx.now},
                )
            )
        return self.department(code)

    def department(self, code: str) -> Contact:
        problems: list[tuple[str, str]] = []
        code = _uscc("code", code, problems, required=True)
        _refuse(problems)
        with self.db.read() as conn:
            found = self._department(conn, code)
        if found is None:
            raise NotFound(f"no department {code} in the directory")
        return found

    def _learn_department(
        self, conn: Connection, department: Mapping[str, Any], now: datetime
    ) -> None:
        """Departments' names come with catalog events; contacts are set through the API."""
        code, name = department.get("code"), department.get("name")
        if not code or not name:
            return
        statement = self.db.upsert(departments).values(code=code, name=name, updated_at=now)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[departments.c.code], set_={"name": name}
            )
        )

    # -- reads ------------------------------------------------------------------------

    def inbox(
        self, recipient: str, *, page_size: int = 0, page_token: str = "", unread_only: bool = False
    ) -> tuple[list[Notification], str]:
        """A recipient's inbox, newest first; returns (page, next page token or "")."""
        if not recipient.strip():
            raise InvalidArgument.single(
                "recipient", "is required (an account id, case:<number> or dept:<USCC>)"
            )
        query = select(notifications).where(
            notifications.c.recipient == recipient.strip(), notifications.c.channel == INBOX
        )
        if unread_only:
            query = query.where(notifications.c.read.is_(False))
        key = ("inbox", recipient.strip(), str(unread_only))
        return self._page(
            query, notifications.c.seq, key, page_size, page_token, _notification,
            query_fields="the recipient and filters",
        )  # fmt: skip

    def mark_read(self, recipient: str, ids: Sequence[str]) -> int:
        """Mark messages of `recipient`'s inbox read; ids of other recipients change
        nothing. Returns how many were unread."""
        if not recipient.strip():
            raise InvalidArgument.single("recipient", "is required")
        if not ids:
            raise InvalidArgument.single("ids", "name at least one message")
        if not all(i.strip() for i in ids):
            raise InvalidArgument.single("ids", "must not hold an empty id")
        with self.db.transaction() as tx:
            return int(
                tx.conn.execute(
                    update(notifications)
                    .where(
                        notifications.c.recipient == recipient,
                        notifications.c.channel == INBOX,
                        notifications.c.id.in_(list(ids)),
                        notifications.c.read.is_(False),
                    )
                    .values(read=True)
                ).rowcount
            )

    def notifications(
        self,
        *,
        recipient: str = "",
        case_number: str = "",
        status: str = "",
        channel: str = "",
        dead_lettered: bool = False,
        page_size: int = 0,
        page_token: str = "",
    ) -> tuple[list[Notification], str]:
        problems = []
        if status and status not in STATUSES:
            problems.append(("status", f"must be one of {', '.join(STATUSES)}"))
        if channel and channel not in (INBOX, EMAIL, SMS, WORKORDER):
            problems.append(("channel", "must be one of inbox, email, sms, workorder"))
        if case_number and not _CASE_NUMBER.match(case_number):
            problems.append(
                ("case_number", "must be a case number: <division>-<YYYYMMDD>-<6-digit sequence>")
            )
        _refuse(problems)
        query = select(notifications)
        for column, value in (
            (notifications.c.recipient, recipient),
            (notifications.c.case_number, case_number),
            (notifications.c.status, status),
            (notifications.c.channel, channel),
        ):
            if value:
                query = query.where(column == value)
        if dead_lettered:
            query = query.where(notifications.c.dead_lettered.is_(True))
        key = ("notifications", recipient, case_number, status, channel, str(dead_lettered))
        return self._page(query, notifications.c.seq, key, page_size, page_token, _notification)

    def notification(self, notification_id: str) -> Notification:
        _refuse(_required("id", notification_id))
        with self.db.read() as conn:
            row = conn.execute(
                select(notifications).where(notifications.c.id == notification_id)
            ).first()
        if row is None:
            raise NotFound(f"no notification {notification_id}")
        return _notification(row._mapping)

    def work_orders(
        self,
        *,
        division: str = "",
        department: str = "",
        status: str = "",
        page_size: int = 0,
        page_token: str = "",
    ) -> tuple[list[WorkOrder], str]:
        """12345 call-back work orders, newest first, by the division of the case, the
        department it concerns and status; returns (page, next page token or "")."""
        problems: list[tuple[str, str]] = []
        if division:
            try:
                division = check_division_code(division).code
            except IdentifierError as exc:
                problems.append(("division", exc.reason))
        department = _uscc("department", department, problems)
        if status and status not in WORK_ORDER_STATUSES:
            problems.append(("status", "must be open or closed"))
        _refuse(problems)
        query = select(work_orders)
        if division:
            query = query.where(work_orders.c.division == division)
        if department:
            query = query.where(work_orders.c.department == department)
        if status:
            query = query.where(work_orders.c.status == status)
        key = ("work_orders", division, department, status)
        return self._page(query, work_orders.c.seq, key, page_size, page_token, _work_order)

    def close_work_order(self, work_order_id: str, *, outcome: str, operator: str) -> WorkOrder:
        problems = _required("id", work_order_id)
        if not outcome.strip() or len(outcome) > 2000:
            problems.append(("outcome", "is required: what the call achieved (up to 2000)"))
        if not operator.strip() or len(operator) > 64:
            problems.append(("operator", "is required (1 to 64 characters)"))
        _refuse(problems)
        with self.db.transaction() as tx:
            row = tx.conn.execute(
                select(work_orders).where(work_orders.c.id == work_order_id)
            ).first()
            if row is None:
                raise NotFound(f"no work order {work_order_id}")
            if row.status == "closed":
                raise FailedPrecondition(f"work order {work_order_id} is already closed")
            tx.conn.execute(
                update(work_orders)
                .where(work_orders.c.id == work_order_id)
                .values(status="closed", closed_at=tx.now, outcome=outcome, operator=operator)
            )
            row = tx.conn.execute(
                select(work_orders).where(work_orders.c.id == work_order_id)
            ).one()
        return _work_order(row._mapping)

    def rectifications(
        self, *, department: str = "", status: str = "", page_size: int = 0, page_token: str = ""
    ) -> tuple[list[Rectification], str]:
        problems: list[tuple[str, str]] = []
        department = _uscc("department", department, problems)
        if status and status not in RECTIFICATION_STATUSES:
            problems.append(("status", "must be open, done or escalated"))
        _refuse(problems)
        query = select(rectifications)
        if department:
            query = query.where(rectifications.c.department == department)
        if status:
            query = query.where(rectifications.c.status == status)
        key = ("rectifications", department, status)
        return self._page(query, rectifications.c.seq, key, page_size, page_token, _rectification)

    def complete_rectification(
        self, rectification_id: str, *, department: str, note: str
    ) -> Rectification:
        """The department reports the bad review followed up and rectified (late is still
        recorded: an escalated one can be completed too)."""
        problems = _required("id", rectification_id)
        department = _uscc("department", department, problems, required=True)
        if not note.strip() or len(note) > 2000:
            problems.append(("note", "is required: what was done (up to 2000)"))
        _refuse(problems)
        with self.db.transaction() as tx:
            row = tx.conn.execute(
                select(rectifications).where(rectifications.c.id == rectification_id)
            ).first()
            if row is None:
                raise NotFound(f"no rectification {rectification_id}")
            if row.department != department:
                raise PermissionDenied(
                    f"rectification {rectification_id} is for department {row.department}"
                )
            if row.status == "done":
                raise FailedPrecondition(f"rectification {rectification_id} is already done")
            tx.conn.execute(
                update(rectifications)
                .where(rectifications.c.id == rectification_id)
                .values(status="done", done_at=tx.now, note=note)
            )
            row = tx.conn.execute(
                select(rectifications).where(rectifications.c.id == rectification_id)
            ).one()
        return _rectification(row._mapping)

    def count(self, channel: str = "") -> int:
        query = select(func.count()).select_from(notifications)
        if channel:
            query = query.where(notifications.c.channel == channel)
        with self.db.read() as conn:
            return int(conn.execute(query).scalar_one())

    # -- helpers ----------------------------------------------------------------------

    def _page(
        self,
        query: Any,
        seq: Any,
        key: tuple[str, ...],
        page_size: int,
        page_token: str,
        convert: Any,
        *,
        query_fields: str = "the filters",
    ) -> tuple[list[Any], str]:
        """A page of `query`, newest (highest `seq`) first, and the token of the next page
        ("" at the end). `key` names the listing and its filters in canonical spelling:
        a token serves only a query of the same key (`InvalidArgument` naming page_token
        otherwise, or when garbled; `query_fields` says what makes the query)."""
        if page_size < 0 or page_size > MAX_PAGE:
            raise InvalidArgument.single("page_size", f"must be between 0 and {MAX_PAGE}")
        size = page_size or DEFAULT_PAGE
        if page_token:
            after = paging.read_page_token(page_token, key, int, query_fields=query_fields)
            query = query.where(seq < after)
        query = query.order_by(seq.desc()).limit(size + 1)
        with self.db.read() as conn:
            rows = [convert(r._mapping) for r in conn.execute(query)]
        more = len(rows) > size
        rows = rows[:size]
        return rows, (paging.page_token(rows[-1].seq, key) if more else "")

    def _save_case(self, conn: Connection, case: Case) -> None:
        self._insert_case.run(
            conn,
            {
                "case_number": case.case_number,
                "recipient": case.recipient,
                "account_id": case.account_id,
                "applicant_name": case.applicant_name,
                "item_name": case.item_name,
                "implementation_code": case.implementation_code,
                "channel": case.channel,
                "department": case.department,
                "division": case.division,
                "evaluated": False,
                "invited": False,
            },
        )

    def _case(self, conn: Connection, case_number: str) -> Case:
        row = self._case_row.first(conn, {"case_number": case_number})
        if row is None:
            raise CaseNotKnown(f"case {case_number} is not known yet (its submission first)")
        return _case(row)

    def _contact(self, conn: Connection, account_id: str | None) -> Contact | None:
        if not account_id:
            return None
        row = self._contact_row.first(conn, {"account_id": account_id})
        if row is None:
            return None
        return Contact(
            key=row["account_id"],
            language=row["language"],
            email=row["email"],
            phone=row["phone"],
            email_enabled=row["email_enabled"],
            sms_enabled=row["sms_enabled"],
        )

    def _department(self, conn: Connection, code: str | None) -> Contact | None:
        if not code:
            return None
        row = self._department_row.first(conn, {"code": code})
        if row is None:
            return None
        return Contact(
            key=domain.department_key(row["code"]),
            email=row["email"],
            phone=row["phone"],
            name=row["name"],
            supervisor=row["supervisor"],
        )

    def _context(self, conn: Connection, case: Case, batch: _Batch | None = None) -> dict[str, Any]:
        department = (
            batch.department(self, conn, case.department)
            if batch is not None
            else self._department(conn, case.department)
        )
        return domain.context(case, department.name if department else "", self.division_name)


class Applied(NamedTuple):
    created: int
    """Notifications created."""
    to_deliver: int
    """Of those, the ones the delivery loop sends (emails and SMS)."""


class _Batch:
    """What one transaction writes at its end: notification rows, work orders, events;
    and the directory entries it looked up (they do not change within it)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.work_orders: list[dict[str, Any]] = []
        self.emits: list[tuple[Any, ...]] = []
        self.contacts: dict[str | None, Contact | None] = {}
        self.departments: dict[str | None, Contact | None] = {}

    def contact(
        self, store: NotificationsStore, conn: Connection, account_id: str | None
    ) -> Contact | None:
        if account_id not in self.contacts:
            self.contacts[account_id] = store._contact(conn, account_id)
        return self.contacts[account_id]

    def department(
        self, store: NotificationsStore, conn: Connection, code: str | None
    ) -> Contact | None:
        if code not in self.departments:
            self.departments[code] = store._department(conn, code)
        return self.departments[code]


def _sent(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "notification_id": row["id"],
        "channel": row["channel"],
        "recipient": row["recipient"],
        "template": row["template"],
        "case_number": row["case_number"],
        "cause": {"source": row["cause_source"], "id": row["cause_id"], "type": row["cause_type"]},
        "sent_at": now.isoformat(),
    }


_RATE_LOCK_SPACE = 0x6E6F7466  # "notf": the advisory lock space of rate-limit counting


def _lock_key(recipient: str, channel: str) -> int:
    """A stable signed 32-bit key for (recipient, channel), for `pg_advisory_xact_lock`."""
    key = zlib.crc32(f"{channel}\0{recipient}".encode())
    return key - (1 << 32) if key >= 1 << 31 else key


_CASE_NUMBER = re.compile(CASE_NUMBER_PATTERN)


def _refuse(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise InvalidArgument(FieldViolation(f, r) for f, r in problems)


def _required(field_name: str, value: str) -> list[tuple[str, str]]:
    """The problem of an empty identifier, as a list to add more problems to."""
    return [] if value.strip() else [(field_name, "is required")]


def _uscc(
    field_name: str, value: str, problems: list[tuple[str, str]], *, required: bool = False
) -> str:
    """A department's unified social credit code, normalised (upper case); "" when it is
    left out and not `required`. What is wrong with it is added to `problems`."""
    if not value:
        if required:
            problems.append((field_name, "is required (a department's unified social credit code)"))
        return ""
    try:
        return check_uscc(value).value
    except IdentifierError as exc:
        problems.append((field_name, exc.reason))
        return value


def _mask(channel: str, address: str | None) -> str | None:
    if not address:
        return None
    return mask_email(address) if channel == EMAIL else mask_phone(address)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _case(row: Any) -> Case:
    return Case(
        case_number=row["case_number"],
        recipient=row["recipient"],
        account_id=row["account_id"],
        applicant_name=row["applicant_name"],
        item_name=row["item_name"],
        channel=row["channel"],
        department=row["department"],
        division=row["division"],
        implementation_code=row["implementation_code"],
    )


def _notification(row: Any) -> Notification:
    return Notification(
        id=row["id"],
        seq=row["seq"],
        recipient=row["recipient"],
        channel=row["channel"],
        to_masked=row["to_masked"],
        template=row["template"],
        language=row["language"],
        title=row["title"],
        body=row["body"],
        case_number=row["case_number"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=_utc(row["next_attempt_at"]),
        deferred=row["deferred"],
        last_error=row["last_error"],
        dead_lettered=bool(row["dead_lettered"]),
        read=bool(row["read"]),
        created_at=_utc(row["created_at"]),  # type: ignore[arg-type]
        delivered_at=_utc(row["delivered_at"]),
        cause_source=row["cause_source"],
        cause_id=row["cause_id"],
        cause_type=row["cause_type"],
    )


def _work_order(row: Any) -> WorkOrder:
    return WorkOrder(
        id=row["id"],
        seq=row["seq"],
        case_number=row["case_number"],
        division=row["division"],
        department=row["department"],
        template=row["template"],
        title=row["title"],
        body=row["body"],
        status=row["status"],
        created_at=_utc(row["created_at"]),  # type: ignore[arg-type]
        closed_at=_utc(row["closed_at"]),
        outcome=row["outcome"],
        operator=row["operator"],
    )


def _rectification(row: Any) -> Rectification:
    return Rectification(
        id=row["id"],
        seq=row["seq"],
        case_number=row["case_number"],
        department=row["department"],
        division=row["division"],
        level=row["level"],
        requested_at=_utc(row["requested_at"]),  # type: ignore[arg-type]
        due_date=date.fromisoformat(row["due_date"]),
        status=row["status"],
        done_at=_utc(row["done_at"]),
        note=row["note"],
        escalated_at=_utc(row["escalated_at"]),
    )
