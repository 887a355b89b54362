"""A small client of RabbitMQ's management HTTP API: import a node's definitions, and read
what operators watch between nodes — links (federation, shovels) and backlogs."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from services.platform.errors import Unavailable


class ManagementError(Unavailable):
    """The management API refused a request; `status` is its HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Admin:
    url: str
    """The management API base, e.g. `http://guest:guest@localhost:15672` (credentials in it)."""

    def request(self, method: str, path: str, body: object | None = None) -> Any:
        parts = urllib.parse.urlsplit(self.url)
        base = urllib.parse.urlunsplit(
            parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
        ).rstrip("/")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{base}/api{path}", data=data, method=method)
        request.add_header("content-type", "application/json")
        user = urllib.parse.unquote(parts.username or "guest")
        password = urllib.parse.unquote(parts.password or "guest")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise ManagementError(
                f"the management API answered {exc.code} to {method} {path}: {detail}", exc.code
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise Unavailable(
                f"no RabbitMQ management API at {base} ({getattr(exc, 'reason', exc)}); enable "
                "it with `rabbitmq-plugins enable rabbitmq_management`"
            ) from None
        return json.loads(text) if text else None

    def import_definitions(self, definitions: dict[str, Any]) -> None:
        """Merge definitions into the broker (vhosts, topology, policies, links)."""
        self.request("POST", "/definitions", definitions)

    def delete_vhost(self, vhost: str) -> None:
        """Delete a vhost and everything in it; nothing happens if there is none."""
        try:
            self.request("DELETE", f"/vhosts/{_quote(vhost)}")
        except ManagementError as exc:
            if exc.status != 404:
                raise

    def plugins_missing(self) -> list[str]:
        """Which of the plugins the links need the broker lacks (each answers an endpoint)."""
        missing = []
        for plugin, path in (
            ("rabbitmq_federation_management", "/federation-links"),
            ("rabbitmq_shovel_management", "/shovels"),
        ):
            try:
                self.request("GET", path)
            except ManagementError as exc:  # unreachable is not "missing": that is raised
                if exc.status != 404:
                    raise
                missing.append(plugin)
        return missing

    def federation_links(self, vhost: str) -> list[dict[str, Any]]:
        return list(self.request("GET", f"/federation-links/{_quote(vhost)}") or [])

    def shovels(self, vhost: str) -> list[dict[str, Any]]:
        return list(self.request("GET", f"/shovels/{_quote(vhost)}") or [])

    def queue(self, vhost: str, name: str) -> dict[str, Any] | None:
        try:
            found = self.request("GET", f"/queues/{_quote(vhost)}/{_quote(name)}")
        except ManagementError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(found)

    def delete_shovel(self, vhost: str, name: str) -> None:
        self.request("DELETE", f"/parameters/shovel/{_quote(vhost)}/{_quote(name)}")

    def put_parameter(self, component: str, vhost: str, name: str, value: Any) -> None:
        self.request(
            "PUT",
            f"/parameters/{component}/{_quote(vhost)}/{_quote(name)}",
            {"component": component, "vhost": vhost, "name": name, "value": value},
        )


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")
