"""A real HTTP SMS gateway for tests, speaking the protocol documented in
`services.notifications.channels` (ThreadingHTTPServer on a free local port, in a thread).

By default every POST is answered `200 {"id": "gw-<n>"}`, n counting the requests from 1.
`replies` makes a number misbehave: `{"13800000001": [500, 200]}` answers that number's
first message with 500, its second with 200, and any later one with the default 200. Error
replies have the body `{"error": "simulated <status> for <number>"}`: like many real
gateways they repeat the number, so tests can check it is masked in the record.

    with sms_gateway(replies={"13800000001": [500, 200]}) as gateway:
        channel = SmsChannel(gateway.url)
        ...
        assert gateway.requests[0].body == {"to": ..., "text": ..., "reference": ...}

`sms_gateway(auth=("user", "secret"))` answers 401 to any request without exactly those
HTTP Basic credentials. Every request is recorded in `requests`, refused or not.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the gateway saw it. Header names are lower-cased (HTTP header names
    are case-insensitive, and clients differ in how they spell them)."""

    method: str
    path: str
    headers: dict[str, str]
    raw_body: bytes
    body: Any  # the body parsed as UTF-8 JSON, or None when it is not


class SmsGateway:
    """A running test gateway: `url` to give a channel, `requests` it has received."""

    def __init__(self, host: str, port: int, requests: list[ReceivedRequest]) -> None:
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}/sms"
        self.requests = requests

    def url_with_login(self, user: str, password: str) -> str:
        """`url` with `user:password@`, percent-encoded."""
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return f"http://{credentials}@{self.host}:{self.port}/sms"


class _Behaviour:
    """What the gateway answers, shared by the request threads."""

    def __init__(self, replies: Mapping[str, Sequence[int]], auth: tuple[str, str] | None) -> None:
        self.requests: list[ReceivedRequest] = []
        self._planned = {number: list(statuses) for number, statuses in replies.items()}
        self._authorization = (
            None
            if auth is None
            else "Basic " + base64.b64encode(":".join(auth).encode("utf-8")).decode("ascii")
        )
        self._lock = threading.Lock()

    def answer(self, request: ReceivedRequest) -> tuple[int, dict[str, str]]:
        """Record `request`; the status and JSON body to answer it with."""
        with self._lock:
            self.requests.append(request)
            sequence = len(self.requests)
            if (
                self._authorization is not None
                and request.headers.get("authorization") != self._authorization
            ):
                return 401, {"error": "unauthorized"}
            number = request.body.get("to") if isinstance(request.body, dict) else None
            planned = self._planned.get(number) if isinstance(number, str) else None
            status = planned.pop(0) if planned else 200
        if 200 <= status <= 299:
            return status, {"id": f"gw-{sequence}"}
        return status, {"error": f"simulated {status} for {number}"}


class _GatewayHandler(BaseHTTPRequestHandler):
    def __init__(self, *args: Any, behaviour: _Behaviour, **kwargs: Any) -> None:
        self._behaviour = behaviour  # set before super().__init__, which handles the request
        super().__init__(*args, **kwargs)

    def do_POST(self) -> None:
        raw_body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            body = json.loads(raw_body.decode("utf-8"))
        except ValueError:
            body = None
        request = ReceivedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            raw_body=raw_body,
            body=body,
        )
        status, reply = self._behaviour.answer(request)
        encoded = json.dumps(reply, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows the test's own output, not an access log."""


@contextmanager
def sms_gateway(
    *,
    replies: Mapping[str, Sequence[int]] | None = None,
    auth: tuple[str, str] | None = None,
) -> Iterator[SmsGateway]:
    """Run a test SMS gateway on 127.0.0.1 for the duration of the `with` block."""
    behaviour = _Behaviour(replies or {}, auth)
    handler = functools.partial(_GatewayHandler, behaviour=behaviour)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll interval only makes shutdown() prompt (it waits for the next poll).
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sms-gateway", daemon=True
    )
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield SmsGateway(str(host), int(port), behaviour.requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
