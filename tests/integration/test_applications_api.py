"""The applications gRPC API and worker as real processes: the lifecycle over gRPC, statuses
that name the state, the department or the field, electronic supervision on the worker's
timer, and evaluations from a department system through ingress. Every text and enum field
of every request is walked: bad input is INVALID_ARGUMENT naming the field, never INTERNAL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from govnet.applications.v1 import applications_pb2 as pb
from govnet.applications.v1 import applications_pb2_grpc as pb_grpc
from services.applications.domain import Actor, Applicant, Submission
from services.applications.store import ApplicationsStore
from services.catalog.domain import Guide, GuideMaterial, Item
from services.catalog.sample import sample_items
from services.contract import names
from services.contract.envelope import Source, new_event
from services.contract.identifiers import resident_check_char
from services.contract.schemas import default_registry
from services.platform.node import division
from services.platform.settings import Settings
from services.platform.store import Database
from tests.integration.test_api import violations
from tests.support.events import evaluation, to_bytes
from tests.support.nodes import node_env, processes
from tests.support.seeding import teach_applications
from tests.support.taps import Tap, publish, tap
from tests.support.waiting import wait_for

COUNTY = "320102"
ITEM = sample_items(division(COUNTY))[0]
OTHER_DEPARTMENT = sample_items(division(COUNTY))[1].department_code
RESIDENT = "32010219900307123" + resident_check_char("32010219900307123")
ACTOR = pb.Actor(department_code=ITEM.department_code, officer_id="officer-017")
# 建筑业企业资质核准 at 玄武区: its guide names the transport and civil affairs bureaus (联办机构).
JOINT = sample_items(division(COUNTY))[2]
TRANSPORT = sample_items(division(COUNTY))[1].department_code
CIVIL = sample_items(division(COUNTY))[3].department_code
JOINT_ACTOR = pb.Actor(department_code=JOINT.department_code, officer_id="officer-310")
JOINT_MATERIALS = [m.name for m in JOINT.materials if m.required]
REQUIRED = [m.name for m in ITEM.materials if m.required]


def resident(first17: str) -> str:
    return first17 + resident_check_char(first17)


def teach_guide(settings: Settings, item: Item, guide: Guide) -> None:
    """The applications replica learns `guide` as if catalog had published it."""
    db = Database(
        settings.database_url_for("applications"),
        service="applications",
        division=settings.division,
        registry=default_registry(),
    )
    published = new_event(
        default_registry(),
        names.GUIDE_PUBLISHED,
        guide.event_data(item),
        source=Source.for_service(settings.division, "catalog"),
        now=datetime.now(UTC),
    ).with_sequence(100)
    ApplicationsStore(db).apply_item_event(published)
    db.dispose()


@pytest.fixture(scope="module")
def node(amqp_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    var = tmp_path_factory.mktemp("var")
    env = node_env(amqp_uri=amqp_uri, var_dir=var, division=COUNTY, GOVNET_SUPERVISION_INTERVAL="1")
    settings = Settings.from_environment(env)
    teach_applications(settings, ITEM, JOINT)
    joint_guide = Guide(
        JOINT.implementation_code,
        materials=tuple(GuideMaterial(name) for name in JOINT_MATERIALS),
        collaborating_departments=(TRANSPORT, CIVIL),
    )
    teach_guide(settings, JOINT, joint_guide)
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


def submit_request(
    item: Item = ITEM, channel: int = pb.CHANNEL_WINDOW, id_number: str = RESIDENT
) -> pb.SubmitRequest:
    return pb.SubmitRequest(
        request_id=str(uuid.uuid4()),
        implementation_code=item.implementation_code,
        applicant=pb.Applicant(kind=pb.APPLICANT_KIND_NATURAL, name="王五", id_number=id_number),
        channel=channel,
        materials=[m.name for m in item.materials if m.required],
    )


def submit(api: Any, item: Item = ITEM, **changes: Any) -> pb.Application:
    return api.Submit(submit_request(item, **changes), timeout=10)


def accepted(api: Any) -> pb.Application:
    number = submit(api).case_number
    return api.Accept(pb.AcceptRequest(case_number=number, actor=ACTOR), timeout=10)


def events_about(
    events: Tap, number: str | list[str], count: int
) -> list[tuple[str, dict[str, Any]]]:
    """The next `count` events about case `number` (or any of several) as (type, data), in
    the order they arrived; other cases' events (supervision runs meanwhile) are skipped."""
    numbers = [number] if isinstance(number, str) else number
    mine: list[tuple[str, dict[str, Any]]] = []

    def enough() -> bool:
        for message in events.quiet():
            event = json.loads(message.body)
            if event["subject"] in numbers:
                mine.append((message.routing_key, event["data"]))
        return len(mine) >= count

    wait_for(enough, what=f"{count} events about case {', '.join(numbers)}")
    return mine


