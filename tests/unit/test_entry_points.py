"""Bad input at the platform's entry points — settings, the `govnet` command, the region
planner — is refused up front, in one line naming the setting or option and the reason: never
a traceback after the work is done, never a configuration that quietly does something else.

Every settings test passes `environ=` explicitly, so the developer's own environment never
leaks in.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from services.cli import cli
from services.platform.regions import plan_region
from services.platform.settings import Settings, SettingsError

ENV = {"GOVNET_CONFIG": "", "GOVNET_DIVISION": "320000"}


def problems(environ: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as info:
        Settings.from_environment(environ=environ)
    return info.value.problems


# -- services never share a store --------------------------------------------------------


@pytest.mark.parametrize(
    "template", ["sqlite:///srv/govnet/{division}.db", "postgresql://govnet@db/govnet"]
)
def test_a_database_template_without_service_is_refused_as_a_shared_store(template: str) -> None:
    assert problems({"GOVNET_DATABASE_URL": template}) == [
        f"GOVNET_DATABASE_URL={template!r} gives catalog, applications, notifications and "
        "audit one store, but services never share a database (each would take the others' "
        "events as already processed): put {service} in it"
    ]


def test_a_per_service_url_naming_anothers_store_is_refused_naming_both() -> None:
    assert problems(
        {
            "GOVNET_DATABASE_URL": "sqlite:///srv/{division}/{service}.db",
            "GOVNET_AUDIT_DATABASE_URL": "sqlite:///srv/{division}/catalog.db",
        }
    ) == [
        "GOVNET_DATABASE_URL='sqlite:///srv/{division}/{service}.db' and "
        "GOVNET_AUDIT_DATABASE_URL='sqlite:///srv/{division}/catalog.db' give catalog and "
        "audit one store, but services never share a database (each would take the others' "
        "events as already processed): give each service its own"
    ]


def test_a_shared_store_is_reported_without_its_password() -> None:
    (problem,) = problems(
        {
            "GOVNET_APPLICATIONS_DATABASE_URL": "postgresql://govnet:s3cret@db/cases",
            "GOVNET_NOTIFICATIONS_DATABASE_URL": "postgresql://govnet:s3cret@db/cases",
        }
    )
    assert problem == (
        "GOVNET_APPLICATIONS_DATABASE_URL='postgresql://govnet:***@db/cases' and "
        "GOVNET_NOTIFICATIONS_DATABASE_URL='postgresql://govnet:***@db/cases' give "
        "applications and notifications one store, but services never share a database (each "
        "would take the others' events as already processed): give each service its own"
    )


def test_per_service_stores_that_differ_are_accepted() -> None:
    settings = Settings.from_environment(
        environ={
            "GOVNET_DATABASE_URL": "postgresql://govnet@db/node",
            "GOVNET_CATALOG_DATABASE_URL": "postgresql://govnet@db/catalog",
            "GOVNET_APPLICATIONS_DATABASE_URL": "postgresql://govnet@db/applications",
            "GOVNET_NOTIFICATIONS_DATABASE_URL": "postgresql://govnet@db/notifications",
            "GOVNET_AUDIT_DATABASE_URL": "postgresql://govnet@db/audit",
        }
    )

    assert settings.database_url_for("audit") == "postgresql://govnet@db/audit"


def test_a_bad_database_template_is_reported_once_not_also_as_shared() -> None:
    assert problems({"GOVNET_DATABASE_URL": "mysql://db/govnet"}) == [
        "GOVNET_DATABASE_URL='mysql://db/govnet': backend mysql is not supported "
        "(sqlite, postgresql)"
    ]


# -- database URLs with a typo -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            "sqlite://var/{service}.db",
            "sqlite:// takes a path, not a host: sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db",
        ),
        ("postgresql://govnet@db:54x2/{service}", "has a port that is not a number"),
        (
            "sqlite:///{var.path}/{service}.db",
            "has an unknown placeholder 'var.path'; use {service}, {division} or {var}",
        ),
    ],
)
def test_a_database_url_with_a_typo_is_refused_at_start(value: str, reason: str) -> None:
    assert problems({"GOVNET_DATABASE_URL": value}) == [f"GOVNET_DATABASE_URL={value!r}: {reason}"]


# -- files the commands write ------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["deploy", "definitions", "--out", "{missing}/definitions.json"],
        ["catalog", "generate", "--scale", "small", "--out", "{missing}/catalog.jsonl"],
        ["catalog", "export", "--out", "{missing}/catalog.jsonl"],
    ],
)
def test_an_output_file_in_a_missing_directory_is_refused_before_any_work(
    args: list[str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir"
    argv = [a.format(missing=missing) for a in args]

    result = CliRunner().invoke(cli, argv, env=ENV | {"GOVNET_VAR": str(tmp_path)})

    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '--out': {str(missing)!r} does not exist: "
        "make the directory first"
    )
    assert not (tmp_path / "320000").exists()


def test_an_errors_file_in_a_missing_directory_is_refused_before_the_import(
    tmp_path: Path,
) -> None:
    source = tmp_path / "local.jsonl"
    source.write_text("", encoding="utf-8")
    missing = tmp_path / "no-such-dir"

    result = CliRunner().invoke(
        cli,
        ["catalog", "import", str(source), "--errors", str(missing / "rejected.csv")],
        env=ENV | {"GOVNET_VAR": str(tmp_path)},
    )

    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '--errors': {str(missing)!r} does not exist: "
        "make the directory first"
    )
    assert not (tmp_path / "320000").exists()


def test_an_output_file_in_the_working_directory_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(cli, ["deploy", "definitions", "--out", "definitions.json"])

    assert result.exit_code == 0, result.output
    assert (tmp_path / "definitions.json").is_file()


# -- region templates --------------------------------------------------------------------


def refused(message: str) -> pytest.RaisesExc[ValueError]:
    return pytest.raises(ValueError, match="^" + re.escape(message) + "$")


def test_a_vhost_template_without_division_is_refused_as_one_vhost_for_every_node() -> None:
    with refused(
        "the vhost template 'govnet' gives 320000 and 320100 the same vhost 'govnet' "
        "(their events would loop): put {division} in it"
    ):
        plan_region("320000", vhost_template="govnet", only=["320000", "320100"])


def test_a_vhost_template_with_a_misspelt_placeholder_is_named() -> None:
    with refused(
        "the vhost template 'govnet-{divison}' has an unknown placeholder {divison}; use {division}"
    ):
        plan_region("320000", vhost_template="govnet-{divison}")


def test_a_uri_template_with_a_misspelt_placeholder_is_named() -> None:
    with refused(
        "the URI template 'amqp://mq/{vhost}-{divsion}' has an unknown placeholder "
        "{divsion}; use {vhost} or {division}"
    ):
        plan_region("320000", uri_template="amqp://mq/{vhost}-{divsion}")


def test_a_broker_per_node_may_use_the_same_vhost_name() -> None:
    plans = plan_region(
        "320000",
        uri_template="amqp://mq-{division}.example/{vhost}",
        vhost_template="govnet",
        only=["320000", "320100"],
    )

    assert [p.uri for p in plans] == [
        "amqp://mq-320000.example/govnet",
        "amqp://mq-320100.example/govnet",
    ]


def test_deploy_topology_refuses_a_shared_vhost_naming_the_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["deploy", "topology", "--vhost-template", "govnet", "--out", str(tmp_path / "out")],
        env={"GOVNET_CONFIG": ""},
    )

    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "govnet: the vhost template 'govnet' gives 320000 and 320100 the same vhost "
        "'govnet' (their events would loop): put {division} in it\n"
    )
    assert not (tmp_path / "out").exists()
