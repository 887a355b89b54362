"""The notification channels against real servers the tests start: an SMTP server
(tests/support/mailserver.py) and an HTTP SMS gateway speaking govnet's protocol
(tests/support/smsgateway.py).

Integration tests because they talk to real network servers; they need no RabbitMQ and no
PostgreSQL, so they carry neither the `rabbitmq` nor the `postgres` marker and run with
`-m "not rabbitmq and not postgres"` too.
"""

from __future__ import annotations

import base64
import re
import socket
import uuid
from collections.abc import Iterator

import pytest

from services.notifications.channels import (
    DELIVERED,
    PERMANENT,
    TEMPORARY,
    Email,
    EmailChannel,
    Outcome,
    SmsChannel,
    SmtpTarget,
    mask_email,
    mask_phone,
    parse_sms_gateway_url,
    parse_smtp_url,
)
from tests.support.mailserver import MailServer, mail_server
from tests.support.nodes import free_port_base
from tests.support.smsgateway import sms_gateway

SENDER = "政务服务网 <noreply@govnet.example>"
SUBJECT = "您的“个体工商户登记”申请已受理"
BODY = "张三，您好：\n您提交的“个体工商户登记”申请已受理，办件编号 320102-20250301-000001。\n"
TEXT = "【政务服务网】您的申请已受理，办件编号 320102-20250301-000001。"


def email_to(address: str) -> Email:
    return Email(to=address, subject=SUBJECT, body=BODY, reference=str(uuid.uuid4()))


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with mail_server() as server:
        yield server


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections but never says a word."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


# Email


def test_an_email_arrives_intact(mail: MailServer) -> None:
    email = email_to("zhang.san@example.com")

    outcome = EmailChannel(mail.url, SENDER).send(email)

    assert outcome == Outcome(DELIVERED, f"250 accepted by 127.0.0.1:{mail.port}")
    [received] = mail.wait_for_messages(1)
    assert len(mail.messages) == 1
    assert received.mail_from == "noreply@govnet.example"
    assert received.rcpt_tos == ("zhang.san@example.com",)
    message = received.message
    assert message["From"] == SENDER
    assert message["To"] == "zhang.san@example.com"
    assert message["Subject"] == SUBJECT
    assert message["Message-ID"] == f"<{email.reference}@govnet>"
    assert message["X-Govnet-Notification"] == email.reference
    assert message["Date"].datetime.tzinfo is not None
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content() == BODY


def test_a_mailbox_that_does_not_exist_is_a_permanent_failure_with_the_address_masked(
    mail: MailServer,
) -> None:
    outcome = EmailChannel(mail.url, SENDER).send(email_to("bounce.li@example.com"))

    assert outcome == Outcome(
        PERMANENT,
        f"550 5.1.1 no such user (recipient b***@example.com refused by 127.0.0.1:{mail.port})",
    )
    assert mail.messages == []


def test_a_mailbox_that_says_later_is_a_temporary_failure(mail: MailServer) -> None:
    outcome = EmailChannel(mail.url, SENDER).send(email_to("busy.wang@example.com"))

    assert outcome == Outcome(
        TEMPORARY,
        f"451 4.3.0 try again later (recipient b***@example.com refused by 127.0.0.1:{mail.port})",
    )


def test_an_smtp_server_that_is_not_running_is_a_temporary_failure() -> None:
    port = free_port_base(count=1)

    outcome = EmailChannel(f"smtp://127.0.0.1:{port}", SENDER).send(email_to("a@example.com"))

    assert outcome == Outcome(TEMPORARY, f"connection to 127.0.0.1:{port} refused")


def test_an_smtp_server_that_never_answers_is_a_temporary_failure(silent_port: int) -> None:
    channel = EmailChannel(f"smtp://127.0.0.1:{silent_port}", SENDER, timeout=0.5)

    outcome = channel.send(email_to("a@example.com"))

    assert outcome == Outcome(TEMPORARY, f"no reply from 127.0.0.1:{silent_port} within 0.5s")


def test_credentials_in_the_smtp_url_are_used_to_log_in() -> None:
    with mail_server(auth=("notify", "s3cret:/@")) as server:
        channel = EmailChannel(server.url_with_login("notify", "s3cret:/@"), SENDER)

        outcome = channel.send(email_to("zhang.san@example.com"))

        assert outcome.status == DELIVERED
        [received] = server.wait_for_messages(1)
        assert received.login == "notify"


def test_a_wrong_smtp_password_is_a_temporary_failure_saying_authentication_failed() -> None:
    with mail_server(auth=("notify", "s3cret")) as server:
        channel = EmailChannel(server.url_with_login("notify", "wrong"), SENDER)

        outcome = channel.send(email_to("zhang.san@example.com"))

        assert outcome == Outcome(
            TEMPORARY,
            f"authentication failed at 127.0.0.1:{server.port} "
            "(535 5.7.8 Authentication credentials invalid); "
            "check the user and password in the SMTP URL",
        )
        assert server.messages == []