def without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


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


# -- supplements, reviews, special procedures and withdrawals over gRPC -------------------------


def test_a_supplement_is_asked_for_and_handed_in_over_grpc(api: Any, amqp_uri: str) -> None:
    number = submit(api).case_number
    with tap(amqp_uri, "applications.events") as events:
        asked = api.RequestSupplement(
            pb.RequestSupplementRequest(
                case_number=number,
                actor=ACTOR,
                materials=[" 食品安全管理制度文本 ", "健康证明", "食品安全管理制度文本"],
            ),
            timeout=10,
        )
        handed_in = api.Supplement(
            pb.SupplementRequest(
                case_number=number,
                applicant_id_number=RESIDENT.lower(),
                materials=["健康证明", "食品安全管理制度文本"],
            ),
            timeout=10,
        )
        announced = events_about(events, number, 2)
    assert (asked.status, list(asked.supplement)) == (
        pb.STATUS_SUPPLEMENT_REQUESTED,
        ["食品安全管理制度文本", "健康证明"],
    )
    assert (handed_in.status, list(handed_in.materials)) == (
        pb.STATUS_SUPPLEMENTED,
        [*REQUIRED, "健康证明", "食品安全管理制度文本"],
    )
    assert [(kind, without(data, "at")) for kind, data in announced] == [
        (
            "application.supplement_requested",
            {
                "case_number": number,
                "department": ITEM.department_code,
                "officer_id": "officer-017",
                "materials": ["食品安全管理制度文本", "健康证明"],
            },
        ),
        (
            "application.supplemented",
            {
                "case_number": number,
                "department": ITEM.department_code,
                "materials": ["健康证明", "食品安全管理制度文本"],
            },
        ),
    ]
    accepted = api.Accept(pb.AcceptRequest(case_number=number, actor=ACTOR), timeout=10)
    assert accepted.status == pb.STATUS_ACCEPTED


def test_a_supplement_notice_and_its_answer_refuse_bad_input_over_grpc(api: Any) -> None:
    number = submit(api).case_number
    error = refused(
        api.RequestSupplement,
        pb.RequestSupplementRequest(case_number=number, actor=ACTOR, materials=["", " "]),
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "materials: list every missing material (at least one)",
    )
    error = refused(
        api.RequestSupplement,
        pb.RequestSupplementRequest(
            case_number=number, actor=ACTOR, materials=["健康证明", "材" * 201]
        ),
    )
    assert violations(error) == {"materials.1": "must be at most 200 characters"}
    api.RequestSupplement(
        pb.RequestSupplementRequest(
            case_number=number, actor=ACTOR, materials=["健康证明", "场所证明"]
        ),
        timeout=10,
    )
    error = refused(
        api.Supplement,
        pb.SupplementRequest(
            case_number=number, applicant_id_number=RESIDENT, materials=["健康证明"]
        ),
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "materials: the notice also asked for: 场所证明",
    )
    someone_else = resident("32010219850101001")
    error = refused(
        api.Supplement,
        pb.SupplementRequest(
            case_number=number, applicant_id_number=someone_else, materials=["健康证明", "场所证明"]
        ),
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        f"only the applicant of case {number} may do this",
    )
    error = refused(
        api.Supplement, pb.SupplementRequest(case_number=number, materials=["健康证明"])
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "applicant_id_number: is required: who is the applicant",
    )
    case = api.Get(pb.GetRequest(case_number=number), timeout=10)
    assert (case.status, list(case.supplement)) == (
        pb.STATUS_SUPPLEMENT_REQUESTED,
        ["健康证明", "场所证明"],
    )


