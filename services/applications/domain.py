"""Application (办件) rules and values. Pure: no I/O, no clock (pass `now`), no nameko/grpc."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from services.contract.errors import FieldViolation
from services.contract.fields import CASE_NUMBER_PATTERN
from services.contract.identifiers import (
    IdentifierError,
    check_implementation_code,
    check_resident_id,
    check_uscc,
    mask_in_text,
    mask_name,
    mask_phone,
    mask_resident_id,
)
from services.platform import paging
from services.platform.calendar import WorkCalendar
from services.platform.errors import FailedPrecondition, InvalidArgument, PermissionDenied

CHANNELS = ("web", "mobile", "window", "terminal", "hotline")
KINDS = ("natural", "legal")
ID_TYPE_FOR_KIND = {"natural": "resident_id", "legal": "uscc"}
MAX_REQUEST_ID = 128
# Longest texts a request may carry, as the event contract allows them
# (services/contract/schemas/applications.py; a unit test keeps the two in step).
MAX_NAME = 200  # applicant names, material names, certificates
MAX_ACCOUNT_ID = 128
MAX_OFFICER = 64  # officer ids (and names, which no event carries)
STATUSES = (
    "received",  # 接件
    "accepted",  # 受理
    "supplement_requested",  # 补正
    "supplemented",
    "in_review",  # 办理 (审查, 联审)
    "reviewed",
    "paused",  # 特别程序
    "concluded",  # 办结
    "refused",  # 不予受理
    "withdrawn",  # 撤回
)
TERMINAL = frozenset(("concluded", "refused", "withdrawn"))
RESULT_CODES = {
    0: "出证办结 issued",
    1: "不予许可 denied",
    2: "作废 voided",
    3: "删除 deleted",
    4: "转报 forwarded",
    5: "退件 returned",
    6: "不予受理 not accepted",
}
RESULTS_NEEDING_REASON = frozenset((1, 2, 3, 4, 5))
WITHDRAWN_RESULT = 5  # 退件 returned: "supplement never completed / withdrawn"
PAUSE_KINDS = ("hearing", "inspection", "expert_review", "testing", "public_notice", "other")
"""听证, 现场勘查, 专家评审, 检验检测, 公示, 其他: special procedures whose time is not counted."""
EVALUATION_LEVELS = (
    "very_satisfied",  # 非常满意
    "satisfied",  # 满意
    "basically_satisfied",  # 基本满意
    "dissatisfied",  # 不满意
    "very_dissatisfied",  # 非常不满意
)
BAD_LEVELS = frozenset(("dissatisfied", "very_dissatisfied"))
NOT_EVALUATED_TYPES = ("02", "03", "06")
SUPPLEMENT_WINDOW_DAYS = 5
"""A supplement must be requested within 5 working days, else the case counts as accepted."""
MAX_REASON = 2000  # reasons, opinions, comments
CHINA_TIME = timezone(timedelta(hours=8), "CST")
"""China Standard Time (UTC+8, no daylight saving): the day of a case number is a local day."""
_PHONE_RE = re.compile(r"^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$")
_CASE_NUMBER_RE = re.compile(CASE_NUMBER_PATTERN)
# Unicode's control characters (category Cc); free text keeps tab, line feed, carriage return.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def text_problem(text: str, limit: int, *, multiline: bool = False) -> str | None:
    """Why `text` cannot be stored and announced as it is, or None when it can.

    Control characters are refused (PostgreSQL cannot store NUL; none of them belong in a
    name or a code); free text (`multiline`) may hold line breaks and tabs.
    """
    if len(text) > limit:
        return f"must be at most {limit} characters"
    if (_CONTROL_BUT_LINE_BREAKS if multiline else _CONTROL).search(text):
        return "must not contain control characters"
    return None


def canonical_code(value: str) -> str:
    """The one spelling of a code (credit code, ID number, implementation code) this service
    stores and compares: no surrounding spaces, upper case."""
    return value.strip().upper()


def check_case_number(value: str) -> str:
    """A case number as a caller gave it, trimmed; `InvalidArgument` if it cannot be one."""
    text = value.strip()
    if not text:
        raise InvalidArgument.single("case_number", "is required")
    if not _CASE_NUMBER_RE.match(text):
        raise InvalidArgument.single(
            "case_number", "must be a case number: <division>-<YYYYMMDD>-<6-digit sequence>"
        )
    return text


def applicant_id_problem(value: str) -> str | None:
    """Why `value` (canonical) is neither a resident ID number nor a credit code, or None."""
    for check in (check_resident_id, check_uscc):
        try:
            check(value)
        except IdentifierError:
            continue
        return None
    return "must be the applicant's resident ID number or unified social credit code"


@dataclass(frozen=True)
class Applicant:
    kind: str  # natural | legal
    name: str
    id_number: str
    phone: str = ""
    account_id: str = ""

    @property
    def id_type(self) -> str:
        return ID_TYPE_FOR_KIND[self.kind]

    def masked(self) -> Applicant:
        """The applicant as events, logs and responses may show it."""
        natural = self.kind == "natural"
        return Applicant(
            kind=self.kind,
            name=mask_name(self.name) if natural else self.name,
            id_number=mask_resident_id(self.id_number) if natural else self.id_number,
            phone=mask_phone(self.phone) if self.phone else "",
            account_id=self.account_id,
        )


@dataclass(frozen=True)
class Submission:
    """What a caller asks for when submitting an application."""

    request_id: str
    implementation_code: str
    applicant: Applicant
    channel: str
    materials: tuple[str, ...] = ()  # as given: a problem is named by its position

    @property
    def handed_in(self) -> tuple[str, ...]:
        """The materials the case records: trimmed, blanks left out."""
        return tuple(m.strip() for m in self.materials if m.strip())


@dataclass(frozen=True)
class CatalogItem:
    """The applications service's replica of a catalog item, fed by catalog events."""

    implementation_code: str
    basic_code: str
    name: str
    type_code: str
    version: int
    case_kind: str
    promised_limit_days: int
    legal_limit_days: int
    required_materials: tuple[str, ...] = field(default_factory=tuple)
    department_code: str = ""
    department_name: str = ""
    collaborating_departments: tuple[str, ...] = ()  # from the guide (联办机构)

    @property
    def evaluable(self) -> bool:
        """Penalties, compulsory measures and inspections are not evaluated (好差评)."""
        return self.type_code not in NOT_EVALUATED_TYPES

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> CatalogItem:
        guide = data["guide"]
        return cls(
            implementation_code=data["implementation_code"],
            basic_code=data["basic_code"],
            name=data["name"],
            type_code=data["type_code"],
            version=data["version"],
            case_kind=guide["case_kind"],
            promised_limit_days=guide["promised_limit_days"],
            legal_limit_days=guide["legal_limit_days"],
            required_materials=tuple(m["name"] for m in guide["materials"] if m["required"]),
            department_code=data["department"]["code"],
            department_name=data["department"]["name"],
        )


