"""The network of a province's nodes, as RabbitMQ definitions: who links to whom, and — by
following every binding, federation upstream and shovel of all 110 nodes — that each event
reaches each node that should see it by exactly one path, and no other node."""

from __future__ import annotations

import json
import re
import stat
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from services.cli import cli
from services.contract import names
from services.platform.regions import (
    POLICY,
    SHOVEL,
    UPSTREAM,
    NodePlan,
    node_definitions,
    plan_region,
    redact,
    write_topology,
)
from services.platform.settings import Settings

PROVINCE = "320000"
URI = "amqp://govnet:s3cret@mq.example:5672/{vhost}"


@cache
def province() -> tuple[NodePlan, ...]:
    return tuple(plan_region(PROVINCE, uri_template=URI))


def by_code() -> dict[str, NodePlan]:
    return {p.code: p for p in province()}


def test_the_province_has_110_nodes_each_linked_to_its_parent() -> None:
    plans = province()
    assert Counter(p.level for p in plans) == {"province": 1, "city": 13, "county": 96}
    assert (plans[0].code, plans[0].parent) == (PROVINCE, None)
    for plan in plans[1:]:
        expected = PROVINCE if plan.level == "city" else plan.code[:4] + "00"
        assert plan.parent == expected, plan.code
    nanjing = [p.code for p in plans[1:13]]
    assert nanjing[:3] == ["320100", "320102", "320104"]  # each city, then its counties


def test_each_node_has_its_own_vhost_uri_and_ports() -> None:
    plans = province()
    assert len({p.vhost for p in plans}) == len({p.uri for p in plans}) == 110
    assert by_code()["320102"].vhost == "govnet-320102"
    assert by_code()["320102"].uri == "amqp://govnet:s3cret@mq.example:5672/govnet-320102"
    ports = [port for p in plans for port in range(p.grpc_port_base, p.grpc_port_base + 4)]
    assert len(set(ports)) == len(ports) == 440


def test_a_node_whose_parent_is_not_planned_links_to_its_nearest_planned_ancestor() -> None:
    plans = plan_region(PROVINCE, uri_template=URI, only=["320000", "320102", "320205"])
    assert [(p.code, p.parent) for p in plans] == [
        ("320000", None),
        ("320102", "320000"),
        ("320205", "320000"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"province": "320100"}, "320100 is not a province in the divisions file"),
        ({"province": "990000"}, "990000 is not a province in the divisions file"),
        ({"only": ["320000", "330102"]}, "not divisions of 320000: 330102"),
        ({"only": ["320100"]}, "the province 320000 must be one of the nodes"),
        ({"uri_template": "amqp://localhost/"}, "the URI template needs {vhost} or {division}"),
        ({"port_base": 65000}, "the gRPC ports run past 65535: lower --port-base or --port-step"),
        (
            {"uri_template": "http://mq.example:15672/{vhost}"},
            "the URI template 'http://mq.example:15672/{vhost}' must be an amqp:// or amqps:// URI",
        ),
        (
            {"uri_template": "amqp:///{vhost}"},
            "the URI template 'amqp:///{vhost}' must name a host, e.g. "
            "amqp://guest:guest@localhost:5672/",
        ),
        (
            {"uri_template": "amqps://govnet:s3cret@mq.example:tls/{vhost}"},
            "the URI template 'amqps://govnet:***@mq.example:tls/{vhost}' has a port that is not "
            "a number",
        ),
    ],
)
def test_a_bad_plan_is_refused_naming_the_problem(kwargs: dict[str, Any], message: str) -> None:
    arguments = {"province": PROVINCE, "uri_template": URI} | kwargs
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        plan_region(arguments.pop("province"), **arguments)


def test_a_county_pulls_standards_from_its_city_and_shovels_events_up_on_confirm() -> None:
    county, city = by_code()["320102"], by_code()["320100"]
    definitions = node_definitions(county, city)
    upstream, shovel = definitions["parameters"]
    assert (upstream["component"], upstream["name"], upstream["vhost"]) == (
        "federation-upstream",
        UPSTREAM,
        "govnet-320102",
    )
    assert upstream["value"] | {"uri": "-"} == {
        "uri": "-",
        "exchange": names.STANDARDS_EXCHANGE,
        "ack-mode": "on-confirm",
        "max-hops": 2,
        "trust-user-id": False,
        "reconnect-delay": 5,
    }
    assert upstream["value"]["uri"] == city.uri
    assert (shovel["component"], shovel["name"]) == ("shovel", SHOVEL)
    assert shovel["value"] == {
        "src-protocol": "amqp091",
        "src-uri": county.uri,
        "src-queue": names.UP_QUEUE,
        "dest-protocol": "amqp091",
        "dest-uri": city.uri,
        "dest-exchange": names.FROM_BELOW_EXCHANGE,
        "ack-mode": "on-confirm",
        "src-delete-after": "never",
        "reconnect-delay": 5,
    }
    [policy] = definitions["policies"]
    assert (policy["name"], policy["apply-to"], policy["definition"]) == (
        POLICY,
        "exchanges",
        {"federation-upstream": UPSTREAM},
    )
    assert re.fullmatch(policy["pattern"], names.STANDARDS_EXCHANGE)


