"""`govnet demo` against a node that answers but cannot give what the demo needs: what went
wrong is one line on stderr and the exit status is 1; what did arrive stays on stdout. The
node's APIs are fakes of its gRPC stubs (the node lies outside the command under test)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from govnet.applications.v1 import applications_pb2 as apps_pb
from govnet.audit.v1 import audit_pb2 as audit_pb
from govnet.catalog.v1 import catalog_pb2 as catalog_pb
from govnet.notifications.v1 import notifications_pb2 as notif_pb
from services import client
from services.cli import cli

ITEM = catalog_pb.Item(
    implementation_code="11320102767342276U4011223001000",
    name="食品经营许可",
    department_name="玄武区市场监督管理局",
    case_kind="promised",
    status=catalog_pb.ITEM_STATUS_PUBLISHED,
)


def demo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, items: list[Any]) -> Any:
    """`govnet demo --timeout 0` against a node whose catalog lists `items`, whose
    applications service takes every application, and whose audit log and inboxes stay
    empty."""
    node = {
        "CatalogServiceStub": SimpleNamespace(ListItems=lambda request, timeout: items),
        "ApplicationsServiceStub": SimpleNamespace(
            Submit=lambda request, timeout: apps_pb.Application(
                case_number="320102-20261127-000001",
                applicant=request.applicant,
                promised_limit_days=10,
            )
        ),
        "AuditServiceStub": SimpleNamespace(
            ListEvents=lambda request, timeout: audit_pb.ListEventsResponse()
        ),
        "NotificationsServiceStub": SimpleNamespace(
            ListInbox=lambda request, timeout: notif_pb.ListInboxResponse()
        ),
    }
    monkeypatch.setattr(client, "_node_channel", lambda settings, service: None)
    for module in (client.catalog_grpc, client.apps_grpc, client.audit_grpc, client.notif_grpc):
        for name, fake in node.items():
            if hasattr(module, name):
                monkeypatch.setattr(module, name, lambda channel, fake=fake: fake)
    env = {"GOVNET_DIVISION": "320102", "GOVNET_VAR": str(tmp_path)}
    return CliRunner().invoke(cli, ["demo", "--timeout", "0"], env=env)


def test_a_node_without_items_is_one_line_on_stderr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = demo(monkeypatch, tmp_path, items=[])

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "govnet demo: the catalog of this node has no items; start it with GOVNET_SEED=sample\n"
    )


def test_results_that_never_arrive_are_one_line_on_stderr_after_what_did(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = demo(monkeypatch, tmp_path, items=[ITEM])

    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        "item      11320102767342276U4011223001000  食品经营许可  (玄武区市场监督管理局)"
    )
    assert result.stdout.splitlines()[1].startswith("submitted case 320102-20261127-000001 ")
    assert result.stderr == (
        "govnet demo: audit did not store both ['application.submitted', 'notification.sent'] "
        "for 320102-20261127-000001 and no inbox message for 320102-20261127-000001 arrived "
        "within 0s\n"
    )
