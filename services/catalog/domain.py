"""Catalog rules and values: items, their standards (三级四同), guides and conformance.

Pure: no I/O, no clock, no nameko, no grpc. Every function takes values and returns values or
raises a domain error naming the field.

三级四同: the same item has the same **name, basic code, type and legal basis** at province,
city and county level. Only the province node defines or revises those four fields (the
*standard*); city and county nodes implement a standard by adding implementation fields
(implementing department, time limits, address, fees, materials). A local difference in a
standard field is a *deviation*.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from services.contract.errors import FieldViolation
from services.contract.identifiers import (
    ITEM_TYPES,
    IdentifierError,
    check_basic_code,
    check_implementation_code,
    check_uscc,
)
from services.platform.errors import FailedPrecondition, InvalidArgument, NotFound

LEVELS = ("province", "city", "county")
KINDS = ("power", "convenience")
"""power: administrative power items and public services of the power list (权力清单);
convenience: convenience service items (便民服务事项)."""
CASE_KINDS = ("immediate", "promised")
STATUSES = ("draft", "published", "revoked")
STANDARD_FIELDS = ("name", "basic_code", "type_code", "legal_basis")
"""The four fields that are the same at every level (三级四同)."""
REVISABLE_FIELDS = (
    "name",
    "type_code",
    "legal_basis",
    "department_code",
    "department_name",
    "case_kind",
    "legal_limit_days",
    "promised_limit_days",
    "address",
    "materials",
    "fees",
)
MAX_LIMIT_DAYS = 365
MAX_NAME = 200
MAX_TEXT = 4000
NOT_EVALUATED_TYPES = ("02", "03", "06")
"""Penalties, compulsory measures and inspections are not evaluated (好差评)."""


@dataclass(frozen=True)
class Department:
    code: str  # unified social credit code
    name: str
    division: str
    vertical: bool = False  # 垂直管理部门


@dataclass(frozen=True)
class Material:
    name: str
    required: bool = True


@dataclass(frozen=True)
class Fee:
    item: str
    standard: str  # e.g. "每件 10 元"; "" when free


@dataclass(frozen=True)
class Standard:
    """The four standard fields of a basic code, as the province defines them."""

    basic_code: str
    name: str
    type_code: str
    legal_basis: str
    version: int = 1
    status: str = "published"

    def field(self, name: str) -> str:
        return str(getattr(self, name))


@dataclass(frozen=True)
class Item:
    """An item as implemented by one department of one division (实施清单 entry)."""

    implementation_code: str
    basic_code: str
    name: str
    type_code: str
    legal_basis: str
    level: str
    division: str
    department_code: str
    department_name: str
    kind: str = "power"
    status: str = "published"
    version: int = 1
    case_kind: str = "promised"
    legal_limit_days: int = 20
    promised_limit_days: int = 20
    address: str = ""
    materials: tuple[Material, ...] = ()
    fees: tuple[Fee, ...] = ()
    standard_version: int = 1

    @property
    def standard(self) -> Standard:
        return Standard(
            self.basic_code, self.name, self.type_code, self.legal_basis, self.standard_version
        )

    @property
    def evaluable(self) -> bool:
        return self.type_code not in NOT_EVALUATED_TYPES

    def event_data(self) -> dict[str, Any]:
        """The payload of `item.published` / `item.revised`: the standard fields and what
        other services need to take cases while catalog is down (event-carried state)."""
        return {
            "basic_code": self.basic_code,
            "implementation_code": self.implementation_code,
            "name": self.name,
            "type_code": self.type_code,
            "legal_basis": self.legal_basis,
            "level": self.level,
            "kind": self.kind,
            "department": {"code": self.department_code, "name": self.department_name},
            "version": self.version,
            "standard_version": self.standard_version,
            "address": self.address,
            "fees": [{"item": f.item, "standard": f.standard} for f in self.fees],
            "guide": {
                "case_kind": self.case_kind,
                "legal_limit_days": self.legal_limit_days,
                "promised_limit_days": self.promised_limit_days,
                "materials": [{"name": m.name, "required": m.required} for m in self.materials],
            },
        }


@dataclass(frozen=True)
class GuideMaterial:
    name: str
    form: str = "原件"  # 原件 | 复印件 | 电子
    required: bool = True
    copies: int = 1
    source: str = "申请人自备"
    blank_form: str = ""  # URL of the blank form
    sample: str = ""  # URL of a filled-in sample


@dataclass(frozen=True)
class GuideFee:
    item: str
    standard: str
    basis: str = ""
    waiver: str = ""


@dataclass(frozen=True)
class ProcessStep:
    step: str
    description: str = ""
    limit_days: int = 0


@dataclass(frozen=True)
class Question:
    question: str
    answer: str


@dataclass(frozen=True)
class Guide:
    """A service guide (办事指南) of one implementation, in the national exchange field set.

    The item supplies name, codes, type, level, legal basis, implementing body, case kind and
    time limits; the guide adds what a citizen needs to apply.
    """

    implementation_code: str
    version: int = 1
    service_object: tuple[str, ...] = ("natural",)  # natural | legal
    acceptance_conditions: str = ""
    process: tuple[ProcessStep, ...] = ()
    office_hours: str = ""
    consultation_phone: str = ""
    complaint_phone: str = ""
    fees: tuple[GuideFee, ...] = ()
    materials: tuple[GuideMaterial, ...] = ()
    online_url: str = ""
    mobile_url: str = ""
    online_depth: int = 1  # 1 information only … 4 fully online (全程网办)
    visits: int = 1  # 到办事现场次数
    collaborating_departments: tuple[str, ...] = ()  # USCCs (联办机构)
    result_type: str = ""  # 证照 | 批文 | 其他
    result_name: str = ""
    qa: tuple[Question, ...] = ()

    def event_data(self, item: Item) -> dict[str, Any]:
        """The payload of `guide.published`."""
        return {
            "implementation_code": self.implementation_code,
            "basic_code": item.basic_code,
            "name": item.name,
            "version": self.version,
            "case_kind": item.case_kind,
            "legal_limit_days": item.legal_limit_days,
            "promised_limit_days": item.promised_limit_days,
            "service_object": list(self.service_object),
            "materials": [
                {"name": m.name, "required": m.required, "form": m.form, "copies": m.copies}
                for m in self.materials
            ],
            "fees": [{"item": f.item, "standard": f.standard} for f in self.fees],
            "online_depth": self.online_depth,
            "visits": self.visits,
            "collaborating_departments": list(self.collaborating_departments),
            "result_name": self.result_name,
        }


@dataclass(frozen=True)
class Deviation:
    """A local implementation that differs from the provincial standard in one field."""

    implementation_code: str
    basic_code: str
    division: str
    department_code: str
    field: str
    standard_value: str
    local_value: str

    def event_data(self) -> dict[str, Any]:
        return {
            "implementation_code": self.implementation_code,
            "basic_code": self.basic_code,
            "department": self.department_code,
            "field": self.field,
            "standard_value": self.standard_value,
            "local_value": self.local_value,
        }


# -- validation ---------------------------------------------------------------------------


def item_violations(item: Item) -> list[FieldViolation]:
    """Every problem with an item's values, each naming its field. Fast: used per import row."""
    problems: list[FieldViolation] = []

    def bad(name: str, reason: str) -> None:
        problems.append(FieldViolation(name, reason))

    basic = None
    try:
        basic = check_basic_code(item.basic_code)
    except IdentifierError as exc:
        bad("basic_code", exc.reason)
    try:
        implementation = check_implementation_code(item.implementation_code)
    except IdentifierError as exc:
        implementation = None
        bad("implementation_code", exc.reason)
    if basic and implementation:
        if implementation.basic.value != basic.value:
            bad(
                "implementation_code",
                f"embeds basic code {implementation.basic.value}, not {basic.value}",
            )
        if implementation.uscc.value != item.department_code:
            bad("implementation_code", "must start with the implementing department's code")
    if item.type_code not in ITEM_TYPES:
        bad("type_code", f"must be a national item type code ({', '.join(ITEM_TYPES)})")
    elif basic and basic.type_code != item.type_code:
        bad("type_code", f"is {item.type_code} but the basic code says {basic.type_code}")
    if not item.name.strip() or len(item.name) > MAX_NAME:
        bad("name", f"must be 1 to {MAX_NAME} characters")
    if item.kind not in KINDS:
        bad("kind", f"must be one of {', '.join(KINDS)}")
    elif item.kind == "power" and not item.legal_basis.strip():
        bad("legal_basis", "is required (设定依据): no power without a legal basis")
    if len(item.legal_basis) > MAX_TEXT:
        bad("legal_basis", f"must be at most {MAX_TEXT} characters")
    if item.level not in LEVELS:
        bad("level", f"must be one of {', '.join(LEVELS)}")
    if item.status not in STATUSES:
        bad("status", f"must be one of {', '.join(STATUSES)}")
    try:
        check_uscc(item.department_code)
    except IdentifierError as exc:
        bad("department_code", exc.reason)
    if not item.department_name.strip():
        bad("department_name", "is required")
    if item.case_kind not in CASE_KINDS:
        bad("case_kind", "must be immediate (即办件) or promised (承诺件)")
    for name in ("legal_limit_days", "promised_limit_days"):
        days = getattr(item, name)
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_LIMIT_DAYS:
            bad(name, f"must be a whole number of working days from 0 to {MAX_LIMIT_DAYS}")
    if (
        isinstance(item.promised_limit_days, int)
        and isinstance(item.legal_limit_days, int)
        and item.promised_limit_days > item.legal_limit_days
    ):
        bad("promised_limit_days", "must not be longer than the legal time limit")
    if item.case_kind == "immediate" and item.promised_limit_days not in (0, None):
        bad("promised_limit_days", "must be 0 for an immediate case (即办件)")
    for index, material in enumerate(item.materials):
        if not material.name.strip():
            bad(f"materials.{index}.name", "is required")
    for index, fee in enumerate(item.fees):
        if not fee.item.strip():
            bad(f"fees.{index}.item", "is required")
    if item.version < 1:
        bad("version", "must be at least 1")
    return problems