def test_the_province_has_no_links() -> None:
    definitions = node_definitions(by_code()[PROVINCE], None)
    assert (definitions["parameters"], definitions["policies"]) == ([], [])
    assert names.UP_QUEUE not in {q["name"] for q in definitions["queues"]}


def test_printed_definitions_hide_the_passwords() -> None:
    county, city = by_code()["320102"], by_code()["320100"]
    shown = json.dumps(redact(node_definitions(county, city)))
    assert "s3cret" not in shown
    assert "amqp://govnet:***@mq.example:5672/govnet-320100" in shown


# -- following every message through all 110 nodes ----------------------------------------


def _topic_matches(pattern: str, key: str) -> bool:
    regex = re.escape(pattern).replace(r"\#", ".*").replace(r"\*", "[^.]+")
    return re.fullmatch(regex, key) is not None


class Network:
    """Every node's definitions as one graph of (vhost, exchange or queue) vertices."""

    def __init__(self, plans: tuple[NodePlan, ...]) -> None:
        self.vhost_of = {p.code: p.vhost for p in plans}
        index = {p.code: p for p in plans}
        uri_vhost = {p.uri: p.vhost for p in plans}
        # (kind, vhost, name) -> [(routing key pattern, (kind, vhost, name))]
        self.edges: dict[tuple[str, str, str], list[tuple[str, tuple[str, str, str]]]] = {}
        for plan in plans:
            parent = index[plan.parent] if plan.parent else None
            definitions = node_definitions(plan, parent)
            for binding in definitions["bindings"]:
                kind = "queue" if binding["destination_type"] == "queue" else "exchange"
                self._edge(
                    ("exchange", plan.vhost, binding["source"]),
                    binding["routing_key"],
                    (kind, plan.vhost, binding["destination"]),
                )
            upstreams = {
                p["name"]: p["value"]
                for p in definitions["parameters"]
                if p["component"] == "federation-upstream"
            }
            for policy in definitions["policies"]:
                upstream = upstreams[policy["definition"]["federation-upstream"]]
                for exchange in definitions["exchanges"]:
                    if re.fullmatch(policy["pattern"], exchange["name"]):
                        self._edge(
                            ("exchange", uri_vhost[upstream["uri"]], upstream["exchange"]),
                            "#",
                            ("exchange", plan.vhost, exchange["name"]),
                        )
            for parameter in definitions["parameters"]:
                if parameter["component"] == "shovel":
                    value = parameter["value"]
                    self._edge(
                        ("queue", uri_vhost[value["src-uri"]], value["src-queue"]),
                        "#",
                        ("exchange", uri_vhost[value["dest-uri"]], value["dest-exchange"]),
                    )

    def _edge(self, source: Any, pattern: str, target: Any) -> None:
        self.edges.setdefault(source, []).append((pattern, target))

    def deliveries(self, code: str, exchange: str, key: str) -> Counter[tuple[str, str]]:
        """How many copies of a message published at node `code` to `exchange` with routing
        key `key` reach each queue, as (vhost, queue). Fails on a loop."""
        reached: Counter[tuple[str, str]] = Counter()

        def walk(vertex: tuple[str, str, str], path: tuple[tuple[str, str, str], ...]) -> None:
            assert vertex not in path, f"a loop: {(*path, vertex)}"
            if vertex[0] == "queue":
                reached[(vertex[1], vertex[2])] += 1
            for pattern, target in self.edges.get(vertex, []):
                if _topic_matches(pattern, key):
                    walk(target, (*path, vertex))

        walk(("exchange", self.vhost_of[code], exchange), ())
        return reached


@cache
def network() -> Network:
    return Network(province())


def ancestors(code: str) -> list[str]:
    out, plan = [], by_code()[code]
    while plan.parent:
        out.append(plan.parent)
        plan = by_code()[plan.parent]
    return out


@pytest.mark.parametrize("code", ["320102", "320100", "320581", PROVINCE])
@pytest.mark.parametrize(
    ("exchange", "key"),
    [
        (names.events_exchange(names.APPLICATIONS), names.APPLICATION_SUBMITTED),
        (names.events_exchange(names.APPLICATIONS), names.APPLICATION_EVALUATED),
        (names.ACCEPTED_EXCHANGE, names.EVALUATION_SUBMITTED),
        (names.events_exchange(names.AUDIT), names.CHECKPOINT_SIGNED),
    ],
)
def test_an_event_reaches_the_audit_log_of_its_node_and_every_ancestor_exactly_once(
    code: str, exchange: str, key: str
) -> None:
    reached = network().deliveries(code, exchange, key)
    audit_logs = {vhost for (vhost, queue), n in reached.items() if queue == names.AUDIT_LOG_QUEUE}
    expected = {network().vhost_of[c] for c in (code, *ancestors(code))}
    assert audit_logs == expected
    assert all(reached[(vhost, names.AUDIT_LOG_QUEUE)] == 1 for vhost in expected)
    # Other nodes' services never consume it: only its own node's queues and the uplinks.
    elsewhere = {queue for (vhost, queue) in reached if vhost != network().vhost_of[code]} - {
        names.AUDIT_LOG_QUEUE,
        names.UP_QUEUE,
    }
    assert elsewhere == set()


