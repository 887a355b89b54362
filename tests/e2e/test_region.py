"""Three nodes — province 320000, city 320100, county 320102 — started the way `make
run-region` starts them, each in its own vhost of the local RabbitMQ, linked by real
federation (standards down) and shovels (events up)."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from govnet.applications.v1 import applications_pb2 as apps_pb
from govnet.applications.v1 import applications_pb2_grpc as apps_grpc
from govnet.audit.v1 import audit_pb2 as audit_pb
from govnet.audit.v1 import audit_pb2_grpc as audit_grpc
from govnet.catalog.v1 import catalog_pb2 as cat_pb
from govnet.catalog.v1 import catalog_pb2_grpc as cat_grpc
from govnet.notifications.v1 import notifications_pb2 as notes_pb
from govnet.notifications.v1 import notifications_pb2_grpc as notes_grpc
from services.catalog.sample import department
from services.catalog.store import CatalogStore
from services.client import submit_when_item_known
from services.contract import names
from services.contract.identifiers import resident_check_char
from services.node import open_database
from services.platform.node import division
from services.platform.rabbit_admin import Admin
from services.platform.regions import SHOVEL, NodePlan, node_definitions, plan_region
from services.platform.settings import Settings
from tests.support import infra
from tests.support.nodes import free_port_base, node_env
from tests.support.running import RunningNode, exit_lines, govnet, running_node
from tests.support.taps import publish
from tests.support.waiting import wait_for

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
PROVINCE, CITY, COUNTY = "320000", "320100", "320102"
NODES = (PROVINCE, CITY, COUNTY)
BASIC = "200520030000"  # a public-service item the sample catalog does not have
STANDARD_NAME = "老年人优待证办理"
LEGAL_BASIS = "《江苏省老年人权益保障条例》第四十二条"


@dataclass
class Region:
    process: RunningNode
    env: dict[str, str]
    plans: dict[str, NodePlan]
    admin: Admin
    work_dir: Path

    def config(self, code: str) -> dict[str, str]:
        """The environment of a person running `govnet` against node `code`: only the
        settings file `govnet deploy topology` wrote for it."""
        env = {k: v for k, v in self.env.items() if not k.startswith("GOVNET_")}
        return env | {"GOVNET_CONFIG": str(self.work_dir / "topology" / code / "govnet.yaml")}

    def channel(self, code: str, service: str) -> grpc.Channel:
        offset = names.SERVICES.index(service)
        return grpc.insecure_channel(f"127.0.0.1:{self.plans[code].grpc_port_base + offset}")

    def catalog(self, code: str) -> cat_grpc.CatalogServiceStub:
        return cat_grpc.CatalogServiceStub(self.channel(code, names.CATALOG))

    def applications(self, code: str) -> apps_grpc.ApplicationsServiceStub:
        return apps_grpc.ApplicationsServiceStub(self.channel(code, names.APPLICATIONS))

    def audit(self, code: str) -> audit_grpc.AuditServiceStub:
        return audit_grpc.AuditServiceStub(self.channel(code, names.AUDIT))

    def notifications(self, code: str) -> notes_grpc.NotificationsServiceStub:
        return notes_grpc.NotificationsServiceStub(self.channel(code, names.NOTIFICATIONS))


@pytest.fixture(scope="module")
def region(broker: infra.Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    work_dir = tmp_path_factory.mktemp("region")
    api = urllib.parse.urlsplit(broker.api)
    admin_url = urllib.parse.urlunsplit(
        api._replace(
            netloc=f"{broker.user}:{broker.password}@{api.netloc}", path=api.path[: -len("/api")]
        )
    )
    vhosts = f"govnet-test-region-{uuid.uuid4().hex[:8]}-{{division}}"
    port_base = free_port_base(30)
    env = node_env(
        amqp_uri=broker.amqp_uri,
        var_dir=work_dir / "var",
        GOVNET_RABBIT_ADMIN_URL=admin_url,
    )
    plans = plan_region(
        PROVINCE,
        uri_template=broker.uri_for("{vhost}").replace("%7Bvhost%7D", "{vhost}"),
        vhost_template=vhosts,
        port_base=port_base,
        only=NODES,
    )
    args = (
        f"--nodes={','.join(NODES)}",
        f"--vhost-template={vhosts}",
        f"--port-base={port_base}",
        f"--dir={work_dir}",
    )
    try:
        with running_node(env, *args, command=("region", "run"), ready="region is running") as run:
            yield Region(run, env, {p.code: p for p in plans}, Admin(admin_url), work_dir)
            code = run.stop()
        assert code == 0, run.output()
        assert len(exit_lines(run)) == 2 * len(NODES)
        assert all(line.endswith(" exited 0") for line in exit_lines(run)), exit_lines(run)
        assert "region stopped" in run.output()
    finally:
        for plan in plans:
            broker.request("DELETE", f"/vhosts/{urllib.parse.quote(plan.vhost, safe='')}")


def test_every_link_of_the_region_runs(region: Region) -> None:
    def links_running() -> bool:
        result = govnet("region", "status", f"--dir={region.work_dir}", env=region.env)
        return result.returncode == 0

    wait_for(links_running, timeout=30, what="the federation links and shovels to run")
    result = govnet("region", "status", f"--dir={region.work_dir}", env=region.env)
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{PROVINCE} 江苏省")
    assert "top of the region" in lines[0]
    assert f"standards ← {PROVINCE}: running" in lines[1]
    assert f"events → {PROVINCE}: running" in lines[1]
    assert f"standards ← {CITY}: running" in lines[2]
    assert f"events → {CITY}: running" in lines[2]


def item_at(code: str, promised_days: int, **standard: str) -> cat_pb.Item:
    """The item BASIC as division `code` implements it (its civil-affairs body, its limit);
    the standard fields are given at the province and left empty below it."""
    place = division(code)
    body = department(place, "civil")
    return cat_pb.Item(
        implementation_code=f"{body.code}{BASIC}001",
        basic_code=BASIC,
        level=place.level,
        division=code,
        department_code=body.code,
        department_name=body.name,
        kind="power",
        case_kind="promised",
        legal_limit_days=20,
        promised_limit_days=promised_days,
        address=f"{place.name}政务服务中心",
        materials=[cat_pb.Material(name="优待证申请表", required=True)],
        **standard,
    )


def standard_item() -> cat_pb.Item:
    return item_at(PROVINCE, 5, name=STANDARD_NAME, type_code=BASIC[:2], legal_basis=LEGAL_BASIS)


def county_submission(implementation_code: str, person: int) -> apps_pb.SubmitRequest:
    first17 = f"32010219{50 + person % 40:02d}0101{person % 1000:03d}"
    return apps_pb.SubmitRequest(
        request_id=str(uuid.uuid4()),
        implementation_code=implementation_code,
        applicant=apps_pb.Applicant(
            kind=apps_pb.APPLICANT_KIND_NATURAL,
            name="王五",
            id_number=first17 + resident_check_char(first17),
            phone="13900002222",
        ),
        channel=apps_pb.CHANNEL_WINDOW,
        materials=["优待证申请表"],
    )


def audited(region: Region, code: str, case_number: str) -> list[Any]:
    """The application.submitted events of `case_number` in node `code`'s audit log."""
    found = region.audit(code).ListEvents(
        audit_pb.ListEventsRequest(subject=case_number), timeout=5
    )
    return [e for e in found.events if e.type == names.APPLICATION_SUBMITTED]


