"""One settings object per process, built from the environment and an optional YAML file.

Every setting is declared once in `SETTINGS` with its variable, default and meaning; the
README's configuration table is generated from the same list (a test keeps them in step).
Precedence: environment variable > YAML file (`GOVNET_CONFIG`) > default. All problems are
reported at once, each naming the variable (or the YAML key and file) and the reason.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from services.contract.identifiers import IdentifierError
from services.contract.names import SERVICES
from services.platform.node import Division, UnknownDivision, division

CONFIG_ENV = "GOVNET_CONFIG"
AUDIT_KEY = "audit-ed25519.pem"
GRPC_PORT_OFFSETS = {name: offset for offset, name in enumerate(SERVICES)}


class SettingsError(ValueError):
    """Bad configuration. `problems` lists one line per bad value."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


# -- parsers: str -> value, raising ValueError with a reason ----------------------------


def _division(text: str) -> str:
    try:
        return division(text.strip()).code
    except (IdentifierError, UnknownDivision) as exc:
        raise ValueError(str(exc)) from None


def check_amqp_uri(text: str) -> str:
    """`text` if it is an amqp:// or amqps:// URI with a host (and a numeric port, if any);
    raises ValueError with the reason otherwise."""
    parts = urlsplit(text)
    if parts.scheme not in ("amqp", "amqps"):
        raise ValueError("must be an amqp:// or amqps:// URI")
    if not parts.hostname:
        raise ValueError("must name a host, e.g. amqp://guest:guest@localhost:5672/")
    try:
        parts.port  # noqa: B018 - raises ValueError for a non-numeric port
    except ValueError:
        raise ValueError("has a port that is not a number") from None
    return text


_URL_PLACEHOLDERS = ("service", "division", "var")


def unknown_placeholder(template: str, allowed: tuple[str, ...]) -> str | None:
    """The first `{name}` in `template` that is not one of `allowed` (an attribute or index
    form such as `{var.path}` or `{0}` counts as unknown), or None. Raises ValueError for a
    template `str.format` cannot read (an unmatched brace)."""
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None and name not in allowed:
            return name
    return None


def _database_url(text: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        unknown = unknown_placeholder(text, _URL_PLACEHOLDERS)
        if unknown is not None:
            raise KeyError(unknown)  # also {var.path}, {0}: format() would not say which
        probe = text.format(service="catalog", division="320000", var="var")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"has an unknown placeholder {exc}; use {{service}}, {{division}} or {{var}}"
        ) from None
    try:
        url = make_url(probe)
    except ArgumentError:
        raise ValueError("is not a database URL (sqlite:///path or postgresql://...)") from None
    except ValueError:  # SQLAlchemy's int() of the port
        raise ValueError("has a port that is not a number") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"backend {url.get_backend_name()} is not supported (sqlite, postgresql)")
    if url.get_backend_name() == "sqlite" and url.host:
        raise ValueError(
            "sqlite:// takes a path, not a host: sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db"
        )
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise ValueError("must name a file: a service's store outlives the process")
    return text


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("must be a number of seconds") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high} seconds")
        return value

    return parse


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number between 0 and 1") from None
    if not 0 < value <= 1:
        raise ValueError("must be a number between 0 and 1")
    return value


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "yes", "1", "on"):
        return True
    if value in ("false", "no", "0", "off"):
        return False
    raise ValueError("must be true or false")


def _file(what: str) -> Callable[[str], str]:
    """A file (`what`, e.g. "key file") that exists or can be made: it may not be a
    directory, nor lie below a file."""

    def parse(text: str) -> str:
        value = text.strip()
        if "\0" in value:
            raise ValueError("must be a file path")
        if value and _existing(Path(value)) == "directory":
            raise ValueError(f"is a directory; name the {what} itself")
        return value

    return parse


def _smtp_url(text: str) -> str:
    value = text.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("must be smtp:// or smtps:// (or empty to turn email off)")
    if not parts.hostname:
        raise ValueError("must name a host, e.g. smtp://mail.example:25")
    try:
        parts.port  # noqa: B018 - raises ValueError for a non-numeric port
    except ValueError:
        raise ValueError("has a port that is not a number") from None
    return value


