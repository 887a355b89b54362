"""Notifications through real processes: an applicant with contact details hears of each
step of their case by inbox, email (a real SMTP server) and SMS (a real HTTP gateway); the
notifications API answers and refuses bad input naming the field."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from govnet.applications.v1 import applications_pb2 as apps_pb
from govnet.applications.v1 import applications_pb2_grpc as apps_grpc
from govnet.notifications.v1 import notifications_pb2 as pb
from govnet.notifications.v1 import notifications_pb2_grpc as pb_grpc
from services.catalog.sample import sample_items
from services.contract.identifiers import resident_check_char
from services.platform.node import division
from services.platform.settings import Settings
from tests.integration.test_api import violations
from tests.support.mailserver import MailServer, mail_server
from tests.support.nodes import node_env, processes
from tests.support.seeding import teach_applications
from tests.support.smsgateway import SmsGateway, sms_gateway
from tests.support.waiting import wait_for

COUNTY = "320102"
ITEM = sample_items(division(COUNTY))[0]
RESIDENT = "32010219900307123" + resident_check_char("32010219900307123")
ACCOUNT = "js-gov-e2e-0001"
ACTOR = apps_pb.Actor(department_code=ITEM.department_code, officer_id="officer-017")


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[MailServer, SmsGateway]]:
    with mail_server() as mail, sms_gateway() as sms:
        yield mail, sms


@pytest.fixture(scope="module")
def node(
    amqp_uri: str, servers: tuple[MailServer, SmsGateway], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    mail, sms = servers
    var = tmp_path_factory.mktemp("var")
    env = node_env(
        amqp_uri=amqp_uri,
        var_dir=var,
        division=COUNTY,
        GOVNET_SMTP_URL=mail.url,
        GOVNET_SMS_GATEWAY_URL=sms.url,
        GOVNET_SMS_QUIET_HOURS="",  # the test runs at any hour
    )
    settings = Settings.from_environment(env)
    teach_applications(settings, ITEM)
    specs = [
        ("api", ["applications"]),
        ("api", ["notifications"]),
        ("worker", ["applications"]),
        ("worker", ["notifications"]),
    ]
    with processes(specs, env, var / "run"):
        yield settings


@pytest.fixture(scope="module")
def notifications(node: Settings) -> pb_grpc.NotificationsServiceStub:
    return pb_grpc.NotificationsServiceStub(
        grpc.insecure_channel(node.grpc_address("notifications"))
    )


@pytest.fixture(scope="module")
def applications(node: Settings) -> apps_grpc.ApplicationsServiceStub:
    return apps_grpc.ApplicationsServiceStub(
        grpc.insecure_channel(node.grpc_address("applications"))
    )


def test_an_applicant_hears_of_acceptance_by_inbox_email_and_sms(
    notifications: Any, applications: Any, servers: tuple[MailServer, SmsGateway]
) -> None:
    mail, sms = servers
    saved = notifications.PutContact(
        pb.Contact(account_id=ACCOUNT, email="wang.e2e@example.com", phone="13912340001"),
        timeout=10,
    )
    assert (saved.email, saved.phone, saved.language) == (
        "w***@example.com", "139****0001", "zh-CN",
    )  # fmt: skip

    case = applications.Submit(
        apps_pb.SubmitRequest(
            request_id=str(uuid.uuid4()),
            implementation_code=ITEM.implementation_code,
            applicant=apps_pb.Applicant(
                kind=apps_pb.APPLICANT_KIND_NATURAL,
                name="王五",
                id_number=RESIDENT,
                account_id=ACCOUNT,
            ),
            channel=apps_pb.CHANNEL_WEB,
            materials=[m.name for m in ITEM.materials if m.required],
        ),
        timeout=10,
    )
    applications.Accept(apps_pb.AcceptRequest(case_number=case.case_number, actor=ACTOR))

    [email] = mail.wait_for_messages(1, timeout=30)
    assert email.rcpt_tos == ("wang.e2e@example.com",)
    assert email.message["Subject"] == f"您的“{ITEM.name}”申请已受理"
    texts = wait_for(lambda: [r.body["text"] for r in sms.requests], timeout=30, what="an SMS")
    assert texts[0].startswith(
        f"【政务服务】您的“{ITEM.name}”申请已受理，办件编号{case.case_number}"
    )

    def two_messages() -> list[Any]:
        found = notifications.ListInbox(pb.ListInboxRequest(recipient=ACCOUNT)).messages
        return list(found) if len(found) == 2 else []

    inbox = wait_for(two_messages, what="two inbox messages")
    assert [m.title for m in inbox] == [
        f"您的“{ITEM.name}”申请已受理",
        f"您的“{ITEM.name}”申请已收到",
    ]

    def delivered() -> list[Any]:
        found = notifications.ListNotifications(
            pb.ListNotificationsRequest(case_number=case.case_number, status="delivered")
        ).notifications
        return found if len(found) == 4 else []

    assert sorted((n.channel, n.to) for n in wait_for(delivered, what="4 delivered")) == [
        ("email", "w***@example.com"),
        ("inbox", ""),
        ("inbox", ""),
        ("sms", "139****0001"),
    ]
    marked = notifications.MarkRead(pb.MarkReadRequest(recipient=ACCOUNT, ids=[inbox[0].id]))
    assert marked.marked == 1


@pytest.mark.parametrize(
    ("call", "request_", "code", "expected"),
    [
        (
            "PutContact",
            pb.Contact(account_id="a", email="not-an-email", phone="123", language="fr"),
            grpc.StatusCode.INVALID_ARGUMENT,
            {
                "email": "must be an email address like name@example.com",
                "phone": "must be an 11-digit mainland mobile number starting with 13-19",
                "language": "must be one of zh-CN, en",
            },
        ),
        (
            "MarkRead",
            pb.MarkReadRequest(recipient=ACCOUNT),
            grpc.StatusCode.INVALID_ARGUMENT,
            {"ids": "name at least one message"},
        ),
        (
            "ListNotifications",
            pb.ListNotificationsRequest(status="lost", channel="fax"),
            grpc.StatusCode.INVALID_ARGUMENT,
            {
                "status": "must be one of created, sending, delivered, temporary-failure, "
                "permanent-failure",
                "channel": "must be one of inbox, email, sms, workorder",
            },
        ),
        (
            "PutDepartment",
            pb.Department(code="11320102767342276X"),
            grpc.StatusCode.INVALID_ARGUMENT,
            {"code": "check character is X, expected U"},
        ),
        (
            "CloseWorkOrder",
            pb.CloseWorkOrderRequest(id="nope"),
            grpc.StatusCode.INVALID_ARGUMENT,
            {
                "outcome": "is required: what the call achieved (up to 2000)",
                "operator": "is required (1 to 64 characters)",
            },
        ),
        (
            "GetNotification",
            pb.GetNotificationRequest(),
            grpc.StatusCode.INVALID_ARGUMENT,
            {"id": "is required"},
        ),
        (
            "ListWorkOrders",
            pb.ListWorkOrdersRequest(division="abc", department="zz"),
            grpc.StatusCode.INVALID_ARGUMENT,
            {
                "division": "must be 6 digits, got 3 characters",
                "department": "must be 18 characters, got 2",
            },
        ),
        (
            "DeleteContact",
            pb.DeleteContactRequest(),
            grpc.StatusCode.INVALID_ARGUMENT,
            {"account_id": "is required"},
        ),
    ],
)
def test_bad_requests_are_invalid_argument_naming_each_field(
    notifications: Any, call: str, request_: Any, code: grpc.StatusCode, expected: dict[str, str]
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        getattr(notifications, call)(request_, timeout=10)

    assert refused.value.code() == code
    assert violations(refused.value) == expected


@pytest.mark.parametrize(
    ("call", "request_", "detail"),
    [
        ("GetNotification", pb.GetNotificationRequest(id="nope"), "no notification nope"),
        (
            "GetContact",
            pb.GetContactRequest(account_id="nobody"),
            "no contact details for account nobody",
        ),
        (
            "CloseWorkOrder",
            pb.CloseWorkOrderRequest(id="nope", outcome="called", operator="op-1"),
            "no work order nope",
        ),
    ],
)
def test_what_does_not_exist_is_not_found(
    notifications: Any, call: str, request_: Any, detail: str
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        getattr(notifications, call)(request_, timeout=10)

    assert (refused.value.code(), refused.value.details()) == (grpc.StatusCode.NOT_FOUND, detail)