def test_a_provincial_standard_reaches_every_city_and_county_catalog_exactly_once() -> None:
    reached = network().deliveries(PROVINCE, names.STANDARDS_EXCHANGE, names.ITEM_REVISED)
    standards = {
        vhost: n for (vhost, queue), n in reached.items() if queue == names.CATALOG_STANDARDS_QUEUE
    }
    below = {p.vhost for p in province() if p.level != "province"}
    assert set(standards) == below
    assert set(standards.values()) == {1}
    assert {queue for (_, queue) in reached} == {names.CATALOG_STANDARDS_QUEUE}


def test_nothing_on_a_countys_standards_exchange_goes_up_or_sideways() -> None:
    reached = network().deliveries("320102", names.STANDARDS_EXCHANGE, names.ITEM_PUBLISHED)
    assert set(reached) == {("govnet-320102", names.CATALOG_STANDARDS_QUEUE)}


# -- govnet deploy topology -----------------------------------------------------------------


def test_deploy_topology_writes_every_nodes_settings_and_private_definitions(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        cli,
        ["deploy", "topology", "--uri-template", URI, "--out", str(tmp_path)],
        env={"GOVNET_CONFIG": ""},
    )
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"wrote 110 nodes (1 province, 13 cities, 96 counties) and 218 links to {tmp_path}/ "
        "(the files hold the links' credentials: keep them private)\n"
    )
    summary = json.loads((tmp_path / "topology.json").read_text("utf-8"))["nodes"]
    assert summary[1] == {
        "division": "320100",
        "name": "南京市",
        "level": "city",
        "parent": "320000",
        "vhost": "govnet-320100",
        "grpc_port_base": 50061,
        "standards_from": "320000",
        "events_to": "320000",
    }
    county = tmp_path / "320102"
    config = yaml.safe_load((county / "govnet.yaml").read_text("utf-8"))
    assert config == {
        "division": "320102",
        "amqp_uri": "amqp://govnet:s3cret@mq.example:5672/govnet-320102",
        "grpc_port_base": 50071,
    }
    settings = Settings.from_environment({"GOVNET_CONFIG": str(county / "govnet.yaml")})
    assert (settings.division, settings.grpc_port_base) == ("320102", 50071)
    for name in ("govnet.yaml", "definitions.json"):
        assert stat.S_IMODE((county / name).stat().st_mode) == 0o600
    definitions = json.loads((county / "definitions.json").read_text("utf-8"))
    assert definitions == node_definitions(by_code()["320102"], by_code()["320100"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--province", "320100"], "govnet: 320100 is not a province in the divisions file\n"),
        (["--only", "320000,999999"], "govnet: not divisions of 320000: 999999\n"),
        (
            ["--only", " , "],
            "govnet: --only names no division: leave it out for every node, or give "
            "comma-separated division codes, e.g. --only 320000,320100\n",
        ),
        (
            ["--uri-template", "http://govnet:s3cret@mq.example/{vhost}"],
            "govnet: the URI template 'http://govnet:***@mq.example/{vhost}' must be an amqp:// "
            "or amqps:// URI\n",
        ),
    ],
)
def test_deploy_topology_refuses_a_bad_plan_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["deploy", "topology", "--out", str(out), *args])
    assert (result.exit_code, result.output) == (2, message)
    assert not out.exists()


def test_write_topology_counts_two_links_per_node_below_the_top(tmp_path: Path) -> None:
    plans = plan_region(PROVINCE, uri_template=URI, only=["320000", "320100", "320102"])
    written = write_topology(plans, tmp_path)
    assert (written.nodes, written.links) == (3, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "320000",
        "320100",
        "320102",
        "topology.json",
    ]


def test_amqps_uri_templates_are_accepted() -> None:
    plans = plan_region(PROVINCE, uri_template="amqps://mq.example:5671/{vhost}", only=[PROVINCE])
    assert [p.uri for p in plans] == ["amqps://mq.example:5671/govnet-320000"]


@pytest.mark.parametrize("nodes", ["", " ", " , ,"])
def test_region_run_refuses_an_empty_node_selection_before_anything_starts(
    tmp_path: Path, nodes: str
) -> None:
    work = tmp_path / "region"
    result = CliRunner().invoke(
        cli,
        ["region", "run", "--nodes", nodes, "--dir", str(work)],
        env={"GOVNET_CONFIG": "", "GOVNET_RABBIT_ADMIN_URL": "http://guest:guest@127.0.0.1:1"},
    )
    assert (result.exit_code, result.output) == (
        2,
        "govnet: --nodes names no division: give comma-separated division codes, "
        "e.g. --nodes 320000,320100,320102\n",
    )
    assert not work.exists()
