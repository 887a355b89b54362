"""The `govnet` command.

Imports are made inside each command: `govnet worker` must apply eventlet's monkey patch
before anything that opens sockets or threads is imported, and the rest should start fast.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:  # the command imports what it needs when it runs
    from services.platform.supervisor import Supervisor

BROKER_HINT = (
    "start one with `sudo apt install rabbitmq-server` (Debian/Ubuntu) or "
    "`docker compose -f deploy/compose.yaml up -d rabbitmq`, "
    "or point GOVNET_AMQP_URI at yours"
)


class OutFile(click.Path):
    """A file the command writes: refused before any work if its directory is missing or not
    writable (else the command would fail with a traceback once the work is done)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import os
        from pathlib import Path

        path = super().convert(value, param, ctx)
        directory = Path(os.fsdecode(path)).parent
        if not directory.is_dir():
            reason = "is not a directory" if directory.exists() else "does not exist"
            self.fail(f"{str(directory)!r} {reason}: make the directory first", param, ctx)
        if not os.access(directory, os.W_OK | os.X_OK):
            self.fail(f"cannot write in {str(directory)!r} (permission denied)", param, ctx)
        return path


def fail(message: str, status: int = 1) -> NoReturn:
    click.echo(f"govnet: {message}", err=True)
    sys.exit(status)


def load_settings() -> Any:
    from services.platform.settings import Settings, SettingsError

    try:
        return Settings.from_environment()
    except SettingsError as exc:
        fail(str(exc), 2)


def parse_services(names: tuple[str, ...]) -> list[str]:
    from services.contract.names import SERVICES

    if not names or names == ("all",):
        return list(SERVICES)
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        fail(f"unknown service {unknown[0]!r}: choose from {', '.join(SERVICES)} or all", 2)
    return list(dict.fromkeys(names))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """govnet: one network of government services (catalog, applications, notifications,
    audit) over RabbitMQ events and gRPC."""


# -- identifiers ------------------------------------------------------------------------


@cli.group("id")
def id_group() -> None:
    """Check identifiers: resident ID, credit code, division, item codes."""


@id_group.command("check")
@click.argument("value")
def id_check(value: str) -> None:
    """Say which kind VALUE is, whether it is valid, and why not. Exit 1 if invalid."""
    from services.contract.identifiers import identify

    found = identify(value)
    verdict = "valid" if found.valid else "invalid"
    click.echo(f"{found.kind}: {verdict}" + (f": {found.reason}" if found.reason else ""))
    for key, part in found.parts.items():
        click.echo(f"  {key:<22} {part}")
    if found.kind == "division" and found.valid:
        from services.platform.node import divisions

        known = divisions().get(found.value)
        click.echo(
            f"  {'name':<22} {known.name} ({known.name_en})"
            if known
            else "  note: well-formed, but not one of the divisions this project holds "
            "(services/platform/data/divisions.csv, 2017); no node can run as it"
        )
    sys.exit(0 if found.valid else 1)


# -- events -----------------------------------------------------------------------------


@cli.group()
def events() -> None:
    """The event contract: types and their JSON Schema."""


@events.command("types")
def events_types() -> None:
    """List every registered event type and version."""
    from services.contract.schemas import default_registry

    for spec in default_registry():
        where = "  (ingress)" if spec.ingress else ""
        click.echo(f"{spec.type:<24} v{spec.major}  {spec.description}{where}")


@events.command("schema")
@click.argument("event_type", required=False)
@click.option("--major", type=int, help="Major version (default: the latest).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write every schema here.")
def events_schema(event_type: str | None, major: int | None, out_dir: str | None) -> None:
    """Print the JSON Schema of EVENT_TYPE (envelope and payload), or write all with --out."""
    from pathlib import Path

    from services.contract.errors import ContractError
    from services.contract.export import event_schema, export_all, render
    from services.contract.schemas import default_registry

    registry = default_registry()
    if out_dir:
        for path in export_all(registry, Path(out_dir)):
            click.echo(str(path))
        return
    if not event_type:
        fail(f"name an event type ({', '.join(registry.types())}) or use --out DIR", 2)
    try:
        spec = registry.get(event_type, major) if major else registry.latest(event_type)
    except ContractError as exc:
        fail(str(exc), 2)
    click.echo(render(event_schema(spec)), nl=False)


