"""Notifications on SQLite and PostgreSQL, sending through a real SMTP server and a real SMS
gateway started by the tests, with the store's clock in the tests' hands: who hears what,
exactly once; delivery statuses, retries with backoff, dead letters, permanent failures;
quiet hours and rate limits that defer and never drop; work orders, rectifications and
their escalation, evaluation invitations; records that mask personal data."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from services.contract import names
from services.contract.envelope import Event, decode
from services.contract.schemas import default_registry
from services.notifications.delivery import Deliverer
from services.notifications.store import CaseNotKnown, NotificationsStore
from services.platform.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.platform.settings import Settings
from services.platform.store import Database
from tests.support.mailserver import MailServer, mail_server
from tests.support.smsgateway import SmsGateway, sms_gateway

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
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
    return decode(json.dumps(raw, ensure_ascii=False), default_registry())


def submitted(channel: str = "web", account: str | None = ACCOUNT) -> Event:
    raw = json.loads((GOLDEN / "application.submitted.v1.json").read_text("utf-8"))
    raw["data"]["channel"] = channel
    raw["data"]["applicant"]["account_id"] = account
    raw.pop("traceparent", None)
    return decode(json.dumps(raw, ensure_ascii=False), default_registry())


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
        settings = Settings.from_environment(
            {
                "GOVNET_SMTP_URL": mail.url,
                "GOVNET_SMS_GATEWAY_URL": sms.url,
                "GOVNET_EMAIL_FROM": "政务服务 <noreply@govnet.example>",
                "GOVNET_RETRY_BASE": "60",
                "GOVNET_RETRY_MAX": "600",
                "GOVNET_DELIVERY_ATTEMPTS": "3",
                "GOVNET_RATE_LIMIT_SMS": "2/hour",
            }
        )
        db = Database(
            url, service="notifications", division="320102", registry=default_registry(),
            clock=clock,
        )  # fmt: skip
        db.create_schema()
        store = NotificationsStore(db, settings=settings)
        store.put_contact(
            ACCOUNT, email=EMAIL, phone=PHONE, language="zh-CN",
            email_enabled=True, sms_enabled=True,
        )  # fmt: skip
        yield store
        db.dispose()

    @pytest.fixture
    def deliverer(self, store: NotificationsStore) -> Iterator[Deliverer]:
        deliverer = Deliverer.from_settings(store, store.settings)
        yield deliverer
        deliverer.close()

    def emitted(self, store: NotificationsStore, event_type: str) -> list[dict[str, Any]]:
        with store.db.read() as conn:
            bodies = conn.execute(
                select(store.db.outbox.c.body)
                .where(store.db.outbox.c.type == event_type)
                .order_by(store.db.outbox.c.id)
            ).scalars()
            return [dict(decode(b, default_registry()).data) for b in bodies]

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


@pytest.mark.postgres
class TestPostgresNotifications(NotificationsSuite):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url