def _http_url(text: str) -> str:
    value = text.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host (or empty)")
    try:
        parts.port  # noqa: B018
    except ValueError:
        raise ValueError("has a port that is not a number") from None
    return value


def _email_address(text: str) -> str:
    value = text.strip()
    local, at, domain = value.rpartition("<")[2].rstrip(">").partition("@")
    if not at or not local or not domain or " " in local or " " in domain:
        raise ValueError("must be an email address, e.g. noreply@gov.example")
    return value


_RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def _rate(text: str) -> tuple[int, int]:
    count, slash, unit = text.strip().partition("/")
    if not slash or not count.isdigit() or int(count) < 1 or unit not in _RATE_UNITS:
        raise ValueError("must be N/second, N/minute, N/hour or N/day with N >= 1")
    return int(count), _RATE_UNITS[unit]


def _quiet_hours(text: str) -> tuple[int, int] | None:
    value = text.strip()
    if not value:
        return None
    start, dash, end = value.partition("-")
    if not dash:
        raise ValueError("must be HH:MM-HH:MM, e.g. 22:00-08:00 (or empty for none)")
    minutes = []
    for part in (start, end):
        hours, colon, mins = part.strip().partition(":")
        if not (colon and hours.isdigit() and mins.isdigit() and len(mins) == 2):
            raise ValueError("must be HH:MM-HH:MM, e.g. 22:00-08:00 (or empty for none)")
        if int(hours) > 23 or int(mins) > 59:
            raise ValueError(f"{part.strip()} is not a time of day")
        minutes.append(int(hours) * 60 + int(mins))
    if minutes[0] == minutes[1]:
        raise ValueError("starts and ends at the same time")
    return minutes[0], minutes[1]


_HOST_NAME = re.compile(
    r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?", re.ASCII
)


def _host(text: str) -> str:
    """A host name, an IPv4 address or an IPv6 address (bare, or in brackets, which are
    dropped: `host_port` adds them where an address needs them)."""
    value = text.strip()
    if value.startswith("[") and value.endswith("]") and _is_ip(value[1:-1], version=6):
        return value[1:-1]
    if _is_ip(value) or _is_host_name(value):
        return value
    host, colon, port = value.rpartition(":")
    if colon and port.isdigit():
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if _is_ip(host) or _is_host_name(host):
            raise ValueError(
                "must not include a port: give the host alone and the first port in "
                "GOVNET_GRPC_PORT_BASE"
            )
    raise ValueError("must be a host name or address")


def _is_host_name(text: str) -> bool:
    # An all-digit last label is a mistyped IPv4 address (999.1.2.3), not a name.
    last = text.rstrip(".").rpartition(".")[2]
    return bool(_HOST_NAME.fullmatch(text)) and len(text) <= 253 and not last.isdigit()


def _is_ip(text: str, version: int | None = None) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return version is None or address.version == version