def test_a_review_is_assigned_and_completed_over_grpc(api: Any, amqp_uri: str) -> None:
    number = accepted(api).case_number
    with tap(amqp_uri, "applications.events") as events:
        assigned = api.AssignReview(
            pb.AssignReviewRequest(
                case_number=number, actor=ACTOR, departments=[ITEM.department_code.lower()]
            ),
            timeout=10,
        )
        reviewed = api.CompleteReview(
            pb.CompleteReviewRequest(
                case_number=number, actor=ACTOR, approved=True, opinion=" 材料齐全，符合条件 "
            ),
            timeout=10,
        )
        announced = events_about(events, number, 2)
    assert assigned.status == pb.STATUS_IN_REVIEW
    assert [(r.department_code, r.HasField("completed_at")) for r in assigned.reviews] == [
        (ITEM.department_code, False)
    ]
    assert reviewed.status == pb.STATUS_REVIEWED
    assert [(r.department_code, r.approved, r.opinion) for r in reviewed.reviews] == [
        (ITEM.department_code, True, "材料齐全，符合条件")
    ]
    assert [(kind, without(data, "at")) for kind, data in announced] == [
        (
            "application.review_assigned",
            {
                "case_number": number,
                "department": ITEM.department_code,
                "officer_id": "officer-017",
                "reviewers": [ITEM.department_code],
            },
        ),
        (
            "application.review_completed",
            {
                "case_number": number,
                "department": ITEM.department_code,
                "officer_id": "officer-017",
                "approved": True,
                "opinion": "材料齐全，符合条件",
                "remaining": 0,
            },
        ),
    ]
    concluded = api.Conclude(
        pb.ConcludeRequest(case_number=number, actor=ACTOR, result_code=0), timeout=10
    )
    assert concluded.status == pb.STATUS_CONCLUDED


def test_reviews_refuse_bad_input_over_grpc(api: Any) -> None:
    number = accepted(api).case_number
    error = refused(
        api.AssignReview,
        pb.AssignReviewRequest(case_number=number, actor=ACTOR, departments=[OTHER_DEPARTMENT]),
    )
    assert violations(error) == {
        "departments.0": f"{OTHER_DEPARTMENT} is neither the implementing department nor a "
        "collaborating department of this item"
    }
    error = refused(
        api.AssignReview, pb.AssignReviewRequest(case_number=number, actor=ACTOR, departments=[" "])
    )
    assert error.details() == "departments: name at least one reviewing department"
    error = refused(
        api.CompleteReview,
        pb.CompleteReviewRequest(case_number=number, actor=ACTOR, approved=True, opinion="同意"),
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"case {number} is accepted; it cannot be reviewed (only when in_review)",
    )
    api.AssignReview(
        pb.AssignReviewRequest(case_number=number, actor=ACTOR, departments=[ITEM.department_code]),
        timeout=10,
    )
    error = refused(
        api.CompleteReview,
        pb.CompleteReviewRequest(case_number=number, actor=ACTOR, approved=True, opinion="  "),
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "opinion: is required: say why",
    )
    stranger = pb.Actor(department_code=OTHER_DEPARTMENT, officer_id="officer-999")
    error = refused(
        api.CompleteReview,
        pb.CompleteReviewRequest(case_number=number, actor=stranger, approved=True, opinion="同意"),
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        f"department {OTHER_DEPARTMENT} has no open review of case {number}",
    )


