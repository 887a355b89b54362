"""Application (办件) rules and values. Pure: no I/O, no clock (pass `now`), no nameko/grpc."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from services.contract.errors import FieldViolation
from services.contract.identifiers import (
    IdentifierError,
    check_implementation_code,
    check_resident_id,
    check_uscc,
    mask_name,
    mask_phone,
    mask_resident_id,
)
from services.platform.errors import InvalidArgument

CHANNELS = ("web", "mobile", "window", "terminal", "hotline")
KINDS = ("natural", "legal")
ID_TYPE_FOR_KIND = {"natural": "resident_id", "legal": "uscc"}
MAX_REQUEST_ID = 128
CHINA_TIME = timezone(timedelta(hours=8), "CST")
"""China Standard Time (UTC+8, no daylight saving): the day of a case number is a local day."""
_PHONE_RE = re.compile(r"^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$")


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
    materials: tuple[str, ...] = ()


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
        )


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

    if not submission.request_id.strip():
        bad("request_id", "is required: a client-chosen id that makes retries safe")
    elif len(submission.request_id) > MAX_REQUEST_ID:
        bad("request_id", f"must be at most {MAX_REQUEST_ID} characters")

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
    elif len(applicant.name) > 200:
        bad("applicant.name", "must be at most 200 characters")
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
    if len(applicant.account_id) > 128:
        bad("applicant.account_id", "must be at most 128 characters")

    if submission.channel not in CHANNELS:
        bad("channel", f"must be one of {', '.join(CHANNELS)}")

    if item is not None:
        handed_in = {m.strip() for m in submission.materials}
        missing = [m for m in item.required_materials if m not in handed_in]
        if missing:
            bad("materials", f"missing required materials: {'、'.join(missing)}")

    if problems:
        raise InvalidArgument(problems)


def normalise(submission: Submission) -> Submission:
    """Canonical spelling of identifiers (upper-case X and letters) before storing."""
    applicant = submission.applicant
    return Submission(
        request_id=submission.request_id.strip(),
        implementation_code=submission.implementation_code.strip().upper(),
        applicant=Applicant(
            kind=applicant.kind,
            name=applicant.name.strip(),
            id_number=applicant.id_number.strip().upper(),
            phone=applicant.phone.strip(),
            account_id=applicant.account_id.strip(),
        ),
        channel=submission.channel,
        materials=tuple(m.strip() for m in submission.materials if m.strip()),
    )