def check_item(item: Item) -> None:
    problems = item_violations(item)
    if problems:
        raise InvalidArgument(problems)


def guide_violations(guide: Guide) -> list[FieldViolation]:
    problems: list[FieldViolation] = []

    def bad(name: str, reason: str) -> None:
        problems.append(FieldViolation(name, reason))

    try:
        check_implementation_code(guide.implementation_code)
    except IdentifierError as exc:
        bad("implementation_code", exc.reason)
    if not guide.service_object or set(guide.service_object) - {"natural", "legal"}:
        bad("service_object", "must list natural and/or legal")
    if not 1 <= guide.online_depth <= 4:
        bad("online_depth", "must be 1 (information) to 4 (fully online)")
    if not 0 <= guide.visits <= 10:
        bad("visits", "must be 0 to 10 visits")
    for index, material in enumerate(guide.materials):
        if not material.name.strip():
            bad(f"materials.{index}.name", "is required")
        if material.copies < 0:
            bad(f"materials.{index}.copies", "must not be negative")
    for index, code in enumerate(guide.collaborating_departments):
        try:
            check_uscc(code)
        except IdentifierError as exc:
            bad(f"collaborating_departments.{index}", exc.reason)
    for index, step in enumerate(guide.process):
        if not step.step.strip():
            bad(f"process.{index}.step", "is required")
    if guide.version < 1:
        bad("version", "must be at least 1")
    return problems


