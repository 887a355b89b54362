"""Fixtures shared by every tier. Test policy (STYLE.md):

- unit/: pure code, no broker, no database server, no network.
- integration/: real RabbitMQ (a fresh vhost per module) and real PostgreSQL (a fresh
  database per test); govnet processes started as subprocesses.
- e2e/: whole nodes started the way a user starts them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import infra  # noqa: E402


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    infra.stop_containers()


@pytest.fixture(scope="session")
def broker() -> infra.Broker:
    found = infra.broker()
    if isinstance(found, str):
        infra.unavailable(found)
    assert isinstance(found, infra.Broker)
    return found


@pytest.fixture(scope="module")
def vhost(broker: infra.Broker, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh RabbitMQ vhost for this test module."""
    label = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:20]
    with broker.vhost(label) as name:
        yield name


@pytest.fixture(scope="module")
def amqp_uri(broker: infra.Broker, vhost: str) -> str:
    return broker.uri_for(vhost)


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    try:
        return infra.postgres()
    except LookupError as exc:
        infra.unavailable(str(exc))
        raise


@pytest.fixture
def postgres_url(postgres_admin: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test."""
    with infra.fresh_database(postgres_admin, request.node.name[:16].replace("[", "_")) as url:
        yield url


@pytest.fixture(autouse=True)
def _no_govnet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never inherit a developer's GOVNET_* or OTEL_* settings."""
    for key in list(os.environ):
        if key.startswith(("GOVNET_", "OTEL_")):
            monkeypatch.delenv(key)
