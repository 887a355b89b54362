"""Who hears what, through which channels, and when a message may go. Pure: no I/O, no
clock (times are passed in), no nameko/grpc.

Applicants hear about their case: received (inbox), accepted, refused with the reason,
supplement requested with the list, concluded, and — when a concluded case is still
unrated some days later — an invitation to evaluate. Departments hear electronic
supervision's yellow and red cards for their cases and every bad review, which they must
rectify by a deadline; a missed deadline goes to the supervising level. Cases that came in
through the 12345 hotline, and every bad review, also become call-back work orders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from services.contract import names
from services.contract.identifiers import check_division_code
from services.notifications.templates import CHINA, Localized, TemplateSet

INBOX, EMAIL, SMS, WORKORDER = "inbox", "email", "sms", "workorder"
DELIVERED = "delivered"
CREATED = "created"
SENDING = "sending"
TEMPORARY = "temporary-failure"
PERMANENT = "permanent-failure"

RESULTS: Mapping[int, Localized] = {
    0: Localized({"zh-CN": "准予许可，已出证", "en": "granted, the certificate is issued"}),
    1: Localized({"zh-CN": "不予许可", "en": "not granted"}),
    2: Localized({"zh-CN": "已作废", "en": "voided"}),
    3: Localized({"zh-CN": "已删除", "en": "deleted"}),
    4: Localized({"zh-CN": "已转报上级机关", "en": "forwarded to a higher authority"}),
    5: Localized({"zh-CN": "已退件", "en": "returned"}),
}
LEVELS: Mapping[str, Localized] = {
    "very_satisfied": Localized({"zh-CN": "非常满意", "en": "very satisfied"}),
    "satisfied": Localized({"zh-CN": "满意", "en": "satisfied"}),
    "basically_satisfied": Localized({"zh-CN": "基本满意", "en": "basically satisfied"}),
    "dissatisfied": Localized({"zh-CN": "不满意", "en": "dissatisfied"}),
    "very_dissatisfied": Localized({"zh-CN": "非常不满意", "en": "very dissatisfied"}),
}
APPLICANT_NOTICES = frozenset(
    {
        names.APPLICATION_ACCEPTED,
        names.APPLICATION_REFUSED,
        names.APPLICATION_SUPPLEMENT_REQUESTED,
        names.APPLICATION_CONCLUDED,
    }
)
CALLBACKS: Mapping[str, str] = {
    names.APPLICATION_ACCEPTED: "callback.accepted",
    names.APPLICATION_REFUSED: "callback.refused",
    names.APPLICATION_CONCLUDED: "callback.concluded",
}
DEPARTMENT_NOTICES = frozenset({names.APPLICATION_DEADLINE_WARNING, names.APPLICATION_OVERDUE})
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$")


@dataclass(frozen=True)
class Case:
    """What notifications knows of a case, from its `application.submitted` event."""

    case_number: str
    recipient: str
    """The applicant's inbox: their account id, or `case:<case number>` without one."""
    account_id: str | None
    applicant_name: str  # masked for natural persons, as in the event
    item_name: str
    channel: str
    department: str | None
    division: str
    implementation_code: str | None = None


@dataclass(frozen=True)
class Contact:
    """How to reach someone: an applicant's account, or a department."""

    key: str
    language: str = "zh-CN"
    email: str | None = None
    phone: str | None = None
    email_enabled: bool = True
    sms_enabled: bool = True
    name: str = ""
    supervisor: str | None = None  # departments: the supervising department's code


@dataclass(frozen=True)
class Planned:
    """One notification to create: a template for one recipient on one channel."""

    template_id: str
    recipient: str
    channel: str
    language: str
    values: Mapping[str, Any]
    address: str | None = None  # email or phone, for those channels


@dataclass(frozen=True)
class Plan:
    notifications: list[Planned] = field(default_factory=list)
    rectification_due: date | None = None
    """Set when the event is a bad review: the department must rectify by this day."""


def applicant_key(account_id: str | None, case_number: str) -> str:
    """An applicant's inbox: their account, or the case itself when they have none (a
    walk-in applicant reads it through the case)."""
    return account_id if account_id else f"case:{case_number}"