# -- 三级四同 -------------------------------------------------------------------------------


def define(item: Item, node_level: str, node_division: str) -> Item:
    """A new item published at the province: it defines (or re-uses) the standard."""
    if node_level != "province":
        raise FailedPrecondition("only the province node defines standard items")
    check_item(item)
    _check_place(item, node_level, node_division)
    return item


def implement(item: Item, standard: Standard | None, node_level: str, node_division: str) -> Item:
    """A city or county implementation of a provincial standard.

    Standard fields left empty are copied from the standard; one given with another value is
    refused with `FailedPrecondition` naming it. Raises `NotFound` if there is no standard.
    """
    if standard is None or standard.status != "published":
        raise NotFound(
            f"no published provincial standard with basic_code {item.basic_code} at this node; "
            "standards arrive from the province"
        )
    filled = replace(
        item,
        name=item.name or standard.name,
        type_code=item.type_code or standard.type_code,
        legal_basis=item.legal_basis or standard.legal_basis,
        standard_version=standard.version,
    )
    for name in ("name", "type_code", "legal_basis"):
        if getattr(filled, name) != standard.field(name):
            raise FailedPrecondition(
                f"{name} is a standard field (三级四同): the province defines it as "
                f"{standard.field(name)!r}; leave it empty or give the same value"
            )
    check_item(filled)
    _check_place(filled, node_level, node_division)
    return filled


def revise(current: Item, changes: Mapping[str, Any], node_level: str) -> Item:
    """The next version of `current` with `changes` applied.

    Only the province changes standard fields; a city or county attempt is refused with
    `FailedPrecondition` naming the field. Codes, kind, level and division never change.
    """
    if current.status == "revoked":
        raise FailedPrecondition(f"item {current.implementation_code} is revoked")
    unknown = [name for name in changes if name not in REVISABLE_FIELDS]
    if unknown:
        raise InvalidArgument(
            FieldViolation(name, "cannot be revised (codes, kind, level and division are fixed)")
            for name in unknown
        )
    if node_level != "province":
        for name in STANDARD_FIELDS:
            if name in changes and changes[name] != getattr(current, name):
                raise FailedPrecondition(
                    f"{name} is a standard field (三级四同): only the province node defines "
                    f"it; this node is {node_level}"
                )
    changed = {k: v for k, v in changes.items() if getattr(current, k) != v}
    if not changed:
        raise FailedPrecondition("nothing to revise: every given field has its current value")
    revised = replace(current, **changed, version=current.version + 1)
    check_item(revised)
    return revised


def revoke(current: Item) -> Item:
    if current.status == "revoked":
        raise FailedPrecondition(f"item {current.implementation_code} is already revoked")
    return replace(current, status="revoked", version=current.version + 1)