@dataclass(frozen=True)
class Actor:
    """Who acts for a department: the department (USCC) and the officer."""

    department_code: str
    officer_id: str
    officer_name: str = ""


@dataclass(frozen=True)
class Review:
    """One department's review of a case (联审): open until that department completes it."""

    department_code: str
    assigned_at: datetime
    completed_at: datetime | None = None
    approved: bool | None = None
    opinion: str = ""
    officer_id: str = ""

    @property
    def open(self) -> bool:
        return self.completed_at is None


@dataclass(frozen=True)
class Pause:
    """A special procedure (特别程序): the clock stops from `started_on` to `ended_on`."""

    kind: str
    reason: str
    started_at: datetime
    ended_at: datetime | None = None
    working_days: int = 0  # not counted against the time limit


@dataclass(frozen=True)
class Evaluation:
    level: str
    channel: str
    comment: str
    evaluated_at: datetime
    source: str = "api"  # api, or the department system that sent it


@dataclass(frozen=True)
class Case:
    case_number: str
    request_id: str
    item: CatalogItem
    applicant: Applicant
    channel: str
    status: str
    submitted_at: datetime
    materials: tuple[str, ...]
    department_code: str = ""  # the accepting (implementing) department
    accepted_at: datetime | None = None
    deemed_accepted: bool = False
    due_date: date | None = None  # promised (承诺) deadline, moved by special procedures
    legal_due_date: date | None = None
    supplement: tuple[str, ...] = ()  # materials requested in the one notice
    supplement_requested_at: datetime | None = None
    reviews: tuple[Review, ...] = ()
    pauses: tuple[Pause, ...] = ()
    paused_from: str = ""
    result_code: int | None = None
    reason: str = ""  # of a refusal, a conclusion with code 1-5, or a withdrawal
    certificate: str = ""
    closed_at: datetime | None = None
    warned: bool = False
    overdue: bool = False
    evaluation: Evaluation | None = None
    officer_id: str = ""  # the last officer who acted
    intake_materials: tuple[str, ...] | None = None
    """The materials the Submit request handed in (a supplement adds to `materials` only);
    None for a case stored before this was recorded: its `materials` then."""

    @property
    def open(self) -> bool:
        return self.status not in TERMINAL

    @property
    def handed_in(self) -> tuple[str, ...]:
        """What the Submit request handed in, to recognise its retries."""
        return self.materials if self.intake_materials is None else self.intake_materials

    @property
    def open_reviews(self) -> list[Review]:
        return [r for r in self.reviews if r.open]

    def submitted_event(self) -> dict[str, Any]:
        """The `application.submitted` payload, personal data masked."""
        masked = self.applicant.masked()
        return {
            "case_number": self.case_number,
            "implementation_code": self.item.implementation_code,
            "basic_code": self.item.basic_code,
            "item_name": self.item.name,
            "item_version": self.item.version,
            "applicant": {
                "kind": masked.kind,
                "name": masked.name,
                "id_type": masked.id_type,
                "id_number": masked.id_number,
                "phone": masked.phone or None,
                "account_id": masked.account_id or None,
            },
            "channel": self.channel,
            "submitted_at": self.submitted_at.isoformat(),
            "promised_limit_days": self.item.promised_limit_days,
            "materials": list(self.materials),
            "department": self.department_code or self.item.department_code,
            "type_code": self.item.type_code,
        }