def test_a_server_that_wants_a_login_the_url_lacks_is_a_temporary_failure() -> None:
    with mail_server(auth=("notify", "s3cret")) as server:
        outcome = EmailChannel(server.url, SENDER).send(email_to("zhang.san@example.com"))

        assert outcome == Outcome(
            TEMPORARY,
            f"530 5.7.0 Authentication required from 127.0.0.1:{server.port}; "
            "the server wants a login: put user and password in the SMTP URL",
        )


def test_an_email_that_cannot_be_built_is_a_permanent_failure(mail: MailServer) -> None:
    email = Email(
        to="zhang.san@example.com", subject="第一行\nBcc: x@example.com", body=BODY, reference="r"
    )

    outcome = EmailChannel(mail.url, SENDER).send(email)

    assert outcome == Outcome(
        PERMANENT,
        "the email could not be built: "
        "Header values may not contain linefeed or carriage return characters",
    )
    assert mail.messages == []


# SMS


def test_a_text_message_is_accepted_by_the_gateway() -> None:
    reference = str(uuid.uuid4())
    with sms_gateway() as gateway:
        outcome = SmsChannel(gateway.url).send("13812345678", TEXT, reference)

        assert outcome == Outcome(DELIVERED, "accepted by gateway, id gw-1")
        [request] = gateway.requests
    assert request.method == "POST"
    assert request.path == "/sms"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.body == {"to": "13812345678", "text": TEXT, "reference": reference}
    assert TEXT.encode("utf-8") in request.raw_body
    assert "authorization" not in request.headers


def test_a_gateway_error_is_temporary_and_the_next_try_is_delivered() -> None:
    with sms_gateway(replies={"13800000001": [500, 200]}) as gateway:
        channel = SmsChannel(gateway.url)

        first = channel.send("13800000001", TEXT, "ref-1")
        second = channel.send("13800000001", TEXT, "ref-1")

    assert first == Outcome(
        TEMPORARY, 'HTTP 500 from gateway: {"error": "simulated 500 for 138****0001"}'
    )
    assert second == Outcome(DELIVERED, "accepted by gateway, id gw-2")


def test_an_invalid_number_is_a_permanent_failure_with_the_number_masked() -> None:
    with sms_gateway(replies={"13800000003": [400]}) as gateway:
        outcome = SmsChannel(gateway.url).send("13800000003", TEXT, "ref-1")

    assert outcome == Outcome(
        PERMANENT, 'HTTP 400 from gateway: {"error": "simulated 400 for 138****0003"}'
    )


def test_a_throttling_gateway_is_a_temporary_failure() -> None:
    with sms_gateway(replies={"13800000004": [429]}) as gateway:
        outcome = SmsChannel(gateway.url).send("13800000004", TEXT, "ref-1")

    assert outcome == Outcome(
        TEMPORARY, 'HTTP 429 from gateway: {"error": "simulated 429 for 138****0004"}'
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (201, DELIVERED),
        (202, DELIVERED),
        (302, TEMPORARY),
        (400, PERMANENT),
        (401, TEMPORARY),
        (403, TEMPORARY),
        (404, PERMANENT),
        (405, TEMPORARY),
        (408, TEMPORARY),
        (410, PERMANENT),
        (422, PERMANENT),
        (429, TEMPORARY),
        (500, TEMPORARY),
        (502, TEMPORARY),
        (503, TEMPORARY),
    ],
)
def test_each_gateway_status_means_what_the_protocol_says(status: int, expected: str) -> None:
    with sms_gateway(replies={"13800000005": [status]}) as gateway:
        outcome = SmsChannel(gateway.url).send("13800000005", TEXT, "ref-1")

    assert outcome.status == expected
    assert "13800000005" not in outcome.detail


def test_a_wrong_gateway_password_is_a_temporary_failure_saying_so() -> None:
    with sms_gateway(auth=("govnet", "s3cret")) as gateway:
        channel = SmsChannel(gateway.url_with_login("govnet", "wrong"))

        outcome = channel.send("13812345678", TEXT, "ref-1")

    assert outcome == Outcome(
        TEMPORARY,
        'HTTP 401 from gateway: {"error": "unauthorized"} (the gateway refuses govnet\'s '
        "credentials: check the user and password in the SMS gateway URL)",
    )


def test_gateway_credentials_from_the_url_go_in_a_basic_auth_header_only() -> None:
    with sms_gateway(auth=("govnet", "s3cret:/@")) as gateway:
        channel = SmsChannel(gateway.url_with_login("govnet", "s3cret:/@"))

        outcome = channel.send("13812345678", TEXT, "ref-1")

        assert outcome == Outcome(DELIVERED, "accepted by gateway, id gw-1")
        [request] = gateway.requests
    expected = base64.b64encode(b"govnet:s3cret:/@").decode("ascii")
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.path == "/sms"
    assert request.headers["host"] == f"127.0.0.1:{gateway.port}"


def test_a_gateway_that_is_not_running_is_a_temporary_failure() -> None:
    port = free_port_base(count=1)

    outcome = SmsChannel(f"http://127.0.0.1:{port}/sms").send("13812345678", TEXT, "ref-1")

    assert outcome == Outcome(TEMPORARY, "connection to the gateway refused")