def host_port(host: str, port: int) -> str:
    """`host:port`, an IPv6 address in brackets (`[::1]:50051`) so the port stays apart."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _directory(text: str) -> str:
    """A directory that exists or can be made: neither it nor any parent may be a file."""
    if "\0" in text:
        raise ValueError("must be a directory path")
    if _existing(Path(text)) == "file":
        raise ValueError("is a file, not a directory")
    return text


def _existing(path: Path) -> str | None:
    """What `path` is now: "directory", "file" (anything else that exists) or None when it
    does not exist yet but could be made. Raises ValueError with the reason when a parent is
    a file, or when the path cannot be looked at (too long a name, a parent this user may
    not enter)."""
    for candidate in (path, *path.parents):
        try:
            is_dir = candidate.is_dir()
            if not is_dir and not candidate.exists():
                continue
        except OSError as exc:
            where = "cannot be used" if candidate == path else f"cannot look at {candidate}"
            raise ValueError(f"{where} ({exc.strerror})") from None
        if candidate == path:
            return "directory" if is_dir else "file"
        if not is_dir:
            raise ValueError(f"{candidate} is a file, not a directory")
        return None
    return None


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    parse: Callable[[str], Any]
    default: str
    help: str

    @property
    def secret(self) -> bool:
        """URLs may carry a password; it is never printed."""
        return self.name.endswith(("_uri", "_url"))


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "division",
        "GOVNET_DIVISION",
        _division,
        "320000",
        "The node's GB/T 2260 division code; level and parent are derived from it.",
    ),
    Setting(
        "amqp_uri",
        "GOVNET_AMQP_URI",
        check_amqp_uri,
        "amqp://guest:guest@localhost:5672/",
        "The node's RabbitMQ (its own vhost or broker).",
    ),
    Setting(
        "var_dir",
        "GOVNET_VAR",
        _directory,
        "var",
        "Directory for SQLite stores, keys and run files (`<var>/<division>/`).",
    ),
    Setting(
        "database_url",
        "GOVNET_DATABASE_URL",
        _database_url,
        "sqlite:///{var}/{division}/{service}.db",
        "Store URL template; `{service}`, `{division}`, `{var}` are filled in. "
        "Per service: `GOVNET_<SERVICE>_DATABASE_URL`.",
    ),
    *(
        Setting(
            f"{service}_database_url",
            f"GOVNET_{service.upper()}_DATABASE_URL",
            _database_url,
            "",
            f"Store URL of the {service} service (overrides the template).",
        )
        for service in SERVICES
    ),
    Setting(
        "grpc_host",
        "GOVNET_GRPC_HOST",
        _host,
        "127.0.0.1",
        "Address the gRPC APIs listen on: a host name or an IPv4 or IPv6 address (`0.0.0.0` or "
        "`::` for all), without a port (see `GOVNET_GRPC_PORT_BASE`).",
    ),
    Setting(
        "grpc_port_base",
        "GOVNET_GRPC_PORT_BASE",
        _int_range(1024, 65531),
        "50051",
        "First gRPC port: catalog +0, applications +1, notifications +2, audit +3.",
    ),
    Setting(
        "grpc_workers",
        "GOVNET_GRPC_WORKERS",
        _int_range(1, 256),
        "16",
        "Threads serving gRPC calls in each API process.",
    ),
    Setting(
        "relay_interval",
        "GOVNET_RELAY_INTERVAL",
        _seconds(0.01, 60),
        "1.0",
        "How often the outbox relay looks for unsent events it was not woken for.",
    ),
    Setting(
        "relay_batch",
        "GOVNET_RELAY_BATCH",
        _int_range(1, 10000),
        "500",
        "Most events the relay publishes per confirm round.",
    ),
    Setting(
        "prefetch",
        "GOVNET_PREFETCH",
        _int_range(1, 10000),
        "50",
        "Unacknowledged messages a worker consumer holds at once.",
    ),
    Setting(
        "delivery_limit",
        "GOVNET_DELIVERY_LIMIT",
        _int_range(1, 1000),
        "10",
        "Deliveries of a message whose handler keeps failing before it is dead-lettered "
        "to govnet.rejected.",
    ),
    Setting(
        "shutdown_grace",
        "GOVNET_SHUTDOWN_GRACE",
        _seconds(0, 300),
        "5",
        "Seconds in-flight work gets to finish on SIGTERM.",
    ),
    Setting(
        "warning_days",
        "GOVNET_WARNING_DAYS",
        _int_range(0, 60),
        "2",
        "Electronic supervision: a yellow warning when this few working days are left …",
    ),
    Setting(
        "warning_share",
        "GOVNET_WARNING_SHARE",
        _share,
        "0.8",
        "… or when this share of the promised period is used (local policy).",
    ),
    Setting(
        "evaluate_at_acceptance",
        "GOVNET_EVALUATE_AT_ACCEPTANCE",
        _boolean,
        "false",
        "Whether applicants may evaluate (好差评) once a case is accepted, not only concluded.",
    ),
    Setting(
        "supervision_interval",
        "GOVNET_SUPERVISION_INTERVAL",
        _seconds(1, 3600),
        "60",
        "How often the applications worker runs electronic supervision over open cases.",
    ),
    Setting(
        "rabbit_admin_url",
        "GOVNET_RABBIT_ADMIN_URL",
        _http_url,
        "http://guest:guest@localhost:15672",
        "RabbitMQ's management API, for `govnet region` (links, backlogs, definitions).",
    ),
    Setting(
        "uplink",
        "GOVNET_UPLINK",
        _boolean,
        "true",
        "Whether a city or county node keeps what goes up to its parent in the `govnet.up` "
        "queue for the shovel; `false` for one running on its own.",
    ),
    Setting(
        "consume_batch",
        "GOVNET_CONSUME_BATCH",
        _int_range(1, 5000),
        "200",
        "Most events a batch consumer (notifications) applies in one transaction.",
    ),
    Setting(
        "audit_batch",
        "GOVNET_AUDIT_BATCH",
        _int_range(1, 5000),
        "500",
        "Most events the audit worker appends in one transaction (its queue prefetch is "
        "twice this).",
    ),
    Setting(
        "checkpoint_interval",
        "GOVNET_CHECKPOINT_INTERVAL",
        _seconds(1, 86400),
        "60",
        "How often audit signs a checkpoint of its log, if the log grew.",
    ),
    Setting(
        "checkpoint_every",
        "GOVNET_CHECKPOINT_EVERY",
        _int_range(1, 10_000_000),
        "10000",
        "Audit also signs a checkpoint after this many new entries, whatever the time.",
    ),
    Setting(
        "audit_key_file",
        "GOVNET_AUDIT_KEY_FILE",
        _file("key file"),
        "",
        "The audit log's Ed25519 signing key (PEM, made on first start); empty for "
        "`<var>/<division>/audit-ed25519.pem`.",
    ),
    Setting(
        "templates_file",
        "GOVNET_TEMPLATES",
        _file("templates file"),
        "",
        "Notification templates (YAML, checked against the event schemas at start); empty for "
        "the built-in `services/notifications/templates/notifications.yaml`.",
    ),
    Setting(
        "smtp_url",
        "GOVNET_SMTP_URL",
        _smtp_url,
        "",
        "Email channel: `smtp://[user:password@]host[:port][?starttls=true]` or `smtps://…`; "
        "empty turns email off.",
    ),
    Setting(
        "email_from",
        "GOVNET_EMAIL_FROM",
        _email_address,
        "govnet@localhost",
        "The sender address of notification emails.",
    ),
    Setting(
        "sms_gateway_url",
        "GOVNET_SMS_GATEWAY_URL",
        _http_url,
        "",
        "SMS channel: the gateway's `http(s)://` URL (protocol in docs/notifications.md); "
        "empty turns SMS off.",
    ),
    Setting(
        "delivery_attempts",
        "GOVNET_DELIVERY_ATTEMPTS",
        _int_range(1, 100),
        "6",
        "Tries of an email or SMS before it is dead-lettered (temporary failures only).",
    ),
    Setting(
        "retry_base",
        "GOVNET_RETRY_BASE",
        _seconds(0.01, 3600),
        "30",
        "Wait before the first retry; it doubles with each further try …",
    ),
    Setting(
        "retry_max",
        "GOVNET_RETRY_MAX",
        _seconds(0.01, 86400),
        "3600",
        "… up to this.",
    ),
    Setting(
        "rate_limit_sms",
        "GOVNET_RATE_LIMIT_SMS",
        _rate,
        "5/hour",
        "Most SMS per recipient in a window (`N/second|minute|hour|day`); more are deferred.",
    ),
    Setting(
        "rate_limit_email",
        "GOVNET_RATE_LIMIT_EMAIL",
        _rate,
        "30/hour",
        "Most emails per recipient in a window; more are deferred, never dropped.",
    ),
    Setting(
        "sms_quiet_hours",
        "GOVNET_SMS_QUIET_HOURS",
        _quiet_hours,
        "22:00-08:00",
        "China Standard Time span in which SMS wait for its end; empty for none.",
    ),
    Setting(
        "invitation_days",
        "GOVNET_INVITATION_DAYS",
        _int_range(0, 60),
        "3",
        "Days after conclusion when an unrated case's applicant is invited to evaluate.",
    ),
    Setting(
        "rectify_days",
        "GOVNET_RECTIFY_DAYS",
        _int_range(1, 60),
        "5",
        "Working days a department has to rectify a bad review before it is escalated.",
    ),
    Setting(
        "follow_up_interval",
        "GOVNET_FOLLOW_UP_INTERVAL",
        _seconds(1, 3600),
        "60",
        "How often notifications looks for invitations and rectifications that are due.",
    ),
    Setting(
        "delivery_interval",
        "GOVNET_DELIVERY_INTERVAL",
        _seconds(0.01, 60),
        "1.0",
        "How often the delivery loop looks for due emails and SMS it was not woken for.",
    ),
    Setting(
        "log_level",
        "GOVNET_LOG_LEVEL",
        _choice("debug", "info", "warning", "error"),
        "info",
        "Log level.",
    ),
    Setting(
        "log_format",
        "GOVNET_LOG_FORMAT",
        _choice("auto", "text", "json"),
        "auto",
        "`json` (one object per line), `text`, or `auto` (text on a terminal, else json).",
    ),
    Setting(
        "seed",
        "GOVNET_SEED",
        _choice("sample", "province", "none"),
        "sample",
        "Catalog loaded into an empty store at start: `sample` (a few real-looking items), "
        "`province` (the seed-scale synthetic catalog, ~160,000 records) or `none`.",
    ),
)
_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    division: str
    amqp_uri: str
    var_dir: str
    database_url: str
    catalog_database_url: str
    applications_database_url: str
    notifications_database_url: str
    audit_database_url: str
    grpc_host: str
    grpc_port_base: int
    grpc_workers: int
    relay_interval: float
    relay_batch: int
    prefetch: int
    delivery_limit: int
    shutdown_grace: float
    warning_days: int
    warning_share: float
    evaluate_at_acceptance: bool
    supervision_interval: float
    rabbit_admin_url: str
    uplink: bool
    consume_batch: int
    audit_batch: int
    checkpoint_interval: float
    checkpoint_every: int
    audit_key_file: str
    templates_file: str
    smtp_url: str
    email_from: str
    sms_gateway_url: str
    delivery_attempts: int
    retry_base: float
    retry_max: float
    rate_limit_sms: tuple[int, int]
    rate_limit_email: tuple[int, int]
    sms_quiet_hours: tuple[int, int] | None
    invitation_days: int
    rectify_days: int
    follow_up_interval: float
    delivery_interval: float
    log_level: str
    log_format: str
    seed: str
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Where each value came from: `environment`, the YAML path, or `default`."""
    texts: Mapping[str, str] = field(default_factory=dict, compare=False)
    """The text each value was read from (what a child process is given back)."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build and validate settings; raise `SettingsError` listing every bad value."""
        env = os.environ if environ is None else environ
        problems: list[str] = []
        raw: dict[str, tuple[str, str]] = {s.name: (s.default, "default") for s in SETTINGS}

        config_path = env.get(CONFIG_ENV)
        if config_path:
            for name, value in _read_yaml(config_path, problems).items():
                raw[name] = (value, config_path)
        for setting in SETTINGS:
            if setting.env in env:
                raw[setting.name] = (env[setting.env], "environment")

        values: dict[str, Any] = {}
        for setting in SETTINGS:
            text, origin = raw[setting.name]
            if text == "" and setting.default == "":
                values[setting.name] = ""
                continue
            try:
                values[setting.name] = setting.parse(text)
            except ValueError as exc:
                where = setting.env if origin != config_path else f"{setting.name} in {origin}"
                shown = redact_uri(text) if setting.secret else text
                problems.append(f"{where}={shown!r}: {exc}")
        problems += _cross_field_problems(values, raw, config_path)
        if problems:
            raise SettingsError(problems)
        return cls(
            **values,
            sources={name: origin for name, (_, origin) in raw.items()},
            texts={name: text for name, (text, _) in raw.items()},
        )

    # -- derived values --------------------------------------------------------------

    @property
    def node(self) -> Division:
        return division(self.division)

    @property
    def node_dir(self) -> Path:
        return Path(self.var_dir) / self.division

    def database_url_for(self, service: str) -> str:
        own = getattr(self, f"{service}_database_url")
        return _store_url(own or self.database_url, service, self.division, self.var_dir)

    @property
    def audit_key_path(self) -> Path:
        return Path(self.audit_key_file) if self.audit_key_file else self.node_dir / AUDIT_KEY

    def grpc_address(self, service: str) -> str:
        return host_port(self.grpc_host, self.grpc_port_base + GRPC_PORT_OFFSETS[service])

    @property
    def amqp_uri_redacted(self) -> str:
        return redact_uri(self.amqp_uri)

    def to_environment(self) -> dict[str, str]:
        """The variables that rebuild these settings in a child process."""
        return {s.env: self.texts.get(s.name, str(getattr(self, s.name))) for s in SETTINGS}


