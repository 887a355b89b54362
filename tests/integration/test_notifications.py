"""Notifications on SQLite and PostgreSQL, sending through a real SMTP server and a real SMS
gateway started by the tests, with the store's clock in the tests' hands: who hears what,
exactly once; delivery statuses, retries with backoff, dead letters, permanent failures;
quiet hours and rate limits that defer and never drop; work orders, rectifications and
their escalation, evaluation invitations; records that mask personal data."""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
import yaml
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    text,
)

from govnet.notifications.v1 import notifications_pb2 as pb
from govnet.notifications.v1 import notifications_pb2_grpc as pb_grpc
from services.contract import names
from services.contract.envelope import Event, decode, encode
from services.contract.schemas import default_registry
from services.notifications import domain
from services.notifications.api import registration
from services.notifications.delivery import Deliverer
from services.notifications.store import CaseNotKnown, NotificationsStore
from services.notifications.store import metadata as notifications_metadata
from services.notifications.templates import builtin_path
from services.platform.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.platform.grpc_server import ApiServer
from services.platform.settings import Settings
from services.platform.store import Database
from tests.integration.test_api import violations
from tests.support import infra
from tests.support.mailserver import MailServer, mail_server
from tests.support.nodes import free_port_base
from tests.support.smsgateway import SmsGateway, sms_gateway

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
T = TypeVar("T")
ACCOUNT = "js-gov-8f3a21c7"
CASE = "320102-20261127-000001"
MARKET = "11320102767342276U"
SUPERVISOR = "113201020140000018"
EMAIL, PHONE = "wang.xiaoming@example.com", "13912345678"
# 10:00 in China on a Tuesday (outside SMS quiet hours).
START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def event(event_type: str, sequence: int, **data: Any) -> Event:
    raw = json.loads((GOLDEN / f"{event_type}.v1.json").read_text("utf-8"))
    raw = copy.deepcopy(raw)
    raw["id"] = str(uuid.uuid4())
    raw["sequence"] = sequence
    raw.pop("traceparent", None)
    raw["data"].update(data)
    if "case_number" in data:
        raw["subject"] = data["case_number"]
    return decode(json.dumps(raw, ensure_ascii=False), default_registry())


def submitted(channel: str = "web", account: str | None = ACCOUNT, case: str = CASE) -> Event:
    raw = json.loads((GOLDEN / "application.submitted.v1.json").read_text("utf-8"))
    raw["data"]["channel"] = channel
    raw["data"]["applicant"]["account_id"] = account
    raw["data"]["case_number"] = raw["subject"] = case
    if case != CASE:
        raw["id"] = str(uuid.uuid4())
    raw.pop("traceparent", None)
    return decode(json.dumps(raw, ensure_ascii=False), default_registry())


def from_node(escalated: Event, division: str, **data: Any) -> Event:
    """`escalated` as the node of `division` would have emitted it (an event of its own),
    with `data` changed."""
    raw = json.loads(encode(escalated))
    raw.update(id=str(uuid.uuid4()), source=f"govnet://{division}/notifications")
    raw["division"] = division
    raw["data"].update(data)
    return decode(json.dumps(raw, ensure_ascii=False), default_registry())


SETTINGS = {
    "GOVNET_EMAIL_FROM": "政务服务 <noreply@govnet.example>",
    "GOVNET_RETRY_BASE": "60",
    "GOVNET_RETRY_MAX": "600",
    "GOVNET_DELIVERY_ATTEMPTS": "3",
    "GOVNET_RATE_LIMIT_SMS": "2/hour",
}


def open_store(
    url: str,
    clock: Clock,
    mail: MailServer,
    sms: SmsGateway,
    division: str = "320102",
    **changes: str,
) -> NotificationsStore:
    """A notifications store of the node of `division` on `url` sending through `mail` and
    `sms`; `changes` override the suite's settings (GOVNET_* variables)."""
    settings = Settings.from_environment(
        {**SETTINGS, "GOVNET_SMTP_URL": mail.url, "GOVNET_SMS_GATEWAY_URL": sms.url, **changes}
    )
    db = Database(
        url, service="notifications", division=division, registry=default_registry(),
        clock=clock,
    )  # fmt: skip
    db.create_schema()
    return NotificationsStore(db, settings=settings)


@contextlib.contextmanager
def serving(store: NotificationsStore) -> Iterator[pb_grpc.NotificationsServiceStub]:
    """The notifications gRPC API over `store`, on a free local port, and a client of it."""
    server = ApiServer(f"127.0.0.1:{free_port_base(1)}", [registration(store)], workers=4)
    server.start()
    channel = grpc.insecure_channel(server.address)
    try:
        yield pb_grpc.NotificationsServiceStub(channel)
    finally:
        channel.close()
        server.stop(0)


NOT_A_TOKEN = (
    "is not a token this API returned (garbled, cut short, or made by an earlier version): "
    "search again without it"
)


def another_query(fields: str) -> str:
    return (
        f"belongs to another query: send {fields} of the query that returned it, or no "
        "page_token for a first page"
    )


def refused(call: Callable[..., Any], request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=10)
    return info.value


def as_row(order: pb.WorkOrder) -> tuple[Any, ...]:
    """A work order's fields but its id, title and body, with times as datetimes."""
    closed = order.closed_at.ToDatetime(tzinfo=UTC) if order.HasField("closed_at") else None
    return (
        order.case_number, order.division, order.department, order.template, order.status,
        order.created_at.ToDatetime(tzinfo=UTC), closed, order.outcome, order.operator,
    )  # fmt: skip


def at_once(
    work: Callable[[NotificationsStore], T], stores: Sequence[NotificationsStore]
) -> list[T]:
    """Run `work(store)` for each of `stores` in a thread of its own, all starting together
    (as the workers of a node scaled out do); return their results in order, or raise the
    first exception one of them raised."""
    start = threading.Barrier(len(stores))
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(index: int, store: NotificationsStore) -> None:
        try:
            start.wait(timeout=30)
            results[index] = work(store)
        except BaseException as exc:  # handed to the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=item) for item in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker did not finish"
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(stores))]


def claim_until_none_due(store: NotificationsStore, limit: int) -> list[str]:
    """What one delivery loop claims, round after round, until nothing is due."""
    claimed: list[str] = []
    for _ in range(1000):
        batch = store.claim_due(limit)
        if not batch:
            break
        claimed += [c.notification.id for c in batch]
    return claimed


def claim_concurrently(stores: Sequence[NotificationsStore], limit: int = 20) -> list[str]:
    """The ids claimed by one delivery loop per store, all claiming at once."""
    return [i for ids in at_once(lambda s: claim_until_none_due(s, limit), stores) for i in ids]