def department_key(code: str) -> str:
    return f"dept:{code}"


def supervision_key(division: str) -> str:
    """The inbox of a division's electronic supervision office (电子监察), for escalations
    about departments that name no supervising department."""
    return f"supervision:{division}"


def case_from_submitted(data: Mapping[str, Any], division: str) -> Case:
    applicant = data["applicant"]
    account = applicant.get("account_id")
    return Case(
        case_number=data["case_number"],
        recipient=applicant_key(account, data["case_number"]),
        account_id=account,
        applicant_name=applicant["name"],
        item_name=data["item_name"],
        channel=data["channel"],
        department=data.get("department"),
        division=division,
        implementation_code=data["implementation_code"],
    )


def context(case: Case, department_name: str, division_name: str) -> dict[str, Any]:
    return {
        "case": {
            "item_name": case.item_name,
            "applicant_name": case.applicant_name,
            "department_name": department_name or (case.department or ""),
            "channel": case.channel,
        },
        "division": {"name": division_name},
    }


def plan_event(
    event_type: str,
    data: Mapping[str, Any],
    case: Case,
    *,
    applicant: Contact | None,
    department: Contact | None,
    base: Mapping[str, Any],
    channels: frozenset[str],
    templates: TemplateSet,
    rectify_by: date | None = None,
    rectify_days: int = 0,
    reviewers: Mapping[str, Contact | None] | None = None,
) -> Plan:
    """The notifications one applications event calls for. `base` holds the context
    values (`context`); `channels` the delivery channels this node has configured;
    `templates` say which channels each purpose is sent on; `rectify_by` the
    rectification deadline, for a bad review; `reviewers` the contact (or None) of each
    collaborating department of a joint review, by code (`collaborators`).

    A recipient hears of something on each channel that its template lists, the node has
    and the recipient accepts (an address on file, not opted out): never on one the
    template leaves out."""
    values = {**data, **base}
    send = _Sender(templates, channels)
    if event_type == names.APPLICATION_SUBMITTED:
        days = data["promised_limit_days"]
        values["promise"] = Localized(
            {
                "zh-CN": "即办件，将当场办结。" if days == 0 else f"承诺在 {days} 个工作日内办结。",
                "en": "It is handled on the spot."
                if days == 0
                else f"We promise a decision within {days} working days.",
            }
        )
        return Plan(send("application.submitted", case.recipient, applicant, values))
    if event_type in APPLICANT_NOTICES:
        if event_type == names.APPLICATION_CONCLUDED:
            values["result"] = result_text(data)
        planned = send(event_type, case.recipient, applicant, values)
        if case.channel == "hotline" and event_type in CALLBACKS:
            planned += send.work_order(CALLBACKS[event_type], case, values)
        return Plan(planned)
    if event_type in DEPARTMENT_NOTICES:
        code = data.get("department") or case.department
        if not code:
            return Plan()
        return Plan(send(event_type, department_key(code), department, values))
    if event_type == names.APPLICATION_REVIEW_ASSIGNED:
        # Each collaborating department hears of its review task; the accepting department
        # assigned the reviews and is not told of its own.
        return Plan(
            [
                notice
                for code, contact in (reviewers or {}).items()
                for notice in send(event_type, department_key(code), contact, values)
            ]
        )
    if event_type == names.APPLICATION_EVALUATED and data.get("bad"):
        code = data.get("department") or case.department
        values["level_name"] = LEVELS.get(data.get("level", ""), Localized())
        values["rectify_by"] = rectify_by
        values["rectify_days"] = rectify_days
        planned = send.work_order("callback.bad_review", case, values)
        if code:
            planned += send("rectification.requested", department_key(code), department, values)
        return Plan(planned, rectification_due=rectify_by if code else None)
    return Plan()


def collaborators(review_assigned: Mapping[str, Any]) -> list[str]:
    """The departments of an `application.review_assigned` other than the one that
    assigned the reviews, each once, in the event's order."""
    acting = review_assigned.get("department")
    return [
        code for code in dict.fromkeys(review_assigned.get("reviewers") or []) if code != acting
    ]


