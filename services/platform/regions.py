"""The network of nodes: one per division, linked by RabbitMQ (DESIGN.md, "Regions").

`plan_region` lays out the nodes of a province — each with its vhost, its broker URI and
its gRPC ports — and `node_definitions` gives each node's RabbitMQ definitions: its own
topology (`topology.for_level`) plus its two links to its parent, both defined in the
child's vhost so that a node owns its links:

- a **federation upstream** `govnet-parent` on the parent's `catalog.standards` exchange,
  applied by policy to the child's `catalog.standards`: standards flow down, and on
  (max-hops 2) from a city to its counties;
- a **shovel** `govnet-up` from the child's `govnet.up` queue to the parent's
  `govnet.from-below` exchange, routing keys kept, acknowledged `on-confirm`: every event
  of the child (and of the nodes below it) flows up and waits in the queue while the link
  is down.

Both links are at-least-once; the audit log's de-duplication by `(source, id)` makes them
exactly once where it counts. Nothing goes back the way it came: no loops.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.contract import names
from services.platform import topology
from services.platform.node import Division, divisions
from services.platform.settings import check_amqp_uri, redact_uri, unknown_placeholder

UPSTREAM = "govnet-parent"
SHOVEL = "govnet-up"
POLICY = "govnet-standards-from-parent"
DEFAULT_URI = "amqp://guest:guest@localhost:5672/{vhost}"
DEFAULT_VHOST = "govnet-{division}"


@dataclass(frozen=True)
class NodePlan:
    division: Division
    parent: str | None
    """The division code of the node this one links to (None at the province)."""
    vhost: str
    uri: str
    grpc_port_base: int

    @property
    def code(self) -> str:
        return self.division.code

    @property
    def level(self) -> str:
        return self.division.level


def plan_region(
    province: str,
    *,
    uri_template: str = DEFAULT_URI,
    vhost_template: str = DEFAULT_VHOST,
    port_base: int = 50051,
    port_step: int = 10,
    only: Iterable[str] | None = None,
) -> list[NodePlan]:
    """Every node of `province` (or only the divisions in `only`), province first, then
    each city followed by its counties. A node whose parent is not planned links to its
    nearest planned ancestor.

    `uri_template` is the AMQP URI of a node's vhost, with `{vhost}` and `{division}`
    filled in (the vhost percent-encoded): one broker with a vhost per node, or a broker per
    node. Raises ValueError naming what is wrong."""
    known = divisions()
    if province not in known or known[province].level != "province":
        raise ValueError(f"{province} is not a province in the divisions file")
    members = [d for d in known.values() if d.code[:2] == province[:2]]
    if only is not None:
        wanted = set(only)
        unknown = sorted(wanted - {d.code for d in members})
        if unknown:
            raise ValueError(f"not divisions of {province}: {', '.join(unknown)}")
        if province not in wanted:
            raise ValueError(f"the province {province} must be one of the nodes")
        members = [d for d in members if d.code in wanted]
    ordered = _tree_order(members)
    if "{vhost}" not in uri_template and "{division}" not in uri_template:
        raise ValueError("the URI template needs {vhost} or {division}")
    _check_placeholders("vhost template", vhost_template, ("division",))
    _check_placeholders("URI template", uri_template, ("vhost", "division"))
    try:
        check_amqp_uri(uri_template.format(vhost="govnet", division=province))
    except ValueError as exc:
        raise ValueError(f"the URI template {redact_uri(uri_template)!r} {exc}") from None
    planned = {d.code for d in ordered}
    plans = []
    by_uri: dict[str, NodePlan] = {}
    for index, member in enumerate(ordered):
        vhost = vhost_template.format(division=member.code)
        uri = uri_template.format(vhost=urllib.parse.quote(vhost, safe=""), division=member.code)
        parent = member.parent
        while parent is not None and parent not in planned:
            parent = known[parent].parent
        plan = NodePlan(member, parent, vhost, uri, port_base + index * port_step)
        other = by_uri.setdefault(uri, plan)
        if other is not plan:  # the URI template has {vhost}, not {division}
            raise ValueError(
                f"the vhost template {vhost_template!r} gives {other.code} and {plan.code} the "
                f"same vhost {vhost!r} (their events would loop): put {{division}} in it"
            )
        plans.append(plan)
    if plans[-1].grpc_port_base + 3 > 65535:
        raise ValueError("the gRPC ports run past 65535: lower --port-base or --port-step")
    return plans


def _check_placeholders(what: str, template: str, allowed: tuple[str, ...]) -> None:
    try:
        name = unknown_placeholder(template, allowed)
    except ValueError as exc:
        raise ValueError(f"the {what} {template!r} is not a template: {exc}") from None
    if name is not None:
        use = " or ".join(f"{{{a}}}" for a in allowed)
        raise ValueError(
            f"the {what} {template!r} has an unknown placeholder {{{name}}}; use {use}"
        )


def _tree_order(members: list[Division]) -> list[Division]:
    by_parent: dict[str | None, list[Division]] = {}
    for member in members:
        by_parent.setdefault(member.parent, []).append(member)
    out: list[Division] = []

    def visit(code: str | None) -> None:
        for child in sorted(by_parent.get(code, []), key=lambda d: d.code):
            out.append(child)
            visit(child.code)

    codes = {m.code for m in members}
    roots = [m for m in members if m.parent is None or m.parent not in codes]
    for root in sorted(roots, key=lambda d: (d.level != "province", d.code)):
        out.append(root)
        visit(root.code)
    return out


def node_definitions(
    plan: NodePlan,
    parent: NodePlan | None,
    *,
    delivery_limit: int = 10,
    user: str | None = None,
) -> dict[str, Any]:
    """The RabbitMQ definitions of one node: its topology and its links to `parent`.
    `user` is given every permission on the node's vhost (for local runs)."""
    out = topology.definitions(plan.vhost, delivery_limit, plan.level)
    out["policies"] = []
    out["parameters"] = []
    if user:
        out["permissions"] = [
            {"user": user, "vhost": plan.vhost, "configure": ".*", "write": ".*", "read": ".*"}
        ]
    if parent is None:
        return out
    out["parameters"] = [
        {
            "vhost": plan.vhost,
            "component": "federation-upstream",
            "name": UPSTREAM,
            "value": {
                "uri": parent.uri,
                "exchange": names.STANDARDS_EXCHANGE,
                "ack-mode": "on-confirm",
                "max-hops": 2,
                "trust-user-id": False,
                "reconnect-delay": 5,
            },
        },
        {
            "vhost": plan.vhost,
            "component": "shovel",
            "name": SHOVEL,
            "value": {
                "src-protocol": "amqp091",
                "src-uri": plan.uri,
                "src-queue": names.UP_QUEUE,
                "dest-protocol": "amqp091",
                "dest-uri": parent.uri,
                "dest-exchange": names.FROM_BELOW_EXCHANGE,
                "ack-mode": "on-confirm",
                "src-delete-after": "never",
                "reconnect-delay": 5,
            },
        },
    ]
    out["policies"] = [
        {
            "vhost": plan.vhost,
            "name": POLICY,
            "pattern": "^catalog\\.standards$",
            "apply-to": "exchanges",
            "definition": {"federation-upstream": UPSTREAM},
            "priority": 10,
        }
    ]
    return out