def test_the_clock_pauses_and_resumes_over_grpc(api: Any, amqp_uri: str) -> None:
    before = accepted(api)
    number = before.case_number
    with tap(amqp_uri, "applications.events") as events:
        paused = api.PauseClock(
            pb.PauseClockRequest(
                case_number=number, actor=ACTOR, kind="inspection", reason=" 现场勘查经营场所 "
            ),
            timeout=10,
        )
        resumed = api.ResumeClock(
            pb.ResumeClockRequest(case_number=number, actor=ACTOR), timeout=10
        )
        announced = events_about(events, number, 2)
    assert (paused.status, [(p.kind, p.reason, p.HasField("ended_at")) for p in paused.pauses]) == (
        pb.STATUS_PAUSED,
        [("inspection", "现场勘查经营场所", False)],
    )
    # Paused and resumed the same day: no working day passed, the deadlines stay.
    assert (resumed.status, resumed.due_date, resumed.legal_due_date) == (
        pb.STATUS_ACCEPTED,
        before.due_date,
        before.legal_due_date,
    )
    assert [(p.HasField("ended_at"), p.working_days) for p in resumed.pauses] == [(True, 0)]
    assert [(kind, without(data, "at")) for kind, data in announced] == [
        (
            "application.clock_paused",
            {
                "case_number": number,
                "department": ITEM.department_code,
                "officer_id": "officer-017",
                "kind": "inspection",
                "reason": "现场勘查经营场所",
            },
        ),
        (
            "application.clock_resumed",
            {
                "case_number": number,
                "department": ITEM.department_code,
                "officer_id": "officer-017",
                "paused_working_days": 0,
                "due_date": before.due_date,
                "legal_due_date": before.legal_due_date,
            },
        ),
    ]


def test_resuming_refuses_bad_input_over_grpc(api: Any) -> None:
    number = accepted(api).case_number
    error = refused(api.ResumeClock, pb.ResumeClockRequest(case_number=number, actor=ACTOR))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"case {number} is accepted; it cannot be resumed (only when paused)",
    )
    api.PauseClock(
        pb.PauseClockRequest(case_number=number, actor=ACTOR, kind="hearing", reason="听证"),
        timeout=10,
    )
    error = refused(api.ResumeClock, pb.ResumeClockRequest(case_number=number))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "actor: is required: the acting department and officer",
    )
    stranger = pb.Actor(department_code=OTHER_DEPARTMENT, officer_id="officer-999")
    error = refused(api.ResumeClock, pb.ResumeClockRequest(case_number=number, actor=stranger))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = refused(
        api.ResumeClock, pb.ResumeClockRequest(case_number="320102-2026-1", actor=ACTOR)
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "case_number: must be a case number: <division>-<YYYYMMDD>-<6-digit sequence>",
    )
    assert api.Get(pb.GetRequest(case_number=number), timeout=10).status == pb.STATUS_PAUSED


def test_the_applicant_withdraws_over_grpc(api: Any, amqp_uri: str) -> None:
    number = submit(api).case_number
    with tap(amqp_uri, "applications.events") as events:
        withdrawn = api.Withdraw(
            pb.WithdrawRequest(
                case_number=number, applicant_id_number=RESIDENT, reason=" 不再经营 "
            ),
            timeout=10,
        )
        [(kind, data)] = events_about(events, number, 1)
    assert (withdrawn.status, withdrawn.reason, withdrawn.result_code) == (
        pb.STATUS_WITHDRAWN,
        "不再经营",
        5,  # 退件 returned
    )
    assert withdrawn.HasField("closed_at")
    assert (kind, without(data, "at")) == (
        "application.withdrawn",
        {
            "case_number": number,
            "department": ITEM.department_code,
            "reason": "不再经营",
        },
    )


def test_an_id_or_phone_number_in_a_reason_is_masked_in_the_event_over_grpc(
    api: Any, amqp_uri: str
) -> None:
    number = submit(api).case_number
    reason = f"申请人{RESIDENT}提交的材料与本人不符，请致电13912345678"
    with tap(amqp_uri, "applications.events") as events:
        refused_case = api.Refuse(
            pb.RefuseRequest(case_number=number, actor=ACTOR, reason=reason), timeout=10
        )
        [(kind, data)] = events_about(events, number, 1)
    assert refused_case.reason == reason  # the case keeps what the officer wrote
    assert (kind, data["reason"]) == (
        "application.refused",
        f"申请人{RESIDENT[:4]}{'*' * 10}{RESIDENT[-4:]}提交的材料与本人不符，请致电139****5678",
    )


