"""How notifications leave govnet: email through an SMTP server, text messages through an
SMS gateway over HTTP.

Each channel sends one message per call and reports an `Outcome`; it never raises for a
delivery problem, so the worker records every attempt and decides about retries in one place:

- `DELIVERED`: the server took the message (responsibility passed to the mail system or
  the gateway).
- `TEMPORARY`: not sent, try again later. This covers anything that is not the recipient's
  fault: the server is down or slow, says "later", or refuses govnet's own credentials
  (an operator must fix the configuration; the notification must not be lost meanwhile).
- `PERMANENT`: this message to this recipient will never go through (no such mailbox,
  invalid number); retrying cannot help.

`Outcome.detail` is what the server said, on one line, at most 300 characters, and safe to
store: recipient addresses and mobile numbers in it are masked (`mask_email`, `mask_phone`).

The channels use blocking standard-library clients (`smtplib`, `urllib.request`) with a
timeout, and no threads or asyncio, so they work unchanged in a process monkey-patched by
eventlet (the nameko workers). Each send opens a fresh connection: simple, and nothing can
go stale between sends.

SMS gateway protocol
--------------------
A gateway vendor implements this to receive govnet's text messages. govnet sends each
message as one request::

    POST <gateway URL>
    Content-Type: application/json; charset=utf-8
    Authorization: Basic <base64 of user:password>   (only if the URL has user:password@)

    {"to": "13812345678", "text": "您的申请已受理……", "reference": "<notification id>"}

- ``to``: the recipient's 11-digit mainland mobile number, digits only.
- ``text``: the whole message in UTF-8; splitting long messages is the gateway's job.
- ``reference``: govnet's notification id (a UUID). After a timeout govnet cannot know
  whether the gateway took the message, so it may send the same reference again; a gateway
  should send at most one text message per reference.

The gateway URL is configured as ``http(s)://[user:password@]host[:port]/path``; the
credentials are sent only in the ``Authorization`` header, never in the request line.
Redirects are not followed (they would turn the POST into a GET, and could carry the
credentials to another host).

How govnet reads the reply:

- 2xx: accepted. The body may be JSON ``{"id": "<gateway's message id>"}``; the id is kept
  in govnet's record of the delivery.
- 400, 404, 410, 422: this message can never be sent (an invalid or unassigned number,
  text the gateway refuses). govnet does not retry. Say why in a short body; govnet keeps
  the first 100 characters.
- 401, 403: the gateway refuses govnet's credentials. govnet retries later; an operator
  must fix the configuration.
- 408, 429, 5xx, and any status not listed here: govnet retries later.
"""

from __future__ import annotations

import base64
import json
import re
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from http.client import HTTPException, HTTPMessage
from typing import IO
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit, urlunsplit

DELIVERED = "delivered"
TEMPORARY = "temporary-failure"
PERMANENT = "permanent-failure"

DETAIL_LIMIT = 300
"""The longest `Outcome.detail`, in characters."""

_SNIPPET_LIMIT = 100
_REPLY_READ_LIMIT = 64 * 1024  # a gateway reply is a few bytes; never read an unbounded body

_SMTP_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
_SMS_GATEWAY_STATUSES_PERMANENT = frozenset({400, 404, 410, 422})
_SMS_GATEWAY_STATUSES_CREDENTIALS = frozenset({401, 403})

_PHONE = re.compile(r"1\d{10}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)1\d{10}(?!\d)")
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*")

# 8bit bodies are only allowed by servers that offer 8BITMIME, which smtplib does not ask
# for; with "7bit" the body of a Chinese message is base64-encoded and passes any relay
# unchanged (an ASCII-only body stays plain 7bit).
_MESSAGE_POLICY = policy.default.clone(cte_type="7bit")


@dataclass(frozen=True)
class Outcome:
    """The result of one delivery attempt.

    `status` is DELIVERED, TEMPORARY or PERMANENT; `detail` is what the server said, for the
    record: one line, at most `DETAIL_LIMIT` characters, recipients masked.
    """

    status: str
    detail: str


@dataclass(frozen=True)
class Email:
    """One notification email. `body` is plain text (Chinese is fine); `reference` is the
    notification id (a UUID string), which becomes the Message-ID and the
    X-Govnet-Notification header so a reply or a bounce can be traced back."""

    to: str
    subject: str
    body: str
    reference: str


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to hand emails over, as parsed from an SMTP URL."""

    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str = field(default="", repr=False)

    @property
    def address(self) -> str:
        """host:port, as shown in outcome details and errors."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def mask_phone(text: str) -> str:
    """A mobile number as it may be stored or shown: `13812345678` → `138****5678`.

    Anything that is not an 11-digit mobile number keeps only its first and last character
    (`mask_other`), so a malformed number is not stored in full either.
    """
    if _PHONE.fullmatch(text):
        return f"{text[:3]}****{text[-4:]}"
    return mask_other(text)


