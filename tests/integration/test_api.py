"""The gRPC APIs, served by a real `govnet api` process: statuses a person can act on, every
bad field named, and the server keeps working after each bad request."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from govnet.applications.v1 import applications_pb2 as apps_pb
from govnet.applications.v1 import applications_pb2_grpc as apps_grpc
from govnet.audit.v1 import audit_pb2 as audit_pb
from govnet.audit.v1 import audit_pb2_grpc as audit_grpc
from govnet.catalog.v1 import catalog_pb2 as cat_pb
from govnet.catalog.v1 import catalog_pb2_grpc as cat_grpc
from govnet.notifications.v1 import notifications_pb2 as notif_pb
from govnet.notifications.v1 import notifications_pb2_grpc as notif_grpc
from services.catalog.sample import sample_items
from services.contract.identifiers import resident_check_char
from services.platform.node import division
from services.platform.settings import Settings
from tests.support.nodes import node_env, processes
from tests.support.seeding import teach_applications
from tests.support.taps import tap

DIVISION = "320102"
ITEM = sample_items(division(DIVISION))[0]  # 食品经营许可, promised in 10 working days
RESIDENT = f"32010219900307123{resident_check_char('32010219900307123')}"


@pytest.fixture(scope="module")
def node(amqp_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    var = tmp_path_factory.mktemp("var")
    env = node_env(amqp_uri=amqp_uri, var_dir=var, division=DIVISION)
    settings = Settings.from_environment(env)
    teach_applications(settings, ITEM)
    with processes([("api", ["all"])], env, var / "run"):
        yield settings


def stub(node: Settings, service: str, factory: Any) -> Any:
    channel = grpc.insecure_channel(node.grpc_address(service))
    return factory(channel)


@pytest.fixture(scope="module")
def apps(node: Settings) -> apps_grpc.ApplicationsServiceStub:
    return stub(node, "applications", apps_grpc.ApplicationsServiceStub)


def submit_request(**changes: Any) -> apps_pb.SubmitRequest:
    applicant = {
        "kind": apps_pb.APPLICANT_KIND_NATURAL,
        "name": "王小红",
        "id_number": RESIDENT,
        "phone": "13912345678",
        "account_id": "u-wang",
    }
    applicant.update(changes.pop("applicant", {}))
    fields = {
        "request_id": str(uuid.uuid4()),
        "implementation_code": ITEM.implementation_code,
        "applicant": apps_pb.Applicant(**applicant),
        "channel": apps_pb.CHANNEL_WINDOW,
        "materials": [m.name for m in ITEM.materials if m.required],
    }
    fields.update(changes)
    return apps_pb.SubmitRequest(**fields)


def violations(error: grpc.RpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)
    assert status is not None, "INVALID_ARGUMENT carries a google.rpc.BadRequest detail"
    found = {}
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        assert detail.Unpack(bad_request)
        found.update({v.field: v.description for v in bad_request.field_violations})
    return found


def test_an_invalid_id_number_on_submit_is_invalid_argument_naming_the_field(apps: Any) -> None:
    bad = RESIDENT[:-1] + ("0" if RESIDENT[-1] != "0" else "1")
    with pytest.raises(grpc.RpcError) as caught:
        apps.Submit(submit_request(applicant={"id_number": bad}), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(
        "applicant.id_number: is not a valid resident ID number"
    )
    assert bad not in caught.value.details(), "the refused ID number is not echoed back"
    assert list(violations(caught.value)) == ["applicant.id_number"]


def test_every_problem_of_a_submission_is_reported_at_once(apps: Any) -> None:
    request = submit_request(
        request_id="",
        channel=apps_pb.CHANNEL_UNSPECIFIED,
        materials=[],
        applicant={"kind": apps_pb.APPLICANT_KIND_UNSPECIFIED, "name": "", "phone": "12345"},
    )
    with pytest.raises(grpc.RpcError) as caught:
        apps.Submit(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(caught.value)) == {
        "request_id",
        "applicant.kind",
        "applicant.name",
        "applicant.phone",
        "channel",
        "materials",
    }
    assert violations(caught.value)["materials"] == (
        "missing required materials: " + "、".join(m.name for m in ITEM.materials if m.required)
    )


def test_an_item_not_published_here_is_refused(apps: Any) -> None:
    other = sample_items(division("320000"))[0].implementation_code
    with pytest.raises(grpc.RpcError) as caught:
        apps.Submit(submit_request(implementation_code=other), timeout=5)
    assert violations(caught.value) == {
        "implementation_code": "is not an item published at this node"
    }


def test_submit_returns_the_case_with_personal_data_masked_and_publishes_it(
    apps: Any, amqp_uri: str
) -> None:
    with tap(amqp_uri, "applications.events") as events:
        case = apps.Submit(submit_request(), timeout=5)
        [message] = events.take(1)
    assert case.case_number.startswith(f"{DIVISION}-")
    assert len(case.case_number) == len("320102-20261126-000001")
    assert case.applicant.name == "王**"
    assert case.applicant.id_number == RESIDENT[:4] + "*" * 10 + RESIDENT[-4:]
    assert case.applicant.phone == "139****5678"
    assert (case.item_name, case.promised_limit_days, case.status) == (
        "食品经营许可",
        10,
        apps_pb.STATUS_RECEIVED,
    )
    event = json.loads(message.body)
    assert (event["type"], event["subject"], event["source"]) == (
        "application.submitted",
        case.case_number,
        f"govnet://{DIVISION}/applications",
    )
    assert event["data"]["applicant"] == {
        "kind": "natural",
        "name": "王**",
        "id_type": "resident_id",
        "id_number": case.applicant.id_number,
        "phone": "139****5678",
        "account_id": "u-wang",
    }
    assert RESIDENT not in message.body.decode(), "the full ID number never leaves the store"


def test_a_retried_submit_returns_the_same_case_without_a_second_event(
    apps: Any, amqp_uri: str
) -> None:
    request = submit_request()
    with tap(amqp_uri, "applications.events") as events:
        first = apps.Submit(request, timeout=5)
        again = apps.Submit(request, timeout=5)
        events.take(1)
        assert events.quiet() == []
    assert again == first


def test_reusing_a_request_id_for_another_application_is_refused(apps: Any) -> None:
    request = submit_request()
    case = apps.Submit(request, timeout=5)
    request.channel = apps_pb.CHANNEL_WEB
    with pytest.raises(grpc.RpcError) as caught:
        apps.Submit(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details() == (
        f"request_id {request.request_id} was already used for case {case.case_number} "
        "with different content"
    )


def test_get_finds_a_case_and_names_what_is_missing(apps: Any) -> None:
    case = apps.Submit(submit_request(), timeout=5)
    assert apps.Get(apps_pb.GetRequest(case_number=case.case_number), timeout=5) == case
    with pytest.raises(grpc.RpcError) as caught:
        apps.Get(apps_pb.GetRequest(case_number="320102-20261126-999999"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "no case 320102-20261126-999999 at this node"
    with pytest.raises(grpc.RpcError) as caught:
        apps.Get(apps_pb.GetRequest(), timeout=5)
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "case_number: is required",
    )


def test_catalog_lookups_name_the_problem(node: Settings) -> None:
    catalog = stub(node, "catalog", cat_grpc.CatalogServiceStub)
    with pytest.raises(grpc.RpcError) as caught:
        catalog.GetItem(cat_pb.GetItemRequest(code="011230010000"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == f"no item with code 011230010000 at node {DIVISION}"
    with pytest.raises(grpc.RpcError) as caught:
        catalog.GetItem(cat_pb.GetItemRequest(code="991230010000"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("code: ")


def test_inbox_and_audit_refuse_bad_paging_with_the_field(node: Settings) -> None:
    inbox = stub(node, "notifications", notif_grpc.NotificationsServiceStub)
    audit = stub(node, "audit", audit_grpc.AuditServiceStub)
    cases = [
        (
            lambda: inbox.ListInbox(notif_pb.ListInboxRequest(), timeout=5),
            "recipient: is required (an account id, case:<number> or dept:<USCC>)",
        ),
        (
            lambda: inbox.ListInbox(
                notif_pb.ListInboxRequest(recipient="u", page_token="x"), timeout=5
            ),
            "page_token: is not a token this API returned (garbled, cut short, or made by an "
            "earlier version): search again without it",
        ),
        (
            lambda: audit.ListEvents(audit_pb.ListEventsRequest(page_size=5000), timeout=5),
            "page_size: must be between 0 and 1000",
        ),
        (
            lambda: audit.ListEvents(audit_pb.ListEventsRequest(after_index=-1), timeout=5),
            "after_index: must be 0 or a log index",
        ),
    ]
    for call, message in cases:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert (caught.value.code(), caught.value.details()) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            message,
        )
    assert inbox.ListInbox(notif_pb.ListInboxRequest(recipient="nobody"), timeout=5).messages == []


def test_every_api_reports_health_and_lists_itself_by_reflection(node: Settings) -> None:
    for service, full_name in [
        ("catalog", "govnet.catalog.v1.CatalogService"),
        ("applications", "govnet.applications.v1.ApplicationsService"),
        ("notifications", "govnet.notifications.v1.NotificationsService"),
        ("audit", "govnet.audit.v1.AuditService"),
    ]:
        channel = grpc.insecure_channel(node.grpc_address(service))
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(health_pb2.HealthCheckRequest(service=full_name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        listed = {s.name for r in responses for s in r.list_services_response.service}
        assert full_name in listed
        channel.close()