def plan_invitation(
    concluded: Mapping[str, Any],
    case: Case,
    *,
    applicant: Contact | None,
    base: Mapping[str, Any],
    channels: frozenset[str],
    templates: TemplateSet,
    invitation_days: int,
) -> list[Planned]:
    values = {
        **concluded,
        **base,
        "result": result_text(concluded),
        "invitation_days": invitation_days,
    }
    send = _Sender(templates, channels)
    return send("evaluation.invitation", case.recipient, applicant, values)


def supervising_division(code: str) -> str:
    """The division one level up, which supervises `code`'s departments: a county's city,
    a city's province (zero the tail, GB/T 2260). The province supervises itself."""
    return check_division_code(code).parent or code


def plan_escalation(
    evaluated: Mapping[str, Any],
    *,
    supervisor: Contact | None,
    division: str,
    base: Mapping[str, Any],
    channels: frozenset[str],
    templates: TemplateSet,
    rectify_by: date,
    rectify_days: int,
) -> list[Planned]:
    """A missed rectification goes to the supervising level: the department's supervising
    department if the directory names one (`supervisor`), else the electronic supervision
    office of the division one level up from `division` (`supervising_division`) — the
    city's for a county department, the province's for a city's; the province's own
    departments go to the province's office."""
    values = {
        **evaluated,
        **base,
        "level_name": LEVELS.get(evaluated.get("level", ""), Localized()),
        "rectify_by": rectify_by,
        "rectify_days": rectify_days,
    }
    send = _Sender(templates, channels)
    return send(
        "rectification.escalated", escalation_recipient(supervisor, division), supervisor, values
    )


def escalation_recipient(supervisor: Contact | None, division: str) -> str:
    """Whose inbox a missed rectification of a department of `division` goes to: its
    supervising department's, else the supervision office's of the level above."""
    if supervisor is None:
        return supervision_key(supervising_division(division))
    return supervisor.key


def escalation_data(
    rectification_id: str,
    evaluated: Mapping[str, Any],
    case: Case,
    *,
    department: Contact | None,
    department_code: str,
    escalated_to: str,
    rectify_by: date,
    escalated_at: datetime,
) -> dict[str, Any]:
    """The payload of `rectification.escalated`: all the supervising level needs to be told,
    at a node that never saw the case. `evaluated` is the bad review (`application.evaluated`),
    `department` the late department's directory entry, if any: without a name there, the
    department is named by its code, as the escalating node's own message names it."""
    return {
        "rectification_id": rectification_id,
        "case_number": case.case_number,
        "implementation_code": case.implementation_code or None,
        "item_name": case.item_name,
        "department": {
            "code": department_code,
            "name": (department.name if department is not None else "") or department_code,
        },
        "level": evaluated.get("level"),
        "comment": evaluated.get("comment"),
        "rectify_by": rectify_by.isoformat(),
        "escalated_to": escalated_to,
        "escalated_at": escalated_at.isoformat(),
    }


def plan_received_escalation(
    escalated: Mapping[str, Any],
    *,
    division: str,
    escalated_by: str,
    escalated_from: str,
    channels: frozenset[str],
    templates: TemplateSet,
) -> list[Planned]:
    """The message a `rectification.escalated` from a node below calls for at the node of
    `division`: the one the escalating node keeps in its own copy of the inbox, for this
    division's electronic supervision office (`supervision_key`). Nothing when it is for
    someone else — another level's office, or a supervising department (`dept:<USCC>`),
    whose inbox is the escalating node's — nor when the escalating node, of division
    `escalated_by`, is not one this division supervises: a sibling or a county of another
    city (no region link brings those here), or this node itself (its own escalations are
    in its office's inbox already).

    The `rectification.escalated` template is written for `application.evaluated` (its
    `event:`), so the values are those fields of that event the escalation carries (case
    number, department code, level, comment) and the context the template may use: the
    case's item and department names, `level_name`, `rectify_by` and, as `division.name`,
    `escalated_from` (the escalating node's division name). What the escalation does not
    carry (the review's time and channel, `rectify_days`, the applicant) renders empty."""
    office = supervision_key(division)
    if escalated["escalated_to"] != office:
        return []
    if escalated_by == division or supervising_division(escalated_by) != division:
        return []
    department = escalated["department"]
    values = {
        "case_number": escalated["case_number"],
        "department": department["code"],
        "level": escalated["level"],
        "bad": True,
        "comment": escalated.get("comment"),
        "case": {"item_name": escalated["item_name"], "department_name": department["name"]},
        "division": {"name": escalated_from},
        "level_name": LEVELS.get(escalated["level"], Localized()),
        "rectify_by": date.fromisoformat(escalated["rectify_by"]),
    }
    return _Sender(templates, channels)("rectification.escalated", office, None, values)