def local_date(now: datetime) -> date:
    return now.astimezone(CHINA_TIME).date()


def case_number(division: str, day: date, sequence: int) -> str:
    """办件编号: `<division>-<YYYYMMDD>-<6-digit per-node daily sequence>`."""
    if sequence < 1:
        raise ValueError(f"case sequences start at 1, got {sequence}")
    if sequence > 999_999:
        raise ValueError("the daily case sequence is exhausted (999,999 cases)")
    return f"{division}-{day:%Y%m%d}-{sequence:06d}"


def validate_submission(submission: Submission, item: CatalogItem | None) -> None:
    """Raise `InvalidArgument` listing every problem at once, each naming its field."""
    problems: list[FieldViolation] = []

    def bad(name: str, reason: str) -> None:
        problems.append(FieldViolation(name, reason))

    def text(name: str, value: str, limit: int) -> None:
        problem = text_problem(value, limit)
        if problem:
            bad(name, problem)

    if not submission.request_id.strip():
        bad("request_id", "is required: a client-chosen id that makes retries safe")
    else:
        text("request_id", submission.request_id, MAX_REQUEST_ID)

    code = submission.implementation_code
    if not code:
        bad("implementation_code", "is required")
    else:
        try:
            check_implementation_code(code)
        except IdentifierError as exc:
            bad("implementation_code", exc.reason)
        else:
            if item is None:
                bad("implementation_code", "is not an item published at this node")

    applicant = submission.applicant
    if applicant.kind not in KINDS:
        bad("applicant.kind", "must be natural (自然人) or legal (法人)")
    if not applicant.name.strip():
        bad("applicant.name", "is required")
    else:
        text("applicant.name", applicant.name, MAX_NAME)
    if not applicant.id_number:
        bad("applicant.id_number", "is required")
    elif applicant.kind == "natural":
        try:
            check_resident_id(applicant.id_number)
        except IdentifierError as exc:
            bad("applicant.id_number", f"is not a valid resident ID number: {exc.reason}")
    elif applicant.kind == "legal":
        try:
            check_uscc(applicant.id_number)
        except IdentifierError as exc:
            bad("applicant.id_number", f"is not a valid unified social credit code: {exc.reason}")
    if applicant.phone and not _PHONE_RE.match(applicant.phone):
        bad("applicant.phone", "must be a mobile number (11 digits) or a landline with area code")
    text("applicant.account_id", applicant.account_id, MAX_ACCOUNT_ID)

    if submission.channel not in CHANNELS:
        bad("channel", f"must be one of {', '.join(CHANNELS)}")

    for index, material in enumerate(submission.materials):
        text(f"materials.{index}", material.strip(), MAX_NAME)
    if item is not None:
        handed_in = set(submission.handed_in)
        missing = [m for m in item.required_materials if m not in handed_in]
        if missing:
            bad("materials", f"missing required materials: {'、'.join(missing)}")

    if problems:
        raise InvalidArgument(problems)


def normalise(submission: Submission) -> Submission:
    """Canonical spelling of identifiers (upper-case X and letters) before storing.

    Materials keep their positions (blanks included), so that a problem with one is named by
    the index the caller used; `handed_in` is what the case records."""
    applicant = submission.applicant
    return Submission(
        request_id=submission.request_id.strip(),
        implementation_code=canonical_code(submission.implementation_code),
        applicant=Applicant(
            kind=applicant.kind,
            name=applicant.name.strip(),
            id_number=canonical_code(applicant.id_number),
            phone=applicant.phone.strip(),
            account_id=applicant.account_id.strip(),
        ),
        channel=submission.channel,
        materials=tuple(m.strip() for m in submission.materials),
    )


# -- the lifecycle ----------------------------------------------------------------------------
#
# Each transition takes the case and what the request says, and returns the next case and the
# event that announces it; the store writes both in one transaction. A transition the current
# state does not allow raises FailedPrecondition naming the state; a department acting on a
# case that is not assigned to it raises PermissionDenied.


@dataclass(frozen=True)
class Transition:
    case: Case
    event_type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Rules:
    """Local policy: how supervision warns, and when evaluation opens. A case inside the
    warning threshold from the day it is accepted is never warned (see `supervise`)."""

    warning_days: int = 2  # yellow when this few working days are left …
    warning_share: float = 0.8  # … or this share of the period is used
    evaluate_at_acceptance: bool = False
    supplement_window_days: int = SUPPLEMENT_WINDOW_DAYS


