"""An item line's row, worked out without the store: what the catalog import's reading
process prepares (`prepare`) while the writing process stores the rows it is given. Kept
apart from the store so that the reading process starts without SQLAlchemy and the rest of
the store (it is spawned, and imports what it runs)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from services.catalog import domain
from services.catalog.domain import Fee, Guide, Item, Material
from services.catalog.records import to_json
from services.contract.errors import FieldViolation

ROW_COLUMNS = (
    "implementation_code",
    "basic_code",
    "name",
    "type_code",
    "legal_basis",
    "kind",
    "level",
    "division",
    "department_code",
    "department_name",
    "status",
    "version",
    "standard_version",
    "case_kind",
    "legal_limit_days",
    "promised_limit_days",
    "address",
    "materials",
    "fees",
    "search",
    "local",
)
_UNDIGESTED = ("implementation_code", "version", "standard_version", "search", "local")
_DIGESTED = tuple(c for c in ROW_COLUMNS if c not in _UNDIGESTED)
"""What an item says, in row order: not its code or versions (the catalog's business), nor
what follows from its name and the node. Its digest is of these, in this order."""
CODE, BASIC_CODE, KIND = 0, 1, 5
STANDARD_VERSION, LOCAL = ROW_COLUMNS.index("standard_version"), ROW_COLUMNS.index("local")
STATUS = ROW_COLUMNS.index("status")
INSERTED_COLUMNS = (
    *ROW_COLUMNS,
    "content_hash",
    "change",
    "changed_fields",
    "reason",
    "changed_at",
)
"""What a new item's row holds: its values, then how it came to be."""


class Prepared:
    """What can be worked out about an item line without the store: its problems (field,
    reason), its row's values (in `ROW_COLUMNS` order) and the digest of what it says.
    `import_file` prepares lines in a reader process and ships them as plain tuples
    (`packed`), because unpickling dataclasses or dicts would cost the writing process more
    than the database does. The `Item` is built only when the import logic needs one; a new
    item's values go to the database as they are."""

    __slots__ = ("_item", "digest", "problems", "values")

    def __init__(
        self,
        problems: tuple[tuple[str, str], ...],
        values: tuple[Any, ...],
        digest: str,
        item: Item | None = None,
    ) -> None:
        self.problems = problems
        self.values = values
        self.digest = digest
        self._item = item

    @property
    def code(self) -> str:
        return str(self.values[CODE])

    @property
    def row(self) -> dict[str, Any]:
        return dict(zip(ROW_COLUMNS, self.values, strict=True))

    @property
    def item(self) -> Item:
        if self._item is None:
            self._item = item_of_row(self.row)
        return self._item

    def packed(self) -> tuple[Any, ...]:
        return (self.problems, self.values, self.digest)


def prepare(item: Item, node_division: str) -> Prepared:
    row = item_row(item, node_division)
    problems = tuple((v.field, v.reason) for v in domain.item_violations(item))
    return Prepared(problems, tuple(row.values()), item_digest(row), item)


def item_digest(row: dict[str, Any]) -> str:
    """What an item says, as a hash: an import leaves an item alone when it is unchanged."""
    text_row = "\x1f".join([str(row[name]) for name in _DIGESTED])
    return hashlib.sha1(text_row.encode("utf-8"), usedforsecurity=False).hexdigest()


def prepare_guide(guide: Guide) -> tuple[list[FieldViolation], str]:
    """What can be worked out about a guide line without the store: its problems and its
    digest."""
    return domain.guide_violations(guide), guide_digest(guide)


def guide_digest(guide: Guide) -> str:
    """What a guide says, as a hash (its version is the catalog's business, not the
    guide's): an unchanged guide is left alone."""
    return _hash(to_json(guide) | {"version": 0})


def _hash(record: dict[str, Any]) -> str:
    text_record = _HASHED.encode(record)
    return hashlib.sha1(text_record.encode("utf-8"), usedforsecurity=False).hexdigest()


# Made once: json.dumps with any option builds an encoder at every call, which costs more
# than encoding a short value. The texts are exactly json.dumps's (they are stored, and
# hashed to tell an unchanged record).
_TEXT = json.JSONEncoder(ensure_ascii=False)
_HASHED = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
_BOOLEAN = {True: "true", False: "false"}
_json_string: Callable[[str], str] = json.encoder.encode_basestring  # what _TEXT uses for str


def _materials_text(materials: Sequence[Material]) -> str:
    """`_TEXT.encode([{"name": ..., "required": ...}, ...])`, byte for byte (the text is
    stored and hashed), without building the dicts and an encoder per call: an import row's
    most expensive step before this."""
    return _list_text(
        f'{{"name": {_json_string(m.name)}, "required": {_BOOLEAN[m.required]}}}' for m in materials
    )


def _fees_text(fees: Sequence[Fee]) -> str:
    """`_TEXT.encode([{"item": ..., "standard": ...}, ...])`, byte for byte (see
    `_materials_text`)."""
    return _list_text(
        f'{{"item": {_json_string(f.item)}, "standard": {_json_string(f.standard)}}}' for f in fees
    )


def _list_text(objects: Iterable[str]) -> str:
    """A JSON list of JSON texts, with json.dumps's separator."""
    return "[" + ", ".join(objects) + "]"


def item_row(item: Item, node_division: str) -> dict[str, Any]:
    return {
        "implementation_code": item.implementation_code,
        "basic_code": item.basic_code,
        "name": item.name,
        "type_code": item.type_code,
        "legal_basis": item.legal_basis,
        "kind": item.kind,
        "level": item.level,
        "division": item.division,
        "department_code": item.department_code,
        "department_name": item.department_name,
        "status": item.status,
        "version": item.version,
        "standard_version": item.standard_version,
        "case_kind": item.case_kind,
        "legal_limit_days": item.legal_limit_days,
        "promised_limit_days": item.promised_limit_days,
        "address": item.address,
        "materials": _materials_text(item.materials),
        "fees": _fees_text(item.fees),
        "search": domain.search_text(item.name),
        "local": item.division == node_division,
    }


def item_of_row(row: Any) -> Item:
    return Item(
        implementation_code=row["implementation_code"],
        basic_code=row["basic_code"],
        name=row["name"],
        type_code=row["type_code"],
        legal_basis=row["legal_basis"],
        level=row["level"],
        division=row["division"],
        department_code=row["department_code"],
        department_name=row["department_name"],
        kind=row["kind"],
        status=row["status"],
        version=row["version"],
        case_kind=row["case_kind"],
        legal_limit_days=row["legal_limit_days"],
        promised_limit_days=row["promised_limit_days"],
        address=row["address"],
        materials=tuple(Material(m["name"], m["required"]) for m in json.loads(row["materials"])),
        fees=tuple(Fee(f["item"], f["standard"]) for f in json.loads(row["fees"])),
        standard_version=row["standard_version"],
    )


def json_text(value: Any) -> str:
    """`value` as the JSON text the catalog stores (json.dumps's form, not ASCII-escaped)."""
    return _TEXT.encode(value)