def test_a_withdrawal_refuses_bad_input_over_grpc(api: Any) -> None:
    number = submit(api).case_number
    error = refused(
        api.Withdraw,
        pb.WithdrawRequest(
            case_number=number, applicant_id_number=resident("32010219850101001"), reason="不办了"
        ),
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        f"only the applicant of case {number} may do this",
    )
    error = refused(
        api.Withdraw,
        pb.WithdrawRequest(case_number=number, applicant_id_number=RESIDENT, reason="理" * 2001),
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "reason: must be at most 2000 characters",
    )
    api.Withdraw(pb.WithdrawRequest(case_number=number, applicant_id_number=RESIDENT), timeout=10)
    error = refused(
        api.Withdraw, pb.WithdrawRequest(case_number=number, applicant_id_number=RESIDENT)
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"case {number} is withdrawn; it cannot be withdrawn",
    )


# -- joint review (联审) ---------------------------------------------------------------------------


def test_a_joint_case_waits_for_every_collaborating_department_before_it_concludes(
    api: Any, amqp_uri: str
) -> None:
    number = submit(api, JOINT).case_number
    transport = pb.Actor(department_code=TRANSPORT, officer_id="officer-1102")
    civil = pb.Actor(department_code=CIVIL, officer_id="officer-4410")
    conclude = pb.ConcludeRequest(case_number=number, actor=JOINT_ACTOR, result_code=0)
    with tap(amqp_uri, "applications.events") as events:
        case = api.Accept(pb.AcceptRequest(case_number=number, actor=JOINT_ACTOR), timeout=10)
        assert case.status == pb.STATUS_IN_REVIEW
        assert [r.department_code for r in case.reviews] == [TRANSPORT, CIVIL]
        error = refused(api.Conclude, conclude)
        assert (error.code(), error.details()) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            f"case {number} still waits for the review of {TRANSPORT}, {CIVIL}",
        )
        case = api.CompleteReview(
            pb.CompleteReviewRequest(
                case_number=number, actor=civil, approved=True, opinion="章程符合规定"
            ),
            timeout=10,
        )
        assert case.status == pb.STATUS_IN_REVIEW
        error = refused(api.Conclude, conclude)
        assert error.details() == f"case {number} still waits for the review of {TRANSPORT}"
        case = api.CompleteReview(
            pb.CompleteReviewRequest(
                case_number=number, actor=transport, approved=True, opinion="同意"
            ),
            timeout=10,
        )
        assert case.status == pb.STATUS_REVIEWED
        concluded = api.Conclude(conclude, timeout=10)
        announced = events_about(events, number, 5)
    assert concluded.status == pb.STATUS_CONCLUDED
    assert [(kind, data.get("department"), data.get("remaining")) for kind, data in announced] == [
        ("application.accepted", JOINT.department_code, None),
        ("application.review_assigned", JOINT.department_code, None),
        ("application.review_completed", CIVIL, 1),
        ("application.review_completed", TRANSPORT, 0),
        ("application.concluded", JOINT.department_code, None),
    ]
    assert announced[1][1]["reviewers"] == [TRANSPORT, CIVIL]


def test_a_collaborating_department_lists_the_joint_cases_it_reviews_over_grpc(api: Any) -> None:
    applicant = resident("32010219880808008")
    number = submit(api, JOINT, id_number=applicant).case_number

    def listed(department: str, **query: Any) -> list[str]:
        request = pb.ListRequest(department_code=department, applicant_id_number=applicant)
        for name, value in query.items():
            setattr(request, name, value)
        return [a.case_number for a in api.List(request, timeout=10).applications]

    assert listed(TRANSPORT) == []  # nobody reviews a case that is not accepted yet
    api.Accept(pb.AcceptRequest(case_number=number, actor=JOINT_ACTOR), timeout=10)
    assert listed(TRANSPORT.lower(), status=pb.STATUS_IN_REVIEW) == [number]
    assert listed(CIVIL) == [number]
    assert listed(JOINT.department_code) == [number]
    assert listed(ITEM.department_code) == []