def result_text(concluded: Mapping[str, Any]) -> Localized:
    code = concluded.get("result_code", 0)
    text = RESULTS.get(code, Localized({"zh-CN": f"结果代码 {code}", "en": f"result {code}"}))
    reason = concluded.get("reason") or ""
    if not reason:
        return text
    return Localized({"zh-CN": f"{text['zh-CN']}（{reason}）", "en": f"{text['en']} ({reason})"})


@dataclass(frozen=True)
class _Sender:
    """Plans one template for one recipient on every channel it may go on: those the
    template lists, the node has (`channels`; the inbox always) and the recipient accepts."""

    templates: TemplateSet
    channels: frozenset[str]

    def __call__(
        self,
        template_id: str,
        recipient: str,
        contact: Contact | None,
        values: Mapping[str, Any],
    ) -> list[Planned]:
        wanted = self.templates[template_id].channels
        language = _language(contact)
        planned = []
        if INBOX in wanted:
            planned.append(Planned(template_id, recipient, INBOX, language, values))
        if contact is None:
            return planned
        for channel, address, accepted in (
            (EMAIL, contact.email, contact.email_enabled),
            (SMS, contact.phone, contact.sms_enabled),
        ):
            if channel in wanted and channel in self.channels and address and accepted:
                planned.append(Planned(template_id, recipient, channel, language, values, address))
        return planned

    def work_order(self, template_id: str, case: Case, values: Mapping[str, Any]) -> list[Planned]:
        if WORKORDER not in self.templates[template_id].channels:
            return []
        return [Planned(template_id, f"12345:{case.division}", WORKORDER, "zh-CN", values)]


def _language(contact: Contact | None) -> str:
    return contact.language if contact is not None else "zh-CN"


# -- contact data -------------------------------------------------------------------------


def check_email(value: str) -> str | None:
    """None if `value` is usable as an email address, else the reason."""
    if not _EMAIL_RE.match(value) or len(value) > 254:
        return "must be an email address like name@example.com"
    return None


def check_mobile(value: str) -> str | None:
    """None if `value` is a mainland China mobile number, else the reason."""
    if not _MOBILE_RE.match(value):
        return "must be an 11-digit mainland mobile number starting with 13-19"
    return None


# -- when a message may go ----------------------------------------------------------------


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after the `attempts`-th failed try: base, 2·base, 4·base … ≤ cap."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def quiet_until(now: datetime, quiet: tuple[int, int] | None) -> datetime | None:
    """The end of the SMS quiet hours `now` falls in (China Standard Time), or None.
    `quiet` is (start, end) in minutes after midnight; it may span midnight."""
    if quiet is None:
        return None
    start, end = quiet
    local = now.astimezone(CHINA)
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else minute >= start or minute < end
    if not inside:
        return None
    ends = datetime.combine(local.date(), time(end // 60, end % 60), tzinfo=CHINA)
    if ends <= local:
        ends += timedelta(days=1)
    return ends


def rate_limited_until(
    recent: Sequence[datetime], limit: tuple[int, int], now: datetime
) -> datetime | None:
    """When the next message may go to a recipient on a channel, given the start times of
    their `recent` tries (any order) and `limit` (count, window seconds); None if now."""
    count, window = limit
    since = now - timedelta(seconds=window)
    inside = sorted(t for t in recent if t > since)
    if len(inside) < count:
        return None
    return inside[len(inside) - count] + timedelta(seconds=window)
