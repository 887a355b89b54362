"""The catalog gRPC API: translates proto <-> domain; errors are mapped by the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from govnet.catalog.v1 import catalog_pb2 as pb
from govnet.catalog.v1 import catalog_pb2_grpc as pb_grpc
from services.catalog.domain import Department, Guide, Item, Material
from services.catalog.store import CatalogStore
from services.platform.errors import InvalidArgument
from services.platform.grpc_server import Registration

_STATUS = {
    "draft": pb.ITEM_STATUS_DRAFT,
    "published": pb.ITEM_STATUS_PUBLISHED,
    "revoked": pb.ITEM_STATUS_REVOKED,
}


class CatalogApi(pb_grpc.CatalogServiceServicer):
    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    def GetItem(self, request: pb.GetItemRequest, context: Any) -> pb.Item:
        return to_proto(self.store.get(request.code))

    def ListItems(self, request: pb.ListItemsRequest, context: Any) -> Iterator[pb.Item]:
        for item in self.store.list(
            department_code=request.department_code, type_code=request.type_code
        ):
            yield to_proto(item)

    def PublishItem(self, request: pb.PublishItemRequest, context: Any) -> pb.Item:
        if not request.HasField("item"):
            raise InvalidArgument.single("item", "is required")
        return to_proto(self.store.publish(from_proto(request.item, self.store.node.code)))


def registration(store: CatalogStore) -> Registration:
    return Registration(
        pb_grpc.add_CatalogServiceServicer_to_server,
        CatalogApi(store),
        pb.DESCRIPTOR.services_by_name["CatalogService"].full_name,
    )


def to_proto(item: Item) -> pb.Item:
    return pb.Item(
        basic_code=item.basic_code,
        implementation_code=item.implementation_code,
        name=item.name,
        type_code=item.type_code,
        legal_basis=item.legal_basis,
        level=item.level,
        department=pb.Department(code=item.department.code, name=item.department.name),
        version=item.version,
        status=_STATUS[item.status],
        guide=pb.Guide(
            case_kind=item.guide.case_kind,
            legal_limit_days=item.guide.legal_limit_days,
            promised_limit_days=item.guide.promised_limit_days,
            materials=[pb.Material(name=m.name, required=m.required) for m in item.guide.materials],
        ),
        division=item.division,
    )


def from_proto(message: pb.Item, division: str) -> Item:
    return Item(
        basic_code=message.basic_code.strip(),
        implementation_code=message.implementation_code.strip(),
        name=message.name.strip(),
        type_code=message.type_code.strip(),
        legal_basis=message.legal_basis.strip(),
        level=message.level.strip(),
        department=Department(message.department.code.strip(), message.department.name.strip()),
        version=1,
        status="published",
        guide=Guide(
            case_kind=message.guide.case_kind,
            legal_limit_days=message.guide.legal_limit_days,
            promised_limit_days=message.guide.promised_limit_days,
            materials=tuple(Material(m.name.strip(), m.required) for m in message.guide.materials),
        ),
        division=division,
    )