def mask_email(text: str) -> str:
    """An email address as it may be stored or shown: `zhang.san@example.com` →
    `z***@example.com` (the domain stays: it tells an operator which provider refused).

    Anything that does not look like an address keeps only its first and last character
    (`mask_other`).
    """
    if _EMAIL.fullmatch(text):
        local_part, _, domain = text.partition("@")
        return f"{local_part[0]}***@{domain}"
    return mask_other(text)


def mask_other(text: str) -> str:
    """Every character but the first and the last replaced by `*`; text of one or two
    characters is all `*`, since keeping both ends would keep all of it."""
    if len(text) <= 2:
        return "*" * len(text)
    return text[0] + "*" * (len(text) - 2) + text[-1]


def parse_smtp_url(url: str) -> SmtpTarget:
    """The SMTP server named by `url`.

    Forms: `smtp://[user:password@]host[:port]` (port 25 by default; add `?starttls=true`
    to upgrade the connection with STARTTLS) and `smtps://[user:password@]host[:port]`
    (TLS from the start, port 465 by default). User and password are percent-decoded; govnet
    logs in only when a user is given.

    Raises ValueError saying what is wrong with the URL; the password is never repeated.
    """
    parts, port = _checked_url(url, "SMTP URL", schemes=("smtp", "smtps"))
    shown = _without_password(url, parts)
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError(
            f"SMTP URL {shown!r} has a path or fragment; nothing may follow host and port "
            "except ?starttls=true"
        )
    starttls = False
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name != "starttls":
            raise ValueError(f"SMTP URL {shown!r} has an unknown option {name!r} (only starttls)")
        if value.lower() not in ("true", "false"):
            raise ValueError(f"SMTP URL {shown!r} has starttls={value!r}; use true or false")
        starttls = value.lower() == "true"
    implicit_tls = parts.scheme == "smtps"
    if implicit_tls and starttls:
        raise ValueError(
            f"SMTP URL {shown!r} asks for starttls, which only applies to smtp:// "
            "(smtps:// is encrypted from the start)"
        )
    if parts.password is not None and not parts.username:
        raise ValueError(f"SMTP URL {shown!r} has a password but no user")
    assert parts.hostname is not None  # _checked_url refuses a URL without a host
    return SmtpTarget(
        host=parts.hostname,
        port=port if port is not None else _SMTP_DEFAULT_PORTS[parts.scheme],
        implicit_tls=implicit_tls,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else "",
    )


def parse_sms_gateway_url(url: str) -> str:
    """`url` itself, once checked to be an http:// or https:// URL naming a host (with
    `user:password@` when the gateway wants HTTP Basic authentication).

    Raises ValueError saying what is wrong with the URL; the password is never repeated.
    """
    _checked_url(url, "SMS gateway URL", schemes=("http", "https"))
    return url