def test_a_provincial_standard_reaches_the_county_and_its_cases_reach_every_audit_log(
    region: Region,
) -> None:
    published = region.catalog(PROVINCE).PublishItem(
        cat_pb.PublishItemRequest(item=standard_item()), timeout=10
    )
    assert published.status == cat_pb.ITEM_STATUS_PUBLISHED

    def standard_at(code: str) -> cat_pb.Standard | None:
        try:
            return region.catalog(code).GetStandard(
                cat_pb.GetStandardRequest(basic_code=BASIC), timeout=5
            )
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return None

    for code in (CITY, COUNTY):
        standard = wait_for(
            lambda code=code: standard_at(code), timeout=30, what=f"the standard at {code}"
        )
        assert (standard.name, standard.type_code, standard.legal_basis, standard.status) == (
            STANDARD_NAME,
            "20",
            LEGAL_BASIS,
            "published",
        )

    # The county implements the standard with its own body and limits; the standard fields
    # are left empty and copied from the province's.
    implemented = region.catalog(COUNTY).PublishItem(
        cat_pb.PublishItemRequest(item=item_at(COUNTY, 3)), timeout=10
    )
    assert (implemented.name, implemented.legal_basis) == (STANDARD_NAME, LEGAL_BASIS)

    case = submit_when_item_known(
        region.applications(COUNTY),
        county_submission(implemented.implementation_code, 1),
        timeout=30,
    )
    assert case is not None, "the county's applications replica never learned the item"
    number = case.case_number
    assert number.startswith(f"{COUNTY}-")

    for code in (COUNTY, CITY, PROVINCE):
        [event] = wait_for(
            lambda code=code: audited(region, code, number),
            timeout=30,
            what=f"the case in the audit log of {code}",
        )
        assert (event.source, event.division) == (f"govnet://{COUNTY}/applications", COUNTY)

    report = govnet("audit", "report", "--format=json", env=region.config(PROVINCE))
    assert report.returncode == 0, report.stderr
    divisions = {d["code"]: d for d in json.loads(report.stdout)["divisions"]}
    assert (divisions[COUNTY]["name"], divisions[COUNTY]["received"]) == ("玄武区", 1)
    city_report = govnet("audit", "report", "--format=json", env=region.config(CITY))
    assert {d["code"]: d["received"] for d in json.loads(city_report.stdout)["divisions"]} == {
        COUNTY: 1
    }