def _require_state(case: Case, action: str, allowed: tuple[str, ...]) -> None:
    if case.status not in allowed:
        raise FailedPrecondition(
            f"case {case.case_number} is {case.status}; it cannot be {action} "
            f"(only when {' or '.join(allowed)})"
        )


def check_actor(actor: Actor) -> None:
    """`InvalidArgument` naming each bad field of who acts (codes are given canonical)."""
    problems = []
    try:
        check_uscc(actor.department_code)
    except IdentifierError as exc:
        problems.append(FieldViolation("actor.department_code", exc.reason))
    if not actor.officer_id.strip():
        problems.append(FieldViolation("actor.officer_id", "is required: who acts"))
    elif problem := text_problem(actor.officer_id, MAX_OFFICER):
        problems.append(FieldViolation("actor.officer_id", problem))
    if problem := text_problem(actor.officer_name, MAX_OFFICER):
        problems.append(FieldViolation("actor.officer_name", problem))
    if problems:
        raise InvalidArgument(problems)


def check_applicant(case: Case, applicant_id: str) -> None:
    """Only the applicant supplements, withdraws and evaluates: `applicant_id` must be the
    case's applicant's ID number (any case of letters)."""
    given = canonical_code(applicant_id)
    if not given:
        raise InvalidArgument.single("applicant_id_number", "is required: who is the applicant")
    if problem := applicant_id_problem(given):
        raise InvalidArgument.single("applicant_id_number", problem)
    if given != case.applicant.id_number:
        raise PermissionDenied(f"only the applicant of case {case.case_number} may do this")


def _material_problems(materials: tuple[str, ...]) -> list[FieldViolation]:
    """Each material name that cannot be announced, named by its position as given."""
    return [
        FieldViolation(f"materials.{index}", problem)
        for index, name in enumerate(materials)
        if (problem := text_problem(name.strip(), MAX_NAME))
    ]


def _require_department(case: Case, actor: Actor) -> None:
    check_actor(actor)
    if actor.department_code != case.department_code:
        raise PermissionDenied(
            f"case {case.case_number} is assigned to department {case.department_code}; "
            f"department {actor.department_code} cannot act on it"
        )


def _reason(reason: str, name: str = "reason") -> str:
    text = reason.strip()
    if not text:
        raise InvalidArgument.single(name, "is required: say why")
    if problem := text_problem(text, MAX_REASON, multiline=True):
        raise InvalidArgument.single(name, problem)
    return text


def _base(case: Case, actor: Actor | None, now: datetime) -> dict[str, Any]:
    data: dict[str, Any] = {"case_number": case.case_number, "at": now.isoformat()}
    if actor is not None:
        data["department"] = actor.department_code
        data["officer_id"] = actor.officer_id
    else:
        data["department"] = case.department_code
    return data


def _deadlines(case: Case, accepted_on: date, calendar: WorkCalendar) -> tuple[date, date]:
    paused = sum(p.working_days for p in case.pauses)
    return (
        calendar.add(accepted_on, case.item.promised_limit_days + paused),
        calendar.add(accepted_on, case.item.legal_limit_days + paused),
    )


def accept(
    case: Case, actor: Actor | None, now: datetime, calendar: WorkCalendar, *, deemed: bool = False
) -> Transition:
    """受理: the clock starts. `deemed` when the 5 working days to ask for a supplement
    passed without a decision (视为受理); then no officer acts."""
    _require_state(case, "accepted", ("received", "supplemented"))
    if actor is not None:
        _require_department(case, actor)
    # A deemed acceptance counts from the day the application was received (行政许可法
    # 第三十二条): the applicant does not lose the window nobody used.
    accepted_at = case.submitted_at if deemed else now
    due, legal_due = _deadlines(case, local_date(accepted_at), calendar)
    accepted = replace(
        case,
        status="accepted",
        accepted_at=accepted_at,
        deemed_accepted=deemed,
        due_date=due,
        legal_due_date=legal_due,
        officer_id=actor.officer_id if actor else "",
    )
    data = _base(case, actor, now) | {
        "due_date": due.isoformat(),
        "legal_due_date": legal_due.isoformat(),
        "promised_limit_days": case.item.promised_limit_days,
        "deemed": deemed,
    }
    return Transition(accepted, "application.accepted", data)


def joint_reviewers(case: Case) -> tuple[str, ...]:
    """The departments that must review the case besides the implementing one: the item's
    collaborating departments (联办机构), as the guide named them when the case came in."""
    return tuple(
        dict.fromkeys(
            code for code in case.item.collaborating_departments if code != case.department_code
        )
    )