# -- configuration ------------------------------------------------------------------------


@cli.group()
def config() -> None:
    """Show the effective configuration."""


@config.command("show")
def config_show() -> None:
    """Print every setting, its value and where it came from (passwords hidden)."""
    from services.platform.settings import SETTINGS, redact_uri

    settings = load_settings()
    for setting in SETTINGS:
        value = settings.texts.get(setting.name, str(getattr(settings, setting.name)))
        if setting.secret:
            value = redact_uri(value)
        click.echo(f"{setting.env:<34} {value:<44} ({settings.sources[setting.name]})")


@config.command("table")
def config_table() -> None:
    """Print the configuration table (Markdown) that the README shows."""
    from services.platform.settings import settings_table

    click.echo(settings_table())


# -- running a node ----------------------------------------------------------------------


@cli.group()
def node() -> None:
    """Run a whole node."""


@node.command("init")
def node_init() -> None:
    """Declare the broker topology, create the stores and load the catalog seed."""
    settings = load_settings()
    _require_broker(settings)
    _require_audit_key(settings)
    from services.node import init_node

    seeded = init_node(settings)
    click.echo(f"node {settings.division} initialised; seeded: {seeded or 'nothing'}")


@node.command("run")
@click.option(
    "--combined",
    is_flag=True,
    help="All four workers in one process and all four APIs in another (a quiet node).",
)
def node_run(combined: bool) -> None:
    """Start every process of a node and keep them running until Ctrl-C or SIGTERM."""
    import os

    from services.node import init_node, node_children
    from services.platform.supervisor import Supervisor

    settings = load_settings()
    _require_broker(settings)
    audit_key = _require_audit_key(settings)
    _require_templates(settings)
    seeded = init_node(settings)
    division = settings.node
    children = node_children(settings, combined=combined)
    supervisor = Supervisor(
        children, env=dict(os.environ) | settings.to_environment(), grace=settings.shutdown_grace
    )
    from services.contract.names import SERVICES

    def running() -> None:
        click.echo(f"\ngovnet node {division.code} {division.name} ({division.level}) is running")
        for service in SERVICES:
            click.echo(f"  {service:<14} gRPC {settings.grpc_address(service)}")
        click.echo(f"  broker         {settings.amqp_uri_redacted}")
        click.echo(f"  stores         {settings.node_dir}/  (seeded: {seeded or 'nothing new'})")
        click.echo(f"  audit key      {audit_key}")
        click.echo("Try it: .venv/bin/govnet demo    Stop: Ctrl-C\n")

    supervise(supervisor, f"node {division}", running, what="node")


