"""The applications gRPC API and worker as real processes: the lifecycle over gRPC, statuses
that name the state, the department or the field, electronic supervision on the worker's
timer, and evaluations from a department system through ingress."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from govnet.applications.v1 import applications_pb2 as pb
from govnet.applications.v1 import applications_pb2_grpc as pb_grpc
from services.applications.domain import Actor, Applicant, Submission
from services.applications.store import ApplicationsStore
from services.catalog.sample import sample_items
from services.contract import names
from services.contract.identifiers import resident_check_char
from services.contract.schemas import default_registry
from services.platform.node import division
from services.platform.settings import Settings
from services.platform.store import Database
from tests.integration.test_api import violations
from tests.support.events import evaluation, to_bytes
from tests.support.nodes import node_env, processes
from tests.support.seeding import teach_applications
from tests.support.taps import publish, tap
from tests.support.waiting import wait_for

COUNTY = "320102"
ITEM = sample_items(division(COUNTY))[0]
OTHER_DEPARTMENT = sample_items(division(COUNTY))[1].department_code
RESIDENT = "32010219900307123" + resident_check_char("32010219900307123")
ACTOR = pb.Actor(department_code=ITEM.department_code, officer_id="officer-017")


@pytest.fixture(scope="module")
def node(amqp_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    var = tmp_path_factory.mktemp("var")
    env = node_env(amqp_uri=amqp_uri, var_dir=var, division=COUNTY, GOVNET_SUPERVISION_INTERVAL="1")
    settings = Settings.from_environment(env)
    teach_applications(settings, ITEM)
    # A case accepted long ago, as if the node had been running: supervision finds it late.
    past = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
    db = Database(
        settings.database_url_for("applications"),
        service="applications",
        division=COUNTY,
        registry=default_registry(),
        clock=lambda: past,
    )
    store = ApplicationsStore(db)
    case, _ = store.submit(
        Submission(
            "old",
            ITEM.implementation_code,
            Applicant("natural", "赵六", RESIDENT),
            "window",
            tuple(m.name for m in ITEM.materials if m.required),
        )
    )
    store.accept(case.case_number, Actor(ITEM.department_code, "officer-001"))
    db.dispose()
    specs = [("api", ["applications"]), ("worker", ["applications"]), ("worker", ["audit"])]
    with processes(specs, env, var / "run"):
        yield settings


@pytest.fixture(scope="module")
def api(node: Settings) -> pb_grpc.ApplicationsServiceStub:
    return pb_grpc.ApplicationsServiceStub(grpc.insecure_channel(node.grpc_address("applications")))


def submit(api: Any) -> pb.Application:
    return api.Submit(
        pb.SubmitRequest(
            request_id=str(uuid.uuid4()),
            implementation_code=ITEM.implementation_code,
            applicant=pb.Applicant(kind=pb.APPLICANT_KIND_NATURAL, name="王五", id_number=RESIDENT),
            channel=pb.CHANNEL_WINDOW,
            materials=[m.name for m in ITEM.materials if m.required],
        ),
        timeout=10,
    )


def refused(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=10)
    return caught.value


def test_a_case_goes_from_intake_to_conclusion_over_grpc(api: Any, amqp_uri: str) -> None:
    with tap(amqp_uri, "applications.events") as events:
        case = submit(api)
        number = case.case_number
        accepted = api.Accept(pb.AcceptRequest(case_number=number, actor=ACTOR), timeout=10)
        concluded = api.Conclude(
            pb.ConcludeRequest(
                case_number=number, actor=ACTOR, result_code=0, certificate="JY23201020009999"
            ),
            timeout=10,
        )
        evaluated = api.Evaluate(
            pb.EvaluateRequest(
                case_number=number,
                applicant_id_number=RESIDENT,
                level=pb.EVALUATION_LEVEL_VERY_SATISFIED,
                channel=pb.CHANNEL_MOBILE,
            ),
            timeout=10,
        )
        received = events.take(4)
    assert (accepted.status, accepted.due_date != "", accepted.result_code) == (
        pb.STATUS_ACCEPTED,
        True,
        -1,
    )
    assert (concluded.status, concluded.result_code, concluded.certificate) == (
        pb.STATUS_CONCLUDED,
        0,
        "JY23201020009999",
    )
    assert evaluated.evaluation.level == pb.EVALUATION_LEVEL_VERY_SATISFIED
    assert [m.routing_key for m in received] == [
        "application.submitted",
        "application.accepted",
        "application.concluded",
        "application.evaluated",
    ]
    assert json.loads(received[2].body)["data"]["on_time"] is True
    listed = api.List(pb.ListRequest(status=pb.STATUS_CONCLUDED), timeout=10)
    assert [a.case_number for a in listed.applications] == [number]


def test_a_transition_the_state_does_not_allow_names_the_state(api: Any) -> None:
    number = submit(api).case_number
    api.Refuse(
        pb.RefuseRequest(case_number=number, actor=ACTOR, reason="不属于本机关职权范围"), timeout=10
    )
    error = refused(api.Accept, pb.AcceptRequest(case_number=number, actor=ACTOR))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"case {number} is refused; it cannot be accepted (only when received or supplemented)",
    )


def test_a_department_acts_only_on_cases_assigned_to_it(api: Any) -> None:
    number = submit(api).case_number
    stranger = pb.Actor(department_code=OTHER_DEPARTMENT, officer_id="officer-999")
    error = refused(api.Accept, pb.AcceptRequest(case_number=number, actor=stranger))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        f"case {number} is assigned to department {ITEM.department_code}; department "
        f"{OTHER_DEPARTMENT} cannot act on it",
    )
    error = refused(api.Accept, pb.AcceptRequest(case_number=number))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "actor: is required: the acting department and officer",
    )
    error = refused(
        api.Accept,
        pb.AcceptRequest(case_number=number, actor=pb.Actor(department_code="123", officer_id="")),
    )
    assert set(violations(error)) == {"actor.department_code", "actor.officer_id"}


def test_bad_requests_name_their_fields(api: Any) -> None:
    number = submit(api).case_number
    api.Accept(pb.AcceptRequest(case_number=number, actor=ACTOR), timeout=10)
    error = refused(
        api.Conclude, pb.ConcludeRequest(case_number=number, actor=ACTOR, result_code=1)
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "reason: is required: say why",
    )
    error = refused(
        api.Conclude, pb.ConcludeRequest(case_number=number, actor=ACTOR, result_code=6)
    )
    assert error.details() == (
        "result_code: must be 0 to 5 (6, 不予受理, is a refusal: use Refuse)"
    )
    error = refused(
        api.PauseClock,
        pb.PauseClockRequest(case_number=number, actor=ACTOR, kind="lunch", reason="x"),
    )
    assert error.details().startswith("kind: must be one of hearing, inspection")
    error = refused(api.Get, pb.GetRequest(case_number="320102-20260101-999999"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = refused(api.List, pb.ListRequest(page_size=1000))
    assert error.details() == "page_size: must be between 0 and 200"


def test_supervision_on_the_workers_timer_flags_the_late_case(api: Any) -> None:
    def late() -> list[pb.Application]:
        return list(api.List(pb.ListRequest(overdue_only=True), timeout=10).applications)

    [case] = wait_for(late, what="the worker's supervision to flag the late case")
    # Accepted on Monday 2025-03-03 with a 10-working-day promise.
    assert (case.applicant.name, case.due_date, case.overdue, case.warned) == (
        "赵*",
        "2025-03-17",
        True,
        True,
    )


def test_an_evaluation_from_a_department_system_reaches_the_case(api: Any, amqp_uri: str) -> None:
    number = submit(api).case_number
    api.Accept(pb.AcceptRequest(case_number=number, actor=ACTOR), timeout=10)
    api.Conclude(pb.ConcludeRequest(case_number=number, actor=ACTOR, result_code=0), timeout=10)
    raw = evaluation(division=COUNTY, department=ITEM.department_code, level="very_dissatisfied")
    raw["data"]["case_number"] = number
    with tap(amqp_uri, "applications.events", names.APPLICATION_EVALUATED) as events:
        publish(amqp_uri, names.INGRESS_EXCHANGE, "evaluation.submitted", to_bytes(raw))
        [message] = events.take(1)
    data = json.loads(message.body)["data"]
    assert (data["case_number"], data["level"], data["bad"], data["source"]) == (
        number,
        "very_dissatisfied",
        True,
        raw["source"],
    )


def test_an_evaluation_for_an_unknown_case_is_rejected_with_the_reason(
    amqp_uri: str, node: Settings
) -> None:
    raw = evaluation(division=COUNTY, department=ITEM.department_code)
    raw["data"]["case_number"] = "320102-20260101-999999"
    with tap(amqp_uri, names.REJECTED_EXCHANGE) as rejected:
        publish(amqp_uri, names.INGRESS_EXCHANGE, "evaluation.submitted", to_bytes(raw))
        [parked] = rejected.take(1)
    assert parked.headers[names.REJECT_REASON_HEADER] == (
        "no case 320102-20260101-999999 at this node"
    )
    assert parked.headers[names.REJECT_QUEUE_HEADER] == names.APPLICATIONS_EVALUATIONS_QUEUE