def open_joint_review(case: Case, actor: Actor | None, now: datetime) -> Transition | None:
    """联审: open one review for every collaborating department that is not reviewing yet,
    all at once, so that they review in parallel. None when nobody is left to ask."""
    reviewing = {r.department_code for r in case.reviews if r.open}
    wanted = [code for code in joint_reviewers(case) if code not in reviewing]
    if not wanted:
        return None
    reviews = (*case.reviews, *(Review(code, now) for code in wanted))
    opened = replace(case, status="in_review", reviews=reviews)
    data = _base(case, actor, now) | {"reviewers": wanted}
    return Transition(opened, "application.review_assigned", data)


def acceptance(
    case: Case, actor: Actor | None, now: datetime, calendar: WorkCalendar, *, deemed: bool = False
) -> list[Transition]:
    """受理, and for an item with collaborating departments the joint review it starts: the
    case is then in review until every one of them has completed its review."""
    accepted = accept(case, actor, now, calendar, deemed=deemed)
    joint = open_joint_review(accepted.case, actor, now)
    return [accepted] if joint is None else [accepted, joint]


def refuse(case: Case, actor: Actor, reason: str, now: datetime) -> Transition:
    """不予受理: closes the case with result code 6; the reason is required."""
    _require_state(case, "refused", ("received", "supplemented"))
    _require_department(case, actor)
    text = _reason(reason)
    refused = replace(
        case,
        status="refused",
        result_code=6,
        reason=text,
        closed_at=now,
        officer_id=actor.officer_id,
    )
    data = _base(case, actor, now) | {"reason": mask_in_text(text)}
    return Transition(refused, "application.refused", data)


def request_supplement(
    case: Case,
    actor: Actor,
    materials: tuple[str, ...],
    now: datetime,
    calendar: WorkCalendar,
    rules: Rules,
) -> Transition:
    """补正: one notice listing every missing material, within the window after receipt."""
    _require_state(case, "asked for a supplement", ("received",))
    _require_department(case, actor)
    if problems := _material_problems(materials):
        raise InvalidArgument(problems)
    wanted = tuple(dict.fromkeys(m.strip() for m in materials if m.strip()))
    if not wanted:
        raise InvalidArgument.single("materials", "list every missing material (at least one)")
    window_end = calendar.add(local_date(case.submitted_at), rules.supplement_window_days)
    if local_date(now) > window_end:
        raise FailedPrecondition(
            f"the {rules.supplement_window_days} working days to ask for a supplement ended on "
            f"{window_end.isoformat()}; the application counts as accepted"
        )
    asked = replace(
        case,
        status="supplement_requested",
        supplement=wanted,
        supplement_requested_at=now,
        officer_id=actor.officer_id,
    )
    data = _base(case, actor, now) | {"materials": list(wanted)}
    return Transition(asked, "application.supplement_requested", data)


def supplement(case: Case, materials: tuple[str, ...], now: datetime) -> Transition:
    """The applicant hands in what the notice listed; all of it, in one go."""
    _require_state(case, "supplemented", ("supplement_requested",))
    if problems := _material_problems(materials):
        raise InvalidArgument(problems)
    given = {m.strip() for m in materials if m.strip()}
    missing = [m for m in case.supplement if m not in given]
    if missing:
        raise InvalidArgument.single(
            "materials", f"the notice also asked for: {'、'.join(missing)}"
        )
    done = replace(
        case,
        status="supplemented",
        materials=tuple(dict.fromkeys((*case.materials, *sorted(given)))),
    )
    data = _base(case, None, now) | {"materials": sorted(given)}
    return Transition(done, "application.supplemented", data)


def assign_review(
    case: Case, actor: Actor, departments: tuple[str, ...], now: datetime
) -> Transition:
    """办理: one review per department, in parallel (联审). Only the implementing department
    and the item's collaborating departments (联办机构) review."""
    _require_state(case, "sent to review", ("accepted", "in_review", "reviewed"))
    _require_department(case, actor)
    named = [(index, canonical_code(d)) for index, d in enumerate(departments) if d.strip()]
    first_seen: dict[str, int] = {}
    for index, code in named:
        first_seen.setdefault(code, index)
    wanted = tuple(first_seen)
    if not wanted:
        raise InvalidArgument.single("departments", "name at least one reviewing department")
    allowed = {case.department_code, *case.item.collaborating_departments}
    problems = []
    for code, index in first_seen.items():  # indices of the caller's list
        try:
            check_uscc(code)
        except IdentifierError as exc:
            problems.append(FieldViolation(f"departments.{index}", exc.reason))
            continue
        if code not in allowed:
            problems.append(
                FieldViolation(
                    f"departments.{index}",
                    f"{code} is neither the implementing department nor a collaborating "
                    "department of this item",
                )
            )
        elif any(r.department_code == code and r.open for r in case.reviews):
            problems.append(FieldViolation(f"departments.{index}", f"{code} is already reviewing"))
    if problems:
        raise InvalidArgument(problems)
    reviews = (*case.reviews, *(Review(code, now) for code in wanted))
    assigned = replace(case, status="in_review", reviews=reviews, officer_id=actor.officer_id)
    data = _base(case, actor, now) | {"reviewers": list(wanted)}
    return Transition(assigned, "application.review_assigned", data)