# -- channels (every channel, the same case) ------------------------------------------------------

CHANNEL_NAMES = {
    pb.CHANNEL_WEB: "web",
    pb.CHANNEL_MOBILE: "mobile",
    pb.CHANNEL_WINDOW: "window",
    pb.CHANNEL_TERMINAL: "terminal",
    pb.CHANNEL_HOTLINE: "hotline",
}


def test_submit_through_every_channel_records_it_and_announces_the_same_events(
    api: Any, amqp_uri: str
) -> None:
    assert set(CHANNEL_NAMES) == set(pb.Channel.values()) - {pb.CHANNEL_UNSPECIFIED}
    with tap(amqp_uri, "applications.events") as events:
        cases = {channel: submit(api, channel=channel) for channel in CHANNEL_NAMES}
        numbers = [case.case_number for case in cases.values()]
        arrived = {
            data["case_number"]: (kind, data) for kind, data in events_about(events, numbers, 5)
        }
        announced = {channel: [arrived[case.case_number]] for channel, case in cases.items()}
    for channel, case in cases.items():
        stored = api.Get(pb.GetRequest(case_number=case.case_number), timeout=10)
        assert (case.channel, stored.channel, stored.status) == (
            channel,
            channel,
            pb.STATUS_RECEIVED,
        )
        [(kind, data)] = announced[channel]
        assert (kind, data["case_number"], data["channel"]) == (
            "application.submitted",
            case.case_number,
            CHANNEL_NAMES[channel],
        )
    same = [
        without(data, "case_number", "submitted_at", "channel")
        for [(_, data)] in announced.values()
    ]
    assert same == [same[0]] * len(CHANNEL_NAMES)
    assert same[0]["applicant"]["id_number"] == RESIDENT[:4] + "*" * 10 + RESIDENT[-4:]


# -- listings -------------------------------------------------------------------------------------


