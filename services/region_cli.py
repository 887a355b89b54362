"""`govnet deploy topology` and `govnet region run|status`: the nodes of a province, the
RabbitMQ links between them, and a local region to try it all on one machine."""

from __future__ import annotations

import sys
import urllib.parse
from pathlib import Path
from typing import Any, NoReturn

import click


def _fail(message: str, status: int = 1) -> NoReturn:
    click.echo(f"govnet: {message}", err=True)
    sys.exit(status)


def _settings() -> Any:
    from services.cli import load_settings

    return load_settings()


def _codes(text: str) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def _chosen_codes(
    text: str, option: str, example: str, *, all_if_left_out: bool
) -> list[str] | None:
    """The division codes an option names. Left out, `--only` means every node; given, it
    and `--nodes` must name at least one code (`" , "` names none)."""
    codes = _codes(text)
    if codes or (all_if_left_out and not text):
        return codes
    how = "leave it out for every node, or give" if all_if_left_out else "give"
    _fail(
        f"{option} names no division: {how} comma-separated division codes, "
        f"e.g. {option} {example}",
        2,
    )


_plan_options = [
    click.option("--province", default="320000", show_default=True),
    click.option(
        "--uri-template",
        default=None,
        help="AMQP URI of a node's vhost, with {vhost} and/or {division} (default: "
        "GOVNET_AMQP_URI's broker, one vhost per node).",
    ),
    click.option("--vhost-template", default="govnet-{division}", show_default=True),
    click.option("--port-base", default=50051, show_default=True, type=click.IntRange(1024, 65000)),
    click.option("--port-step", default=10, show_default=True, type=click.IntRange(4, 1000)),
]


def _with_plan_options(function: Any) -> Any:
    for option in reversed(_plan_options):
        function = option(function)
    return function


def _plans(
    province: str,
    uri_template: str | None,
    vhost_template: str,
    port_base: int,
    port_step: int,
    only: list[str] | None,
) -> list[Any]:
    from services.platform.regions import plan_region

    template = uri_template or _broker_template(_settings().amqp_uri)
    try:
        return plan_region(
            province,
            uri_template=template,
            vhost_template=vhost_template,
            port_base=port_base,
            port_step=port_step,
            only=only,
        )
    except (ValueError, KeyError, IndexError) as exc:
        _fail(str(exc), 2)


def _broker_template(amqp_uri: str) -> str:
    """The broker of `amqp_uri`, with a vhost per node."""
    parts = urllib.parse.urlsplit(amqp_uri)
    return urllib.parse.urlunsplit(parts._replace(path="/{vhost}", query="", fragment=""))


def register(deploy: click.Group, cli: click.Group) -> None:
    deploy.add_command(deploy_topology)
    cli.add_command(region)