def complete_review(
    case: Case, actor: Actor, approved: bool, opinion: str, now: datetime
) -> Transition:
    """One reviewing department's opinion. The case is reviewed when every review is done."""
    _require_state(case, "reviewed", ("in_review",))
    check_actor(actor)
    mine = [r for r in case.reviews if r.department_code == actor.department_code and r.open]
    if not mine:
        raise PermissionDenied(
            f"department {actor.department_code} has no open review of case {case.case_number}"
        )
    text = _reason(opinion, "opinion")
    reviews = tuple(
        replace(r, completed_at=now, approved=approved, opinion=text, officer_id=actor.officer_id)
        if r is mine[0]
        else r
        for r in case.reviews
    )
    remaining = sum(1 for r in reviews if r.open)
    done = replace(case, reviews=reviews, status="in_review" if remaining else "reviewed")
    data = _base(case, actor, now) | {
        "approved": approved,
        "opinion": mask_in_text(text),
        "remaining": remaining,
    }
    return Transition(done, "application.review_completed", data)


def pause(case: Case, actor: Actor, kind: str, reason: str, now: datetime) -> Transition:
    """特别程序: the clock stops (hearings, inspections, expert reviews are not counted)."""
    _require_state(case, "paused", ("accepted", "in_review", "reviewed"))
    _require_department(case, actor)
    if kind not in PAUSE_KINDS:
        raise InvalidArgument.single("kind", f"must be one of {', '.join(PAUSE_KINDS)}")
    text = _reason(reason)
    paused = replace(
        case,
        status="paused",
        paused_from=case.status,
        pauses=(*case.pauses, Pause(kind, text, now)),
        officer_id=actor.officer_id,
    )
    data = _base(case, actor, now) | {"kind": kind, "reason": mask_in_text(text)}
    return Transition(paused, "application.clock_paused", data)


def resume(case: Case, actor: Actor, now: datetime, calendar: WorkCalendar) -> Transition:
    """The special procedure ended: the deadline moves by the working days it took. A
    yellow warning already given stays given: supervision warns once per case."""
    _require_state(case, "resumed", ("paused",))
    _require_department(case, actor)
    resumed = replace(_end_pause(case, now, calendar), officer_id=actor.officer_id)
    assert resumed.due_date is not None
    assert resumed.legal_due_date is not None
    data = _base(case, actor, now) | {
        "paused_working_days": resumed.pauses[-1].working_days,
        "due_date": resumed.due_date.isoformat(),
        "legal_due_date": resumed.legal_due_date.isoformat(),
    }
    return Transition(resumed, "application.clock_resumed", data)


def _end_pause(case: Case, now: datetime, calendar: WorkCalendar) -> Case:
    """A paused case with its special procedure ended at `now`: the pause closed with the
    working days it took, both deadlines moved by them, the status it paused from back."""
    current = case.pauses[-1]
    days = calendar.between(local_date(current.started_at), local_date(now))
    pauses = (*case.pauses[:-1], replace(current, ended_at=now, working_days=days))
    moved = replace(case, pauses=pauses)
    assert case.accepted_at is not None  # pausing needs an accepted case
    due, legal_due = _deadlines(moved, local_date(case.accepted_at), calendar)
    return replace(
        moved, status=case.paused_from, paused_from="", due_date=due, legal_due_date=legal_due
    )


def pending_reviews(case: Case) -> list[str]:
    """Who the case still waits for: every open review, then every collaborating department
    that has not completed a review (a case accepted before joint review opened by itself)."""
    waiting = [r.department_code for r in case.open_reviews]
    done = {r.department_code for r in case.reviews if not r.open}
    waiting += [code for code in joint_reviewers(case) if code not in done and code not in waiting]
    return waiting


def conclude(
    case: Case, actor: Actor, result_code: int, reason: str, certificate: str, now: datetime
) -> Transition:
    """办结 with a result code 0-5 (6 is a refusal at intake: use `refuse`). A case whose
    supplement never came is returned (退件, 5) from where it waits: it was never accepted,
    so no clock ran and nobody reviewed it."""
    returned = case.status == "supplement_requested" and result_code == 5
    if not returned:
        _require_state(case, "concluded", ("accepted", "reviewed", "in_review"))
    _require_department(case, actor)
    waiting = [] if returned else pending_reviews(case)
    if waiting:
        raise FailedPrecondition(
            f"case {case.case_number} still waits for the review of {', '.join(waiting)}"
        )
    problems = []
    if result_code not in RESULT_CODES or result_code == 6:
        problems.append(
            FieldViolation("result_code", "must be 0 to 5 (6, 不予受理, is a refusal: use Refuse)")
        )
    text = reason.strip()
    if result_code in RESULTS_NEEDING_REASON and not text:
        problems.append(FieldViolation("reason", "is required: say why"))
    elif problem := text_problem(text, MAX_REASON, multiline=True):
        problems.append(FieldViolation("reason", problem))
    issued = certificate.strip()
    if problem := text_problem(issued, MAX_NAME):
        problems.append(FieldViolation("certificate", problem))
    if problems:
        raise InvalidArgument(problems)
    on_time = case.due_date is None or local_date(now) <= case.due_date
    concluded = replace(
        case,
        status="concluded",
        result_code=result_code,
        reason=text,
        certificate=issued,
        closed_at=now,
        officer_id=actor.officer_id,
    )
    data = _base(case, actor, now) | {
        "result_code": result_code,
        "reason": mask_in_text(text),
        "certificate": issued,
        "due_date": case.due_date.isoformat() if case.due_date else None,
        "on_time": on_time,
    }
    return Transition(concluded, "application.concluded", data)


