"""The catalog gRPC API: translates proto <-> domain; errors are mapped by the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from govnet.catalog.v1 import catalog_pb2 as pb
from govnet.catalog.v1 import catalog_pb2_grpc as pb_grpc
from services.catalog import domain
from services.catalog.domain import (
    Fee,
    Guide,
    GuideFee,
    GuideMaterial,
    Item,
    Material,
    ProcessStep,
    Question,
)
from services.catalog.store import CatalogStore, DivisionConformance
from services.contract.errors import FieldViolation
from services.contract.identifiers import IdentifierError, check_basic_code
from services.platform.errors import InvalidArgument, NotFound
from services.platform.grpc_server import Registration

STATUS = {
    "draft": pb.ITEM_STATUS_DRAFT,
    "published": pb.ITEM_STATUS_PUBLISHED,
    "revoked": pb.ITEM_STATUS_REVOKED,
}
LIST_FIELDS = ("materials", "fees")


class CatalogApi(pb_grpc.CatalogServiceServicer):
    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    def GetItem(self, request: pb.GetItemRequest, context: Any) -> pb.Item:
        return item_to_proto(self.store.get(request.code))

    def GetStandard(self, request: pb.GetStandardRequest, context: Any) -> pb.Standard:
        code = request.basic_code.strip()
        try:
            check_basic_code(code)
        except IdentifierError as exc:
            raise InvalidArgument.single("basic_code", exc.reason) from None
        standard = self.store.standard(code)
        if standard is None:
            raise NotFound(f"no provincial standard {code} at this node")
        return pb.Standard(
            basic_code=standard.basic_code,
            name=standard.name,
            type_code=standard.type_code,
            legal_basis=standard.legal_basis,
            version=standard.version,
            status=standard.status,
        )

    def GetGuide(self, request: pb.GetGuideRequest, context: Any) -> pb.Guide:
        guide, item = self.store.guide(request.code)
        return guide_to_proto(guide, item)

    def SearchItems(self, request: pb.SearchItemsRequest, context: Any) -> pb.SearchItemsResponse:
        query = domain.parse_query(
            request.text,
            department_code=request.department_code,
            type_code=request.type_code,
            level=request.level,
            division=request.division,
            kind=request.kind,
            status=request.status or "published",
            page_size=request.page_size,
            page_token=request.page_token,
        )
        found, token = self.store.search(query)
        return pb.SearchItemsResponse(
            items=[item_to_proto(i) for i in found], next_page_token=token
        )

    def ListItems(self, request: pb.ListItemsRequest, context: Any) -> Iterator[pb.Item]:
        # The store checks the filters before the first item is sent: a bad one ends the
        # stream with INVALID_ARGUMENT naming it, never with an empty stream.
        items = self.store.list(
            department_code=request.department_code,
            type_code=request.type_code,
            division=request.division,
            kind=request.kind,
        )
        for item in items:
            yield item_to_proto(item)

    def GetItemHistory(self, request: pb.GetItemHistoryRequest, context: Any) -> pb.ItemHistory:
        versions = []
        for version in self.store.history(request.code):
            changed_at = Timestamp()
            changed_at.FromDatetime(version.changed_at)
            versions.append(
                pb.ItemVersion(
                    version=version.version,
                    change=version.change,
                    item=item_to_proto(version.item),
                    changed_fields=list(version.changed_fields),
                    reason=version.reason,
                    changed_at=changed_at,
                )
            )
        return pb.ItemHistory(versions=versions)

    def PublishItem(self, request: pb.PublishItemRequest, context: Any) -> pb.Item:
        if not request.HasField("item"):
            raise InvalidArgument.single("item", "is required")
        return item_to_proto(self.store.publish(item_from_proto(request.item), draft=request.draft))

    def PublishDraft(self, request: pb.PublishDraftRequest, context: Any) -> pb.Item:
        return item_to_proto(self.store.publish_draft(_required(request.implementation_code)))

    def ReviseItem(self, request: pb.ReviseItemRequest, context: Any) -> pb.Item:
        code = _required(request.implementation_code)
        if not request.update_paths:
            raise InvalidArgument.single("update_paths", "name at least one field to revise")
        values = item_from_proto(request.item)
        changes = {}
        for path in request.update_paths:
            # The standard fields go on to the domain, which says who may change them.
            if path not in domain.REVISABLE_FIELDS and path not in domain.STANDARD_FIELDS:
                raise InvalidArgument.single(
                    "update_paths",
                    f"{path} is not a revisable field ({', '.join(domain.REVISABLE_FIELDS)})",
                )
            changes[path] = getattr(values, path)
        return item_to_proto(self.store.revise(code, changes, request.reason.strip()))

    def RevokeItem(self, request: pb.RevokeItemRequest, context: Any) -> pb.Item:
        code = _required(request.implementation_code)
        if not request.reason.strip():
            raise InvalidArgument.single("reason", "is required: say why the item is revoked")
        return item_to_proto(self.store.revoke(code, request.reason.strip()))

    def PublishGuide(self, request: pb.PublishGuideRequest, context: Any) -> pb.Guide:
        if not request.HasField("guide"):
            raise InvalidArgument.single("guide", "is required")
        guide = self.store.publish_guide(guide_from_proto(request.guide))
        _, item = self.store.guide(guide.implementation_code)
        return guide_to_proto(guide, item)

    def CheckConformance(
        self, request: pb.CheckConformanceRequest, context: Any
    ) -> pb.ConformanceReport:
        report = self.store.conformance(
            division=request.division, department_code=request.department_code
        )
        return conformance_to_proto(report)


def registration(store: CatalogStore) -> Registration:
    return Registration(
        pb_grpc.add_CatalogServiceServicer_to_server,
        CatalogApi(store),
        pb.DESCRIPTOR.services_by_name["CatalogService"].full_name,
    )


def _required(value: str, name: str = "implementation_code") -> str:
    """A required code, as stored: codes are upper case (a USCC's letters)."""
    if not value.strip():
        raise InvalidArgument([FieldViolation(name, "is required")])
    return value.strip().upper()


def item_to_proto(item: Item) -> pb.Item:
    return pb.Item(
        implementation_code=item.implementation_code,
        basic_code=item.basic_code,
        name=item.name,
        type_code=item.type_code,
        legal_basis=item.legal_basis,
        level=item.level,
        division=item.division,
        department_code=item.department_code,
        department_name=item.department_name,
        kind=item.kind,
        status=STATUS[item.status],
        version=item.version,
        standard_version=item.standard_version,
        case_kind=item.case_kind,
        legal_limit_days=item.legal_limit_days,
        promised_limit_days=item.promised_limit_days,
        address=item.address,
        materials=[pb.Material(name=m.name, required=m.required) for m in item.materials],
        fees=[pb.Fee(item=f.item, standard=f.standard) for f in item.fees],
    )


def item_from_proto(message: pb.Item) -> Item:
    return Item(
        implementation_code=message.implementation_code.strip().upper(),
        basic_code=message.basic_code.strip(),
        name=message.name.strip(),
        type_code=message.type_code.strip(),
        legal_basis=message.legal_basis.strip(),
        level=message.level.strip(),
        division=message.division.strip(),
        department_code=message.department_code.strip().upper(),
        department_name=message.department_name.strip(),
        kind=message.kind.strip() or "power",
        case_kind=message.case_kind.strip() or "promised",
        legal_limit_days=message.legal_limit_days,
        promised_limit_days=message.promised_limit_days,
        address=message.address.strip(),
        materials=tuple(Material(m.name.strip(), m.required) for m in message.materials),
        fees=tuple(Fee(f.item.strip(), f.standard.strip()) for f in message.fees),
    )


def guide_to_proto(guide: Guide, item: Item) -> pb.Guide:
    return pb.Guide(
        implementation_code=guide.implementation_code,
        version=guide.version,
        item=item_to_proto(item),
        service_object=list(guide.service_object),
        acceptance_conditions=guide.acceptance_conditions,
        process=[
            pb.ProcessStep(step=p.step, description=p.description, limit_days=p.limit_days)
            for p in guide.process
        ],
        office_hours=guide.office_hours,
        consultation_phone=guide.consultation_phone,
        complaint_phone=guide.complaint_phone,
        fees=[
            pb.GuideFee(item=f.item, standard=f.standard, basis=f.basis, waiver=f.waiver)
            for f in guide.fees
        ],
        materials=[
            pb.GuideMaterial(
                name=m.name,
                form=m.form,
                required=m.required,
                copies=m.copies,
                source=m.source,
                blank_form=m.blank_form,
                sample=m.sample,
            )
            for m in guide.materials
        ],
        online_url=guide.online_url,
        mobile_url=guide.mobile_url,
        online_depth=guide.online_depth,
        visits=guide.visits,
        collaborating_departments=list(guide.collaborating_departments),
        result_type=guide.result_type,
        result_name=guide.result_name,
        qa=[pb.Question(question=q.question, answer=q.answer) for q in guide.qa],
    )


def guide_from_proto(message: pb.Guide) -> Guide:
    return Guide(
        implementation_code=message.implementation_code.strip().upper(),
        service_object=tuple(message.service_object) or ("natural",),
        acceptance_conditions=message.acceptance_conditions,
        process=tuple(ProcessStep(p.step, p.description, p.limit_days) for p in message.process),
        office_hours=message.office_hours,
        consultation_phone=message.consultation_phone,
        complaint_phone=message.complaint_phone,
        fees=tuple(GuideFee(f.item, f.standard, f.basis, f.waiver) for f in message.fees),
        materials=tuple(
            GuideMaterial(
                m.name,
                m.form or "原件",
                m.required,
                m.copies,
                m.source or "申请人自备",
                m.blank_form,
                m.sample,
            )
            for m in message.materials
        ),
        online_url=message.online_url,
        mobile_url=message.mobile_url,
        online_depth=message.online_depth or 1,
        visits=message.visits,
        collaborating_departments=tuple(message.collaborating_departments),
        result_type=message.result_type,
        result_name=message.result_name,
        qa=tuple(Question(q.question, q.answer) for q in message.qa),
    )


def conformance_to_proto(report: list[DivisionConformance]) -> pb.ConformanceReport:
    divisions = []
    for division in report:
        divisions.append(
            pb.DivisionConformance(
                division=division.division,
                name=division.name,
                items=division.items,
                deviating_items=division.deviating_items,
                conformance_rate=division.rate,
                deviations_by_field=division.by_field,
                departments=[
                    pb.DepartmentConformance(
                        code=d.code,
                        name=d.name,
                        items=d.items,
                        deviating_items=d.deviating_items,
                        deviations=[
                            pb.Deviation(
                                implementation_code=x.implementation_code,
                                basic_code=x.basic_code,
                                field=x.field,
                                standard_value=x.standard_value,
                                local_value=x.local_value,
                            )
                            for x in d.deviations
                        ],
                    )
                    for d in division.departments
                ],
            )
        )
    return pb.ConformanceReport(
        divisions=divisions,
        items=sum(d.items for d in report),
        deviating_items=sum(d.deviating_items for d in report),
    )