@click.command("topology")
@_with_plan_options
@click.option("--only", default="", help="Comma-separated division codes (default: all).")
@click.option("--user", default=None, help="Grant this broker user every permission on the vhosts.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
def deploy_topology(
    province: str,
    uri_template: str | None,
    vhost_template: str,
    port_base: int,
    port_step: int,
    only: str,
    user: str | None,
    out_dir: str,
) -> None:
    """Write every node's settings and RabbitMQ definitions (topology, federation upstream,
    shovel, policy) for a province: standards flow down, events flow up."""
    from services.platform.regions import write_topology

    plans = _plans(
        province,
        uri_template,
        vhost_template,
        port_base,
        port_step,
        _chosen_codes(only, "--only", "320000,320100", all_if_left_out=True),
    )
    written = write_topology(plans, Path(out_dir), user=user)
    levels = {
        level: sum(p.level == level for p in plans) for level in ("province", "city", "county")
    }
    click.echo(
        f"wrote {written.nodes} nodes ({levels['province']} province, {levels['city']} cities, "
        f"{levels['county']} counties) and {written.links} links to {out_dir}/ "
        "(the files hold the links' credentials: keep them private)"
    )


@click.group()
def region() -> None:
    """A province, its cities and counties, linked by RabbitMQ."""


@region.command("run")
@_with_plan_options
@click.option(
    "--nodes",
    default="320000,320100,320102",
    show_default=True,
    help="Comma-separated division codes of the nodes to run.",
)
@click.option(
    "--dir", "work_dir", default="var/region", show_default=True, type=click.Path(file_okay=False)
)
@click.option("--fresh", is_flag=True, help="Delete the nodes' vhosts first (their events too).")
def region_run(
    province: str,
    uri_template: str | None,
    vhost_template: str,
    port_base: int,
    port_step: int,
    nodes: str,
    work_dir: str,
    fresh: bool,
) -> None:
    """Run several linked nodes on this machine (what `make run-region` does): each in its
    own vhost of the local RabbitMQ, with federation and shovels between them."""
    import os

    from services.cli import supervise
    from services.node import init_node, node_children
    from services.platform.errors import Unavailable
    from services.platform.rabbit_admin import Admin
    from services.platform.regions import node_definitions, write_topology
    from services.platform.settings import Settings, SettingsError, host_port
    from services.platform.supervisor import Supervisor

    codes = _chosen_codes(nodes, "--nodes", "320000,320100,320102", all_if_left_out=False)
    base = _settings()
    plans = _plans(province, uri_template, vhost_template, port_base, port_step, codes)
    admin = Admin(base.rabbit_admin_url)
    user = urllib.parse.unquote(urllib.parse.urlsplit(base.amqp_uri).username or "guest")
    directory = Path(work_dir)
    try:
        missing = admin.plugins_missing()
        if missing:
            _fail(
                f"the broker lacks {', '.join(missing)}: `rabbitmq-plugins enable "
                "rabbitmq_federation rabbitmq_federation_management rabbitmq_shovel "
                "rabbitmq_shovel_management`"
            )
        by_code = {p.code: p for p in plans}
        for plan in plans:
            if fresh:
                admin.delete_vhost(plan.vhost)
            parent = by_code.get(plan.parent) if plan.parent else None
            admin.import_definitions(node_definitions(plan, parent, user=user))
    except Unavailable as exc:
        _fail(str(exc))
    var_dir = (directory / "var").resolve()
    write_topology(plans, directory / "topology", user=user, var_dir=var_dir)

    children = []
    for plan in plans:
        env = dict(os.environ) | base.to_environment()
        env.update(
            GOVNET_DIVISION=plan.code,
            GOVNET_AMQP_URI=plan.uri,
            GOVNET_GRPC_PORT_BASE=str(plan.grpc_port_base),
            GOVNET_VAR=str(var_dir),
        )
        try:
            settings = Settings.from_environment(env)
        except SettingsError as exc:
            _fail(str(exc), 2)
        init_node(settings)
        for child in node_children(settings, combined=True):
            child.name = f"{plan.code}-{child.name}"
            child.env = settings.to_environment()
            children.append(child)
    supervisor = Supervisor(children, env=dict(os.environ), grace=base.shutdown_grace)

    def running() -> None:
        click.echo("\ngovnet region is running")
        for plan in plans:
            up = f"→ {plan.parent}" if plan.parent else "(top)"
            click.echo(
                f"  {plan.code} {plan.division.name:<6} {plan.level:<8} vhost {plan.vhost:<20} "
                f"gRPC {host_port(base.grpc_host, plan.grpc_port_base)}-"
                f"{plan.grpc_port_base + 3}  "
                f"events {up}"
            )
        click.echo(f"Links: govnet region status --dir {work_dir}    Stop: Ctrl-C\n")

    supervise(supervisor, f"{len(plans)} nodes", running, what="region")


@region.command("status")
@click.option(
    "--dir", "work_dir", default="var/region", show_default=True, type=click.Path(file_okay=False)
)
def region_status(work_dir: str) -> None:
    """What to watch: each node's links (running or not) and what waits to go up."""
    import json

    from services.contract import names
    from services.platform.errors import Unavailable
    from services.platform.rabbit_admin import Admin

    topology_file = Path(work_dir) / "topology" / "topology.json"
    if not topology_file.is_file():
        _fail(f"no {topology_file}: start a region with `make run-region` first", 2)
    nodes = json.loads(topology_file.read_text("utf-8"))["nodes"]
    admin = Admin(_settings().rabbit_admin_url)
    problems = 0
    try:
        for node in nodes:
            vhost = node["vhost"]
            if node["parent"] is None:
                state = "top of the region"
            else:
                federation = [link.get("status", "?") for link in admin.federation_links(vhost)]
                shovels = [s.get("state", "?") for s in admin.shovels(vhost)]
                up = admin.queue(vhost, names.UP_QUEUE) or {}
                fed = federation[0] if federation else "absent"
                sho = shovels[0] if shovels else "absent"
                problems += (fed != "running") + (sho != "running")
                state = (
                    f"standards ← {node['parent']}: {fed:<9} events → {node['parent']}: "
                    f"{sho:<9} waiting to go up: {up.get('messages', '?')}"
                )
            audit = admin.queue(vhost, names.AUDIT_LOG_QUEUE) or {}
            click.echo(
                f"{node['division']} {node['name']:<6} {state}  audit backlog: "
                f"{audit.get('messages', '?')}"
            )
    except Unavailable as exc:
        _fail(str(exc))
    sys.exit(1 if problems else 0)
