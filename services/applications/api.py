"""The applications gRPC API: translates proto <-> domain; errors are mapped by the server."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from govnet.applications.v1 import applications_pb2 as pb
from govnet.applications.v1 import applications_pb2_grpc as pb_grpc
from services.applications.domain import (
    Actor,
    Applicant,
    Case,
    CaseQuery,
    Submission,
    canonical_code,
    check_case_number,
)
from services.applications.store import ApplicationsStore
from services.platform.errors import InvalidArgument
from services.platform.grpc_server import Registration

log = logging.getLogger(__name__)

CHANNELS = {
    pb.CHANNEL_WEB: "web",
    pb.CHANNEL_MOBILE: "mobile",
    pb.CHANNEL_WINDOW: "window",
    pb.CHANNEL_TERMINAL: "terminal",
    pb.CHANNEL_HOTLINE: "hotline",
}
CHANNEL_VALUES = {name: value for value, name in CHANNELS.items()}
KINDS = {pb.APPLICANT_KIND_NATURAL: "natural", pb.APPLICANT_KIND_LEGAL: "legal"}
KIND_VALUES = {name: value for value, name in KINDS.items()}
STATUSES = {
    "received": pb.STATUS_RECEIVED,
    "accepted": pb.STATUS_ACCEPTED,
    "supplement_requested": pb.STATUS_SUPPLEMENT_REQUESTED,
    "supplemented": pb.STATUS_SUPPLEMENTED,
    "in_review": pb.STATUS_IN_REVIEW,
    "reviewed": pb.STATUS_REVIEWED,
    "paused": pb.STATUS_PAUSED,
    "concluded": pb.STATUS_CONCLUDED,
    "refused": pb.STATUS_REFUSED,
    "withdrawn": pb.STATUS_WITHDRAWN,
}
STATUS_NAMES = {value: name for name, value in STATUSES.items()}
LEVELS = {
    pb.EVALUATION_LEVEL_VERY_SATISFIED: "very_satisfied",
    pb.EVALUATION_LEVEL_SATISFIED: "satisfied",
    pb.EVALUATION_LEVEL_BASICALLY_SATISFIED: "basically_satisfied",
    pb.EVALUATION_LEVEL_DISSATISFIED: "dissatisfied",
    pb.EVALUATION_LEVEL_VERY_DISSATISFIED: "very_dissatisfied",
}
LEVEL_VALUES = {name: value for value, name in LEVELS.items()}


class ApplicationsApi(pb_grpc.ApplicationsServiceServicer):
    def __init__(self, store: ApplicationsStore) -> None:
        self.store = store

    def Submit(self, request: pb.SubmitRequest, context: Any) -> pb.Application:
        case, created = self.store.submit(from_proto(request))
        if created:  # every submission is in the audit log; this is for debugging
            log.debug(
                "application received",
                extra={"case_number": case.case_number, "channel": case.channel},
            )
        return to_proto(case)

    def Get(self, request: pb.GetRequest, context: Any) -> pb.Application:
        return to_proto(self.store.get(_number(request.case_number)))

    def List(self, request: pb.ListRequest, context: Any) -> pb.ListResponse:
        found, token = self.store.list(
            CaseQuery(
                applicant_id_number=request.applicant_id_number,
                account_id=request.account_id,
                department_code=request.department_code,
                # STATUS_UNSPECIFIED is any status; a value this API does not know is refused.
                status=STATUS_NAMES.get(request.status, "unknown") if request.status else "",
                overdue=True if request.overdue_only else None,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        )
        return pb.ListResponse(applications=[to_proto(c) for c in found], next_page_token=token)

    def Accept(self, request: pb.AcceptRequest, context: Any) -> pb.Application:
        return to_proto(self.store.accept(_number(request.case_number), _actor(request)))

    def Refuse(self, request: pb.RefuseRequest, context: Any) -> pb.Application:
        case = self.store.refuse(_number(request.case_number), _actor(request), request.reason)
        return to_proto(case)

    def RequestSupplement(
        self, request: pb.RequestSupplementRequest, context: Any
    ) -> pb.Application:
        case = self.store.request_supplement(
            _number(request.case_number), _actor(request), list(request.materials)
        )
        return to_proto(case)

    def Supplement(self, request: pb.SupplementRequest, context: Any) -> pb.Application:
        case = self.store.supplement(
            _number(request.case_number), request.applicant_id_number, list(request.materials)
        )
        return to_proto(case)

    def AssignReview(self, request: pb.AssignReviewRequest, context: Any) -> pb.Application:
        case = self.store.assign_review(
            _number(request.case_number), _actor(request), list(request.departments)
        )
        return to_proto(case)

    def CompleteReview(self, request: pb.CompleteReviewRequest, context: Any) -> pb.Application:
        case = self.store.complete_review(
            _number(request.case_number), _actor(request), request.approved, request.opinion
        )
        return to_proto(case)

    def PauseClock(self, request: pb.PauseClockRequest, context: Any) -> pb.Application:
        case = self.store.pause(
            _number(request.case_number), _actor(request), request.kind.strip(), request.reason
        )
        return to_proto(case)

    def ResumeClock(self, request: pb.ResumeClockRequest, context: Any) -> pb.Application:
        return to_proto(self.store.resume(_number(request.case_number), _actor(request)))

    def Conclude(self, request: pb.ConcludeRequest, context: Any) -> pb.Application:
        case = self.store.conclude(
            _number(request.case_number),
            _actor(request),
            request.result_code,
            request.reason,
            request.certificate,
        )
        return to_proto(case)

    def Withdraw(self, request: pb.WithdrawRequest, context: Any) -> pb.Application:
        case = self.store.withdraw(
            _number(request.case_number), request.applicant_id_number, request.reason
        )
        return to_proto(case)

    def Evaluate(self, request: pb.EvaluateRequest, context: Any) -> pb.Application:
        case = self.store.evaluate(
            _number(request.case_number),
            request.applicant_id_number,
            LEVELS.get(request.level, "unspecified"),
            CHANNELS.get(request.channel, "unspecified"),
            request.comment,
        )
        return to_proto(case)


def registration(store: ApplicationsStore) -> Registration:
    return Registration(
        pb_grpc.add_ApplicationsServiceServicer_to_server,
        ApplicationsApi(store),
        pb.DESCRIPTOR.services_by_name["ApplicationsService"].full_name,
    )


def _number(value: str) -> str:
    return check_case_number(value)


def _actor(request: Any) -> Actor:
    if not request.HasField("actor"):
        raise InvalidArgument.single("actor", "is required: the acting department and officer")
    return Actor(
        canonical_code(request.actor.department_code),
        request.actor.officer_id.strip(),
        request.actor.officer_name.strip(),
    )


def from_proto(request: pb.SubmitRequest) -> Submission:
    applicant = request.applicant
    return Submission(
        request_id=request.request_id,
        implementation_code=request.implementation_code,
        applicant=Applicant(
            kind=KINDS.get(applicant.kind, "unspecified"),
            name=applicant.name,
            id_number=applicant.id_number,
            phone=applicant.phone,
            account_id=applicant.account_id,
        ),
        channel=CHANNELS.get(request.channel, "unspecified"),
        materials=tuple(request.materials),
    )


def _stamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def to_proto(case: Case) -> pb.Application:
    """The case as callers see it: personal data masked."""
    masked = case.applicant.masked()
    message = pb.Application(
        case_number=case.case_number,
        implementation_code=case.item.implementation_code,
        basic_code=case.item.basic_code,
        item_name=case.item.name,
        item_version=case.item.version,
        applicant=pb.Applicant(
            kind=KIND_VALUES[masked.kind],
            name=masked.name,
            id_number=masked.id_number,
            phone=masked.phone,
            account_id=masked.account_id,
        ),
        channel=CHANNEL_VALUES[case.channel],
        status=STATUSES[case.status],
        submitted_at=_stamp(case.submitted_at),
        promised_limit_days=case.item.promised_limit_days,
        legal_limit_days=case.item.legal_limit_days,
        materials=list(case.materials),
        department_code=case.department_code,
        accepted_at=_stamp(case.accepted_at),
        deemed_accepted=case.deemed_accepted,
        due_date=case.due_date.isoformat() if case.due_date else "",
        legal_due_date=case.legal_due_date.isoformat() if case.legal_due_date else "",
        supplement=list(case.supplement),
        reviews=[
            pb.Review(
                department_code=r.department_code,
                assigned_at=_stamp(r.assigned_at),
                completed_at=_stamp(r.completed_at),
                approved=bool(r.approved),
                opinion=r.opinion,
            )
            for r in case.reviews
        ],
        pauses=[
            pb.Pause(
                kind=p.kind,
                reason=p.reason,
                started_at=_stamp(p.started_at),
                ended_at=_stamp(p.ended_at),
                working_days=p.working_days,
            )
            for p in case.pauses
        ],
        result_code=-1 if case.result_code is None else case.result_code,
        reason=case.reason,
        certificate=case.certificate,
        closed_at=_stamp(case.closed_at),
        overdue=case.overdue,
        warned=case.warned,
    )
    if case.evaluation is not None:
        message.evaluation.CopyFrom(
            pb.Evaluation(
                level=LEVEL_VALUES[case.evaluation.level],
                channel=CHANNEL_VALUES[case.evaluation.channel],
                comment=case.evaluation.comment,
                evaluated_at=_stamp(case.evaluation.evaluated_at),
            )
        )
    return message