def _cross_field_problems(
    values: Mapping[str, Any], raw: Mapping[str, tuple[str, str]], config_path: str | None
) -> list[str]:
    """Problems of settings that are each valid but do not fit together; a pair is checked
    only when both of its values are (each one's own problem is reported already)."""

    def named(name: str) -> str:
        text, origin = raw[name]
        where = _BY_NAME[name].env if origin != config_path else f"{name} in {origin}"
        shown = redact_uri(text) if _BY_NAME[name].secret else text
        return f"{where}={shown!r}"

    problems = []
    base, cap = values.get("retry_base"), values.get("retry_max")
    if base is not None and cap is not None and base > cap:
        problems.append(
            f"{named('retry_base')} is more than {named('retry_max')}: the first retry would "
            "wait longer than the longest wait; lower the first or raise the second"
        )
    problems += _shared_store_problems(values, named)
    return problems


def _store_url(template: str, service: str, division: str, var_dir: str) -> str:
    url = template.format(service=service, division=division, var=var_dir)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        # A relative SQLite path is relative to the working directory; make it explicit.
        url = "sqlite:///" + str(Path(url.removeprefix("sqlite:///")).resolve())
    return url


def _shared_store_problems(values: Mapping[str, Any], named: Callable[[str], str]) -> list[str]:
    """Services whose store URLs come out the same. They would share the platform tables:
    one service's processed events would be skipped by the others as already applied."""
    if any(values.get(name) is None for name in ("division", "var_dir", "database_url")):
        return []
    by_url: dict[str, list[str]] = {}
    used: dict[str, list[str]] = {}
    for service in SERVICES:
        own = values.get(f"{service}_database_url")
        if own is None:
            return []  # its own problem is reported already
        name = f"{service}_database_url" if own else "database_url"
        url = _store_url(values[name], service, values["division"], values["var_dir"])
        by_url.setdefault(url, []).append(service)
        if name not in used.setdefault(url, []):
            used[url].append(name)
    problems = []
    for url, services in by_url.items():
        if len(services) < 2:
            continue
        names = sorted(used[url], key=list(_BY_NAME).index)
        fix = "put {service} in it" if names == ["database_url"] else "give each service its own"
        problems.append(
            f"{' and '.join(named(n) for n in names)} give{'s' if len(names) == 1 else ''} "
            f"{_and(services)} one store, but services never share a database (each would "
            f"take the others' events as already processed): {fix}"
        )
    return problems


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def redact_uri(uri: str) -> str:
    """`uri` with its password replaced by `***` (unchanged if it has none or is not a URI)."""
    try:
        parts = urlsplit(uri)
        password = parts.password
    except ValueError:
        return uri
    if password is None:
        return uri
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _read_yaml(path: str, problems: list[str]) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle)
    except OSError as exc:
        problems.append(f"{CONFIG_ENV}={path!r}: cannot read the file ({exc.strerror})")
        return {}
    except yaml.YAMLError as exc:
        problems.append(f"{CONFIG_ENV}={path!r}: not valid YAML ({exc})")
        return {}
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        problems.append(f"{CONFIG_ENV}={path!r}: must be a mapping of setting names to values")
        return {}
    out: dict[str, str] = {}
    for key, value in loaded.items():
        if key not in _BY_NAME:
            close = difflib.get_close_matches(str(key), list(_BY_NAME), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{key} in {path}: unknown setting{hint}")
            continue
        if isinstance(value, dict | list) or value is None:
            problems.append(f"{key} in {path}: must be a single value")
            continue
        out[key] = str(value)
    return out


def settings_table() -> str:
    """The Markdown configuration table for the README."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "—"
        lines.append(f"| `{s.env}` | {default} | {s.help} |")
    return "\n".join(lines)