def supervise(
    supervisor: Supervisor, starting: str, running: Callable[[], None], *, what: str
) -> NoReturn:
    """Start the supervisor's processes, call `running()` once all are ready, and keep them
    until Ctrl-C or SIGTERM, or until one exits on its own (then stop the rest). Prints how
    each process exited and exits 0 only if every one stopped cleanly when asked to."""
    import signal
    import time

    from services.platform.supervisor import StartFailed

    stopping = False

    def on_signal(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    click.echo(f"starting {starting} with {len(supervisor.children)} processes …")
    try:
        supervisor.start()
    except StartFailed as exc:
        fail(str(exc))
    running()
    sys.stdout.flush()
    exited = None
    while not stopping and exited is None:
        exited = supervisor.first_exit()
        time.sleep(0.2)
    if exited is not None:
        click.echo(
            f"govnet: {exited.name} exited with status {exited.returncode}; stopping the {what}",
            err=True,
        )
    click.echo("\nstopping …")
    codes = supervisor.stop()
    width = max(len(name) for name in codes) + 2
    for name, code in codes.items():
        click.echo(f"  {name:<{width}} exited {code}")
    if exited is not None:
        sys.exit(1)
    bad = [name for name, code in codes.items() if code != 0]
    if bad:
        fail(f"{len(bad)} process(es) did not stop cleanly")
    click.echo(f"{what} stopped")
    sys.exit(0)


@cli.command()
@click.argument("services", nargs=-1)
def worker(services: tuple[str, ...]) -> None:
    """Run the nameko worker of SERVICES (default: all) until SIGTERM."""
    from services.platform.supervisor import die_with_supervisor

    die_with_supervisor()
    settings = load_settings()
    chosen = parse_services(services)
    _require_broker(settings)
    if "audit" in chosen:
        _require_audit_key(settings)
    if "notifications" in chosen:
        _require_templates(settings)
    from services.node import run_worker

    sys.exit(run_worker(chosen, settings))


@cli.command()
@click.argument("services", nargs=-1)
def api(services: tuple[str, ...]) -> None:
    """Serve the gRPC API of SERVICES (default: all) until SIGTERM."""
    from services.platform.supervisor import die_with_supervisor

    die_with_supervisor()
    settings = load_settings()
    chosen = parse_services(services)
    _require_broker(settings)
    if "notifications" in chosen:
        _require_templates(settings)
    from services.node import run_api

    sys.exit(run_api(chosen, settings))


def _require_templates(settings: Any) -> None:
    """Stop with every problem of the notification templates, before anything starts."""
    from pathlib import Path

    from services.contract.schemas import default_registry
    from services.notifications.templates import TemplateError, load_templates

    path = Path(settings.templates_file) if settings.templates_file else None
    try:
        load_templates(path, default_registry())
    except TemplateError as exc:
        fail(str(exc), 2)


def _require_audit_key(settings: Any) -> str:
    """The node's audit verifier key, making the key on first start; one clear line naming
    the setting if the key file cannot be used."""
    from services.audit.notes import NoteError
    from services.node import node_audit_key

    try:
        return node_audit_key(settings)
    except (NoteError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fail(f"GOVNET_AUDIT_KEY_FILE={str(settings.audit_key_path)!r}: {reason}", 2)


def _require_broker(settings: Any) -> None:
    from services.platform.amqp import broker_problem

    problem = broker_problem(settings.amqp_uri)
    if problem:
        fail(f"{problem}; {BROKER_HINT}")


# -- trying it out -----------------------------------------------------------------------


@cli.command()
@click.option("--timeout", default=20.0, show_default=True, help="Seconds to wait for results.")
def demo(timeout: float) -> None:
    """Submit an application to the running node and show what audit and the applicant's
    inbox got. Exit 0 only if both arrived; else say why in one line on stderr and exit 1."""
    from services.client import run_demo

    settings = load_settings()
    with _node_errors("demo"):
        status = run_demo(settings, timeout=timeout, echo=click.echo)
    sys.exit(status)


# -- catalog -------------------------------------------------------------------------------


@cli.group()
def catalog() -> None:
    """The catalog: generate, import, export, search, conformance."""


@catalog.command("generate")
@click.option(
    "--scale",
    type=click.Choice(["small", "province", "local"]),
    default="province",
    show_default=True,
    help="province: the seed article's figures; local: one "
    "division's implementations of the provincial standards.",
)
@click.option("--division", help="For --scale local: a city or county code.")
@click.option(
    "--seed", "seed_number", default=2017, show_default=True, help="Same seed, same file."
)
@click.option(
    "--deviation-rate",
    default=0.05,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="For --scale local: share deviating from 三级四同.",
)
@click.option(
    "--out",
    "out_file",
    required=True,
    type=OutFile(),
    help="A .jsonl or .csv file (add .gz to compress).",
)
def catalog_generate(
    scale: str, division: str | None, seed_number: int, deviation_rate: float, out_file: str
) -> None:
    """Write a realistic synthetic catalog."""
    from pathlib import Path

    from services.catalog.generator import expected_counts, generate
    from services.catalog.records import Writer, file_format
    from services.node import progress_bar

    path = Path(out_file)
    try:
        file_format(path)
        counts = expected_counts(scale, division)
    except ValueError as exc:
        fail(str(exc), 2)
    total = sum(n for k, n in counts.items() if k != "deviations")
    with Writer(path) as writer, progress_bar(total, "generating") as advance:
        for record in generate(
            scale, seed_number, division=division, deviation_rate=deviation_rate
        ):
            writer.write(record)
            advance(1)
    parts = ", ".join(f"{n:,} {k}" for k, n in counts.items())
    click.echo(f"wrote {writer.count:,} records to {path} ({parts})")


@catalog.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--errors",
    "errors_file",
    type=OutFile(),
    help="Also write every rejected line (line, field, reason) to this CSV file.",
)
@click.option(
    "--encoding",
    type=click.Choice(["auto", "utf-8", "gb18030"]),
    default="auto",
    show_default=True,
    help="auto: UTF-8, else GB18030 (GBK) when the whole file is that.",
)
def catalog_import(file: str, errors_file: str | None, encoding: str) -> None:
    """Import a catalog file (.jsonl or .csv) into this node's catalog. Exit 1 if any line
    was rejected (the good ones are imported) or the file stops being readable part-way (the
    lines before are imported); exit 2 if it cannot be read at all."""
    import csv
    from pathlib import Path

    from services.catalog.importer import import_file
    from services.catalog.records import file_format, inspect
    from services.node import open_store, progress_bar

    path = Path(file)
    try:
        file_format(path)
        info = inspect(path, None if encoding == "auto" else encoding)
    except (ValueError, OSError) as exc:  # records.FileError is a ValueError
        fail(str(exc), 2)
    if encoding == "auto" and info.encoding != "utf-8":
        click.echo(f"{path} is not UTF-8: reading it as {info.encoding.upper()}")
    settings = load_settings()
    store = open_store(settings, "catalog")
    with progress_bar(info.lines, f"importing {path.name}") as advance:
        report = import_file(store, path, encoding=info.encoding, progress=advance)
    store.db.dispose()
    for number, field_name, reason in report.rejected[:50]:
        click.echo(f"line {number}: {field_name + ': ' if field_name else ''}{reason}")
    if len(report.rejected) > 50:
        click.echo(
            f"… and {len(report.rejected) - 50} more rejected lines"
            + ("" if errors_file else " (--errors FILE lists them all)")
        )
    if errors_file:
        with open(errors_file, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "field", "reason"])
            writer.writerows(report.rejected)
    click.echo(report.summary())
    if report.stopped:
        kept = "the lines before it were imported" if report.lines else "nothing was imported"
        fail(f"{report.stopped}; {kept}")
    sys.exit(1 if report.rejected else 0)