def node_settings(plan: NodePlan, var_dir: Path | None = None) -> dict[str, Any]:
    """The node's settings file (`GOVNET_CONFIG`): who it is, where its broker is, its ports
    (and, for nodes run on this machine, where its stores are)."""
    settings: dict[str, Any] = {
        "division": plan.code,
        "amqp_uri": plan.uri,
        "grpc_port_base": plan.grpc_port_base,
    }
    if var_dir is not None:
        settings["var_dir"] = str(var_dir)
    return settings


@dataclass(frozen=True)
class Written:
    nodes: int
    links: int
    directory: Path


def write_topology(
    plans: list[NodePlan],
    out: Path,
    *,
    delivery_limit: int = 10,
    user: str | None = None,
    var_dir: Path | None = None,
) -> Written:
    """Write `topology.json` and, per node, `<division>/definitions.json` and
    `<division>/govnet.yaml` (with `var_dir` in it, if given). The files hold the links'
    credentials: readable by their owner only."""
    by_code = {p.code: p for p in plans}
    out.mkdir(parents=True, exist_ok=True)
    summary = []
    links = 0
    for plan in plans:
        parent = by_code.get(plan.parent) if plan.parent else None
        node_dir = out / plan.code
        node_dir.mkdir(exist_ok=True)
        definitions = node_definitions(plan, parent, delivery_limit=delivery_limit, user=user)
        _write_private(node_dir / "definitions.json", json.dumps(definitions, indent=2) + "\n")
        _write_private(
            node_dir / "govnet.yaml",
            yaml.safe_dump(node_settings(plan, var_dir), allow_unicode=True, sort_keys=False),
        )
        links += 2 if parent else 0
        summary.append(
            {
                "division": plan.code,
                "name": plan.division.name,
                "level": plan.level,
                "parent": plan.parent,
                "vhost": plan.vhost,
                "grpc_port_base": plan.grpc_port_base,
                "standards_from": plan.parent,
                "events_to": plan.parent,
            }
        )
    (out / "topology.json").write_text(
        json.dumps({"nodes": summary}, ensure_ascii=False, indent=2) + "\n", "utf-8"
    )
    return Written(len(plans), links, out)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def redact(definitions: Mapping[str, Any]) -> dict[str, Any]:
    """`definitions` with the links' passwords hidden (for printing)."""
    copied = json.loads(json.dumps(definitions))
    for parameter in copied.get("parameters", []):
        for key in ("uri", "src-uri", "dest-uri"):
            if key in parameter["value"]:
                parameter["value"][key] = redact_uri(parameter["value"][key])
    return dict(copied)
