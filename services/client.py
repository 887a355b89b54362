"""The CLI commands that are gRPC clients of a running node: demo, audit tail, catalog
search and conformance."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import json_format

from govnet.applications.v1 import applications_pb2 as apps_pb
from govnet.applications.v1 import applications_pb2_grpc as apps_grpc
from govnet.audit.v1 import audit_pb2 as audit_pb
from govnet.audit.v1 import audit_pb2_grpc as audit_grpc
from govnet.catalog.v1 import catalog_pb2 as catalog_pb
from govnet.catalog.v1 import catalog_pb2_grpc as catalog_grpc
from govnet.notifications.v1 import notifications_pb2 as notif_pb
from govnet.notifications.v1 import notifications_pb2_grpc as notif_grpc
from services.contract import names
from services.contract.identifiers import resident_check_char
from services.platform.grpc_server import NODE_HEADER
from services.platform.settings import Settings

Echo = Callable[[str], None]
CALL_TIMEOUT = 5.0
POLL = 0.2


def demo_resident_id(division: str) -> str:
    """A valid (checksummed) resident ID of someone born in `division` on 1990-03-07."""
    first17 = f"{division}19900307123"
    return first17 + resident_check_char(first17)


def _channel(address: str, timeout: float, division: str = "") -> grpc.Channel:
    """A channel to the API at `address`. `division`: the node meant (GOVNET_DIVISION),
    sent with every call so that another node on that port refuses instead of answering."""
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        channel.close()
        raise ConnectionError(
            f"no govnet API answers at {address}; start a node with `make run`"
        ) from None
    if division:
        return grpc.intercept_channel(channel, _MeantFor(division))
    return channel


def _node_channel(settings: Settings, service: str) -> grpc.Channel:
    """A channel to `service`'s API of the node the settings name (and only that node)."""
    return _channel(settings.grpc_address(service), 5, settings.division)