class EmailChannel:
    """Sends notification emails through one SMTP server (the relay govnet is allowed to
    use), one connection per email.

    `sender` is the From address, optionally with a display name
    (`政务服务网 <noreply@example.gov.cn>`). Raises ValueError for a bad URL or sender.
    """

    def __init__(self, url: str, sender: str, *, timeout: float = 10.0) -> None:
        self._target = parse_smtp_url(url)
        envelope_sender = parseaddr(sender)[1]
        if "@" not in envelope_sender:
            raise ValueError(
                f"email sender {sender!r} must be an address, optionally with a display name "
                "(政务服务网 <noreply@example.gov.cn>)"
            )
        self._sender = sender
        self._envelope_sender = envelope_sender
        self._timeout = timeout

    def send(self, email: Email) -> Outcome:
        """Hand `email` to the SMTP server and say how that went. Never raises for a
        delivery problem: refusals, authentication failures and network errors all become
        an Outcome (see the module docstring for which is which)."""
        where = self._target.address
        try:
            message = self._message(email)
        except ValueError as exc:  # e.g. a line break in the subject
            return _email_outcome(PERMANENT, f"the email could not be built: {exc}", email.to)
        try:
            self._hand_over(message, email.to)
        except smtplib.SMTPAuthenticationError as exc:
            return _email_outcome(
                TEMPORARY,
                f"authentication failed at {where} ({_reply(exc.smtp_code, exc.smtp_error)}); "
                "check the user and password in the SMTP URL",
                email.to,
            )
        except smtplib.SMTPRecipientsRefused as exc:
            # One recipient per email, so the only refusal is this recipient's.
            code, reply = next(iter(exc.recipients.values()))
            return _refusal(code, reply, f"recipient {mask_email(email.to)}", where, email.to)
        except smtplib.SMTPSenderRefused as exc:
            if exc.smtp_code == 530:  # "authentication required": configuration, not the email
                return _email_outcome(
                    TEMPORARY,
                    f"{_reply(exc.smtp_code, exc.smtp_error)} from {where}; "
                    "the server wants a login: put user and password in the SMTP URL",
                    email.to,
                )
            return _refusal(exc.smtp_code, exc.smtp_error, "sender", where, email.to)
        except smtplib.SMTPDataError as exc:
            return _refusal(
                exc.smtp_code, exc.smtp_error, f"message to {mask_email(email.to)}", where, email.to
            )
        except smtplib.SMTPResponseException as exc:
            said = _reply(exc.smtp_code, exc.smtp_error)
            return _email_outcome(TEMPORARY, f"{said} from {where}", email.to)
        except smtplib.SMTPException as exc:
            # smtplib reports a reply that did not come in time as SMTPServerDisconnected.
            if isinstance(exc.__context__, TimeoutError):
                return self._no_reply(email.to)
            return _email_outcome(TEMPORARY, f"SMTP with {where} failed: {exc}", email.to)
        except ConnectionRefusedError:
            return _email_outcome(TEMPORARY, f"connection to {where} refused", email.to)
        except TimeoutError:
            return self._no_reply(email.to)
        except ssl.SSLError as exc:
            return _email_outcome(TEMPORARY, f"TLS with {where} failed: {exc}", email.to)
        except OSError as exc:
            return _email_outcome(TEMPORARY, f"could not reach {where}: {exc}", email.to)
        return Outcome(DELIVERED, f"250 accepted by {where}")

    def _no_reply(self, to: str) -> Outcome:
        detail = f"no reply from {self._target.address} within {self._timeout:g}s"
        return _email_outcome(TEMPORARY, detail, to)

    def _message(self, email: Email) -> EmailMessage:
        message = EmailMessage(policy=_MESSAGE_POLICY)
        message["From"] = self._sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = f"<{email.reference}@govnet>"
        message["X-Govnet-Notification"] = email.reference
        message.set_content(email.body, charset="utf-8")
        return message

    def _hand_over(self, message: EmailMessage, to: str) -> None:
        """Connect, secure, log in and send; raises what smtplib and the socket raise."""
        target = self._target
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if target.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                target.host, target.port, timeout=self._timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(target.host, target.port, timeout=self._timeout)
        try:
            if target.starttls:
                smtp.starttls(context=context)
            if target.username is not None:
                smtp.login(target.username, target.password)
            smtp.send_message(message, from_addr=self._envelope_sender, to_addrs=[to])
        finally:
            _quit(smtp)


class SmsChannel:
    """Sends text messages through an HTTP SMS gateway speaking the protocol in the module
    docstring, one request per message. Raises ValueError for a bad URL."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        parse_sms_gateway_url(url)
        self._url, self._authorization = _split_credentials(url)
        self._timeout = timeout
        self._opener = urllib.request.build_opener(_RefuseRedirects)

    def send(self, to: str, text: str, reference: str) -> Outcome:
        """Post one message for mobile number `to` to the gateway and say how that went.
        Never raises for a delivery problem: every reply and network error becomes an
        Outcome (see the module docstring for which is which)."""
        body = json.dumps(
            {"to": to, "text": text, "reference": reference}, ensure_ascii=False
        ).encode("utf-8")
        request = urllib.request.Request(
            self._url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        if self._authorization is not None:
            request.add_header("Authorization", self._authorization)
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status: int = response.status
                reply: bytes = response.read(_REPLY_READ_LIMIT)
        except urllib.error.HTTPError as exc:
            status, reply = exc.code, _error_body(exc)
        except urllib.error.URLError as exc:
            return _sms_outcome(TEMPORARY, self._unreachable(exc.reason), to)
        except (OSError, HTTPException) as exc:
            return _sms_outcome(TEMPORARY, self._unreachable(exc), to)
        return _gateway_outcome(status, reply, to)

    def _unreachable(self, reason: object) -> str:
        if isinstance(reason, ConnectionRefusedError):
            return "connection to the gateway refused"
        if isinstance(reason, TimeoutError):
            return f"no reply from the gateway within {self._timeout:g}s"
        return f"could not reach the gateway: {reason}"


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: urllib would resend the POST as a GET without its body,
    and the Authorization header could go to another host. The 3xx then arrives as an
    HTTPError and is reported like any reply the protocol does not define."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


def _checked_url(
    url: str, label: str, *, schemes: tuple[str, ...]
) -> tuple[SplitResult, int | None]:
    """`url` split, with its port (None when none is given), once the scheme is one of
    `schemes`, a host is named and the port is a number; ValueError otherwise."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed [ of an IPv6 address
        raise ValueError(f"{label} is not a valid URL: {exc}") from None
    shown = _without_password(url, parts)
    if parts.scheme not in schemes:
        allowed = " or ".join(f"{scheme}://" for scheme in schemes)
        raise ValueError(f"{label} {shown!r} must be {allowed}")
    if not parts.hostname:
        raise ValueError(f"{label} {shown!r} must name a host")
    bad_port = f"{label} {shown!r} has a port that is not a number from 1 to 65535"
    try:
        port = parts.port
    except ValueError:
        raise ValueError(bad_port) from None
    if port == 0:
        raise ValueError(bad_port)
    return parts, port


