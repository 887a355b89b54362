"""The notifications gRPC API."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from govnet.notifications.v1 import notifications_pb2 as pb
from govnet.notifications.v1 import notifications_pb2_grpc as pb_grpc
from services.notifications.store import NotificationsStore, StoredMessage
from services.platform.grpc_server import Registration


class NotificationsApi(pb_grpc.NotificationsServiceServicer):
    def __init__(self, store: NotificationsStore) -> None:
        self.store = store

    def ListInbox(self, request: pb.ListInboxRequest, context: Any) -> pb.ListInboxResponse:
        messages, token = self.store.inbox(
            request.recipient, page_size=request.page_size, page_token=request.page_token
        )
        return pb.ListInboxResponse(messages=[to_proto(m) for m in messages], next_page_token=token)


def registration(store: NotificationsStore) -> Registration:
    return Registration(
        pb_grpc.add_NotificationsServiceServicer_to_server,
        NotificationsApi(store),
        pb.DESCRIPTOR.services_by_name["NotificationsService"].full_name,
    )


def to_proto(message: StoredMessage) -> pb.InboxMessage:
    created = Timestamp()
    created.FromDatetime(message.created_at)
    return pb.InboxMessage(
        id=message.id,
        recipient=message.recipient,
        case_number=message.case_number or "",
        title=message.title,
        body=message.body,
        template=message.template,
        created_at=created,
        read=message.read,
        cause_event_id=message.cause_id,
        cause_event_type=message.cause_type,
    )