class NotificationsSuite:
    """Subclasses provide `url`."""

    @pytest.fixture
    def mail(self) -> Iterator[MailServer]:
        with mail_server() as server:
            yield server

    @pytest.fixture
    def sms(self) -> Iterator[SmsGateway]:
        with sms_gateway(replies={"13912345670": [500, 503, 500, 502, 500, 500]}) as gateway:
            yield gateway

    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    def store(
        self, url: str, mail: MailServer, sms: SmsGateway, clock: Clock
    ) -> Iterator[NotificationsStore]:
        store = open_store(url, clock, mail, sms)
        store.put_contact(
            ACCOUNT, email=EMAIL, phone=PHONE, language="zh-CN",
            email_enabled=True, sms_enabled=True,
        )  # fmt: skip
        yield store
        store.db.dispose()

    @pytest.fixture
    def deliverer(self, store: NotificationsStore) -> Iterator[Deliverer]:
        deliverer = Deliverer.from_settings(store, store.settings)
        yield deliverer
        deliverer.close()

    def emitted(self, store: NotificationsStore, event_type: str) -> list[dict[str, Any]]:
        return [dict(event.data) for event in self.emitted_events(store, event_type)]

    def emitted_events(self, store: NotificationsStore, event_type: str) -> list[Event]:
        with store.db.read() as conn:
            bodies = conn.execute(
                select(store.db.outbox.c.body)
                .where(store.db.outbox.c.type == event_type)
                .order_by(store.db.outbox.c.id)
            ).scalars()
            return [decode(b, default_registry()) for b in bodies]

    @pytest.fixture
    def upper(
        self, upper_url: str, mail: MailServer, sms: SmsGateway, clock: Clock
    ) -> Iterator[Callable[[str], NotificationsStore]]:
        """Opens the notifications store of the node of a division (one at most per test)
        on a database of its own, apart from the county's `store`."""
        opened: list[NotificationsStore] = []

        def open_at(division: str) -> NotificationsStore:
            opened.append(open_store(upper_url, clock, mail, sms, division=division))
            return opened[-1]

        yield open_at
        for store in opened:
            store.db.dispose()

    def escalate_a_bad_review(self, store: NotificationsStore, clock: Clock) -> Event:
        """A county case whose bad review (非常不满意) is not rectified in time, with no
        supervising department named: the `rectification.escalated` the county emits."""
        store.handle(submitted())
        store.handle(
            event(names.APPLICATION_EVALUATED, 2, level="very_dissatisfied", bad=True,
                  comment="窗口多次让我补交同一份材料")
        )  # fmt: skip
        clock.now = datetime(2026, 12, 8, 16, 0, tzinfo=UTC)
        assert store.follow_up() == (0, 1)
        [escalated] = self.emitted_events(store, names.RECTIFICATION_ESCALATED)
        return escalated

    def sent(self, store: NotificationsStore) -> list[tuple[str, str]]:
        return [(d["channel"], d["template"]) for d in self.emitted(store, names.NOTIFICATION_SENT)]

    # -- who hears what, once ----------------------------------------------------------

    def test_an_accepted_case_reaches_the_applicant_by_inbox_email_and_sms(
        self, store: NotificationsStore, deliverer: Deliverer, mail: MailServer, sms: SmsGateway
    ) -> None:
        store.handle(submitted())
        store.handle(event(names.APPLICATION_ACCEPTED, 2, due_date="2026-12-24"))

        assert deliverer.run_once() == 2

        [received] = mail.wait_for_messages(1)
        assert received.rcpt_tos == (EMAIL,)
        assert received.message["Subject"] == "您的“食品经营许可”申请已受理"
        assert "承诺于 2026年12月24日 前办结" in received.message.get_content()
        [request] = sms.requests
        assert request.body["to"] == PHONE
        assert request.body["text"] == (
            f"【政务服务】您的“食品经营许可”申请已受理，办件编号{CASE}，承诺2026年12月24日前办结。"
        )
        assert sorted(self.sent(store)) == [
            ("email", "application.accepted/zh-CN/v1"),
            ("inbox", "application.accepted/zh-CN/v1"),
            ("inbox", "application.submitted/zh-CN/v1"),
            ("sms", "application.accepted/zh-CN/v1"),
        ]
        inbox, _ = store.inbox(ACCOUNT)
        assert [m.title for m in inbox] == [
            "您的“食品经营许可”申请已受理",
            "您的“食品经营许可”申请已收到",
        ]

    def test_only_emails_and_sms_wait_for_the_delivery_loop(
        self, store: NotificationsStore
    ) -> None:
        # Received: an inbox message only, delivered on the spot. Accepted: inbox, email and
        # SMS to an applicant who has both; the worker wakes the delivery loop for two.
        assert store.apply_many([submitted()]) == (1, 0)
        accepted = event(names.APPLICATION_ACCEPTED, 2)
        assert store.apply_many([accepted]) == (3, 2)
        assert store.apply_many([accepted]) == (0, 0)  # redelivered

    def test_a_redelivered_event_never_yields_a_second_notification(
        self, store: NotificationsStore, deliverer: Deliverer, mail: MailServer
    ) -> None:
        store.handle(submitted())
        accepted = event(names.APPLICATION_ACCEPTED, 2)

        assert store.handle(accepted) == 3
        assert store.handle(accepted) == 0  # redelivered
        assert store.handle_many([accepted, accepted]) == 0
        deliverer.run_once()

        assert store.count() == 4
        assert len(mail.messages) == 1

    def test_an_event_before_its_case_is_retried_later_and_stores_nothing(
        self, store: NotificationsStore
    ) -> None:
        accepted = event(names.APPLICATION_ACCEPTED, 2)

        with pytest.raises(CaseNotKnown, match=f"case {CASE} is not known yet"):
            store.handle(accepted)

        assert store.count() == 0
        store.handle(submitted())
        assert store.handle(accepted) == 3  # the redelivery works

    def test_records_mask_personal_data(
        self, store: NotificationsStore, deliverer: Deliverer
    ) -> None:
        store.handle(submitted())
        store.handle(event(names.APPLICATION_ACCEPTED, 2))
        deliverer.run_once()

        found, _ = store.notifications(case_number=CASE)
        assert sorted(n.to_masked or "" for n in found) == [
            "", "", "139****5678", "w***@example.com",
        ]  # fmt: skip
        with store.db.read() as conn:
            dump = " ".join(
                str(row)
                for table in ("notifications", "outbox", "cases")
                for row in conn.execute(text(f"SELECT * FROM {table}"))
            )
        assert EMAIL not in dump
        assert PHONE not in dump

    # -- delivery ---------------------------------------------------------------------

    def test_temporary_failures_are_retried_with_exponential_backoff(
        self, store: NotificationsStore, deliverer: Deliverer, clock: Clock, sms: SmsGateway
    ) -> None:
        store.put_contact(ACCOUNT, email="", phone="13912345670", language="zh-CN",
                          email_enabled=True, sms_enabled=True)  # fmt: skip
        store.handle(submitted())
        store.handle(event(names.APPLICATION_REFUSED, 2))

        statuses = []
        for wait in (0, 59, 1, 119, 1):
            clock.advance(seconds=wait)
            deliverer.run_once()
            [message] = store.notifications(channel="sms")[0]
            statuses.append((message.status, message.attempts, message.dead_lettered))

        assert statuses == [
            ("temporary-failure", 1, False),  # 60 s to wait
            ("temporary-failure", 1, False),  # 59 s later: not yet
            ("temporary-failure", 2, False),  # then 120 s to wait
            ("temporary-failure", 2, False),
            ("temporary-failure", 3, True),  # the third try was the last: dead-lettered
        ]
        failed = self.emitted(store, names.NOTIFICATION_FAILED)
        assert [(f["attempts"], f["final"]) for f in failed] == [(1, False), (2, False), (3, True)]
        assert failed[0]["reason"].startswith("HTTP 500 from gateway")
        assert len(sms.requests) == 3
        dead, _ = store.notifications(dead_lettered=True)
        assert [d.channel for d in dead] == ["sms"]

    def test_a_dead_letter_is_retried_by_an_operator_and_then_delivered(
        self, store: NotificationsStore, deliverer: Deliverer, clock: Clock
    ) -> None:
        store.put_contact(ACCOUNT, email="", phone="13912345670", language="zh-CN",
                          email_enabled=True, sms_enabled=True)  # fmt: skip
        store.handle(submitted())
        store.handle(event(names.APPLICATION_REFUSED, 2))
        for _ in range(3):
            deliverer.run_once()
            clock.advance(minutes=10)
        [dead] = store.notifications(dead_lettered=True)[0]

        again = store.retry(dead.id)
        deliverer.run_once()  # the gateway has three more failures planned for this number
        clock.advance(minutes=1)
        deliverer.run_once()

        assert (again.status, again.attempts, again.dead_lettered) == ("created", 0, False)
        assert store.notification(dead.id).attempts == 2
        with pytest.raises(FailedPrecondition, match="will be tried anyway"):
            store.retry(dead.id)

    def test_a_permanent_failure_is_not_retried(
        self, store: NotificationsStore, deliverer: Deliverer, clock: Clock, mail: MailServer
    ) -> None:
        store.put_contact(ACCOUNT, email="bounce@example.com", phone="", language="zh-CN",
                          email_enabled=True, sms_enabled=True)  # fmt: skip
        store.handle(submitted())
        store.handle(event(names.APPLICATION_ACCEPTED, 2))

        deliverer.run_once()
        clock.advance(hours=2)

        assert deliverer.run_once() == 0
        [message] = store.notifications(channel="email")[0]
        assert (message.status, message.attempts) == ("permanent-failure", 1)
        assert "550 5.1.1 no such user" in (message.last_error or "")
        [failed] = self.emitted(store, names.NOTIFICATION_FAILED)
        assert (failed["status"], failed["final"]) == ("permanent-failure", True)
        assert mail.messages == []

    @pytest.mark.parametrize("late", ["temporary-failure", "delivered"])
    def test_an_outcome_that_comes_after_a_newer_claim_does_not_undo_a_delivery(
        self, store: NotificationsStore, clock: Clock, late: str
    ) -> None:
        """A send hangs past its lease; another loop claims the message again and delivers
        it. The first try's outcome, arriving last, changes nothing and announces
        nothing; either way the message is delivered and announced once."""
        store.put_contact(ACCOUNT, email="applicant@example.com", phone="", language="zh-CN",
                          email_enabled=True, sms_enabled=False)  # fmt: skip
        store.handle(submitted())
        store.handle(event(names.APPLICATION_ACCEPTED, 2))
        [first] = [c for c in store.claim_due() if c.notification.channel == "email"]
        clock.advance(minutes=3)  # the first claim's lease has run out
        [second] = [c for c in store.claim_due() if c.notification.channel == "email"]
        assert (first.notification.id, first.notification.attempts) == (
            second.notification.id,
            1,
        )
        assert second.notification.attempts == 2

        if late == "delivered":  # the hung send did get through, before the second's
            store.record_outcome(first, "delivered", "")
            store.record_outcome(second, "temporary-failure", "421 try again later")
        else:
            store.record_outcome(second, "delivered", "")
            store.record_outcome(first, "temporary-failure", "421 try again later")

        message = store.notification(first.notification.id)
        assert (message.status, message.attempts, message.last_error) == ("delivered", 2, None)
        sent = [e for e in self.emitted(store, names.NOTIFICATION_SENT) if e["channel"] == "email"]
        assert [e["notification_id"] for e in sent] == [message.id]
        assert self.emitted(store, names.NOTIFICATION_FAILED) == []
        assert store.claim_due() == []

    def test_sms_in_quiet_hours_wait_for_the_morning_and_email_does_not(
        self, store: NotificationsStore, deliverer: Deliverer, clock: Clock, sms: SmsGateway
    ) -> None:
        clock.now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 in China
        store.handle(submitted())
        store.handle(event(names.APPLICATION_ACCEPTED, 2))

        assert deliverer.run_once() == 1  # the email
        [waiting] = store.notifications(channel="sms")[0]
        assert (waiting.status, waiting.deferred, waiting.attempts) == ("created", "quiet hours", 0)
        assert waiting.next_attempt_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 08:00
        clock.now = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)

        assert deliverer.run_once() == 1
        assert [r.body["to"] for r in sms.requests] == [PHONE]

    def test_a_recipient_over_the_rate_limit_is_deferred_never_dropped(
        self, store: NotificationsStore, deliverer: Deliverer, clock: Clock, sms: SmsGateway
    ) -> None:
        store.handle(submitted())
        store.handle(event(names.APPLICATION_ACCEPTED, 2))
        store.handle(event(names.APPLICATION_SUPPLEMENT_REQUESTED, 3))
        deliverer.run_once()
        clock.advance(minutes=10)
        store.handle(event(names.APPLICATION_SUPPLEMENTED, 4))
        store.handle(event(names.APPLICATION_CONCLUDED, 5))

        deliverer.run_once()
        assert len(sms.requests) == 2  # two per hour
        [deferred] = [n for n in store.notifications(channel="sms")[0] if n.status == "created"]
        assert deferred.deferred == "rate limit 2 per 3600 s"
        assert deferred.next_attempt_at == START + timedelta(hours=1)
        clock.now = START + timedelta(hours=1)

        deliverer.run_once()
        assert len(sms.requests) == 3
        assert {n.status for n in store.notifications(channel="sms")[0]} == {"delivered"}

    # -- several delivery loops on one database -----------------------------------------

    def many_cases(
        self, store: NotificationsStore, count: int, notices: Sequence[str]
    ) -> list[str]:
        """`count` cases of applicants with an email and a phone each, each case told of
        every one of `notices`, case after case (so one applicant's messages are next to each
        other in the queue); returns the accounts."""
        accounts = [f"js-gov-{i:08d}" for i in range(count)]
        numbers = [f"320102-20261127-{i + 100:06d}" for i in range(count)]
        for i, account in enumerate(accounts):
            store.put_contact(
                account, email=f"user{i}@example.com", phone=f"139{i:08d}",
                language="zh-CN", email_enabled=True, sms_enabled=True,
            )  # fmt: skip
        events = []
        for account, number in zip(accounts, numbers, strict=True):
            events.append(submitted(account=account, case=number))
            events += [event(n, s, case_number=number) for s, n in enumerate(notices, 2)]
        store.handle_many(events)
        return accounts

    def test_two_delivery_loops_on_one_database_claim_each_message_exactly_once(
        self, url: str, store: NotificationsStore, clock: Clock, mail: MailServer, sms: SmsGateway
    ) -> None:
        self.many_cases(store, 150, [names.APPLICATION_ACCEPTED])
        due = [
            n.id
            for channel in ("email", "sms")
            for n in store.notifications(channel=channel, page_size=500)[0]
        ]
        other = open_store(url, clock, mail, sms)
        try:
            claimed = claim_concurrently([store, other])
        finally:
            other.db.dispose()

        assert len(due) == 300
        assert [i for i, times in Counter(claimed).items() if times > 1] == []
        assert sorted(claimed) == sorted(due)
        sending, _ = store.notifications(status="sending", page_size=500)
        assert sorted(n.id for n in sending) == sorted(due)

    def test_two_delivery_loops_on_one_database_keep_each_recipients_rate_limit(
        self, url: str, clock: Clock, mail: MailServer, sms: SmsGateway
    ) -> None:
        loops = [open_store(url, clock, mail, sms, GOVNET_RATE_LIMIT_SMS="1/hour") for _ in "ab"]
        try:
            accounts = self.many_cases(
                loops[0],
                40,
                [names.APPLICATION_ACCEPTED, names.APPLICATION_SUPPLEMENT_REQUESTED,
                 names.APPLICATION_CONCLUDED],
            )  # fmt: skip
            # Batches of 4 split one applicant's 6 messages between the two loops.
            claimed = claim_concurrently(loops, limit=4)
            texts, _ = loops[0].notifications(channel="sms", page_size=500)
        finally:
            for loop in loops:
                loop.db.dispose()

        recipient = {n.id: n.recipient for n in texts}
        sent = Counter(recipient[i] for i in claimed if i in recipient)
        assert sent == Counter(dict.fromkeys(accounts, 1))  # one SMS per hour each
        waiting = [n for n in texts if n.id not in claimed]
        assert len(waiting) == 80
        assert {(n.status, n.deferred, n.next_attempt_at) for n in waiting} == {
            ("created", "rate limit 1 per 3600 s", START + timedelta(hours=1))
        }

    def test_two_workers_following_up_at_once_invite_and_escalate_each_case_once(
        self, url: str, store: NotificationsStore, clock: Clock, mail: MailServer, sms: SmsGateway
    ) -> None:
        events = []
        for i in range(60):
            number = f"320102-20261127-{i + 100:06d}"
            events.append(submitted(account=f"js-gov-{i:08d}", case=number))
            if i % 2:  # unrated: invited
                events.append(event(names.APPLICATION_CONCLUDED, 2, case_number=number))
            else:  # a bad review: to rectify, missed, escalated
                events.append(
                    event(names.APPLICATION_EVALUATED, 2, case_number=number,
                          level="dissatisfied", bad=True)
                )  # fmt: skip
        store.handle_many(events)
        clock.advance(days=30)
        other = open_store(url, clock, mail, sms)
        try:
            results = at_once(NotificationsStore.follow_up, [store, other])
        finally:
            other.db.dispose()

        assert (sum(r[0] for r in results), sum(r[1] for r in results)) == (30, 30)
        assert store.follow_up() == (0, 0)
        told = Counter(
            (d["cause"]["type"], d["cause"]["id"])
            for d in self.emitted(store, names.NOTIFICATION_SENT)
            if d["cause"]["type"] in ("evaluation.invitation", "rectification.escalated")
        )
        assert Counter(kind for kind, _ in told) == {
            "evaluation.invitation": 30,
            "rectification.escalated": 30,
        }
        assert set(told.values()) == {1}  # one inbox message each: no contacts, no office mail

    # -- the inbox, work orders, rectifications, invitations -----------------------------

    def test_messages_are_marked_read_only_in_their_recipients_inbox(
        self, store: NotificationsStore
    ) -> None:
        store.handle(submitted())
        store.handle(event(names.APPLICATION_ACCEPTED, 2))
        mine, _ = store.inbox(ACCOUNT)

        assert store.mark_read("someone-else", [m.id for m in mine]) == 0
        assert store.mark_read(ACCOUNT, [mine[0].id]) == 1
        assert store.mark_read(ACCOUNT, [mine[0].id]) == 0
        unread, _ = store.inbox(ACCOUNT, unread_only=True)
        assert [m.id for m in unread] == [mine[1].id]

    def test_a_hotline_case_gets_call_back_work_orders_that_operators_close(
        self, store: NotificationsStore
    ) -> None:
        store.handle(submitted(channel="hotline"))
        store.handle(event(names.APPLICATION_ACCEPTED, 2))

        [order] = store.work_orders(division="320102", status="open")[0]
        closed = store.close_work_order(order.id, outcome="已电话告知申请人", operator="op-07")

        assert order.title == f"回访告知：办件 {CASE} 已受理"
        assert (closed.status, closed.outcome, closed.operator) == (
            "closed", "已电话告知申请人", "op-07",
        )  # fmt: skip
        assert ("workorder", "callback.accepted/zh-CN/v1") in self.sent(store)
        with pytest.raises(FailedPrecondition, match="is already closed"):
            store.close_work_order(order.id, outcome="again", operator="op-07")

    def test_work_orders_are_listed_over_grpc_newest_first_by_division_department_and_status(
        self, store: NotificationsStore, clock: Clock
    ) -> None:
        second = "320102-20261127-000002"
        store.put_department(MARKET, name="玄武区市场监督管理局", email="", phone="",
                             supervisor="")  # fmt: skip
        store.handle(submitted(channel="hotline"))
        store.handle(event(names.APPLICATION_ACCEPTED, 2, due_date="2026-12-24"))
        clock.advance(minutes=1)
        store.handle(submitted(channel="hotline", case=second))
        store.handle(
            event(names.APPLICATION_REFUSED, 3, case_number=second, reason="不属于本部门职权范围")
        )

        def listed(request: pb.ListWorkOrdersRequest) -> list[tuple[Any, ...]]:
            return [as_row(w) for w in client.ListWorkOrders(request, timeout=10).work_orders]

        with serving(store) as client:
            everything = client.ListWorkOrders(pb.ListWorkOrdersRequest(division="320102"))
            [refused, accepted] = everything.work_orders
            clock.advance(minutes=4)
            client.CloseWorkOrder(
                pb.CloseWorkOrderRequest(id=accepted.id, outcome="已电话告知", operator="op-07"),
                timeout=10,
            )
            by_department = listed(pb.ListWorkOrdersRequest(department=MARKET.lower()))
            still_open = listed(pb.ListWorkOrdersRequest(division="320102", status="open"))
            elsewhere = listed(pb.ListWorkOrdersRequest(division="320100"))
            first = client.ListWorkOrders(pb.ListWorkOrdersRequest(page_size=1), timeout=10)
            rest = client.ListWorkOrders(
                pb.ListWorkOrdersRequest(page_size=1, page_token=first.next_page_token),
                timeout=10,
            )

        assert everything.next_page_token == ""
        assert (refused.title, refused.body) == (
            f"回访告知：办件 {second} 不予受理",
            f"请致电12345来电申请人，告知其“食品经营许可”申请（办件编号 {second}）不予受理，"
            "原因：不属于本部门职权范围。",
        )
        assert (accepted.title, accepted.body) == (
            f"回访告知：办件 {CASE} 已受理",
            f"请致电12345来电申请人，告知其“食品经营许可”申请（办件编号 {CASE}）已受理，"
            "承诺于 2026年12月24日 前办结。",
        )
        assert by_department == [
            (second, "320102", MARKET, "callback.refused/zh-CN/v1", "open",
             START + timedelta(minutes=1), None, "", ""),
            (CASE, "320102", MARKET, "callback.accepted/zh-CN/v1", "closed",
             START, START + timedelta(minutes=5), "已电话告知", "op-07"),
        ]  # fmt: skip
        assert still_open == by_department[:1]
        assert elsewhere == []
        assert ([w.id for w in first.work_orders], first.next_page_token != "") == (
            [refused.id], True,
        )  # fmt: skip
        assert ([w.id for w in rest.work_orders], rest.next_page_token) == ([accepted.id], "")

    # -- paging ---------------------------------------------------------------------------

    def three_cases(self, store: NotificationsStore) -> None:
        """Three hotline cases of the applicant, accepted and then rated badly: inbox
        messages, notifications, work orders and rectifications to page through."""
        store.put_department(MARKET, name="玄武区市场监督管理局", email="", phone="",
                             supervisor="")  # fmt: skip
        for n in range(1, 4):
            case = f"320102-20261127-{n:06d}"
            store.handle(submitted(channel="hotline", case=case))
            store.handle(event(names.APPLICATION_ACCEPTED, 2, case_number=case))
            store.handle(event(names.APPLICATION_EVALUATED, 3, case_number=case,
                               level="dissatisfied", bad=True))  # fmt: skip

    def test_paging_with_the_returned_tokens_yields_every_item_once(
        self, store: NotificationsStore
    ) -> None:
        self.three_cases(store)
        listings: list[tuple[Callable[..., tuple[list[Any], str]], dict[str, Any]]] = [
            (store.inbox, {"recipient": ACCOUNT}),
            (store.notifications, {}),
            (store.notifications, {"recipient": ACCOUNT, "channel": "inbox"}),
            (store.work_orders, {"division": "320102"}),
            (store.rectifications, {"department": MARKET}),
        ]
        for listing, query in listings:
            whole, last = listing(**query)
            assert (len(whole) >= 3, last) == (True, ""), listing
            for size in (1, 2):
                seen, tokens, token = [], [], ""
                while True:
                    page, token = listing(**query, page_size=size, page_token=token)
                    seen += [item.id for item in page]
                    if not token:
                        break
                    tokens.append(token)
                assert seen == [item.id for item in whole], (listing, size)
                # Opaque: no token is the bare position of the last item of its page.
                assert not any(t.isdigit() for t in tokens), tokens

    def test_a_page_token_of_another_query_is_refused_naming_it(
        self, store: NotificationsStore
    ) -> None:
        self.three_cases(store)
        _, inbox = store.inbox(ACCOUNT, page_size=1)
        _, orders = store.work_orders(division="320102", page_size=1)
        _, open_ = store.rectifications(department=MARKET, status="open", page_size=1)
        refused: list[tuple[Callable[[], Any], str]] = [
            (lambda: store.inbox("someone-else", page_token=inbox), "the recipient and filters"),
            (lambda: store.inbox(ACCOUNT, unread_only=True, page_token=inbox),
             "the recipient and filters"),
            (lambda: store.notifications(recipient=ACCOUNT, page_token=inbox), "the filters"),
            (lambda: store.work_orders(division="320102", page_token=inbox), "the filters"),
            (lambda: store.work_orders(division="320100", page_token=orders), "the filters"),
            (lambda: store.work_orders(division="320102", status="open", page_token=orders),
             "the filters"),
            (lambda: store.rectifications(department=MARKET, page_token=open_), "the filters"),
            (lambda: store.rectifications(department=MARKET, status="open", page_token=orders),
             "the filters"),
        ]  # fmt: skip
        for call, fields in refused:
            with pytest.raises(InvalidArgument) as info:
                call()
            assert [(v.field, v.reason) for v in info.value.violations] == [
                ("page_token", another_query(fields))
            ]
        # Each goes on working for its own query, at any page size.
        whole, _ = store.inbox(ACCOUNT)
        rest, _ = store.inbox(ACCOUNT, page_size=50, page_token=inbox)
        assert rest == whole[1:]

    def test_a_garbled_page_token_is_refused_naming_it(self, store: NotificationsStore) -> None:
        self.three_cases(store)
        [newest, *_], token = store.inbox(ACCOUNT, page_size=1)
        listings: list[Callable[..., tuple[list[Any], str]]] = [
            lambda page_token: store.inbox(ACCOUNT, page_token=page_token),
            store.notifications,
            store.work_orders,
            store.rectifications,
        ]
        for garbled in ("abc", "12", str(newest.seq), token[:-2], token + "AA"):
            for listing in listings:
                with pytest.raises(InvalidArgument) as info:
                    listing(page_token=garbled)
                assert [(v.field, v.reason) for v in info.value.violations] == [
                    ("page_token", NOT_A_TOKEN)
                ], garbled

    def test_page_tokens_over_grpc_serve_only_their_own_query(
        self, store: NotificationsStore
    ) -> None:
        self.three_cases(store)
        with serving(store) as client:
            first = client.ListInbox(pb.ListInboxRequest(recipient=ACCOUNT, page_size=2),
                                     timeout=10)  # fmt: skip
            orders = client.ListWorkOrders(pb.ListWorkOrdersRequest(page_size=1), timeout=10)
            refusals = [
                refused(client.ListInbox, pb.ListInboxRequest(
                    recipient="someone-else", page_token=first.next_page_token)),
                refused(client.ListNotifications, pb.ListNotificationsRequest(
                    recipient=ACCOUNT, page_token=first.next_page_token)),
                refused(client.ListRectifications, pb.ListRectificationsRequest(
                    page_token=orders.next_page_token)),
                refused(client.ListWorkOrders, pb.ListWorkOrdersRequest(page_token="3")),
            ]  # fmt: skip
            seen, token = list(first.messages), first.next_page_token
            while token:
                page = client.ListInbox(
                    pb.ListInboxRequest(recipient=ACCOUNT, page_size=2, page_token=token),
                    timeout=10,
                )
                seen, token = seen + list(page.messages), page.next_page_token
            whole = client.ListInbox(pb.ListInboxRequest(recipient=ACCOUNT), timeout=10)

        assert [(e.code(), violations(e)) for e in refusals] == [
            (grpc.StatusCode.INVALID_ARGUMENT,
             {"page_token": another_query("the recipient and filters")}),
            (grpc.StatusCode.INVALID_ARGUMENT, {"page_token": another_query("the filters")}),
            (grpc.StatusCode.INVALID_ARGUMENT, {"page_token": another_query("the filters")}),
            (grpc.StatusCode.INVALID_ARGUMENT, {"page_token": NOT_A_TOKEN}),
        ]  # fmt: skip
        assert [m.id for m in seen] == [m.id for m in whole.messages]
        assert len(seen) == len({m.id for m in seen}) >= 3

    def test_a_missed_rectification_is_escalated_once_to_the_supervising_department(
        self, store: NotificationsStore, clock: Clock
    ) -> None:
        store.put_department(MARKET, name="玄武区市场监督管理局", email="", phone="",
                             supervisor=SUPERVISOR)  # fmt: skip
        store.put_department(SUPERVISOR, name="玄武区政务服务管理办公室",
                             email="duban@example.gov.cn", phone="", supervisor="")  # fmt: skip
        store.handle(submitted())
        store.handle(event(names.APPLICATION_EVALUATED, 2, level="dissatisfied", bad=True))

        [open_] = store.rectifications(department=MARKET)[0]
        assert (open_.status, open_.due_date.isoformat()) == ("open", "2026-12-08")
        with pytest.raises(PermissionDenied, match=f"is for department {MARKET}"):
            store.complete_rectification(open_.id, department=SUPERVISOR, note="x")
        clock.now = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # the last day, 23:00 in China
        assert store.follow_up() == (0, 0)
        clock.now = datetime(2026, 12, 8, 16, 0, tzinfo=UTC)  # the day after, in China

        assert store.follow_up() == (0, 1)
        assert store.follow_up() == (0, 0)
        escalated, _ = store.notifications(recipient=f"dept:{SUPERVISOR}")
        assert sorted(n.channel for n in escalated) == ["email", "inbox"]
        assert escalated[0].title == f"【督办】玄武区市场监督管理局差评整改逾期：办件 {CASE}"
        [late] = store.rectifications(status="escalated")[0]
        done = store.complete_rectification(late.id, department=MARKET, note="已整改并回访")
        assert done.status == "done"

    def test_a_missed_rectification_without_a_supervising_department_goes_one_level_up(
        self, store: NotificationsStore, clock: Clock
    ) -> None:
        store.handle(submitted())  # a case of the county 320102 (玄武区)
        store.handle(event(names.APPLICATION_EVALUATED, 2, level="dissatisfied", bad=True))
        clock.now = datetime(2026, 12, 8, 16, 0, tzinfo=UTC)

        assert store.follow_up() == (0, 1)

        [escalated] = store.inbox("supervision:320100")[0]  # 南京市, the city above
        assert escalated.title == f"【督办】11320102767342276U差评整改逾期：办件 {CASE}"
        assert store.inbox("supervision:320102")[0] == []
        [told] = [
            d for d in self.emitted(store, names.NOTIFICATION_SENT)
            if d["cause"]["type"] == "rectification.escalated"
        ]  # fmt: skip
        [late] = store.rectifications(status="escalated")[0]
        assert told == {
            "notification_id": escalated.id,
            "channel": "inbox",
            "recipient": "supervision:320100",
            "template": "rectification.escalated/zh-CN/v1",
            "case_number": CASE,
            "cause": {
                "source": "govnet://320102/notifications",
                "id": f"escalation:{late.id}",
                "type": "rectification.escalated",
            },
            "sent_at": "2026-12-08T16:00:00+00:00",
        }

    def test_an_escalation_is_announced_with_all_the_level_above_needs_to_tell_its_office(
        self, store: NotificationsStore, clock: Clock
    ) -> None:
        store.put_department(MARKET, name="玄武区市场监督管理局", email="", phone="",
                             supervisor="")  # fmt: skip

        escalated = self.escalate_a_bad_review(store, clock)

        [late] = store.rectifications(status="escalated")[0]
        assert (escalated.source, escalated.division, escalated.subject) == (
            "govnet://320102/notifications", "320102", CASE,
        )  # fmt: skip
        assert dict(escalated.data) == {
            "rectification_id": late.id,
            "case_number": CASE,
            "implementation_code": "11320102767342276U011230010000001",
            "item_name": "食品经营许可",
            "department": {"code": MARKET, "name": "玄武区市场监督管理局"},
            "level": "very_dissatisfied",
            "comment": "窗口多次让我补交同一份材料",
            "rectify_by": "2026-12-08",
            "escalated_to": "supervision:320100",
            "escalated_at": "2026-12-08T16:00:00+00:00",
        }
        # The county keeps its own copy of the office's inbox, as before.
        [local] = store.inbox("supervision:320100")[0]
        assert local.title == f"【督办】玄武区市场监督管理局差评整改逾期：办件 {CASE}"

    def test_an_escalation_to_a_supervising_department_is_announced_for_it(
        self, store: NotificationsStore, clock: Clock
    ) -> None:
        store.put_department(MARKET, name="玄武区市场监督管理局", email="", phone="",
                             supervisor=SUPERVISOR)  # fmt: skip

        escalated = self.escalate_a_bad_review(store, clock)

        assert escalated.data["escalated_to"] == f"dept:{SUPERVISOR}"

    def test_the_city_office_reads_a_county_escalation_in_its_own_inbox_once(
        self,
        store: NotificationsStore,
        upper: Callable[[str], NotificationsStore],
        clock: Clock,
    ) -> None:
        escalated = self.escalate_a_bad_review(store, clock)  # no department names: its code
        [local] = store.inbox("supervision:320100")[0]
        city = upper("320100")  # 南京市
        clock.advance(minutes=5)

        assert city.handle(escalated) == 1
        assert city.handle(escalated) == 0  # redelivered: nothing more

        [message] = city.inbox("supervision:320100")[0]
        assert (message.title, message.body, message.template, message.case_number) == (
            local.title, local.body, "rectification.escalated/zh-CN/v1", CASE,
        )  # fmt: skip
        assert message.title == f"【督办】{MARKET}差评整改逾期：办件 {CASE}"
        assert "评价内容：窗口多次让我补交同一份材料" in message.body
        assert self.emitted(city, names.NOTIFICATION_SENT) == [
            {
                "notification_id": message.id,
                "channel": "inbox",
                "recipient": "supervision:320100",
                "template": "rectification.escalated/zh-CN/v1",
                "case_number": CASE,
                "cause": {
                    "source": "govnet://320102/notifications",
                    "id": escalated.id,
                    "type": "rectification.escalated",
                },
                "sent_at": "2026-12-08T16:05:00+00:00",
            }
        ]
        assert [n.id for n in city.notifications(recipient="supervision:320100")[0]] == [message.id]

    @pytest.mark.parametrize("division", ["320200", "320000"])  # another city; the province
    def test_an_escalation_for_another_levels_office_is_ignored(
        self,
        store: NotificationsStore,
        upper: Callable[[str], NotificationsStore],
        clock: Clock,
        division: str,
    ) -> None:
        escalated = self.escalate_a_bad_review(store, clock)
        elsewhere = upper(division)

        assert elsewhere.handle(escalated) == 0

        assert elsewhere.inbox("supervision:320100")[0] == []
        assert elsewhere.inbox(f"supervision:{division}")[0] == []
        assert self.emitted(elsewhere, names.NOTIFICATION_SENT) == []

    @pytest.mark.parametrize(
        ("node", "sender"),
        [
            ("320100", "320200"),  # a sibling city names the city's office
            ("320100", "320205"),  # a county of another city (锡山区, 无锡市)
            ("320100", "320000"),  # the province, above the city
            ("320100", "320100"),  # the city itself: its own escalation, come back
            ("320000", "320000"),  # the province's own: its office has its copy already
        ],
    )
    def test_an_escalation_for_this_office_from_a_node_not_below_it_is_ignored(
        self,
        store: NotificationsStore,
        upper: Callable[[str], NotificationsStore],
        clock: Clock,
        node: str,
        sender: str,
    ) -> None:
        escalated = from_node(
            self.escalate_a_bad_review(store, clock), sender, escalated_to=f"supervision:{node}"
        )
        here = upper(node)

        assert here.handle(escalated) == 0

        assert here.inbox(f"supervision:{node}")[0] == []
        assert self.emitted(here, names.NOTIFICATION_SENT) == []

    def test_an_escalation_from_a_county_the_division_list_does_not_know_reaches_its_city(
        self,
        store: NotificationsStore,
        upper: Callable[[str], NotificationsStore],
        clock: Clock,
    ) -> None:
        # 320199 is well formed and below 南京市, but not in the 2017 list (codes change).
        escalated = from_node(self.escalate_a_bad_review(store, clock), "320199")
        city = upper("320100")

        assert city.handle(escalated) == 1

        [message] = city.inbox("supervision:320100")[0]
        assert message.title == f"【督办】{MARKET}差评整改逾期：办件 {CASE}"

    def test_an_escalation_that_arrives_twice_by_different_paths_is_applied_once(
        self,
        store: NotificationsStore,
        upper: Callable[[str], NotificationsStore],
        clock: Clock,
    ) -> None:
        escalated = self.escalate_a_bad_review(store, clock)
        raw = json.loads(encode(escalated))
        raw["time"] = "2026-12-08T16:10:00Z"  # the same event, published again later
        again = decode(json.dumps(raw, ensure_ascii=False), default_registry())
        city = upper("320100")

        assert city.handle_many([escalated, again]) == 1
        assert city.handle(again) == 0
        assert city.handle(escalated) == 0

        assert len(city.inbox("supervision:320100")[0]) == 1
        assert len(self.emitted(city, names.NOTIFICATION_SENT)) == 1

    @pytest.mark.parametrize("comment", [None, "", "窗口多次让我补交同一份材料"])
    @pytest.mark.parametrize(
        "directory",
        ["none", "named", "unnamed", "supervised", "supervisor unknown"],
    )
    def test_every_escalation_the_store_makes_is_a_valid_event_the_level_above_applies(
        self,
        store: NotificationsStore,
        upper: Callable[[str], NotificationsStore],
        clock: Clock,
        directory: str,
        comment: str | None,
    ) -> None:
        supervisor = {"supervised": SUPERVISOR, "supervisor unknown": SUPERVISOR}.get(directory, "")
        if directory != "none":
            name = "" if directory == "unnamed" else "玄武区市场监督管理局"
            store.put_department(MARKET, name=name, email="", phone="", supervisor=supervisor)
        if directory == "supervised":
            store.put_department(SUPERVISOR, name="玄武区政务服务管理办公室", email="", phone="",
                                 supervisor="")  # fmt: skip
        store.handle(submitted())
        store.handle(
            event(names.APPLICATION_EVALUATED, 2, level="dissatisfied", bad=True, comment=comment)
        )
        clock.now = datetime(2026, 12, 8, 16, 0, tzinfo=UTC)

        assert store.follow_up() == (0, 1)

        [escalated] = self.emitted_events(store, names.RECTIFICATION_ESCALATED)  # decoded: valid
        assert escalated.data["comment"] == comment
        assert escalated.data["department"]["name"] == (
            "玄武区市场监督管理局" if directory in ("named", "supervised", "supervisor unknown")
            else MARKET
        )  # fmt: skip
        city = upper("320100")
        office = not supervisor
        assert escalated.data["escalated_to"] == (
            "supervision:320100" if office else f"dept:{SUPERVISOR}"
        )
        assert city.handle(escalated) == (1 if office else 0)
        assert len(city.inbox("supervision:320100")[0]) == (1 if office else 0)

    def test_a_store_made_before_cases_kept_their_implementation_code_escalates_its_old_cases(
        self,
        url: str,
        mail: MailServer,
        sms: SmsGateway,
        upper: Callable[[str], NotificationsStore],
        clock: Clock,
    ) -> None:
        # The notifications store as the previous version made it: `cases` without
        # implementation_code; its other tables were as they are.
        older = MetaData()
        for table in notifications_metadata.sorted_tables:
            if table.name != "cases":
                table.to_metadata(older)
        Table(
            "cases", older,
            Column("case_number", String(32), primary_key=True),
            Column("recipient", String(200), nullable=False),
            Column("account_id", String(128)),
            Column("applicant_name", String(200), nullable=False),
            Column("item_name", String(200), nullable=False),
            Column("channel", String(20), nullable=False),
            Column("department", String(18)),
            Column("division", String(6), nullable=False),
            Column("concluded_at", DateTime(timezone=True)),
            Column("concluded", Text),
            Column("concluded_source", String(200)),
            Column("concluded_id", String(128)),
            Column("evaluated", Boolean, nullable=False, default=False),
            Column("invited", Boolean, nullable=False, default=False),
        )  # fmt: skip
        db = Database(url, service="notifications", division="320102",
                      registry=default_registry(), clock=clock)  # fmt: skip
        db.create_schema(older)
        case = domain.case_from_submitted(submitted().data, "320102")
        with db.transaction() as tx:  # the case, stored by the previous version
            tx.conn.execute(
                insert(older.tables["cases"]).values(
                    case_number=case.case_number, recipient=case.recipient,
                    account_id=case.account_id, applicant_name=case.applicant_name,
                    item_name=case.item_name, channel=case.channel,
                    department=case.department, division=case.division,
                    evaluated=False, invited=False,
                )
            )  # fmt: skip
        db.dispose()

        store = open_store(url, clock, mail, sms)  # the current version, at start
        try:
            store.handle(submitted())  # redelivered after the upgrade: nothing changes
            store.handle(event(names.APPLICATION_EVALUATED, 2, level="dissatisfied", bad=True))
            clock.now = datetime(2026, 12, 8, 16, 0, tzinfo=UTC)
            assert store.follow_up() == (0, 1)
            [escalated] = self.emitted_events(store, names.RECTIFICATION_ESCALATED)
            [local] = store.inbox("supervision:320100")[0]
        finally:
            store.db.dispose()

        assert escalated.data["implementation_code"] is None
        assert escalated.data["case_number"] == CASE
        city = upper("320100")
        assert city.handle(escalated) == 1
        [message] = city.inbox("supervision:320100")[0]
        assert (message.title, message.body) == (local.title, local.body)

    def test_an_unrated_case_is_invited_to_evaluation_once_some_days_after_conclusion(
        self, store: NotificationsStore, clock: Clock
    ) -> None:
        store.handle(submitted())
        store.handle(event(names.APPLICATION_CONCLUDED, 2, result_code=0))
        clock.advance(days=2, hours=23)
        assert store.follow_up() == (0, 0)
        clock.advance(hours=1)

        assert store.follow_up() == (1, 0)
        assert store.follow_up() == (0, 0)
        invited, _ = store.notifications(case_number=CASE, channel="inbox")
        assert invited[0].title == "请评价“食品经营许可”的办理服务"

    def test_a_rated_case_is_not_invited(self, store: NotificationsStore, clock: Clock) -> None:
        store.handle(submitted())
        store.handle(event(names.APPLICATION_CONCLUDED, 2, result_code=0))
        store.handle(event(names.APPLICATION_EVALUATED, 3, level="satisfied", bad=False))
        clock.advance(days=5)

        assert store.follow_up() == (0, 0)

    # -- templates decide the channels ---------------------------------------------------

    def templates_file(self, tmp_path: Path, change: Any) -> str:
        loaded = yaml.safe_load((builtin_path() / "notifications.yaml").read_text("utf-8"))
        change({t["id"]: t for t in loaded["templates"]})
        path = tmp_path / "templates.yaml"
        path.write_text(yaml.safe_dump(loaded, allow_unicode=True), "utf-8")
        return str(path)

    def test_a_template_without_sms_sends_no_sms(
        self, url: str, clock: Clock, mail: MailServer, sms: SmsGateway, tmp_path: Path
    ) -> None:
        def no_sms(templates: dict[str, Any]) -> None:
            templates["application.accepted"]["channels"] = ["inbox", "email"]
            for language in ("zh-CN", "en"):
                del templates["application.accepted"][language]["sms"]

        store = open_store(
            url, clock, mail, sms, GOVNET_TEMPLATES=self.templates_file(tmp_path, no_sms)
        )
        store.put_contact(ACCOUNT, email=EMAIL, phone=PHONE, language="zh-CN",
                          email_enabled=True, sms_enabled=True)  # fmt: skip
        deliverer = Deliverer.from_settings(store, store.settings)
        try:
            store.handle(submitted())
            store.handle(event(names.APPLICATION_ACCEPTED, 2))
            delivered = deliverer.run_once()
            found, _ = store.notifications(case_number=CASE)
        finally:
            deliverer.close()
            store.db.dispose()

        assert delivered == 1
        assert sorted((n.channel, n.template) for n in found) == [
            ("email", "application.accepted/zh-CN/v1"),
            ("inbox", "application.accepted/zh-CN/v1"),
            ("inbox", "application.submitted/zh-CN/v1"),
        ]
        assert [m.rcpt_tos for m in mail.wait_for_messages(1)] == [(EMAIL,)]
        assert sms.requests == []

    def test_a_message_whose_text_renders_empty_is_not_queued(
        self, url: str, clock: Clock, mail: MailServer, sms: SmsGateway, tmp_path: Path
    ) -> None:
        def comment_by_sms(templates: dict[str, Any]) -> None:
            requested = templates["rectification.requested"]
            requested["channels"] = ["inbox", "email", "sms"]
            requested["zh-CN"]["sms"] = requested["en"]["sms"] = "{comment}"

        path = self.templates_file(tmp_path, comment_by_sms)
        store = open_store(url, clock, mail, sms, GOVNET_TEMPLATES=path)
        store.put_department(MARKET, name="玄武区市场监督管理局", email="xwscj@example.gov.cn",
                             phone=PHONE, supervisor="")  # fmt: skip
        try:
            store.handle(submitted())
            store.handle(
                event(names.APPLICATION_EVALUATED, 2, level="dissatisfied", bad=True, comment=None)
            )
            silent = store.notifications(recipient=f"dept:{MARKET}")[0]
            store.handle(
                event(names.APPLICATION_EVALUATED, 3, level="dissatisfied", bad=True,
                      comment="等了太久")
            )  # fmt: skip
            both = store.notifications(recipient=f"dept:{MARKET}")[0]
        finally:
            store.db.dispose()

        assert sorted(n.channel for n in silent) == ["email", "inbox"]  # no blank SMS
        [text] = [n for n in both if n.channel == "sms"]
        assert (text.body, text.status, text.to_masked) == ("等了太久", "created", "139****5678")

    def test_each_collaborating_department_hears_of_its_joint_review(
        self, store: NotificationsStore
    ) -> None:
        planning = "11320102675080088T"  # the golden event's second reviewer
        store.put_department(planning, name="玄武区自然资源和规划局", email="xwzrzy@example.gov.cn",
                             phone=PHONE, supervisor="")  # fmt: skip
        store.handle(submitted())
        # The market bureau accepted the case and assigned reviews to itself and planning.
        assigned = event(names.APPLICATION_REVIEW_ASSIGNED, 2)
        assert store.handle(assigned) == 2

        told = store.notifications(recipient=f"dept:{planning}")[0]
        assert sorted(n.channel for n in told) == ["email", "inbox"]  # the template has no SMS
        [inbox] = [n for n in told if n.channel == "inbox"]
        assert inbox.title == f"【联合审查】办件 {CASE} 待贵单位审查"
        assert inbox.body == (  # the market bureau is not in this directory: its code stands
            f"11320102767342276U受理的“食品经营许可”办件 {CASE} 需要贵单位联合审查"
            "（各单位并联审查，全部完成后办结），请及时办理。"
        )
        assert store.notifications(recipient=f"dept:{MARKET}")[0] == []
        assert store.handle(assigned) == 0  # redelivered: nobody is told twice
        assert len(store.notifications(recipient=f"dept:{planning}")[0]) == 2

    # -- the directory ------------------------------------------------------------------

    def test_bad_contact_details_are_refused_naming_every_field(
        self, store: NotificationsStore
    ) -> None:
        with pytest.raises(InvalidArgument) as refused:
            store.put_contact("", email="wang", phone="139", language="fr",
                              email_enabled=True, sms_enabled=True)  # fmt: skip

        assert [(v.field, v.reason) for v in refused.value.violations] == [
            ("account_id", "is required (1 to 128 characters)"),
            ("email", "must be an email address like name@example.com"),
            ("phone", "must be an 11-digit mainland mobile number starting with 13-19"),
            ("language", "must be one of zh-CN, en"),
        ]

    def test_department_names_come_from_catalog_events(self, store: NotificationsStore) -> None:
        store.handle(event(names.ITEM_PUBLISHED, 1))

        published = json.loads((GOLDEN / "item.published.v1.json").read_text("utf-8"))
        department = published["data"]["department"]
        assert store.department(department["code"]).name == department["name"]


