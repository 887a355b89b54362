"""The applications gRPC API: translates proto <-> domain; errors are mapped by the server."""

from __future__ import annotations

import logging
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from govnet.applications.v1 import applications_pb2 as pb
from govnet.applications.v1 import applications_pb2_grpc as pb_grpc
from services.applications.domain import Applicant, Case, Submission
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
STATUSES = {"received": pb.STATUS_RECEIVED}


class ApplicationsApi(pb_grpc.ApplicationsServiceServicer):
    def __init__(self, store: ApplicationsStore) -> None:
        self.store = store

    def Submit(self, request: pb.SubmitRequest, context: Any) -> pb.Application:
        case, created = self.store.submit(from_proto(request))
        if created:
            log.info(
                "application received",
                extra={"case_number": case.case_number, "channel": case.channel},
            )
        return to_proto(case)

    def Get(self, request: pb.GetRequest, context: Any) -> pb.Application:
        if not request.case_number.strip():
            raise InvalidArgument.single("case_number", "is required")
        return to_proto(self.store.get(request.case_number.strip()))


def registration(store: ApplicationsStore) -> Registration:
    return Registration(
        pb_grpc.add_ApplicationsServiceServicer_to_server,
        ApplicationsApi(store),
        pb.DESCRIPTOR.services_by_name["ApplicationsService"].full_name,
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


def to_proto(case: Case) -> pb.Application:
    """The case as callers see it: personal data masked."""
    masked = case.applicant.masked()
    submitted_at = Timestamp()
    submitted_at.FromDatetime(case.submitted_at)
    return pb.Application(
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
        submitted_at=submitted_at,
        promised_limit_days=case.item.promised_limit_days,
        materials=list(case.materials),
    )
