"""A real SMTP server for tests (aiosmtpd on a free local port), whose recipients misbehave
on purpose, by address:

- a local part starting with `bounce` is refused with `550 5.1.1 no such user` (permanent);
- a local part starting with `busy` is refused with `451 4.3.0 try again later` (temporary).

Every other recipient is accepted and each accepted email is kept, parsed, in `messages`.

    with mail_server() as server:
        channel = EmailChannel(server.url, "noreply@govnet.example")
        ...
        [received] = server.wait_for_messages(1)

`mail_server(auth=("user", "secret"))` offers AUTH without TLS and refuses MAIL with
`530 5.7.0 Authentication required` until the client has logged in with exactly that user
and password, as a relay does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.nodes import free_port_base
from tests.support.waiting import wait_for

BOUNCE_REPLY = "550 5.1.1 no such user"
BUSY_REPLY = "451 4.3.0 try again later"


@dataclass(frozen=True)
class ReceivedEmail:
    """One email the server accepted: the envelope, the message parsed with
    `email.policy.default` (so headers come back decoded), and the user the session logged
    in as (None without a login)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    login: str | None


class MailServer:
    """A running test SMTP server: `url` to give a channel, `messages` it has accepted."""

    def __init__(self, host: str, port: int, messages: list[ReceivedEmail]) -> None:
        self.host = host
        self.port = port
        self.url = f"smtp://{host}:{port}"
        self.messages = messages

    def url_with_login(self, user: str, password: str) -> str:
        """`url` with `user:password@`, percent-encoded as an SMTP URL expects."""
        return f"smtp://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}"

    def wait_for_messages(self, count: int, *, timeout: float = 10.0) -> list[ReceivedEmail]:
        """The accepted emails once there are at least `count` of them (a copy of the list);
        fails if they do not arrive within `timeout` seconds."""
        return wait_for(
            lambda: list(self.messages) if len(self.messages) >= count else [],
            timeout=timeout,
            what=f"{count} email(s) at the test mail server",
        )


class _Handler:
    """aiosmtpd hooks (their names are aiosmtpd's, hence the noqa for upper-case letters)."""

    def __init__(self, login_required: bool) -> None:
        self.messages: list[ReceivedEmail] = []
        self._login_required = login_required

    async def handle_MAIL(  # noqa: N802
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self._login_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        local_part = address.rpartition("@")[0].lower()
        if local_part.startswith("bounce"):
            return BOUNCE_REPLY
        if local_part.startswith("busy"):
            return BUSY_REPLY
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert envelope.original_content is not None
        assert envelope.mail_from is not None
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(
            ReceivedEmail(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                message=message,
                login=session.auth_data if session.authenticated else None,
            )
        )
        return "250 2.0.0 Ok: queued"


class _Authenticator:
    """Accepts exactly one user and password (by PLAIN or LOGIN)."""

    def __init__(self, user: str, password: str) -> None:
        self._expected = LoginPassword(user.encode("utf-8"), password.encode("utf-8"))

    def __call__(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: object,
    ) -> AuthResult:
        if auth_data == self._expected:
            return AuthResult(success=True, auth_data=self._expected.login.decode("utf-8"))
        # handled=False: aiosmtpd answers "535 5.7.8 Authentication credentials invalid"
        return AuthResult(success=False, handled=False)


@contextmanager
def mail_server(*, auth: tuple[str, str] | None = None) -> Iterator[MailServer]:
    """Run a test SMTP server on 127.0.0.1 for the duration of the `with` block."""
    handler = _Handler(login_required=auth is not None)
    host, port = "127.0.0.1", free_port_base(count=1)
    if auth is None:
        controller = Controller(handler, hostname=host, port=port, server_hostname="mail.test")
    else:
        # Login is enforced in handle_MAIL rather than with auth_required=True, which
        # aiosmtpd warns about when TLS is not required (tests have no certificates).
        controller = Controller(
            handler,
            hostname=host,
            port=port,
            server_hostname="mail.test",
            authenticator=_Authenticator(*auth),
            auth_require_tls=False,
        )
    controller.start()
    try:
        yield MailServer(host, port, handler.messages)
    finally:
        controller.stop()