@catalog.command("export")
@click.option(
    "--out",
    "out_file",
    required=True,
    type=OutFile(),
    help="A .jsonl or .csv file (add .gz to compress).",
)
def catalog_export(out_file: str) -> None:
    """Write this node's whole catalog in the import format."""
    from pathlib import Path

    from services.catalog.importer import export_file
    from services.catalog.records import file_format
    from services.node import open_store, progress_bar

    path = Path(out_file)
    try:
        file_format(path)
    except ValueError as exc:
        fail(str(exc), 2)
    store = open_store(load_settings(), "catalog")
    with progress_bar(None, f"exporting to {path.name}") as advance:
        count = export_file(store, path, progress=advance)
    store.db.dispose()
    click.echo(f"wrote {count:,} records to {path}")


@catalog.command("search")
@click.argument("text", required=False, default="")
@click.option("--department", default="", help="Implementing department (USCC).")
@click.option("--type", "type_code", default="", help="National type code, e.g. 01.")
@click.option("--level", default="", type=click.Choice(["", "province", "city", "county"]))
@click.option("--division", default="", help="6-digit division code.")
@click.option("--kind", default="", type=click.Choice(["", "power", "convenience"]))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 200))
def catalog_search(
    text: str, department: str, type_code: str, level: str, division: str, kind: str, limit: int
) -> None:
    """Search the running node's catalog by code or any part of a name. Exit 2 if a filter
    is not valid, 1 if the node cannot be reached."""
    from services.client import search_catalog

    with _node_errors("catalog search"):
        status = search_catalog(
            load_settings(),
            text=text,
            department_code=department,
            type_code=type_code,
            level=level,
            division=division,
            kind=kind,
            limit=limit,
            echo=click.echo,
        )
    sys.exit(status)


