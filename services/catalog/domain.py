"""Catalog rules and values. Pure: no I/O, no clock, no nameko, no grpc."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.contract.errors import FieldViolation
from services.contract.identifiers import (
    ITEM_TYPES,
    IdentifierError,
    check_basic_code,
    check_implementation_code,
    check_uscc,
)
from services.platform.errors import InvalidArgument

LEVELS = ("province", "city", "county")
CASE_KINDS = ("immediate", "promised")
STATUSES = ("draft", "published", "revoked")
MAX_LIMIT_DAYS = 365


@dataclass(frozen=True)
class Department:
    code: str  # unified social credit code
    name: str


@dataclass(frozen=True)
class Material:
    name: str
    required: bool


@dataclass(frozen=True)
class Guide:
    case_kind: str
    legal_limit_days: int
    promised_limit_days: int
    materials: tuple[Material, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Item:
    basic_code: str
    implementation_code: str
    name: str
    type_code: str
    legal_basis: str
    level: str
    department: Department
    version: int
    status: str
    guide: Guide
    division: str

    def published_event(self) -> dict[str, Any]:
        """The payload of `item.published` (event-carried state for other services)."""
        return {
            "basic_code": self.basic_code,
            "implementation_code": self.implementation_code,
            "name": self.name,
            "type_code": self.type_code,
            "legal_basis": self.legal_basis,
            "level": self.level,
            "department": {"code": self.department.code, "name": self.department.name},
            "version": self.version,
            "guide": {
                "case_kind": self.guide.case_kind,
                "legal_limit_days": self.guide.legal_limit_days,
                "promised_limit_days": self.guide.promised_limit_days,
                "materials": [
                    {"name": m.name, "required": m.required} for m in self.guide.materials
                ],
            },
        }


def validate_new_item(item: Item, node_level: str) -> None:
    """Raise `InvalidArgument` listing every problem with an item to be published."""
    problems: list[FieldViolation] = []

    def bad(name: str, reason: str) -> None:
        problems.append(FieldViolation(name, reason))

    try:
        basic = check_basic_code(item.basic_code)
    except IdentifierError as exc:
        basic = None
        bad("basic_code", exc.reason)
    try:
        implementation = check_implementation_code(item.implementation_code)
    except IdentifierError as exc:
        implementation = None
        bad("implementation_code", exc.reason)
    if basic and implementation and implementation.basic.value != basic.value:
        bad(
            "implementation_code",
            f"embeds basic code {implementation.basic.value}, not {basic.value}",
        )
    if item.type_code not in ITEM_TYPES:
        bad("type_code", f"must be a national item type code ({', '.join(ITEM_TYPES)})")
    elif basic and basic.type_code != item.type_code:
        bad("type_code", f"is {item.type_code} but the basic code says {basic.type_code}")
    if not item.name.strip() or len(item.name) > 200:
        bad("name", "must be 1 to 200 characters")
    if not item.legal_basis.strip():
        bad("legal_basis", "is required (设定依据): no item without a legal basis")
    if item.level != node_level:
        bad("level", f"must be {node_level}, the level of this node")
    try:
        check_uscc(item.department.code)
    except IdentifierError as exc:
        bad("department.code", exc.reason)
    if implementation and implementation.uscc.value != item.department.code:
        bad("implementation_code", "must start with the implementing department's code")
    if not item.department.name.strip():
        bad("department.name", "is required")
    guide = item.guide
    if guide.case_kind not in CASE_KINDS:
        bad("guide.case_kind", "must be immediate or promised")
    for name in ("legal_limit_days", "promised_limit_days"):
        days = getattr(guide, name)
        if not 0 <= days <= MAX_LIMIT_DAYS:
            bad(f"guide.{name}", f"must be between 0 and {MAX_LIMIT_DAYS} working days")
    if guide.promised_limit_days > guide.legal_limit_days:
        bad("guide.promised_limit_days", "must not be longer than the legal time limit")
    for index, material in enumerate(guide.materials):
        if not material.name.strip():
            bad(f"guide.materials.{index}.name", "is required")
    if problems:
        raise InvalidArgument(problems)
