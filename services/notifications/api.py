"""The notifications gRPC API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from govnet.notifications.v1 import notifications_pb2 as pb
from govnet.notifications.v1 import notifications_pb2_grpc as pb_grpc
from services.notifications.channels import mask_email, mask_phone
from services.notifications.domain import Contact
from services.notifications.store import (
    Notification,
    NotificationsStore,
    Rectification,
    WorkOrder,
)
from services.platform.grpc_server import Registration


class NotificationsApi(pb_grpc.NotificationsServiceServicer):
    def __init__(self, store: NotificationsStore) -> None:
        self.store = store

    def ListInbox(self, request: pb.ListInboxRequest, context: Any) -> pb.ListInboxResponse:
        messages, token = self.store.inbox(
            request.recipient,
            page_size=request.page_size,
            page_token=request.page_token,
            unread_only=request.unread_only,
        )
        return pb.ListInboxResponse(
            messages=[inbox_to_proto(m) for m in messages], next_page_token=token
        )

    def MarkRead(self, request: pb.MarkReadRequest, context: Any) -> pb.MarkReadResponse:
        return pb.MarkReadResponse(marked=self.store.mark_read(request.recipient, request.ids))

    def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: Any
    ) -> pb.ListNotificationsResponse:
        found, token = self.store.notifications(
            recipient=request.recipient,
            case_number=request.case_number,
            status=request.status,
            channel=request.channel,
            dead_lettered=request.dead_lettered,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListNotificationsResponse(
            notifications=[notification_to_proto(n) for n in found], next_page_token=token
        )

    def GetNotification(self, request: pb.GetNotificationRequest, context: Any) -> pb.Notification:
        return notification_to_proto(self.store.notification(request.id))

    def RetryNotification(
        self, request: pb.RetryNotificationRequest, context: Any
    ) -> pb.Notification:
        return notification_to_proto(self.store.retry(request.id))

    def ListWorkOrders(
        self, request: pb.ListWorkOrdersRequest, context: Any
    ) -> pb.ListWorkOrdersResponse:
        found, token = self.store.work_orders(
            division=request.division,
            department=request.department,
            status=request.status,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListWorkOrdersResponse(
            work_orders=[work_order_to_proto(w) for w in found], next_page_token=token
        )

    def CloseWorkOrder(self, request: pb.CloseWorkOrderRequest, context: Any) -> pb.WorkOrder:
        return work_order_to_proto(
            self.store.close_work_order(
                request.id, outcome=request.outcome, operator=request.operator
            )
        )

    def ListRectifications(
        self, request: pb.ListRectificationsRequest, context: Any
    ) -> pb.ListRectificationsResponse:
        found, token = self.store.rectifications(
            department=request.department,
            status=request.status,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListRectificationsResponse(
            rectifications=[rectification_to_proto(r) for r in found], next_page_token=token
        )

    def CompleteRectification(
        self, request: pb.CompleteRectificationRequest, context: Any
    ) -> pb.Rectification:
        return rectification_to_proto(
            self.store.complete_rectification(
                request.id, department=request.department, note=request.note
            )
        )

    def PutContact(self, request: pb.Contact, context: Any) -> pb.Contact:
        return contact_to_proto(
            self.store.put_contact(
                request.account_id,
                email=request.email,
                phone=request.phone,
                language=request.language,
                email_enabled=not request.email_opt_out,
                sms_enabled=not request.sms_opt_out,
            )
        )

    def GetContact(self, request: pb.GetContactRequest, context: Any) -> pb.Contact:
        return contact_to_proto(self.store.contact(request.account_id))

    def DeleteContact(
        self, request: pb.DeleteContactRequest, context: Any
    ) -> pb.DeleteContactResponse:
        return pb.DeleteContactResponse(deleted=self.store.delete_contact(request.account_id))

    def PutDepartment(self, request: pb.Department, context: Any) -> pb.Department:
        return department_to_proto(
            self.store.put_department(
                request.code,
                name=request.name,
                email=request.email,
                phone=request.phone,
                supervisor=request.supervisor,
            )
        )

    def GetDepartment(self, request: pb.GetDepartmentRequest, context: Any) -> pb.Department:
        return department_to_proto(self.store.department(request.code))


def registration(store: NotificationsStore) -> Registration:
    return Registration(
        pb_grpc.add_NotificationsServiceServicer_to_server,
        NotificationsApi(store),
        pb.DESCRIPTOR.services_by_name["NotificationsService"].full_name,
    )


def _timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(value)
    return out


def inbox_to_proto(message: Notification) -> pb.InboxMessage:
    return pb.InboxMessage(
        id=message.id,
        recipient=message.recipient,
        case_number=message.case_number or "",
        title=message.title,
        body=message.body,
        template=message.template,
        created_at=_timestamp(message.created_at),
        read=message.read,
        cause_event_id=message.cause_id,
        cause_event_type=message.cause_type,
    )


def notification_to_proto(message: Notification) -> pb.Notification:
    return pb.Notification(
        id=message.id,
        recipient=message.recipient,
        channel=message.channel,
        to=message.to_masked or "",
        template=message.template,
        language=message.language,
        title=message.title,
        body=message.body,
        case_number=message.case_number or "",
        status=message.status,
        attempts=message.attempts,
        next_attempt_at=_timestamp(message.next_attempt_at),
        deferred=message.deferred or "",
        last_error=message.last_error or "",
        dead_lettered=message.dead_lettered,
        created_at=_timestamp(message.created_at),
        delivered_at=_timestamp(message.delivered_at),
        cause_event_source=message.cause_source,
        cause_event_id=message.cause_id,
        cause_event_type=message.cause_type,
    )


def work_order_to_proto(order: WorkOrder) -> pb.WorkOrder:
    return pb.WorkOrder(
        id=order.id,
        case_number=order.case_number,
        division=order.division,
        department=order.department or "",
        title=order.title,
        body=order.body,
        template=order.template,
        status=order.status,
        created_at=_timestamp(order.created_at),
        closed_at=_timestamp(order.closed_at),
        outcome=order.outcome or "",
        operator=order.operator or "",
    )


def rectification_to_proto(item: Rectification) -> pb.Rectification:
    return pb.Rectification(
        id=item.id,
        case_number=item.case_number,
        department=item.department,
        division=item.division,
        level=item.level,
        requested_at=_timestamp(item.requested_at),
        due_date=item.due_date.isoformat(),
        status=item.status,
        done_at=_timestamp(item.done_at),
        note=item.note or "",
        escalated_at=_timestamp(item.escalated_at),
    )


def contact_to_proto(contact: Contact) -> pb.Contact:
    return pb.Contact(
        account_id=contact.key,
        email=mask_email(contact.email) if contact.email else "",
        phone=mask_phone(contact.phone) if contact.phone else "",
        language=contact.language,
        email_opt_out=not contact.email_enabled,
        sms_opt_out=not contact.sms_enabled,
    )


def department_to_proto(contact: Contact) -> pb.Department:
    return pb.Department(
        code=contact.key.removeprefix("dept:"),
        name=contact.name,
        email=contact.email or "",
        phone=contact.phone or "",
        supervisor=contact.supervisor or "",
    )
