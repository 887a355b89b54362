"""Settings: defaults, YAML and environment precedence, and error reports a person can act on.

Every test passes `environ=` explicitly, so the developer's own environment never leaks in.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.platform.settings import (
    CONFIG_ENV,
    SETTINGS,
    Settings,
    SettingsError,
    redact_uri,
    settings_table,
)

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TABLE_START = "<!-- settings-table -->"
TABLE_END = "<!-- /settings-table -->"


def problems(environ: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as info:
        Settings.from_environment(environ=environ)
    assert str(info.value) == "invalid configuration:\n  " + "\n  ".join(info.value.problems)
    return info.value.problems


def yaml_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "govnet.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- defaults and precedence --------------------------------------------------------------


def test_an_empty_environment_gives_the_defaults() -> None:
    settings = Settings.from_environment(environ={})

    assert settings == Settings(
        division="320000",
        amqp_uri="amqp://guest:guest@localhost:5672/",
        var_dir="var",
        database_url="sqlite:///{var}/{division}/{service}.db",
        catalog_database_url="",
        applications_database_url="",
        notifications_database_url="",
        audit_database_url="",
        grpc_host="127.0.0.1",
        grpc_port_base=50051,
        grpc_workers=16,
        relay_interval=1.0,
        relay_batch=500,
        prefetch=50,
        delivery_limit=10,
        shutdown_grace=5.0,
        warning_days=2,
        warning_share=0.8,
        evaluate_at_acceptance=False,
        supervision_interval=60.0,
        rabbit_admin_url="http://guest:guest@localhost:15672",
        uplink=True,
        consume_batch=200,
        audit_batch=500,
        checkpoint_interval=60.0,
        checkpoint_every=10000,
        audit_key_file="",
        templates_file="",
        smtp_url="",
        email_from="govnet@localhost",
        sms_gateway_url="",
        delivery_attempts=6,
        retry_base=30.0,
        retry_max=3600.0,
        rate_limit_sms=(5, 3600),
        rate_limit_email=(30, 3600),
        sms_quiet_hours=(22 * 60, 8 * 60),
        invitation_days=3,
        rectify_days=5,
        follow_up_interval=60.0,
        delivery_interval=1.0,
        log_level="info",
        log_format="auto",
        seed="sample",
    )
    assert set(settings.sources.values()) == {"default"}
    assert settings.node.name == "江苏省"


def test_every_setting_has_a_field_and_a_govnet_variable() -> None:
    settings = Settings.from_environment(environ={})

    for setting in SETTINGS:
        assert hasattr(settings, setting.name)
        assert setting.env.startswith("GOVNET_")
        assert setting.help.strip()


def test_environment_values_are_parsed_into_their_types() -> None:
    settings = Settings.from_environment(
        environ={
            "GOVNET_DIVISION": " 320102 ",
            "GOVNET_GRPC_PORT_BASE": "6000",
            "GOVNET_RELAY_INTERVAL": "0.25",
            "GOVNET_LOG_LEVEL": "DEBUG",
        }
    )

    assert settings.division == "320102"
    assert settings.node.name == "玄武区"
    assert settings.grpc_port_base == 6000
    assert settings.relay_interval == 0.25
    assert settings.log_level == "debug"
    assert settings.sources["division"] == "environment"
    assert settings.sources["prefetch"] == "default"


def test_the_environment_overrides_yaml_which_overrides_the_defaults(tmp_path: Path) -> None:
    config = yaml_file(tmp_path, "division: 320102\nprefetch: 20\nlog_format: json\n")

    settings = Settings.from_environment(environ={CONFIG_ENV: config, "GOVNET_PREFETCH": "5"})

    assert settings.division == "320102"  # YAML over default
    assert settings.log_format == "json"
    assert settings.prefetch == 5  # environment over YAML
    assert settings.relay_batch == 500  # default
    assert settings.sources["division"] == config
    assert settings.sources["prefetch"] == "environment"
    assert settings.sources["relay_batch"] == "default"


def test_an_empty_yaml_file_changes_nothing(tmp_path: Path) -> None:
    config = yaml_file(tmp_path, "# nothing here yet\n")

    assert Settings.from_environment(environ={CONFIG_ENV: config}) == Settings.from_environment(
        environ={}
    )


def test_an_empty_config_variable_means_no_yaml_file() -> None:
    assert Settings.from_environment(environ={CONFIG_ENV: ""}).division == "320000"


# -- bad values ---------------------------------------------------------------------------


def test_every_bad_environment_value_is_reported_at_once_naming_its_variable() -> None:
    reported = problems(
        {
            "GOVNET_DIVISION": "999999",
            "GOVNET_AMQP_URI": "http://localhost:5672/",
            "GOVNET_DATABASE_URL": "mysql://db/govnet",
            "GOVNET_GRPC_HOST": "my host",
            "GOVNET_GRPC_PORT_BASE": "abc",
            "GOVNET_GRPC_WORKERS": "0",
            "GOVNET_RELAY_INTERVAL": "fast",
            "GOVNET_SHUTDOWN_GRACE": "301",
            "GOVNET_LOG_LEVEL": "trace",
            "GOVNET_LOG_FORMAT": "xml",
            "GOVNET_SEED": "all",
        }
    )

    assert reported == [
        "GOVNET_DIVISION='999999': division 999999 is not a GB/T 2260 province prefix (99)",
        "GOVNET_AMQP_URI='http://localhost:5672/': must be an amqp:// or amqps:// URI",
        "GOVNET_DATABASE_URL='mysql://db/govnet': backend mysql is not supported "
        "(sqlite, postgresql)",
        "GOVNET_GRPC_HOST='my host': must be a host name or address",
        "GOVNET_GRPC_PORT_BASE='abc': must be a whole number",
        "GOVNET_GRPC_WORKERS='0': must be between 1 and 256",
        "GOVNET_RELAY_INTERVAL='fast': must be a number of seconds",
        "GOVNET_SHUTDOWN_GRACE='301': must be between 0 and 300 seconds",
        "GOVNET_LOG_LEVEL='trace': must be one of debug, info, warning, error",
        "GOVNET_LOG_FORMAT='xml': must be one of auto, text, json",
        "GOVNET_SEED='all': must be one of sample, province, none",
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            "320199",
            "320199 is a well-formed GB/T 2260 code but not a division in "
            "services/platform/data/divisions.csv (it holds the 110 Jiangsu divisions of 2017)",
        ),
        ("3201", "must be 6 digits, got 4 characters"),
        ("", "must be 6 digits, got 0 characters"),
    ],
)
def test_a_division_that_is_not_in_the_list_is_refused(value: str, reason: str) -> None:
    assert problems({"GOVNET_DIVISION": value}) == [f"GOVNET_DIVISION={value!r}: {reason}"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("amqp://", "must name a host, e.g. amqp://guest:guest@localhost:5672/"),
        ("amqps://mq.example:tls/", "has a port that is not a number"),
    ],
)
def test_an_amqp_uri_without_a_usable_host_or_port_is_refused(value: str, reason: str) -> None:
    assert problems({"GOVNET_AMQP_URI": value}) == [f"GOVNET_AMQP_URI={value!r}: {reason}"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1023", "must be between 1024 and 65531"),
        ("65532", "must be between 1024 and 65531"),
        ("50051.5", "must be a whole number"),
    ],
)
def test_a_grpc_port_base_outside_the_usable_range_is_refused(value: str, reason: str) -> None:
    assert problems({"GOVNET_GRPC_PORT_BASE": value}) == [
        f"GOVNET_GRPC_PORT_BASE={value!r}: {reason}"
    ]


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("GOVNET_AUDIT_BATCH", "0", "must be between 1 and 5000"),
        ("GOVNET_CHECKPOINT_INTERVAL", "0.5", "must be between 1 and 86400 seconds"),
        ("GOVNET_CHECKPOINT_EVERY", "many", "must be a whole number"),
    ],
)
def test_bad_audit_settings_are_refused(variable: str, value: str, reason: str) -> None:
    assert problems({variable: value}) == [f"{variable}={value!r}: {reason}"]


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        (
            "GOVNET_SMTP_URL",
            "http://mail",
            "must be smtp:// or smtps:// (or empty to turn email off)",
        ),
        ("GOVNET_SMTP_URL", "smtp://", "must name a host, e.g. smtp://mail.example:25"),
        (
            "GOVNET_SMS_GATEWAY_URL",
            "ftp://gw",
            "must be an http:// or https:// URL with a host (or empty)",
        ),
        ("GOVNET_EMAIL_FROM", "nobody", "must be an email address, e.g. noreply@gov.example"),
        (
            "GOVNET_RATE_LIMIT_SMS",
            "5 per hour",
            "must be N/second, N/minute, N/hour or N/day with N >= 1",
        ),
        (
            "GOVNET_RATE_LIMIT_EMAIL",
            "0/hour",
            "must be N/second, N/minute, N/hour or N/day with N >= 1",
        ),
        (
            "GOVNET_SMS_QUIET_HOURS",
            "22-08",
            "must be HH:MM-HH:MM, e.g. 22:00-08:00 (or empty for none)",
        ),
        ("GOVNET_SMS_QUIET_HOURS", "25:00-08:00", "25:00 is not a time of day"),
        ("GOVNET_DELIVERY_ATTEMPTS", "0", "must be between 1 and 100"),
    ],
)
def test_bad_notification_settings_are_refused(variable: str, value: str, reason: str) -> None:
    assert problems({variable: value}) == [f"{variable}={value!r}: {reason}"]


def test_a_first_retry_wait_longer_than_the_longest_wait_is_refused_naming_both() -> None:
    assert problems({"GOVNET_RETRY_BASE": "100", "GOVNET_RETRY_MAX": "1"}) == [
        "GOVNET_RETRY_BASE='100' is more than GOVNET_RETRY_MAX='1': the first retry would "
        "wait longer than the longest wait; lower the first or raise the second"
    ]


def test_retry_waits_from_yaml_that_do_not_fit_together_name_the_keys(tmp_path: Path) -> None:
    config = yaml_file(tmp_path, "retry_base: 600\n")

    assert problems({CONFIG_ENV: config, "GOVNET_RETRY_MAX": "300"}) == [
        f"retry_base in {config}='600' is more than GOVNET_RETRY_MAX='300': the first retry "
        "would wait longer than the longest wait; lower the first or raise the second"
    ]


def test_a_first_retry_wait_equal_to_the_longest_wait_is_accepted() -> None:
    settings = Settings.from_environment({"GOVNET_RETRY_BASE": "60", "GOVNET_RETRY_MAX": "60"})

    assert (settings.retry_base, settings.retry_max) == (60.0, 60.0)


def test_a_bad_retry_wait_is_reported_once_not_also_as_a_mismatch() -> None:
    assert problems({"GOVNET_RETRY_BASE": "soon", "GOVNET_RETRY_MAX": "1"}) == [
        "GOVNET_RETRY_BASE='soon': must be a number of seconds"
    ]


def test_settings_given_to_a_child_process_read_back_the_same() -> None:
    settings = Settings.from_environment(
        {"GOVNET_RATE_LIMIT_SMS": "3/minute", "GOVNET_SMS_QUIET_HOURS": "", "GOVNET_PREFETCH": "7"}
    )

    again = Settings.from_environment(settings.to_environment())

    assert again == settings
    assert (again.rate_limit_sms, again.sms_quiet_hours, again.prefetch) == ((3, 60), None, 7)


def test_an_audit_key_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    assert problems({"GOVNET_AUDIT_KEY_FILE": str(tmp_path)}) == [
        f"GOVNET_AUDIT_KEY_FILE={str(tmp_path)!r}: is a directory; name the key file itself"
    ]


def test_a_templates_file_that_is_a_directory_is_refused_naming_the_templates_file(
    tmp_path: Path,
) -> None:
    assert problems({"GOVNET_TEMPLATES": str(tmp_path)}) == [
        f"GOVNET_TEMPLATES={str(tmp_path)!r}: is a directory; name the templates file itself"
    ]


@pytest.mark.parametrize("variable", ["GOVNET_AUDIT_KEY_FILE", "GOVNET_TEMPLATES"])
@pytest.mark.parametrize("below", ["audit.pem", "keys/audit.pem"])
def test_a_file_setting_below_a_file_is_refused_naming_the_file(
    tmp_path: Path, variable: str, below: str
) -> None:
    existing = tmp_path / "govnet"
    existing.write_text("")
    value = str(existing / below)

    assert problems({variable: value}) == [
        f"{variable}={value!r}: {existing} is a file, not a directory"
    ]


@pytest.mark.parametrize("variable", ["GOVNET_AUDIT_KEY_FILE", "GOVNET_TEMPLATES"])
@pytest.mark.parametrize("below", ["", "audit.pem"])
def test_a_file_setting_that_cannot_be_looked_at_is_refused_with_the_reason(
    tmp_path: Path, variable: str, below: str
) -> None:
    too_long = str(tmp_path / ("k" * 300) / below)

    assert problems({variable: too_long}) == [
        f"{variable}={too_long!r}: cannot be used (File name too long)"
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may look into any directory")
def test_an_audit_key_file_in_a_directory_this_user_may_not_enter_is_refused(
    tmp_path: Path,
) -> None:
    locked = tmp_path / "keys"
    locked.mkdir(mode=0o000)
    value = str(locked / "audit.pem")
    try:
        assert problems({"GOVNET_AUDIT_KEY_FILE": value}) == [
            f"GOVNET_AUDIT_KEY_FILE={value!r}: cannot be used (Permission denied)"
        ]
    finally:
        locked.chmod(0o700)  # so pytest can remove it


def test_an_audit_key_file_that_does_not_exist_yet_is_accepted(tmp_path: Path) -> None:
    value = str(tmp_path / "new" / "keys" / "audit.pem")

    settings = Settings.from_environment(environ={"GOVNET_AUDIT_KEY_FILE": value})

    assert settings.audit_key_path == tmp_path / "new" / "keys" / "audit.pem"


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("0.0.0.0", "0.0.0.0:50051"),
        ("::", "[::]:50051"),
        ("::1", "[::1]:50051"),
        ("[::1]", "[::1]:50051"),
        ("fe80::1%eth0", "[fe80::1%eth0]:50051"),
        ("localhost", "localhost:50051"),
        ("api.govnet-320102.svc.cluster.local", "api.govnet-320102.svc.cluster.local:50051"),
    ],
)
def test_a_grpc_host_may_be_an_ipv4_or_ipv6_address_or_a_host_name(
    value: str, address: str
) -> None:
    settings = Settings.from_environment(environ={"GOVNET_GRPC_HOST": value})

    assert settings.grpc_address("catalog") == address


@pytest.mark.parametrize("value", ["127.0.0.1:50051", "localhost:50051", "[::1]:50051", "[::]:0"])
def test_a_grpc_host_with_a_port_is_refused_pointing_at_the_port_setting(value: str) -> None:
    assert problems({"GOVNET_GRPC_HOST": value}) == [
        f"GOVNET_GRPC_HOST={value!r}: must not include a port: give the host alone and the "
        "first port in GOVNET_GRPC_PORT_BASE"
    ]


@pytest.mark.parametrize(
    "value",
    ["", "my host", "http://localhost", "[localhost]", "-api", "api..local", "1:2:3", "999.1.2.3"],
)
def test_a_grpc_host_that_is_no_host_name_or_address_is_refused(value: str) -> None:
    assert problems({"GOVNET_GRPC_HOST": value}) == [
        f"GOVNET_GRPC_HOST={value!r}: must be a host name or address"
    ]


def test_a_grpc_host_with_a_port_in_yaml_names_the_key_and_the_file(tmp_path: Path) -> None:
    config = yaml_file(tmp_path, "grpc_host: 0.0.0.0:50051\n")

    assert problems({CONFIG_ENV: config}) == [
        f"grpc_host in {config}='0.0.0.0:50051': must not include a port: give the host alone "
        "and the first port in GOVNET_GRPC_PORT_BASE"
    ]


def test_a_var_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    existing = tmp_path / "var"
    existing.write_text("")

    assert problems({"GOVNET_VAR": str(existing)}) == [
        f"GOVNET_VAR={str(existing)!r}: is a file, not a directory"
    ]


def test_a_var_directory_below_a_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    existing = tmp_path / "var"
    existing.write_text("")

    assert problems({"GOVNET_VAR": str(existing / "govnet")}) == [
        f"GOVNET_VAR={str(existing / 'govnet')!r}: {existing} is a file, not a directory"
    ]


def test_a_var_directory_that_cannot_be_looked_at_is_refused_with_the_reason(
    tmp_path: Path,
) -> None:
    too_long = str(tmp_path / ("v" * 300))

    assert problems({"GOVNET_VAR": too_long}) == [
        f"GOVNET_VAR={too_long!r}: cannot be used (File name too long)"
    ]


def test_a_var_directory_that_does_not_exist_yet_is_accepted(tmp_path: Path) -> None:
    settings = Settings.from_environment(environ={"GOVNET_VAR": str(tmp_path / "new" / "var")})

    assert settings.node_dir == tmp_path / "new" / "var" / "320000"


def test_the_audit_key_lives_under_the_node_directory_unless_named() -> None:
    default = Settings.from_environment(environ={"GOVNET_VAR": "/srv/govnet"})
    named = Settings.from_environment(environ={"GOVNET_AUDIT_KEY_FILE": "/etc/govnet/audit.pem"})

    assert default.audit_key_path == Path("/srv/govnet/320000/audit-ed25519.pem")
    assert named.audit_key_path == Path("/etc/govnet/audit.pem")


def test_a_per_service_database_url_is_checked_too() -> None:
    assert problems({"GOVNET_AUDIT_DATABASE_URL": "not a url"}) == [
        "GOVNET_AUDIT_DATABASE_URL='not a url': is not a database URL "
        "(sqlite:///path or postgresql://...)"
    ]


def test_a_bad_yaml_value_names_the_key_and_the_file(tmp_path: Path) -> None:
    config = yaml_file(tmp_path, "division: 999999\nprefetch: lots\n")

    assert problems({CONFIG_ENV: config}) == [
        f"division in {config}='999999': division 999999 is not a GB/T 2260 province prefix (99)",
        f"prefetch in {config}='lots': must be a whole number",
    ]


def test_a_bad_environment_value_overriding_yaml_names_the_variable(tmp_path: Path) -> None:
    config = yaml_file(tmp_path, "prefetch: 20\n")

    assert problems({CONFIG_ENV: config, "GOVNET_PREFETCH": "many"}) == [
        "GOVNET_PREFETCH='many': must be a whole number"
    ]


def test_an_unknown_yaml_key_suggests_the_close_match(tmp_path: Path) -> None:
    config = yaml_file(tmp_path, "divison: 320102\n")

    assert problems({CONFIG_ENV: config}) == [
        f"divison in {config}: unknown setting (did you mean 'division'?)"
    ]


def test_an_unknown_yaml_key_with_no_close_match_gets_no_suggestion(tmp_path: Path) -> None:
    config = yaml_file(tmp_path, "colour: blue\n")

    assert problems({CONFIG_ENV: config}) == [f"colour in {config}: unknown setting"]


@pytest.mark.parametrize("value", ["[1, 2]", "{a: 1}", "null"])
def test_a_yaml_value_that_is_not_a_single_value_is_refused(tmp_path: Path, value: str) -> None:
    config = yaml_file(tmp_path, f"prefetch: {value}\n")

    assert problems({CONFIG_ENV: config}) == [f"prefetch in {config}: must be a single value"]


def test_yaml_problems_and_environment_problems_are_reported_together(tmp_path: Path) -> None:
    config = yaml_file(tmp_path, "divison: 320102\n")

    assert problems({CONFIG_ENV: config, "GOVNET_SEED": "all"}) == [
        f"divison in {config}: unknown setting (did you mean 'division'?)",
        "GOVNET_SEED='all': must be one of sample, province, none",
    ]


def test_an_unreadable_yaml_file_is_reported(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.yaml")

    assert problems({CONFIG_ENV: missing}) == [
        f"{CONFIG_ENV}={missing!r}: cannot read the file (No such file or directory)"
    ]


def test_a_yaml_file_that_is_not_a_mapping_is_reported(tmp_path: Path) -> None:
    config = yaml_file(tmp_path, "- division\n- 320102\n")

    assert problems({CONFIG_ENV: config}) == [
        f"{CONFIG_ENV}={config!r}: must be a mapping of setting names to values"
    ]


def test_a_file_that_is_not_yaml_is_reported(tmp_path: Path) -> None:
    config = yaml_file(tmp_path, "division: [320102\n")

    (problem,) = problems({CONFIG_ENV: config})
    assert problem.startswith(f"{CONFIG_ENV}={config!r}: not valid YAML (")


# -- derived values -----------------------------------------------------------------------


def test_database_url_for_fills_the_template_and_makes_a_relative_sqlite_path_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_environment(environ={"GOVNET_DIVISION": "320102"})

    assert settings.database_url_for("catalog") == (
        f"sqlite:///{tmp_path.resolve()}/var/320102/catalog.db"
    )


def test_database_url_for_keeps_an_absolute_sqlite_path(tmp_path: Path) -> None:
    settings = Settings.from_environment(
        environ={"GOVNET_VAR": str(tmp_path), "GOVNET_DIVISION": "320100"}
    )

    assert settings.database_url_for("audit") == f"sqlite:///{tmp_path}/320100/audit.db"


def test_a_per_service_database_url_overrides_the_template() -> None:
    settings = Settings.from_environment(
        environ={
            "GOVNET_DATABASE_URL": "postgresql://govnet@db/{division}_{service}",
            "GOVNET_AUDIT_DATABASE_URL": "postgresql://auditor@audit-db/audit",
        }
    )

    assert settings.database_url_for("catalog") == "postgresql://govnet@db/320000_catalog"
    assert settings.database_url_for("audit") == "postgresql://auditor@audit-db/audit"


def test_grpc_addresses_are_the_base_port_plus_each_services_offset() -> None:
    settings = Settings.from_environment(
        environ={"GOVNET_GRPC_HOST": "0.0.0.0", "GOVNET_GRPC_PORT_BASE": "7000"}
    )

    assert [
        settings.grpc_address(s) for s in ("catalog", "applications", "notifications", "audit")
    ] == [
        "0.0.0.0:7000",
        "0.0.0.0:7001",
        "0.0.0.0:7002",
        "0.0.0.0:7003",
    ]


def test_the_highest_port_base_leaves_room_for_every_service() -> None:
    settings = Settings.from_environment(environ={"GOVNET_GRPC_PORT_BASE": "65531"})

    assert settings.grpc_address("audit") == "127.0.0.1:65534"


def test_node_dir_is_the_var_directory_of_the_division() -> None:
    settings = Settings.from_environment(
        environ={"GOVNET_VAR": "/srv/govnet", "GOVNET_DIVISION": "320102"}
    )

    assert settings.node_dir == Path("/srv/govnet/320102")


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("amqp://govnet:s3cret@mq.js.gov:5672/320102", "amqp://govnet:***@mq.js.gov:5672/320102"),
        ("amqps://guest:guest@guest:5671/", "amqps://guest:***@guest:5671/"),
        ("amqp://mq.js.gov:5672/", "amqp://mq.js.gov:5672/"),
        ("postgresql://govnet:p%40ss@db/govnet", "postgresql://govnet:***@db/govnet"),
    ],
)
def test_redact_uri_hides_the_password_and_nothing_else(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


def test_amqp_uri_redacted_hides_the_password() -> None:
    settings = Settings.from_environment(
        environ={"GOVNET_AMQP_URI": "amqp://govnet:s3cret@mq:5672/"}
    )

    assert settings.amqp_uri_redacted == "amqp://govnet:***@mq:5672/"


def test_to_environment_rebuilds_the_same_settings(tmp_path: Path) -> None:
    config = yaml_file(tmp_path, "relay_interval: 0.5\nshutdown_grace: 2\n")
    settings = Settings.from_environment(
        environ={
            CONFIG_ENV: config,
            "GOVNET_DIVISION": "320102",
            "GOVNET_AUDIT_DATABASE_URL": "postgresql://auditor@audit-db/audit",
            "GOVNET_LOG_FORMAT": "json",
        }
    )

    environment = settings.to_environment()

    assert set(environment) == {s.env for s in SETTINGS}
    assert Settings.from_environment(environ=environment) == settings


# -- the README's table -------------------------------------------------------------------


def test_the_settings_table_has_one_row_per_setting() -> None:
    lines = settings_table().splitlines()

    assert lines[:2] == ["| variable | default | meaning |", "|---|---|---|"]
    assert [line.split(" | ")[0] for line in lines[2:]] == [f"| `{s.env}`" for s in SETTINGS]
    assert "| `GOVNET_CATALOG_DATABASE_URL` | — |" in settings_table()


def test_the_readme_configuration_table_is_generated_from_the_settings() -> None:
    if not README.is_file():
        pytest.skip("README.md does not exist yet")
    lines = README.read_text("utf-8").splitlines()
    if TABLE_START not in lines or TABLE_END not in lines:
        pytest.skip(f"README.md has no {TABLE_START} ... {TABLE_END} markers yet")
    start = lines.index(TABLE_START) + 1
    end = lines.index(TABLE_END, start)

    assert "\n".join(lines[start:end]) == settings_table(), (
        "README.md's configuration table is out of date: replace the lines between the "
        "markers with the output of `.venv/bin/govnet config table`"
    )


def test_a_bad_uri_is_reported_without_its_password() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_environment({"GOVNET_AMQP_URI": "amqp://govnet:s3cret@mq:56x2/"})
    assert info.value.problems == [
        "GOVNET_AMQP_URI='amqp://govnet:***@mq:56x2/': has a port that is not a number"
    ]
    assert "s3cret" not in str(info.value)


def test_a_misspelt_placeholder_in_the_database_template_is_named() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_environment({"GOVNET_DATABASE_URL": "sqlite:///{var}/{divison}/{service}.db"})
    assert info.value.problems == [
        "GOVNET_DATABASE_URL='sqlite:///{var}/{divison}/{service}.db': has an unknown "
        "placeholder 'divison'; use {service}, {division} or {var}"
    ]


def test_an_in_memory_sqlite_store_is_refused() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_environment({"GOVNET_AUDIT_DATABASE_URL": "sqlite:///:memory:"})
    assert info.value.problems == [
        "GOVNET_AUDIT_DATABASE_URL='sqlite:///:memory:': must name a file: a service's store "
        "outlives the process"
    ]
