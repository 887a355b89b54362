"""deploy/ uses the names and settings the code defines (no Docker engine needed)."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.contract.names import SERVICES
from services.platform.settings import SETTINGS, Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_runs_a_worker_and_an_api_for_every_service() -> None:
    services = compose()["services"]
    for service in SERVICES:
        assert services[f"{service}-worker"]["command"] == ["worker", service]
        assert services[f"{service}-api"]["command"] == ["api", service]
    assert services["init"]["command"] == ["node", "init"]


def test_compose_sets_only_real_settings_and_they_validate() -> None:
    known = {s.env for s in SETTINGS}
    for name, service in compose()["services"].items():
        environment = service.get("environment", {})
        if name in ("rabbitmq", "postgres"):
            continue
        assert set(environment) <= known, f"{name} sets unknown variables"
        resolved = {
            k: str(v).replace("${GOVNET_DIVISION:-320000}", "320000")
            for k, v in environment.items()
        }
        settings = Settings.from_environment(resolved)
        assert (
            settings.database_url_for("audit")
            == "postgresql://govnet:govnet@postgres:5432/govnet_audit"
        )


def test_the_postgres_init_script_creates_the_database_of_every_service() -> None:
    script = (DEPLOY / "postgres" / "init.sql").read_text(encoding="utf-8")
    for service in SERVICES:
        assert f"CREATE DATABASE govnet_{service};" in script


def test_the_broker_has_the_plugins_regions_need() -> None:
    plugins = (DEPLOY / "rabbitmq" / "enabled_plugins").read_text(encoding="utf-8")
    for plugin in ("rabbitmq_management", "rabbitmq_federation", "rabbitmq_shovel"):
        assert plugin in plugins