def test_cases_submitted_while_the_link_up_is_down_arrive_once_it_is_back(
    region: Region,
) -> None:
    county, city = region.plans[COUNTY], region.plans[CITY]
    shovel = next(
        p for p in node_definitions(county, city)["parameters"] if p["component"] == "shovel"
    )
    region.admin.delete_shovel(county.vhost, SHOVEL)
    wait_for(lambda: not region.admin.shovels(county.vhost), what="the shovel to stop")

    code = item_at(COUNTY, 3).implementation_code
    numbers = []
    for person in range(2, 7):
        case = submit_when_item_known(
            region.applications(COUNTY), county_submission(code, person), timeout=30
        )
        assert case is not None
        numbers.append(case.case_number)
    for number in numbers:  # the county records its own cases while the link is down
        wait_for(lambda number=number: audited(region, COUNTY, number), timeout=30)

    waiting = region.admin.queue(county.vhost, names.UP_QUEUE) or {}
    wait_for(
        lambda: (region.admin.queue(county.vhost, names.UP_QUEUE) or {}).get("messages", 0) >= 5,
        what="the cases to wait in govnet.up",
    )
    assert [audited(region, CITY, n) for n in numbers] == [[]] * 5, waiting

    region.admin.put_parameter("shovel", county.vhost, SHOVEL, shovel["value"])
    for node in (CITY, PROVINCE):
        for number in numbers:
            [event] = wait_for(
                lambda node=node, number=number: audited(region, node, number),
                timeout=30,
                what=f"case {number} in the audit log of {node}",
            )
            assert event.source == f"govnet://{COUNTY}/applications"
    wait_for(
        lambda: (region.admin.queue(county.vhost, names.UP_QUEUE) or {}).get("messages") == 0,
        what="govnet.up to drain",
    )
    report = govnet("audit", "report", "--format=json", env=region.config(PROVINCE))
    divisions = {d["code"]: d for d in json.loads(report.stdout)["divisions"]}
    assert divisions[COUNTY]["received"] == 6


def test_a_county_escalation_reaches_the_city_supervision_offices_own_inbox(
    region: Region,
) -> None:
    # What the county's notifications service emits when a department misses its
    # rectification deadline — days after the bad review, so it is published here, from a
    # source of its own (its sequence starts at 1: the audit logs see no gap in the
    # county's): it goes up the shovel, and the city's notifications take it.
    raw = json.loads((GOLDEN / "rectification.escalated.v1.json").read_text("utf-8"))
    raw.update(id=str(uuid.uuid4()), source=f"govnet://{COUNTY}/escalation-test", sequence=1)
    raw.pop("traceparent")
    case_number = raw["data"]["case_number"]
    publish(
        region.plans[COUNTY].uri,
        names.events_exchange(names.NOTIFICATIONS),
        names.RECTIFICATION_ESCALATED,
        json.dumps(raw, ensure_ascii=False).encode(),
    )

    def office_inbox() -> list[notes_pb.InboxMessage]:
        return list(
            region.notifications(CITY)
            .ListInbox(notes_pb.ListInboxRequest(recipient="supervision:320100"), timeout=5)
            .messages
        )

    [message] = wait_for(office_inbox, timeout=30, what="the escalation in the city's inbox")
    assert (message.case_number, message.template, message.cause_event_id) == (
        case_number,
        "rectification.escalated/zh-CN/v1",
        raw["id"],
    )
    assert message.title == f"【督办】玄武区市场监督管理局差评整改逾期：办件 {case_number}"


def test_a_county_that_joins_later_takes_the_standards_from_a_provincial_export(
    region: Region, tmp_path: Path
) -> None:
    # Federation carries what is published from now on; a new node starts from an export.
    wait_for(lambda: standard_published_at_province(region), what="the standard at 320000")
    export = tmp_path / "province.jsonl"
    result = govnet("catalog", "export", f"--out={export}", env=region.config(PROVINCE))
    assert result.returncode == 0, result.stderr
    newcomer = region.env | {
        "GOVNET_DIVISION": "320104",
        "GOVNET_VAR": str(tmp_path / "var"),
        "GOVNET_SEED": "none",
    }
    result = govnet("catalog", "import", str(export), env=newcomer)
    assert result.returncode == 0, result.stdout + result.stderr
    settings = Settings.from_environment(newcomer)
    store = CatalogStore(open_database(settings, names.CATALOG), settings=settings)
    try:
        standard = store.standard(BASIC)
    finally:
        store.db.dispose()
    assert standard is not None
    assert (standard.name, standard.legal_basis, standard.status) == (
        STANDARD_NAME,
        LEGAL_BASIS,
        "published",
    )


def standard_published_at_province(region: Region) -> bool:
    try:
        region.catalog(PROVINCE).GetStandard(cat_pb.GetStandardRequest(basic_code=BASIC), timeout=5)
    except grpc.RpcError:
        return False
    return True