class TestSqliteNotifications(NotificationsSuite):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/notifications.db"

    @pytest.fixture
    def upper_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/upper-notifications.db"


@pytest.mark.postgres
class TestPostgresNotifications(NotificationsSuite):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url

    @pytest.fixture
    def upper_url(self, postgres_admin: str) -> Iterator[str]:
        with infra.fresh_database(postgres_admin, "upper") as url:
            yield url


# -- the gRPC API refuses bad input, naming the field ------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pb_grpc.NotificationsServiceStub]:
    path = tmp_path_factory.mktemp("api") / "notifications.db"
    db = Database(f"sqlite:///{path}", service="notifications", division="320102",
                  registry=default_registry())  # fmt: skip
    db.create_schema()
    with serving(NotificationsStore(db, settings=Settings.from_environment({}))) as stub:
        yield stub
    db.dispose()


USCC_REQUIRED = "is required (a department's unified social credit code)"


@pytest.mark.parametrize(
    ("call", "request_", "expected"),
    [
        ("ListInbox", pb.ListInboxRequest(), {
            "recipient": "is required (an account id, case:<number> or dept:<USCC>)"}),
        ("ListInbox", pb.ListInboxRequest(recipient=ACCOUNT, page_size=501), {
            "page_size": "must be between 0 and 500"}),
        ("ListInbox", pb.ListInboxRequest(recipient=ACCOUNT, page_token="abc"), {
            "page_token": NOT_A_TOKEN}),
        ("MarkRead", pb.MarkReadRequest(recipient=ACCOUNT, ids=[""]), {
            "ids": "must not hold an empty id"}),
        ("ListNotifications", pb.ListNotificationsRequest(case_number="320102-1"), {
            "case_number": "must be a case number: <division>-<YYYYMMDD>-<6-digit sequence>"}),
        ("GetNotification", pb.GetNotificationRequest(), {"id": "is required"}),
        ("RetryNotification", pb.RetryNotificationRequest(id=" "), {"id": "is required"}),
        ("ListWorkOrders", pb.ListWorkOrdersRequest(division="abc", department="zz",
                                                    status="lost"), {
            "division": "must be 6 digits, got 3 characters",
            "department": "must be 18 characters, got 2",
            "status": "must be open or closed"}),
        ("ListWorkOrders", pb.ListWorkOrdersRequest(division="990102"), {
            "division": "division 990102 is not a GB/T 2260 province prefix (99)"}),
        ("CloseWorkOrder", pb.CloseWorkOrderRequest(outcome="已告知", operator="op-07"), {
            "id": "is required"}),
        ("ListRectifications", pb.ListRectificationsRequest(department="zz"), {
            "department": "must be 18 characters, got 2"}),
        ("CompleteRectification", pb.CompleteRectificationRequest(), {
            "id": "is required",
            "department": USCC_REQUIRED,
            "note": "is required: what was done (up to 2000)"}),
        ("CompleteRectification", pb.CompleteRectificationRequest(
            id="r-1", department="11320102767342276X", note="已整改"), {
            "department": "check character is X, expected U"}),
        ("GetContact", pb.GetContactRequest(), {"account_id": "is required"}),
        ("DeleteContact", pb.DeleteContactRequest(), {"account_id": "is required"}),
        ("PutDepartment", pb.Department(), {"code": USCC_REQUIRED}),
        ("GetDepartment", pb.GetDepartmentRequest(), {"code": USCC_REQUIRED}),
        ("GetDepartment", pb.GetDepartmentRequest(code="zz"), {
            "code": "must be 18 characters, got 2"}),
    ],
)  # fmt: skip
def test_bad_input_is_invalid_argument_naming_each_field(
    api: pb_grpc.NotificationsServiceStub, call: str, request_: Any, expected: dict[str, str]
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        getattr(api, call)(request_, timeout=10)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(refused.value) == expected
    assert refused.value.details() == "; ".join(f"{f}: {r}" for f, r in expected.items())


@pytest.mark.parametrize(
    ("call", "request_", "detail"),
    [
        ("GetNotification", pb.GetNotificationRequest(id="nope"), "no notification nope"),
        ("RetryNotification", pb.RetryNotificationRequest(id="nope"), "no notification nope"),
        ("CloseWorkOrder", pb.CloseWorkOrderRequest(id="nope", outcome="已告知", operator="op"),
         "no work order nope"),
        ("CompleteRectification", pb.CompleteRectificationRequest(
            id="nope", department=MARKET, note="已整改"), "no rectification nope"),
        ("GetContact", pb.GetContactRequest(account_id="nobody"),
         "no contact details for account nobody"),
        ("GetDepartment", pb.GetDepartmentRequest(code=SUPERVISOR),
         f"no department {SUPERVISOR} in the directory"),
    ],
)  # fmt: skip
def test_a_well_formed_id_of_nothing_is_not_found(
    api: pb_grpc.NotificationsServiceStub, call: str, request_: Any, detail: str
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        getattr(api, call)(request_, timeout=10)

    assert (refused.value.code(), refused.value.details()) == (grpc.StatusCode.NOT_FOUND, detail)


def test_forgetting_contact_details_says_whether_there_were_any(
    api: pb_grpc.NotificationsServiceStub,
) -> None:
    api.PutContact(pb.Contact(account_id="js-gov-forget-me", email="li@example.com"), timeout=10)

    first = api.DeleteContact(pb.DeleteContactRequest(account_id="js-gov-forget-me"), timeout=10)
    again = api.DeleteContact(pb.DeleteContactRequest(account_id="js-gov-forget-me"), timeout=10)

    assert (first.deleted, again.deleted) == (True, False)
