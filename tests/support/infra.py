"""Real infrastructure for the tests: a RabbitMQ broker and a PostgreSQL server.

Where they come from, in order: a testcontainers container when a Docker engine answers;
else `GOVNET_TEST_AMQP_URI` / `GOVNET_TEST_DATABASE_URL`; else the local default servers.
Outside CI a missing service skips the tests that need it, with the reason; under
`CI=true` it fails them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

DEFAULT_AMQP = "amqp://guest:guest@localhost:5672/"
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/postgres"


def unavailable(reason: str) -> None:
    """Skip (or, under CI=true, fail) because a service the test needs is missing."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(reason)


@cache
def docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@dataclass(frozen=True)
class Broker:
    amqp_uri: str  # of the default vhost
    api: str  # management HTTP API base, e.g. http://localhost:15672/api
    user: str
    password: str

    def uri_for(self, vhost: str) -> str:
        parts = urllib.parse.urlsplit(self.amqp_uri)
        return urllib.parse.urlunsplit(
            parts._replace(path="/" + urllib.parse.quote(vhost, safe=""))
        )

    def request(self, method: str, path: str, body: object | None = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        token = f"{self.user}:{self.password}".encode()
        request.add_header("authorization", "Basic " + base64.b64encode(token).decode())
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    @contextlib.contextmanager
    def vhost(self, label: str) -> Iterator[str]:
        """A fresh vhost, removed afterwards (with everything declared in it)."""
        name = f"govnet-test-{label}-{uuid.uuid4().hex[:8]}"
        quoted = urllib.parse.quote(name, safe="")
        self.request("PUT", f"/vhosts/{quoted}", {})
        self.request(
            "PUT",
            f"/permissions/{quoted}/{urllib.parse.quote(self.user)}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
        try:
            yield name
        finally:
            with contextlib.suppress(urllib.error.URLError):
                self.request("DELETE", f"/vhosts/{quoted}")

    def queue(self, vhost: str, name: str) -> dict[str, object]:
        path = f"/queues/{urllib.parse.quote(vhost, safe='')}/{urllib.parse.quote(name, safe='')}"
        result = self.request("GET", path)
        assert isinstance(result, dict)
        return result


_containers: list[object] = []


@cache
def broker() -> Broker | str:
    """The broker, or a string saying why there is none."""
    if docker_answers():
        from testcontainers.rabbitmq import RabbitMqContainer

        container = RabbitMqContainer("rabbitmq:3.13-management")
        container.start()
        _containers.append(container)
        host = container.get_container_host_ip()
        amqp = f"amqp://guest:guest@{host}:{container.get_exposed_port(5672)}/"
        api = f"http://{host}:{container.get_exposed_port(15672)}/api"
        return Broker(amqp, api, "guest", "guest")
    uri = os.environ.get("GOVNET_TEST_AMQP_URI", DEFAULT_AMQP)
    parts = urllib.parse.urlsplit(uri)
    api = os.environ.get("GOVNET_TEST_RABBIT_API", f"http://{parts.hostname}:15672/api")
    found = Broker(uri, api, parts.username or "guest", parts.password or "guest")
    try:
        found.request("GET", "/overview")
    except (urllib.error.URLError, OSError) as exc:
        return (
            f"no RabbitMQ management API at {api} ({exc}); the tests need RabbitMQ with the "
            "rabbitmq_management plugin (`rabbitmq-plugins enable rabbitmq_management`)"
        )
    return found


@cache
def postgres() -> str:
    """A PostgreSQL URL to an admin database, or raises LookupError with the reason."""
    if docker_answers():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:16-alpine", driver="psycopg2")
        container.start()
        _containers.append(container)
        return str(container.get_connection_url())
    url = os.environ.get("GOVNET_TEST_DATABASE_URL", DEFAULT_DATABASE)
    import sqlalchemy

    from services.platform.store import with_driver

    try:
        engine = sqlalchemy.create_engine(with_driver(url))
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
        engine.dispose()
    except sqlalchemy.exc.OperationalError as exc:
        raise LookupError(f"no PostgreSQL at {url} ({str(exc).splitlines()[0]})") from None
    return url


@contextlib.contextmanager
def fresh_database(admin_url: str, label: str) -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    import sqlalchemy

    from services.platform.store import with_driver

    name = f"govnet_test_{label}_{uuid.uuid4().hex[:8]}".lower()
    admin = sqlalchemy.create_engine(with_driver(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield with_driver(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def stop_containers() -> None:
    for container in _containers:
        with contextlib.suppress(Exception):
            container.stop()  # type: ignore[attr-defined]


def connections(broker: Broker, vhost: str) -> list[dict[str, Any]]:
    """The client connections of `vhost` (the management API lists them a moment late)."""
    found = broker.request("GET", f"/vhosts/{urllib.parse.quote(vhost, safe='')}/connections")
    assert isinstance(found, list)
    return found


def close_connections(broker: Broker, vhost: str) -> int:
    """Force-close every client connection of `vhost`, as a broker restart would."""
    listed = connections(broker, vhost)
    for connection in listed:
        name = urllib.parse.quote(connection["name"], safe="")
        with contextlib.suppress(urllib.error.HTTPError):  # it may already be gone
            broker.request("DELETE", f"/connections/{name}")
    return len(listed)
