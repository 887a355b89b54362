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
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from services.contract.errors import FieldViolation
from services.contract.identifiers import (
    ITEM_TYPES,
    IdentifierError,
    check_basic_code,
    check_division_code,
    check_implementation_code,
    check_uscc,
)
from services.platform import paging
from services.platform.errors import FailedPrecondition, InvalidArgument, NotFound

LEVELS = ("province", "city", "county")
KINDS = ("power", "convenience")
"""power: administrative power items and public services of the power list (权力清单);
convenience: convenience service items (便民服务事项)."""
CASE_KINDS = ("immediate", "promised")
STATUSES = ("draft", "published", "revoked")
STANDARD_FIELDS = ("name", "basic_code", "type_code", "legal_basis")
"""The four fields that are the same at every level (三级四同)."""
FIXED_FIELDS = (
    "implementation_code",
    "kind",
    "level",
    "division",
    "status",
    "version",
    "standard_version",
)
"""Never revised: the implementation code identifies the item, kind/level/division place it,
and status and versions change only through the lifecycle (publish, revise, revoke)."""
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

    def _event_head(self) -> dict[str, Any]:
        """What every item event says of the item: its codes, the four standard fields
        (三级四同), its level, kind, body and versions."""
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
        }

    def event_data(self) -> dict[str, Any]:
        """The payload of `item.published` / `item.revised`: the standard fields and what
        other services need to take cases while catalog is down (event-carried state)."""
        return self._event_head() | {
            "address": self.address,
            "fees": [{"item": f.item, "standard": f.standard} for f in self.fees],
            "guide": {
                "case_kind": self.case_kind,
                "legal_limit_days": self.legal_limit_days,
                "promised_limit_days": self.promised_limit_days,
                "materials": [{"name": m.name, "required": m.required} for m in self.materials],
            },
        }

    def revoked_event_data(self, reason: str, standard_revoked: bool) -> dict[str, Any]:
        """The payload of `item.revoked`: which item stopped, with its four standard fields
        (三级四同), and whether the provincial standard itself was withdrawn."""
        return self._event_head() | {"reason": reason, "standard_revoked": standard_revoked}


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
        """The payload of `guide.published`: the guide with its item's four standard fields
        (三级四同), implementing department and time limits, so that a service holding only
        events can take a case and tell an applicant what to bring, where and when."""
        return {
            "implementation_code": self.implementation_code,
            "basic_code": item.basic_code,
            "name": item.name,
            "type_code": item.type_code,
            "legal_basis": item.legal_basis,
            "level": item.level,
            "kind": item.kind,
            "department": {"code": item.department_code, "name": item.department_name},
            "standard_version": item.standard_version,
            "version": self.version,
            "case_kind": item.case_kind,
            "legal_limit_days": item.legal_limit_days,
            "promised_limit_days": item.promised_limit_days,
            "service_object": list(self.service_object),
            "acceptance_conditions": self.acceptance_conditions,
            "process": [
                {"step": p.step, "description": p.description, "limit_days": p.limit_days}
                for p in self.process
            ],
            "address": item.address,
            "office_hours": self.office_hours,
            "consultation_phone": self.consultation_phone,
            "complaint_phone": self.complaint_phone,
            "materials": [
                {"name": m.name, "required": m.required, "form": m.form, "copies": m.copies}
                for m in self.materials
            ],
            "fees": [{"item": f.item, "standard": f.standard} for f in self.fees],
            "online_url": self.online_url,
            "mobile_url": self.mobile_url,
            "online_depth": self.online_depth,
            "visits": self.visits,
            "collaborating_departments": list(self.collaborating_departments),
            "result_type": self.result_type,
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
    try:
        place = check_division_code(item.division)
    except IdentifierError as exc:
        bad("division", exc.reason)
    else:
        # The level follows from the division: a city or county item declared provincial
        # would define the standard (三级四同) instead of being compared with it.
        if item.level in LEVELS and place.level != item.level:
            bad("level", f"must be {place.level}, the level of division {item.division}")
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
        if step.limit_days < 0:
            bad(f"process.{index}.limit_days", "must not be negative")
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

    The request is checked first: every value but the standard fields (`InvalidArgument`
    naming each bad field, a malformed basic code included). Then the standard: `NotFound` if
    there is no published one for the basic code. Standard fields left empty are copied from
    it; one given with another value is refused with `FailedPrecondition` naming it.
    """
    problems = [v for v in item_violations(item) if v.field not in _COMPARED_WITH_STANDARD]
    problems += _place_violations(item, node_level, node_division)
    if problems:
        raise InvalidArgument(problems)
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
    for name in _COMPARED_WITH_STANDARD:
        if getattr(filled, name) != standard.field(name):
            raise FailedPrecondition(
                f"{name} is a standard field (三级四同): the province defines it as "
                f"{standard.field(name)!r}; leave it empty or give the same value"
            )
    check_item(filled)
    return filled


_COMPARED_WITH_STANDARD = ("name", "type_code", "legal_basis")
"""The standard fields an implementation may leave empty (copied from the standard) and must
otherwise give as the standard has them. The fourth, basic_code, names the standard."""


def revise(current: Item, changes: Mapping[str, Any], node_level: str) -> Item:
    """The next version of `current` with `changes` applied.

    Refused, in this order: a revoked item (`FailedPrecondition`); fields that are never
    revised (`InvalidArgument` naming each: the codes, kind, level, division, status and
    versions); at a city or county, a change to any of the four standard fields
    (`FailedPrecondition` naming it: only the province defines them). At the province, name,
    type and legal basis revise the standard; the basic code identifies the standard (and is
    part of every implementation code), so changing it is `InvalidArgument`: publish the item
    under the new basic code and revoke this one.
    """
    _refuse_revoked(current)
    fixed = [name for name in changes if name in FIXED_FIELDS]
    unknown = [
        name for name in changes if name not in (*FIXED_FIELDS, *STANDARD_FIELDS, *REVISABLE_FIELDS)
    ]
    if fixed or unknown:
        raise InvalidArgument(
            [
                *(
                    FieldViolation(
                        name,
                        "cannot be revised (the implementation code, kind, level and division "
                        "are fixed; status and versions follow the lifecycle)",
                    )
                    for name in fixed
                ),
                *(FieldViolation(name, "is not a field of an item") for name in unknown),
            ]
        )
    changed = {k: v for k, v in changes.items() if getattr(current, k) != v}
    if node_level != "province":
        for name in STANDARD_FIELDS:
            if name in changed:
                raise FailedPrecondition(
                    f"{name} is a standard field (三级四同): only the province node defines "
                    f"it; this node is {node_level}"
                )
    if "basic_code" in changed:
        raise InvalidArgument.single(
            "basic_code",
            "identifies the provincial standard and is part of the implementation code, so it "
            "is never revised: publish the item under the new basic code and revoke this one",
        )
    if not changed:
        raise FailedPrecondition("nothing to revise: every given field has its current value")
    revised = replace(current, **changed, version=current.version + 1)
    check_item(revised)
    return revised


def revoke(current: Item) -> Item:
    if current.status == "revoked":
        raise FailedPrecondition(f"item {current.implementation_code} is already revoked")
    return replace(current, status="revoked", version=current.version + 1)


def check_guide_item(item: Item) -> None:
    """Refuse to publish a guide (a first one or a change) of `item` if it is revoked
    (`FailedPrecondition` naming its status, as `revise` does): a revoked item offers no
    service to guide applicants to. A draft's guide may be ready before the draft is
    published."""
    _refuse_revoked(item)


def _refuse_revoked(current: Item) -> None:
    if current.status == "revoked":
        raise FailedPrecondition(f"item {current.implementation_code} is revoked")


def import_violation(current_status: str) -> FieldViolation | None:
    """Why an imported record that differs from what is stored may not replace it, or None:
    an item line given its stored item's status, a guide line (a first guide too) given the
    status of the item it belongs to.

    A revoked item stays revoked, as it is: an import neither changes nor publishes it or its
    guide again (re-running an old file must not undo a revocation). Offering the service
    again is an explicit act: publishing it under a new implementation code."""
    if current_status == "revoked":
        return FieldViolation(
            "status",
            "the item is revoked in this catalog; an import never changes or re-publishes a "
            "revoked item (publish it under a new implementation code to offer it again)",
        )
    return None


def publish_draft(current: Item) -> Item:
    if current.status != "draft":
        raise FailedPrecondition(
            f"item {current.implementation_code} is {current.status}, not a draft"
        )
    return replace(current, status="published", version=current.version + 1)


def deviations(item: Item, standard: Standard | None) -> list[Deviation]:
    """How a local implementation differs from the provincial standard, field by field.

    A revoked item implements nothing any more: it has no deviations (those it had are
    resolved when it is revoked)."""

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

    if item.status == "revoked":
        return []
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
    problems = _place_violations(item, node_level, node_division)
    if problems:
        raise InvalidArgument(problems)


def _place_violations(item: Item, node_level: str, node_division: str) -> list[FieldViolation]:
    problems = []
    if item.level != node_level:
        problems.append(FieldViolation("level", f"must be {node_level}, the level of this node"))
    if item.division != node_division:
        problems.append(
            FieldViolation("division", f"must be {node_division}, the division of this node")
        )
    return problems


# -- search ---------------------------------------------------------------------------------

# Chinese characters: 〇, CJK Extension A and the unified block, the compatibility block (NFKC
# maps most of it onto the unified one), and Extensions B and later (rare characters of
# place and personal names).
_HAN = "\u3007\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK = re.compile(f"[{_HAN}]")
_TOKEN = re.compile(f"[{_HAN}0-9A-Za-z]")


def search_tokens(text: str) -> list[str]:
    """Index tokens: one per Chinese character (word tokenizers do not segment Chinese) and
    one per Latin letter or digit, lower-cased; everything else (spaces, punctuation) is left
    out. A phrase query over these tokens is substring matching of any length, in Chinese
    and in Latin alike: "CP" finds ICP备案, "案5G" finds 备案５Ｇ, one- and two-character
    queries work. The text is NFKC-normalised first, so full-width letters and digits
    (ＩＣＰ, ５Ｇ) are the ASCII ones.

    Latin is split by character, not indexed by word, because users type partial codes and
    abbreviations; the price is that spaces between Latin words do not count ("IC P" finds
    ICP), as they never did between Chinese characters."""
    return [t.lower() for t in _TOKEN.findall(unicodedata.normalize("NFKC", text))]


def search_text(text: str) -> str:
    return " ".join(search_tokens(text))


@dataclass(frozen=True)
class Filters:
    """Which items a search, a listing or a conformance check covers; "" matches any."""

    department_code: str = ""
    type_code: str = ""
    level: str = ""
    division: str = ""
    kind: str = ""
    status: str = ""


def parse_filters(
    *,
    department_code: str = "",
    type_code: str = "",
    level: str = "",
    division: str = "",
    kind: str = "",
    status: str = "",
) -> Filters:
    """Validate filters as a caller gave them; raise `InvalidArgument` naming every bad one.

    The one check of filters for every call that takes them (`SearchItems`, `ListItems`,
    `CheckConformance`, the CLI), so that a mistyped filter is refused, never taken for a
    filter that matches nothing. Values are stripped; a department code is upper-cased.
    `status` is draft, published or revoked ("" or "any": every status).
    """
    filters, problems = _filters(
        department_code=department_code,
        type_code=type_code,
        level=level,
        division=division,
        kind=kind,
        status=status,
    )
    if problems:
        raise InvalidArgument(problems)
    return filters


def _filters(
    *, department_code: str, type_code: str, level: str, division: str, kind: str, status: str
) -> tuple[Filters, list[FieldViolation]]:
    problems = []
    department_code, type_code, level = department_code.strip(), type_code.strip(), level.strip()
    division, kind, status = division.strip(), kind.strip(), status.strip()
    if department_code:
        try:
            department_code = check_uscc(department_code).value
        except IdentifierError as exc:
            problems.append(FieldViolation("department_code", exc.reason))
    if type_code and type_code not in ITEM_TYPES:
        problems.append(
            FieldViolation(
                "type_code", f"must be a national item type code ({', '.join(ITEM_TYPES)})"
            )
        )
    if level and level not in LEVELS:
        problems.append(FieldViolation("level", f"must be one of {', '.join(LEVELS)}"))
    if division:
        try:
            check_division_code(division)
        except IdentifierError as exc:
            problems.append(FieldViolation("division", exc.reason))
    if kind and kind not in KINDS:
        problems.append(FieldViolation("kind", f"must be one of {', '.join(KINDS)}"))
    if status and status not in (*STATUSES, "any"):
        problems.append(FieldViolation("status", "must be draft, published, revoked or any"))
    filters = Filters(
        department_code, type_code, level, division, kind, "" if status == "any" else status
    )
    return filters, problems


@dataclass(frozen=True)
class Query(Filters):
    """A catalog search: free text and filters, paged in catalog order."""

    status: str = "published"
    text: str = ""
    page_size: int = 20
    after: int = 0  # from the page token: position of the last item of the previous page
    tokens: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, filters: Filters, **more: Any) -> Query:
        """A query for the items `filters` covers."""
        return cls(**{f.name: getattr(filters, f.name) for f in fields(Filters)}, **more)

    @property
    def is_code(self) -> bool:
        """Whether the text is a code, looked up exactly (else it is part of a name)."""
        return bool(self.text) and looks_like_code(self.text)

    def fingerprint(self) -> tuple[str, ...]:
        """What the items of this query depend on (its page tokens' key): the filters, and
        the code or the tokens of the text (so "ICP 备案" and "ｉｃｐ备案" are one query).
        Not the page size: a position means the same at any page size, so a caller may
        change it between pages."""
        what = self.text if self.is_code else " ".join(self.tokens)
        filters = (getattr(self, f.name) for f in fields(Filters))
        return ("catalog.SearchItems", *filters, str(self.is_code), what)


MAX_PAGE = 200
MAX_POSITION = paging.MAX_POSITION
_QUERY_FIELDS = "the text and filters"


def next_page_token(query: Query, position: int) -> str:
    """The opaque, URL-safe token of the page after `position` (a store's row id) in
    `query`; `parse_query` takes it back for the same query only (`MAX_POSITION` at most)."""
    return paging.page_token(position, query.fingerprint())


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
    """Validate a search request; raise `InvalidArgument` naming every bad field (the
    filters are checked as `parse_filters` checks them). `page_token` must be one that
    `next_page_token` made for this query (same text and filters; any page size): a
    garbled one, or one of another query, is refused naming it."""
    filters, problems = _filters(
        department_code=department_code,
        type_code=type_code,
        level=level,
        division=division,
        kind=kind,
        status=status,
    )
    text = unicodedata.normalize("NFKC", text).strip()
    code = re.sub(r"\s+", "", text).upper()
    if looks_like_code(code):  # a code typed in lower case or in groups is that code
        text = code
    if len(text) > 100:
        problems.append(FieldViolation("text", "must be at most 100 characters"))
    tokens = tuple(search_tokens(text))
    if text and not tokens:
        problems.append(FieldViolation("text", "has no letters, digits or Chinese characters"))
    if not 0 <= page_size <= MAX_PAGE:
        problems.append(FieldViolation("page_size", f"must be between 0 and {MAX_PAGE}"))
    query = Query.of(filters, text=text, page_size=page_size or 20, tokens=tokens)
    if page_token:
        after = paging.checked_position(
            page_token, query.fingerprint, int, problems, query_fields=_QUERY_FIELDS
        )
        if after is not None:
            query = replace(query, after=after)
    if problems:
        raise InvalidArgument(problems)
    return query


def looks_like_code(text: str) -> bool:
    """A basic (12 digits) or implementation code (31-36 characters) searched for exactly."""
    return bool(re.fullmatch(r"[0-9]{12}|[0-9A-Z]{31,36}", text))


def materials_from(values: Iterable[Mapping[str, Any]]) -> tuple[Material, ...]:
    return tuple(Material(str(v["name"]), bool(v.get("required", True))) for v in values)


def fees_from(values: Iterable[Mapping[str, Any]]) -> tuple[Fee, ...]:
    return tuple(Fee(str(v["item"]), str(v.get("standard", ""))) for v in values)