def publish_draft(current: Item) -> Item:
    if current.status != "draft":
        raise FailedPrecondition(
            f"item {current.implementation_code} is {current.status}, not a draft"
        )
    return replace(current, status="published", version=current.version + 1)


def deviations(item: Item, standard: Standard | None) -> list[Deviation]:
    """How a local implementation differs from the provincial standard, field by field."""

    def deviation(name: str, standard_value: str, local_value: str) -> Deviation:
        return Deviation(
            item.implementation_code,
            item.basic_code,
            item.division,
            item.department_code,
            name,
            standard_value,
            local_value,
        )

    if standard is None:
        return [deviation("basic_code", "", item.basic_code)]
    return [
        deviation(name, standard.field(name), str(getattr(item, name)))
        for name in ("name", "type_code", "legal_basis")
        if getattr(item, name) != standard.field(name)
    ]


def changed_fields(old: Item, new: Item) -> list[str]:
    return [
        name for name in (*REVISABLE_FIELDS, "status") if getattr(old, name) != getattr(new, name)
    ]


def _check_place(item: Item, node_level: str, node_division: str) -> None:
    problems = []
    if item.level != node_level:
        problems.append(FieldViolation("level", f"must be {node_level}, the level of this node"))
    if item.division != node_division:
        problems.append(
            FieldViolation("division", f"must be {node_division}, the division of this node")
        )
    if problems:
        raise InvalidArgument(problems)


# -- search ---------------------------------------------------------------------------------

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[0-9A-Za-z]+")


def search_tokens(text: str) -> list[str]:
    """Index tokens: one per Chinese character (word tokenizers do not segment Chinese), one
    per run of Latin letters or digits, lower-cased. A phrase query over these tokens is
    n-gram matching of any length, including one- and two-character queries."""
    return [t.lower() for t in _TOKEN.findall(text)]


def search_text(text: str) -> str:
    return " ".join(search_tokens(text))


@dataclass(frozen=True)
class Query:
    """A catalog search: free text and filters, paged by implementation code."""

    text: str = ""
    department_code: str = ""
    type_code: str = ""
    level: str = ""
    division: str = ""
    kind: str = ""
    status: str = "published"
    page_size: int = 20
    after: str = ""  # implementation code of the last item of the previous page
    tokens: tuple[str, ...] = field(default=(), compare=False)


MAX_PAGE = 200


def parse_query(
    text: str = "",
    *,
    department_code: str = "",
    type_code: str = "",
    level: str = "",
    division: str = "",
    kind: str = "",
    status: str = "published",
    page_size: int = 0,
    page_token: str = "",
) -> Query:
    """Validate a search request; raise `InvalidArgument` naming every bad field."""
    problems = []
    text = text.strip()
    if len(text) > 100:
        problems.append(FieldViolation("text", "must be at most 100 characters"))
    if type_code and type_code not in ITEM_TYPES:
        problems.append(FieldViolation("type_code", "is not a national item type code"))
    if level and level not in LEVELS:
        problems.append(FieldViolation("level", f"must be one of {', '.join(LEVELS)}"))
    if kind and kind not in KINDS:
        problems.append(FieldViolation("kind", f"must be one of {', '.join(KINDS)}"))
    if status and status not in (*STATUSES, "any"):
        problems.append(FieldViolation("status", "must be draft, published, revoked or any"))
    if not 0 <= page_size <= MAX_PAGE:
        problems.append(FieldViolation("page_size", f"must be between 0 and {MAX_PAGE}"))
    if division and not (division.isdigit() and len(division) == 6):
        problems.append(FieldViolation("division", "must be a 6-digit division code"))
    tokens = tuple(search_tokens(text))
    if text and not tokens:
        problems.append(FieldViolation("text", "has no letters, digits or Chinese characters"))
    if problems:
        raise InvalidArgument(problems)
    return Query(
        text=text,
        department_code=department_code,
        type_code=type_code,
        level=level,
        division=division,
        kind=kind,
        status="" if status == "any" else status,
        page_size=page_size or 20,
        after=page_token,
        tokens=tokens,
    )


def looks_like_code(text: str) -> bool:
    """A basic (12 digits) or implementation code (31-36 characters) searched for exactly."""
    return bool(re.fullmatch(r"[0-9]{12}|[0-9A-Z]{31,36}", text))


def materials_from(values: Iterable[Mapping[str, Any]]) -> tuple[Material, ...]:
    return tuple(Material(str(v["name"]), bool(v.get("required", True))) for v in values)


def fees_from(values: Iterable[Mapping[str, Any]]) -> tuple[Fee, ...]:
    return tuple(Fee(str(v["item"]), str(v.get("standard", ""))) for v in values)