class _MeantFor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `NODE_HEADER` to every call."""

    def __init__(self, division: str) -> None:
        self.header = (NODE_HEADER, division)

    def _details(self, details: Any) -> Any:
        metadata = [*(details.metadata or ()), self.header]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)


def _wait_for(probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(POLL)


def submit_when_item_known(
    apps: apps_grpc.ApplicationsServiceStub, request: apps_pb.SubmitRequest, timeout: float
) -> apps_pb.Application | None:
    """Submit, retrying while the node's applications replica has not yet received the item
    from catalog (a node that has just started). None if it never does within `timeout`."""

    def submit() -> apps_pb.Application | None:
        try:
            return apps.Submit(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT and "not an item published" in (
                exc.details() or ""
            ):
                return None
            raise

    return _wait_for(submit, timeout)  # type: ignore[no-any-return]


class NodeError(Exception):
    """The node answered, but not with what the command needs; the message says why."""


def run_demo(settings: Settings, *, timeout: float, echo: Echo) -> int:
    """Submit an application to the node and print with `echo` what audit stored and the
    applicant's inbox received; return 0 once both arrived. Raises ConnectionError if no
    node answers, grpc.RpcError if the node refuses a call (e.g. another node holds the
    port), and NodeError if it cannot take the application or the results do not arrive
    within `timeout`: the caller reports those as errors."""
    catalog = catalog_grpc.CatalogServiceStub(_node_channel(settings, "catalog"))
    apps = apps_grpc.ApplicationsServiceStub(_node_channel(settings, "applications"))
    audit = audit_grpc.AuditServiceStub(_node_channel(settings, "audit"))
    inbox = notif_grpc.NotificationsServiceStub(_node_channel(settings, "notifications"))

    items = [
        i
        for i in catalog.ListItems(
            catalog_pb.ListItemsRequest(division=settings.division), timeout=CALL_TIMEOUT
        )
        if i.case_kind == "promised" and i.status == catalog_pb.ITEM_STATUS_PUBLISHED
    ]
    if not items:
        raise NodeError("the catalog of this node has no items; start it with GOVNET_SEED=sample")
    item = items[0]
    echo(f"item      {item.implementation_code}  {item.name}  ({item.department_name})")

    account = f"demo-{uuid.uuid4().hex[:12]}"
    request = apps_pb.SubmitRequest(
        request_id=str(uuid.uuid4()),
        implementation_code=item.implementation_code,
        applicant=apps_pb.Applicant(
            kind=apps_pb.APPLICANT_KIND_NATURAL,
            name="张小明",
            id_number=demo_resident_id(settings.division),
            phone="13812345678",
            account_id=account,
        ),
        channel=apps_pb.CHANNEL_WEB,
        materials=[m.name for m in item.materials if m.required],
    )

    try:
        application = submit_when_item_known(apps, request, timeout)
    except grpc.RpcError as exc:
        raise NodeError(f"Submit failed: {exc.code().name}: {exc.details()}") from exc
    if application is None:
        raise NodeError(
            f"the applications service of node {settings.division} never learned "
            f"item {item.implementation_code} from its catalog (are both workers up?)"
        )
    number = application.case_number
    echo(
        f"submitted case {number} for {application.applicant.name} "
        f"({application.applicant.id_number}), promised in "
        f"{application.promised_limit_days} working days"
    )

    wanted = {names.APPLICATION_SUBMITTED, names.NOTIFICATION_SENT}

    def audited() -> list[audit_pb.AuditEvent] | None:
        response = audit.ListEvents(
            audit_pb.ListEventsRequest(subject=number), timeout=CALL_TIMEOUT
        )
        return list(response.events) if wanted <= {e.type for e in response.events} else None

    def delivered() -> list[notif_pb.InboxMessage] | None:
        response = inbox.ListInbox(
            notif_pb.ListInboxRequest(recipient=account), timeout=CALL_TIMEOUT
        )
        return [m for m in response.messages if m.case_number == number] or None

    events = _wait_for(audited, timeout)
    messages = _wait_for(delivered, timeout)
    missing = []
    if events:
        echo("audit stored:")
        for event in events:
            echo(
                f"  #{event.log_index:<5} {event.type:<24} id={event.id}  seq={event.sequence}  "
                f"source={event.source}"
            )
    else:
        missing.append(f"audit did not store both {sorted(wanted)} for {number}")
    if messages:
        echo(f"inbox of {account}:")
        for message in messages:
            echo(f"  {message.id}  {message.title}")
            echo(f"    {message.body}")
    else:
        missing.append(f"no inbox message for {number} arrived")
    if missing:
        raise NodeError(f"{' and '.join(missing)} within {timeout:.0f}s")
    return 0


def tail_audit(
    settings: Settings,
    *,
    event_type: str,
    subject: str,
    after: int,
    lines: int,
    follow: bool,
    echo: Echo,
) -> int:
    """Print with `echo` the newest `lines` events of the audit log (all after `after`, if
    given), and with `follow` new ones until interrupted. Raises ConnectionError if no node
    answers and grpc.RpcError if the node refuses: the caller reports those as errors."""
    audit = audit_grpc.AuditServiceStub(_node_channel(settings, "audit"))

    def page(start: int) -> audit_pb.ListEventsResponse:
        return audit.ListEvents(
            audit_pb.ListEventsRequest(
                after_index=start, page_size=1000, type=event_type, subject=subject
            ),
            timeout=CALL_TIMEOUT,
        )

    cursor = after
    backlog: list[audit_pb.AuditEvent] = []
    while True:  # read to the end first, to show the newest `lines`
        response = page(cursor)
        backlog.extend(response.events)
        if not response.events:
            break
        cursor = response.last_index
    shown = backlog if after else backlog[-lines:]
    for event in shown:
        echo(_line(event))
    try:
        while follow:
            time.sleep(0.5)
            response = page(cursor)
            for event in response.events:
                echo(_line(event))
            cursor = response.last_index
    except KeyboardInterrupt:
        pass
    return 0


def _line(event: audit_pb.AuditEvent) -> str:
    when = event.time.ToDatetime().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    data = json_format.MessageToDict(event.data)
    summary = json.dumps(
        {k: _plain(v) for k, v in data.items() if not isinstance(v, dict | list)},
        ensure_ascii=False,
    )
    return (
        f"#{event.log_index:<6} {when}  {event.type:<22} {event.subject or '-':<24} "
        f"{event.source}  {summary[:160]}"
    )


def _plain(value: Any) -> Any:
    # protobuf Struct holds every number as a double; show whole numbers as integers.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def search_catalog(
    settings: Settings,
    *,
    text: str,
    department_code: str,
    type_code: str,
    level: str,
    division: str,
    kind: str,
    limit: int,
    echo: Echo,
) -> int:
    """Print the first `limit` items matching the query with `echo`. Raises ConnectionError
    if no node answers and grpc.RpcError if the node refuses (INVALID_ARGUMENT naming each
    bad filter): the caller reports those as errors."""
    catalog = catalog_grpc.CatalogServiceStub(_node_channel(settings, "catalog"))
    response = catalog.SearchItems(
        catalog_pb.SearchItemsRequest(
            text=text,
            department_code=department_code,
            type_code=type_code,
            level=level,
            division=division,
            kind=kind,
            page_size=limit,
        ),
        timeout=CALL_TIMEOUT,
    )
    for item in response.items:
        limits = (
            "即办" if item.case_kind == "immediate" else f"承诺{item.promised_limit_days}个工作日"
        )
        echo(
            f"{item.implementation_code}  {item.name}  [{item.type_code} {item.kind}] "
            f"{item.department_name} ({item.division}) {limits}"
        )
    if not response.items:
        echo("no items match")
    elif response.next_page_token:
        echo(f"… more match; narrow the search or raise --limit (showing {len(response.items)})")
    return 0


def conformance_report(
    settings: Settings,
    *,
    division: str,
    department_code: str,
    details: bool,
    as_json: bool,
    echo: Echo,
) -> int:
    """Print the conformance report with `echo`. Raises ConnectionError if no node answers
    and grpc.RpcError if the node refuses (INVALID_ARGUMENT naming each bad filter): the
    caller reports those as errors."""
    catalog = catalog_grpc.CatalogServiceStub(_node_channel(settings, "catalog"))
    report = catalog.CheckConformance(
        catalog_pb.CheckConformanceRequest(division=division, department_code=department_code),
        timeout=30,
    )
    if as_json:
        # Every figure, zeros too: a reader finds 0 deviating items, not a missing key.
        as_dict = json_format.MessageToDict(report, always_print_fields_with_no_presence=True)
        echo(json.dumps(as_dict, ensure_ascii=False, indent=2))
        return 0
    if not report.divisions:
        echo("no local implementations held here; nothing to check")
        return 0
    rate = 1 - report.deviating_items / report.items if report.items else 1.0
    echo(
        f"{report.items:,} implementations checked, {report.deviating_items:,} deviate "
        f"from the provincial standard ({rate:.1%} conform)"
    )
    for division_report in report.divisions:
        fields_ = ", ".join(
            f"{k} {v}" for k, v in sorted(division_report.deviations_by_field.items())
        )
        echo(
            f"{division_report.division} {division_report.name}: {division_report.items} checked, "
            f"{division_report.deviating_items} deviate ({division_report.conformance_rate:.1%})"
            + (f" — {fields_}" if fields_ else "")
        )
        for dept in division_report.departments:
            if not dept.deviating_items and not details:
                continue
            echo(f"  {dept.code} {dept.name}: {dept.items} checked, {dept.deviating_items} deviate")
            if details:
                for deviation in dept.deviations:
                    echo(
                        f"    {deviation.implementation_code} {deviation.field}: "
                        f"{deviation.local_value!r} (standard: {deviation.standard_value!r})"
                    )
    return 0