def _without_password(url: str, parts: SplitResult) -> str:
    """`url` as it may appear in an error message: its password (if any) replaced by ***."""
    userinfo, at, host_and_port = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return url.replace(parts.netloc, f"{user}:***@{host_and_port}", 1)


def _split_credentials(url: str) -> tuple[str, str | None]:
    """The URL without `user:password@`, and the HTTP Basic Authorization header value for
    those credentials (None when the URL has none)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host_and_port = parts.netloc.rpartition("@")[2]
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    token = base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    return urlunsplit(parts._replace(netloc=host_and_port)), f"Basic {token}"


def _quit(smtp: smtplib.SMTP) -> None:
    """End the session politely, but let nothing at this point change the outcome: once the
    server has accepted the message, an odd reply to QUIT must not make it a failure (and
    cause a second copy to be sent)."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _reply(code: int, text: bytes | str) -> str:
    """An SMTP reply as one line: code and text."""
    said = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    return f"{code} {said}"


def _refusal(code: int, text: bytes | str, what: str, where: str, to: str) -> Outcome:
    """An SMTP refusal: 5xx means never (PERMANENT), anything else means later."""
    status = PERMANENT if 500 <= code <= 599 else TEMPORARY
    return _email_outcome(status, f"{_reply(code, text)} ({what} refused by {where})", to)


def _gateway_outcome(status: int, reply: bytes, to: str) -> Outcome:
    """What an HTTP reply of the gateway means, per the protocol in the module docstring."""
    if 200 <= status <= 299:
        gateway_id = _gateway_message_id(reply)
        if gateway_id is None:
            return _sms_outcome(DELIVERED, f"accepted by gateway (HTTP {status}, no id)", to)
        return _sms_outcome(DELIVERED, f"accepted by gateway, id {gateway_id}", to)
    said = f"HTTP {status} from gateway: {_snippet(reply)}"
    if status in _SMS_GATEWAY_STATUSES_PERMANENT:
        return _sms_outcome(PERMANENT, said, to)
    if status in _SMS_GATEWAY_STATUSES_CREDENTIALS:
        return _sms_outcome(
            TEMPORARY,
            f"{said} (the gateway refuses govnet's credentials: check the user and password "
            "in the SMS gateway URL)",
            to,
        )
    if status in (408, 429) or 500 <= status <= 599:
        return _sms_outcome(TEMPORARY, said, to)
    return _sms_outcome(
        TEMPORARY, f"{said} (a status the SMS protocol does not define; check the URL)", to
    )


def _gateway_message_id(reply: bytes) -> str | None:
    """The `id` of a JSON reply, if the reply is JSON with an id."""
    try:
        document = json.loads(reply.decode("utf-8"))
    except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
        return None
    if isinstance(document, dict) and isinstance(document.get("id"), str | int):
        return str(document["id"])
    return None


def _error_body(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read(_REPLY_READ_LIMIT)
    except (OSError, HTTPException):
        return b""
    finally:
        error.close()


def _snippet(reply: bytes) -> str:
    text = " ".join(reply.decode("utf-8", errors="replace").split())
    if not text:
        return "(empty body)"
    return text if len(text) <= _SNIPPET_LIMIT else text[: _SNIPPET_LIMIT - 1] + "…"


def _email_outcome(status: str, detail: str, to: str) -> Outcome:
    return Outcome(status, _safe_detail(detail, recipient=to, masked=mask_email(to)))


def _sms_outcome(status: str, detail: str, to: str) -> Outcome:
    return Outcome(status, _safe_detail(detail, recipient=to, masked=mask_phone(to)))


def _safe_detail(text: str, *, recipient: str, masked: str) -> str:
    """`text` fit to store: one line, the recipient (in any case, anywhere, e.g. inside
    +8613812345678) and anything else that looks like an address or a mobile number
    masked, at most DETAIL_LIMIT characters."""
    line = " ".join(text.split())
    if recipient:
        line = re.sub(re.escape(recipient), lambda _: masked, line, flags=re.IGNORECASE)
    line = _EMAIL_IN_TEXT.sub(lambda found: mask_email(found.group()), line)
    line = _PHONE_IN_TEXT.sub(lambda found: mask_phone(found.group()), line)
    return line if len(line) <= DETAIL_LIMIT else line[: DETAIL_LIMIT - 1] + "…"