def withdraw(case: Case, reason: str, now: datetime, calendar: WorkCalendar) -> Transition:
    """The applicant withdraws an open case. A special procedure under way ends with it, as
    `resume` ends one: the pause closes at `now` with the working days it took (counted on
    `calendar`) and the deadlines move by them, so a closed case keeps no pause open. The
    event is `application.withdrawn` all the same: its `at` is when the pause ended. The case's
    result is 5, 退件 (returned), the code results give a withdrawn application."""
    if not case.open:
        raise FailedPrecondition(
            f"case {case.case_number} is {case.status}; it cannot be withdrawn"
        )
    text = reason.strip()
    if problem := text_problem(text, MAX_REASON, multiline=True):
        raise InvalidArgument.single("reason", problem)
    if case.status == "paused":
        case = _end_pause(case, now, calendar)
    withdrawn = replace(
        case, status="withdrawn", reason=text, closed_at=now, result_code=WITHDRAWN_RESULT
    )
    data = _base(case, None, now) | {"reason": mask_in_text(text)}
    return Transition(withdrawn, "application.withdrawn", data)


def evaluate(
    case: Case,
    level: str,
    channel: str,
    comment: str,
    now: datetime,
    rules: Rules,
    source: str = "api",
) -> Transition:
    """好差评: once per case (一事一评), after conclusion (or acceptance, where configured);
    never for penalties, compulsory measures and inspections."""
    problems = []
    if level not in EVALUATION_LEVELS:
        problems.append(FieldViolation("level", f"must be one of {', '.join(EVALUATION_LEVELS)}"))
    if channel not in CHANNELS:
        problems.append(FieldViolation("channel", f"must be one of {', '.join(CHANNELS)}"))
    if problem := text_problem(comment.strip(), MAX_REASON, multiline=True):
        problems.append(FieldViolation("comment", problem))
    if problems:
        raise InvalidArgument(problems)
    if not case.item.evaluable:
        raise FailedPrecondition(
            f"item type {case.item.type_code} (penalties, compulsory measures, inspections) "
            "is not evaluated"
        )
    allowed = ("concluded",) + (
        ("accepted", "in_review", "reviewed", "paused") if rules.evaluate_at_acceptance else ()
    )
    _require_state(case, "evaluated", allowed)
    if case.evaluation is not None:
        raise FailedPrecondition(f"case {case.case_number} was already evaluated (一事一评)")
    evaluation = Evaluation(level, channel, comment.strip(), now, source)
    evaluated = replace(case, evaluation=evaluation)
    data = _base(case, None, now) | {
        "level": level,
        "bad": level in BAD_LEVELS,
        "channel": channel,
        "comment": mask_in_text(comment.strip()) or None,
        "basic_code": case.item.basic_code,
        "source": source,
    }
    return Transition(evaluated, "application.evaluated", data)


# -- listings -------------------------------------------------------------------------------

MAX_PAGE = 200
DEFAULT_PAGE = 50


@dataclass(frozen=True)
class CaseQuery:
    """A listing: by applicant (ID number or account), department, status, overdue; paged by
    the case number the previous page ended with (`after`, from the page token). A
    department's cases are those it accepted (`Case.department_code`) and those it has had a
    review of, open or completed (联审)."""

    applicant_id_number: str = ""
    account_id: str = ""
    department_code: str = ""  # the accepting department, or one with a review of the case
    status: str = ""
    overdue: bool | None = None
    page_size: int = 0
    page_token: str = ""
    after: str = ""  # set by `check_query` from `page_token`

    def fingerprint(self) -> tuple[str, ...]:
        """What the cases of this query depend on (its page tokens' key): every filter, in
        the spelling `check_query` gives it. Not the page size: a case number means the same
        at any page size, so a caller may change it between pages."""
        overdue = "" if self.overdue is None else str(self.overdue)
        return (
            "applications.List",
            self.applicant_id_number,
            self.account_id,
            self.department_code,
            self.status,
            overdue,
        )


