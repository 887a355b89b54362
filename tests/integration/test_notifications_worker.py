"""The notifications worker of a city node, a real process on a real broker: escalations
from below reach the city's supervision office once; a malformed one is parked on
govnet.rejected and one from a node the city does not supervise is ignored, while the
worker goes on with the next."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from govnet.notifications.v1 import notifications_pb2 as pb
from govnet.notifications.v1 import notifications_pb2_grpc as pb_grpc
from services.contract import names
from services.platform.settings import Settings
from tests.support.nodes import node_env, processes
from tests.support.taps import Tap, publish, tap
from tests.support.waiting import wait_for

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CITY = "320100"
OFFICE = f"supervision:{CITY}"


def escalation(division: str = "320102", **data: Any) -> dict[str, Any]:
    """The golden `rectification.escalated`, as the node of `division` emitted it."""
    raw: dict[str, Any] = json.loads(
        (GOLDEN / "rectification.escalated.v1.json").read_text("utf-8")
    )
    raw.update(id=str(uuid.uuid4()), source=f"govnet://{division}/notifications", division=division)
    raw.pop("traceparent")
    raw["data"].update(data)
    return raw


@pytest.fixture(scope="module")
def node(amqp_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    var = tmp_path_factory.mktemp("var")
    env = node_env(amqp_uri=amqp_uri, var_dir=var, division=CITY)
    with processes([("api", ["notifications"]), ("worker", ["notifications"])], env, var / "run"):
        yield Settings.from_environment(env)


@pytest.fixture(scope="module")
def notifications(node: Settings) -> pb_grpc.NotificationsServiceStub:
    return pb_grpc.NotificationsServiceStub(
        grpc.insecure_channel(node.grpc_address("notifications"))
    )


@pytest.fixture
def rejected(amqp_uri: str, node: Settings) -> Iterator[Tap]:
    with tap(amqp_uri, names.REJECTED_EXCHANGE) as watching:
        yield watching


def from_below(amqp_uri: str, raw: dict[str, Any]) -> None:
    body = json.dumps(raw, ensure_ascii=False).encode()
    publish(amqp_uri, names.FROM_BELOW_EXCHANGE, names.RECTIFICATION_ESCALATED, body)


def office_inbox(notifications: Any) -> list[Any]:
    request = pb.ListInboxRequest(recipient=OFFICE)
    return list(notifications.ListInbox(request, timeout=5).messages)


def test_a_malformed_escalation_is_parked_and_the_worker_goes_on_with_the_next(
    amqp_uri: str, notifications: Any, rejected: Tap
) -> None:
    malformed = escalation(level="terrible", escalated_to="supervision:32010")
    sibling = escalation("320200", escalated_to=OFFICE)  # 无锡市 names 南京市's office
    good = escalation()
    for raw in (malformed, sibling, good, good):  # the good one twice: redelivered
        from_below(amqp_uri, raw)

    [message] = wait_for(
        lambda: office_inbox(notifications), timeout=30, what="the escalation in the inbox"
    )
    [parked] = rejected.take(1, timeout=30)
    time.sleep(2)  # what else was going to happen has happened

    assert (message.cause_event_id, message.case_number, message.template) == (
        good["id"], good["data"]["case_number"], "rectification.escalated/zh-CN/v1",
    )  # fmt: skip
    assert json.loads(parked.body)["id"] == malformed["id"]
    assert parked.routing_key == names.RECTIFICATION_ESCALATED
    assert [m.id for m in office_inbox(notifications)] == [message.id]
    assert rejected.quiet() == []