def test_a_listing_refuses_what_it_cannot_use_naming_each_field(api: Any) -> None:
    error = refused(
        api.List,
        pb.ListRequest(
            applicant_id_number="12345",
            department_code="not-a-code",
            status=99,  # type: ignore[arg-type]
            page_size=-1,
            page_token="bogus",
        ),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(violations(error)) == [
        "applicant_id_number",
        "department_code",
        "status",
        "page_size",
        "page_token",
    ]
    assert violations(error)["page_token"] == NOT_A_TOKEN


NOT_A_TOKEN = (
    "is not a token this API returned (garbled, cut short, or made by an earlier version): "
    "search again without it"
)


def test_a_listing_page_token_serves_only_the_query_that_returned_it(api: Any) -> None:
    applicant = resident("32010219660606006")
    numbers = [submit(api, id_number=applicant).case_number for _ in range(3)]
    mine = pb.ListRequest(applicant_id_number=applicant, page_size=1)
    first = api.List(mine, timeout=10)
    others = [
        pb.ListRequest(page_token=first.next_page_token),
        pb.ListRequest(
            applicant_id_number=applicant,
            status=pb.STATUS_RECEIVED,
            page_token=first.next_page_token,
        ),
        pb.ListRequest(
            applicant_id_number=applicant, overdue_only=True, page_token=first.next_page_token
        ),
        pb.ListRequest(
            applicant_id_number=applicant,
            department_code=ITEM.department_code,
            page_token=first.next_page_token,
        ),
    ]
    for request in others:
        error = refused(api.List, request)
        assert (error.code(), violations(error)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            {
                "page_token": "belongs to another query: send the filters of the query that "
                "returned it, or no page_token for a first page"
            },
        ), request
    for garbled in (numbers[0], "12", first.next_page_token[:-2]):
        error = refused(api.List, pb.ListRequest(page_token=garbled))
        assert (error.code(), violations(error)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            {"page_token": NOT_A_TOKEN},
        ), garbled
    seen, token = [a.case_number for a in first.applications], first.next_page_token
    while token:
        page = api.List(
            pb.ListRequest(applicant_id_number=applicant, page_size=2, page_token=token),
            timeout=10,
        )
        seen, token = seen + [a.case_number for a in page.applications], page.next_page_token
    assert seen == numbers


def test_a_listing_matches_codes_in_any_case_of_letters_and_pages_through(api: Any) -> None:
    applicant = resident("32010219770707007")
    numbers = [submit(api, JOINT, id_number=applicant).case_number for _ in range(3)]
    query = {
        "applicant_id_number": f" {applicant.lower()} ",
        "department_code": JOINT.department_code.lower(),
        "page_size": 2,
    }
    first = api.List(pb.ListRequest(**query), timeout=10)
    assert [a.case_number for a in first.applications] == numbers[:2]
    assert first.next_page_token not in ("", numbers[1])  # opaque
    rest = api.List(pb.ListRequest(**query, page_token=first.next_page_token), timeout=10)
    assert ([a.case_number for a in rest.applications], rest.next_page_token) == (numbers[2:], "")
    received = api.List(
        pb.ListRequest(applicant_id_number=applicant, status=pb.STATUS_RECEIVED), timeout=10
    )
    assert [a.case_number for a in received.applications] == numbers


# -- every text and enum field of every request ------------------------------------------------
#
# Walked from the proto, so a field added later is covered without a line here; a new RPC
# needs its valid request in `base_request`.

SERVICE = pb.DESCRIPTOR.services_by_name["ApplicationsService"]


def request_fields(descriptor: Descriptor, kind: int, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every field of `kind` (string, enum) in a request, nested ones too."""
    for field in descriptor.fields:
        path = f"{prefix}{field.name}"
        if field.type == kind:
            yield path
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.full_name.startswith(
            "govnet."
        ):
            yield from request_fields(field.message_type, kind, f"{path}.")


def fields_of(kind: int) -> list[tuple[str, str]]:
    return [
        (method.name, path)
        for method in SERVICE.methods
        for path in request_fields(method.input_type, kind)
    ]


TEXT_FIELDS = fields_of(FieldDescriptor.TYPE_STRING)
ENUM_FIELDS = fields_of(FieldDescriptor.TYPE_ENUM)
BAD_TEXTS = {"over-long": "長" * 5000, "NUL": "a\x00b"}


def put(request: Message, path: str, value: Any) -> str:
    """Set the field at `path` (appending to a repeated one); return the field name the
    answer must use (`materials.3` for the fourth material)."""
    *parents, name = path.split(".")
    holder: Any = request
    for parent in parents:
        holder = getattr(holder, parent)
    if holder.DESCRIPTOR.fields_by_name[name].is_repeated:
        values = getattr(holder, name)
        values.append(value)
        return f"{path}.{len(values) - 1}"
    setattr(holder, name, value)
    return path


@pytest.fixture(scope="module")
def cases(api: Any) -> dict[str, str]:
    """One case in each state a request needs; the walk never changes them."""

    def number_after(*calls: Any) -> str:
        number = submit(api).case_number
        for call in calls:
            call(number)
        return number

    def accept(number: str) -> None:
        api.Accept(pb.AcceptRequest(case_number=number, actor=ACTOR), timeout=10)

    return {
        "received": number_after(),
        "accepted": number_after(accept),
        "supplement_requested": number_after(
            lambda n: api.RequestSupplement(
                pb.RequestSupplementRequest(case_number=n, actor=ACTOR, materials=["健康证明"]),
                timeout=10,
            )
        ),
        "in_review": number_after(
            accept,
            lambda n: api.AssignReview(
                pb.AssignReviewRequest(
                    case_number=n, actor=ACTOR, departments=[ITEM.department_code]
                ),
                timeout=10,
            ),
        ),
        "paused": number_after(
            accept,
            lambda n: api.PauseClock(
                pb.PauseClockRequest(case_number=n, actor=ACTOR, kind="hearing", reason="听证"),
                timeout=10,
            ),
        ),
        "concluded": number_after(
            accept,
            lambda n: api.Conclude(
                pb.ConcludeRequest(case_number=n, actor=ACTOR, result_code=0), timeout=10
            ),
        ),
    }


def base_request(method: str, cases: dict[str, str]) -> Message:
    """A request of `method` that would succeed: a walk changes one field of it."""
    actor = pb.Actor()
    actor.CopyFrom(ACTOR)
    made: dict[str, Message] = {
        "Submit": submit_request(),
        "Get": pb.GetRequest(case_number=cases["received"]),
        "List": pb.ListRequest(),
        "Accept": pb.AcceptRequest(case_number=cases["received"], actor=actor),
        "Refuse": pb.RefuseRequest(case_number=cases["received"], actor=actor, reason="不符合"),
        "RequestSupplement": pb.RequestSupplementRequest(
            case_number=cases["received"], actor=actor, materials=["健康证明"]
        ),
        "Supplement": pb.SupplementRequest(
            case_number=cases["supplement_requested"],
            applicant_id_number=RESIDENT,
            materials=["健康证明"],
        ),
        "AssignReview": pb.AssignReviewRequest(
            case_number=cases["accepted"], actor=actor, departments=[ITEM.department_code]
        ),
        "CompleteReview": pb.CompleteReviewRequest(
            case_number=cases["in_review"], actor=actor, approved=True, opinion="同意"
        ),
        "PauseClock": pb.PauseClockRequest(
            case_number=cases["accepted"], actor=actor, kind="hearing", reason="听证"
        ),
        "ResumeClock": pb.ResumeClockRequest(case_number=cases["paused"], actor=actor),
        "Conclude": pb.ConcludeRequest(
            case_number=cases["accepted"], actor=actor, result_code=0, certificate="JY1"
        ),
        "Withdraw": pb.WithdrawRequest(
            case_number=cases["received"], applicant_id_number=RESIDENT, reason="不办了"
        ),
        "Evaluate": pb.EvaluateRequest(
            case_number=cases["concluded"],
            applicant_id_number=RESIDENT,
            level=pb.EVALUATION_LEVEL_SATISFIED,
            channel=pb.CHANNEL_WEB,
            comment="办事很快",
        ),
    }
    return made[method]


def test_every_rpc_has_a_request_to_walk() -> None:
    walked = {method for method, _ in TEXT_FIELDS}
    assert walked == {m.name for m in SERVICE.methods}


@pytest.mark.parametrize("bad", BAD_TEXTS)
@pytest.mark.parametrize(("method", "path"), TEXT_FIELDS, ids=[f"{m}.{p}" for m, p in TEXT_FIELDS])
def test_a_bad_text_in_any_request_field_is_invalid_argument_naming_that_field(
    api: Any, cases: dict[str, str], method: str, path: str, bad: str
) -> None:
    request = base_request(method, cases)
    field = put(request, path, BAD_TEXTS[bad])
    error = refused(getattr(api, method), request)
    assert (error.code(), list(violations(error))) == (grpc.StatusCode.INVALID_ARGUMENT, [field])
    assert len(error.details()) < 300, "the answer names the problem, it does not echo the input"


@pytest.mark.parametrize(("method", "path"), ENUM_FIELDS, ids=[f"{m}.{p}" for m, p in ENUM_FIELDS])
def test_an_enum_value_the_api_does_not_know_is_invalid_argument_naming_the_field(
    api: Any, cases: dict[str, str], method: str, path: str
) -> None:
    request = base_request(method, cases)
    field = put(request, path, 99)
    error = refused(getattr(api, method), request)
    assert (error.code(), list(violations(error))) == (grpc.StatusCode.INVALID_ARGUMENT, [field])