def next_page_token(query: CaseQuery, case_number: str) -> str:
    """The opaque token of the page after `case_number` in `query` (as `check_query` spells
    it); `check_query` takes it back for the same filters only."""
    return paging.page_token(case_number, query.fingerprint())


def check_query(query: CaseQuery) -> CaseQuery:
    """The query in canonical spelling (codes trimmed and upper-cased, like every code this
    service stores), with `after` the case number its page token holds; `InvalidArgument`
    listing every field that cannot be what it says. The page token must be one that
    `next_page_token` made for the same filters (any page size): a garbled one, or one of
    another query, is refused naming it."""
    problems: list[FieldViolation] = []
    applicant_id = canonical_code(query.applicant_id_number)
    if applicant_id and (problem := applicant_id_problem(applicant_id)):
        problems.append(FieldViolation("applicant_id_number", problem))
    account = query.account_id.strip()
    if problem := text_problem(account, MAX_ACCOUNT_ID):
        problems.append(FieldViolation("account_id", problem))
    department = canonical_code(query.department_code)
    if department:
        try:
            check_uscc(department)
        except IdentifierError as exc:
            problems.append(FieldViolation("department_code", exc.reason))
    if query.status and query.status not in STATUSES:
        problems.append(FieldViolation("status", f"must be one of {', '.join(STATUSES)}"))
    if not 0 <= query.page_size <= MAX_PAGE:
        problems.append(FieldViolation("page_size", f"must be between 0 and {MAX_PAGE}"))
    checked = replace(
        query,
        applicant_id_number=applicant_id,
        account_id=account,
        department_code=department,
        page_token=query.page_token.strip(),
        after="",
    )
    if checked.page_token:
        after = paging.checked_position(
            checked.page_token, checked.fingerprint, str, problems, query_fields="the filters"
        )
        if after is not None:
            checked = replace(checked, after=after)
    if problems:
        raise InvalidArgument(problems)
    return checked


# -- supervision (电子监察) -----------------------------------------------------------------


def _share_used(left: int, promised_days: int) -> float:
    # The period is the promise itself: days in special procedures are not part of it. A
    # promise of 0 working days (即办件) is all used the day it is made.
    period = max(1, promised_days)
    return min(1.0, max(0.0, 1 - left / period))


def _near_deadline(left: int, used: float, rules: Rules) -> bool:
    """The yellow threshold: this few working days left, or this share of the period used."""
    return left <= rules.warning_days or used >= rules.warning_share


def deemed_acceptance(
    case: Case, now: datetime, calendar: WorkCalendar, rules: Rules
) -> list[Transition]:
    """The acceptance the law deems made when a received case was neither decided nor asked
    for a supplement within the window (行政许可法 第三十二条: accepted as of receipt), with
    the joint review it opens; nothing for any other case. Supervision says it on its round;
    an action on the case says it first if supervision has not yet."""
    if case.status != "received":
        return []
    window_end = calendar.add(local_date(case.submitted_at), rules.supplement_window_days)
    if local_date(now) <= window_end:
        return []
    return acceptance(case, None, now, calendar, deemed=True)


def supervise(case: Case, now: datetime, calendar: WorkCalendar, rules: Rules) -> list[Transition]:
    """What supervision says about an open case now: deemed acceptance (with the joint
    review it starts), a yellow warning, a red card. Each is said at most once per case (the
    flags on the case remember): a deadline moved by a special procedure warns no second
    time, and a case that is already late gets its red card without a yellow one first.
    A case whose promise puts it inside the yellow threshold on the day it is accepted (0
    working days, 即办件; or no more than `warning_days`) gets no yellow warning at all, only
    the red card once it is late: it never nears its deadline, it starts there."""
    out: list[Transition] = []
    today = local_date(now)
    if case.status == "received":
        return deemed_acceptance(case, now, calendar, rules)
    if case.due_date is None or not case.open or case.status == "paused":
        return out
    promised = case.item.promised_limit_days
    left = calendar.between(today, case.due_date) if today < case.due_date else 0
    used = _share_used(left, promised)
    if today > case.due_date and not case.overdue:
        over = calendar.between(case.due_date, today)
        flagged = replace(case, overdue=True, warned=True)
        data = _base(case, None, now) | {"due_date": case.due_date.isoformat(), "days_over": over}
        out.append(Transition(flagged, "application.overdue", data))
    elif (
        not case.warned
        and today <= case.due_date
        and _near_deadline(left, used, rules)
        # Not if it was there on the day of acceptance: all of its promise left, none used.
        and not _near_deadline(promised, _share_used(promised, promised), rules)
    ):
        flagged = replace(case, warned=True)
        data = _base(case, None, now) | {
            "due_date": case.due_date.isoformat(),
            "days_left": left,
            "share_used": round(used, 3),
        }
        out.append(Transition(flagged, "application.deadline_warning", data))
    return out