def test_a_gateway_that_never_answers_is_a_temporary_failure(silent_port: int) -> None:
    channel = SmsChannel(f"http://127.0.0.1:{silent_port}/sms", timeout=0.5)

    outcome = channel.send("13812345678", TEXT, "ref-1")

    assert outcome == Outcome(TEMPORARY, "no reply from the gateway within 0.5s")


# URLs


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("smtp://mail.example", SmtpTarget("mail.example", 25, False, False, None)),
        (
            "smtp://mail.example:587?starttls=true",
            SmtpTarget("mail.example", 587, False, True, None),
        ),
        ("smtps://mail.example", SmtpTarget("mail.example", 465, True, False, None)),
        (
            "smtps://notify%40gov:p%40ss%3Aw@mail.example:2465",
            SmtpTarget("mail.example", 2465, True, False, "notify@gov", "p@ss:w"),
        ),
        ("smtp://notify@mail.example/", SmtpTarget("mail.example", 25, False, False, "notify")),
    ],
)
def test_smtp_urls_name_server_security_and_login(url: str, target: SmtpTarget) -> None:
    assert parse_smtp_url(url) == target


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://mail.example", "SMTP URL 'http://mail.example' must be smtp:// or smtps://"),
        ("mail.example:25", "SMTP URL 'mail.example:25' must be smtp:// or smtps://"),
        ("smtp://", "SMTP URL 'smtp://' must name a host"),
        ("smtp://u:pw@:25", "SMTP URL 'smtp://u:***@:25' must name a host"),
        (
            "smtp://mail.example:twenty-five",
            "SMTP URL 'smtp://mail.example:twenty-five' has a port that is not a number "
            "from 1 to 65535",
        ),
        (
            "smtp://u:pw@mail.example:70000",
            "SMTP URL 'smtp://u:***@mail.example:70000' has a port that is not a number "
            "from 1 to 65535",
        ),
        (
            "smtp://mail.example:0",
            "SMTP URL 'smtp://mail.example:0' has a port that is not a number from 1 to 65535",
        ),
        (
            "smtp://mail.example?foo=1",
            "SMTP URL 'smtp://mail.example?foo=1' has an unknown option 'foo' (only starttls)",
        ),
        (
            "smtp://mail.example?starttls=yes",
            "SMTP URL 'smtp://mail.example?starttls=yes' has starttls='yes'; use true or false",
        ),
        (
            "smtps://mail.example?starttls=true",
            "SMTP URL 'smtps://mail.example?starttls=true' asks for starttls, which only "
            "applies to smtp:// (smtps:// is encrypted from the start)",
        ),
        (
            "smtp://mail.example/relay",
            "SMTP URL 'smtp://mail.example/relay' has a path or fragment; nothing may follow "
            "host and port except ?starttls=true",
        ),
        (
            "smtp://:pw@mail.example",
            "SMTP URL 'smtp://:***@mail.example' has a password but no user",
        ),
        ("smtp://[::1", "SMTP URL is not a valid URL: Invalid IPv6 URL"),
    ],
)
def test_a_bad_smtp_url_is_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(reason)}$"):
        parse_smtp_url(url)


def test_a_bad_smtp_url_never_repeats_the_password() -> None:
    with pytest.raises(ValueError, match="must be smtp") as refused:
        parse_smtp_url("smpt://notify:hunter2@mail.example")

    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    ["http://gw.example/sms", "https://u:p@gw.example:8443/api/v1/send", "http://127.0.0.1:80"],
)
def test_an_sms_gateway_url_is_returned_as_given(url: str) -> None:
    assert parse_sms_gateway_url(url) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            "ftp://gw.example/sms",
            "SMS gateway URL 'ftp://gw.example/sms' must be http:// or https://",
        ),
        ("gw.example/sms", "SMS gateway URL 'gw.example/sms' must be http:// or https://"),
        ("https:///sms", "SMS gateway URL 'https:///sms' must name a host"),
        (
            "http://u:pw@gw.example:http/sms",
            "SMS gateway URL 'http://u:***@gw.example:http/sms' has a port that is not a number "
            "from 1 to 65535",
        ),
    ],
)
def test_a_bad_sms_gateway_url_is_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(reason)}$"):
        parse_sms_gateway_url(url)


def test_a_bad_channel_configuration_is_refused_when_the_channel_is_made() -> None:
    with pytest.raises(ValueError, match="must be smtp:// or smtps://"):
        EmailChannel("http://mail.example", SENDER)
    with pytest.raises(ValueError, match="must be an address"):
        EmailChannel("smtp://mail.example", "政务服务网")
    with pytest.raises(ValueError, match="must name a host"):
        SmsChannel("http:///sms")


# Masking


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+8613812345678", "+************8"),
        ("1381234567", "1********7"),
        ("12", "**"),
        ("", ""),
    ],
)
def test_mask_phone(text: str, masked: str) -> None:
    assert mask_phone(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("zhang.san@example.com", "z***@example.com"),
        ("z@example.com", "z***@example.com"),
        ("not-an-address", "n************s"),
        ("a@", "**"),
    ],
)
def test_mask_email(text: str, masked: str) -> None:
    assert mask_email(text) == masked