@catalog.command("conformance")
@click.option("--division", default="", help="Only this division.")
@click.option("--department", default="", help="Only this department (USCC).")
@click.option("--details", is_flag=True, help="List every deviation.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def catalog_conformance(division: str, department: str, details: bool, as_json: bool) -> None:
    """Deviations from the provincial standards (三级四同), per division and department.
    Exit 2 if a filter is not valid, 1 if the node cannot be reached."""
    from services.client import conformance_report

    with _node_errors("catalog conformance"):
        status = conformance_report(
            load_settings(),
            division=division,
            department_code=department,
            details=details,
            as_json=as_json,
            echo=click.echo,
        )
    sys.exit(status)


@contextlib.contextmanager
def _node_errors(command: str) -> Iterator[None]:
    """Report a call to the running node that fails as one line on stderr, "govnet
    COMMAND: why", and exit: 2 if the node refused the input (INVALID_ARGUMENT, naming each
    bad field), else 1 (no node answers, another refusal, or the node cannot do it)."""
    import grpc

    from services.client import NodeError

    try:
        yield
    except (ConnectionError, NodeError) as exc:
        click.echo(f"govnet {command}: {exc}", err=True)
        sys.exit(1)
    except grpc.RpcError as exc:
        click.echo(f"govnet {command}: {exc.details()}", err=True)
        sys.exit(2 if exc.code() == grpc.StatusCode.INVALID_ARGUMENT else 1)


# -- notifications ---------------------------------------------------------------------


@cli.group()
def notifications() -> None:
    """Notification templates."""


@notifications.command("templates")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def notifications_templates(file: str | None) -> None:
    """Check a templates file (default: GOVNET_TEMPLATES, else the built-in one) the way the
    service does at start: every placeholder against its event's schema. Exit 1 if bad."""
    from pathlib import Path

    from services.contract.schemas import default_registry
    from services.notifications.templates import TemplateError, load_templates

    path = Path(file) if file else None
    if path is None and load_settings().templates_file:
        path = Path(load_settings().templates_file)
    try:
        loaded = load_templates(path, default_registry())
    except TemplateError as exc:
        for problem in exc.problems:
            click.echo(problem)
        sys.exit(1)
    click.echo(f"OK: {len(loaded.templates)} templates in {loaded.source}")
    for template in sorted(loaded.templates.values(), key=lambda t: t.id):
        languages = ", ".join(template.texts)
        click.echo(
            f"  {template.id:<34} v{template.version}  {template.event_type}/v{template.major}"
            f"  {template.audience:<10} {', '.join(template.channels)}  [{languages}]"
        )


# -- deployment ----------------------------------------------------------------------------


@cli.group()
def deploy() -> None:
    """Generate deployment files."""


@deploy.command("definitions")
@click.option("--vhost", default="/", show_default=True)
@click.option("--out", "out_file", type=OutFile(), help="Write to this file.")
def deploy_definitions(vhost: str, out_file: str | None) -> None:
    """RabbitMQ definitions (exchanges, queues, bindings) of one node's vhost."""
    import json

    from services.platform.topology import definitions

    text = json.dumps(definitions(vhost), indent=2) + "\n"
    if out_file:
        with open(out_file, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False)


def _register() -> None:
    from services.audit.cli import audit
    from services.region_cli import register

    cli.add_command(audit)
    register(deploy, cli)


_register()


def main() -> None:
    from services.platform.green import silence_eventlet_deprecation

    silence_eventlet_deprecation()
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        # nameko needs the whole process green, before sockets, threads or SQLAlchemy load.
        from services.platform.green import patch_process

        patch_process()
    cli(prog_name="govnet")


if __name__ == "__main__":
    main()
