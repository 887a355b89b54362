"""A whole node, started as `make run` starts it, used through gRPC as a user would, and
stopped with SIGTERM: every process must exit cleanly."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from govnet.applications.v1 import applications_pb2 as apps_pb
from govnet.applications.v1 import applications_pb2_grpc as apps_grpc
from govnet.audit.v1 import audit_pb2 as audit_pb
from govnet.audit.v1 import audit_pb2_grpc as audit_grpc
from govnet.catalog.v1 import catalog_pb2 as cat_pb
from govnet.catalog.v1 import catalog_pb2_grpc as cat_grpc
from govnet.notifications.v1 import notifications_pb2 as notif_pb
from govnet.notifications.v1 import notifications_pb2_grpc as notif_grpc
from services.catalog.sample import sample_items
from services.client import submit_when_item_known
from services.contract.identifiers import resident_check_char
from services.platform.node import division
from services.platform.settings import Settings
from tests.support import infra
from tests.support.nodes import node_env
from tests.support.running import RunningNode, exit_lines, govnet, running_node
from tests.support.waiting import wait_for

COUNTY = "320102"
PROCESSES = [
    f"{service}-{kind}"
    for service in ("catalog", "applications", "notifications", "audit")
    for kind in ("worker", "api")
]


@pytest.fixture(scope="module")
def county(amqp_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    env = node_env(amqp_uri=amqp_uri, var_dir=tmp_path_factory.mktemp("var"), division=COUNTY)
    with running_node(env) as node:
        yield node
        code = node.stop()
    assert code == 0, node.output()
    assert sorted(exit_lines(node)) == sorted(f"{name} exited 0" for name in PROCESSES)
    assert "node stopped" in node.output()
    assert "Traceback" not in node.output()


def stubs(node: RunningNode) -> dict[str, Any]:
    settings = Settings.from_environment(node.env)
    channel = grpc.insecure_channel
    return {
        "catalog": cat_grpc.CatalogServiceStub(channel(settings.grpc_address("catalog"))),
        "applications": apps_grpc.ApplicationsServiceStub(
            channel(settings.grpc_address("applications"))
        ),
        "audit": audit_grpc.AuditServiceStub(channel(settings.grpc_address("audit"))),
        "notifications": notif_grpc.NotificationsServiceStub(
            channel(settings.grpc_address("notifications"))
        ),
    }


def test_the_node_prints_where_each_api_listens(county: RunningNode) -> None:
    settings = Settings.from_environment(county.env)
    output = county.output()
    assert f"govnet node {COUNTY} 玄武区 (county) is running" in output
    for service in ("catalog", "applications", "notifications", "audit"):
        assert f"{service:<14} gRPC {settings.grpc_address(service)}" in output


def test_the_demo_shows_the_audited_application_and_the_inbox_message(county: RunningNode) -> None:
    result = govnet("demo", env=county.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "audit stored:" in result.stdout
    assert "application.submitted" in result.stdout
    assert "notification.sent" in result.stdout
    assert "inbox of demo-" in result.stdout


@pytest.mark.parametrize(
    ("command", "prefix"), [(("demo",), "govnet demo: "), (("audit", "tail"), "govnet: ")]
)
def test_a_client_command_the_node_refuses_says_why_in_one_line_on_stderr(
    county: RunningNode, command: tuple[str, ...], prefix: str
) -> None:
    # GOVNET_DIVISION names the city, but the county node holds the ports the settings name.
    result = govnet(*command, env={**county.env, "GOVNET_DIVISION": "320100"})

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"{prefix}this gRPC API is the node of 320102, not of 320100 (GOVNET_DIVISION): "
        "start the 320100 node, or set GOVNET_GRPC_PORT_BASE to the ports of the one that runs"
    ]


@pytest.mark.parametrize(
    "command",
    [("catalog", "search", "食品"), ("catalog", "conformance"), ("audit", "checkpoint")],
)
def test_a_command_for_another_division_is_refused_by_the_node_on_the_port(
    county: RunningNode, command: tuple[str, ...]
) -> None:
    # GOVNET_DIVISION names the city, but the county node holds the ports the settings name.
    result = govnet(*command, env={**county.env, "GOVNET_DIVISION": "320100"})

    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "this gRPC API is the node of 320102, not of 320100 (GOVNET_DIVISION): start the "
        "320100 node, or set GOVNET_GRPC_PORT_BASE to the ports of the one that runs"
    ) in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_submitted_application_reaches_audit_and_the_applicants_inbox(
    county: RunningNode,
) -> None:
    api = stubs(county)
    item = sample_items(division(COUNTY))[3]  # 社会团体成立登记, promised in 20 working days
    assert api["catalog"].GetItem(cat_pb.GetItemRequest(code=item.basic_code), timeout=5).name == (
        "社会团体成立登记"
    )
    first17 = "32010219851111452"
    request = apps_pb.SubmitRequest(
        request_id=str(uuid.uuid4()),
        implementation_code=item.implementation_code,
        applicant=apps_pb.Applicant(
            kind=apps_pb.APPLICANT_KIND_NATURAL,
            name="李四",
            id_number=first17 + resident_check_char(first17),
            phone="13700001111",
            account_id="u-lisi",
        ),
        channel=apps_pb.CHANNEL_MOBILE,
        materials=[m.name for m in item.materials],
    )

    case = submit_when_item_known(api["applications"], request, timeout=15)
    assert case is not None, "the applications replica never learned the item"
    number = case.case_number

    def audited() -> list[Any]:
        events = (
            api["audit"].ListEvents(audit_pb.ListEventsRequest(subject=number), timeout=5).events
        )
        return list(events) if len(events) == 2 else []

    submitted_event, sent_event = wait_for(audited, what="both events in the audit log")
    assert (submitted_event.type, submitted_event.source, submitted_event.division) == (
        "application.submitted",
        f"govnet://{COUNTY}/applications",
        COUNTY,
    )
    data = json_format.MessageToDict(submitted_event.data)
    assert data["applicant"] == {
        "kind": "natural",
        "name": "李*",
        "id_type": "resident_id",
        "id_number": "3201**********" + request.applicant.id_number[-4:],
        "phone": "137****1111",
        "account_id": "u-lisi",
    }
    assert (data["item_name"], data["promised_limit_days"], data["channel"]) == (
        "社会团体成立登记",
        20,
        "mobile",
    )
    assert sent_event.type == "notification.sent"
    assert sent_event.source == f"govnet://{COUNTY}/notifications"
    sent = json_format.MessageToDict(sent_event.data)
    assert sent["cause"] == {
        "source": f"govnet://{COUNTY}/applications",
        "id": submitted_event.id,
        "type": "application.submitted",
    }
    assert (sent["channel"], sent["recipient"]) == ("inbox", "u-lisi")

    inbox = api["notifications"].ListInbox(notif_pb.ListInboxRequest(recipient="u-lisi"), timeout=5)
    [message] = [m for m in inbox.messages if m.case_number == number]
    assert message.id == sent["notification_id"]
    assert message.title == "您的“社会团体成立登记”申请已收到"
    assert message.body == (
        f"李*，您好：您提交的“社会团体成立登记”申请已收到，办件编号 {number}，"
        "承诺在 20 个工作日内办结。"
    )
    assert (message.cause_event_id, message.cause_event_type) == (
        submitted_event.id,
        "application.submitted",
    )
    assert "4521" not in json.dumps(json_format.MessageToDict(message))  # no full ID anywhere


def test_an_invalid_id_number_is_refused_and_the_node_keeps_working(county: RunningNode) -> None:
    api = stubs(county)
    item = sample_items(division(COUNTY))[0]
    request = apps_pb.SubmitRequest(
        request_id=str(uuid.uuid4()),
        implementation_code=item.implementation_code,
        applicant=apps_pb.Applicant(
            kind=apps_pb.APPLICANT_KIND_NATURAL, name="赵六", id_number="320102198511114520"
        ),
        channel=apps_pb.CHANNEL_WINDOW,
        materials=[m.name for m in item.materials if m.required],
    )
    with pytest.raises(grpc.RpcError) as caught:
        api["applications"].Submit(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(
        "applicant.id_number: is not a valid resident ID number"
    )
    result = govnet("demo", env=county.env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_quiet_node_runs_as_two_processes(
    broker: infra.Broker, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with broker.vhost("combined") as vhost:  # every node has its own vhost
        env = node_env(
            amqp_uri=broker.uri_for(vhost),
            var_dir=tmp_path_factory.mktemp("var"),
            division="320100",
        )
        with running_node(env, "--combined") as node:
            result = govnet("demo", env=env)
            assert result.returncode == 0, result.stdout + result.stderr
            code = node.stop()
    assert code == 0, node.output()
    assert sorted(exit_lines(node)) == ["all-api exited 0", "all-worker exited 0"]
