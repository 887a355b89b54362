"""Catalog tables and queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, func, insert, select
from sqlalchemy.exc import IntegrityError

from services.catalog.domain import Department, Guide, Item, Material, validate_new_item
from services.contract import names
from services.contract.identifiers import IdentifierError, check_basic_code
from services.platform.errors import AlreadyExists, InvalidArgument, NotFound
from services.platform.node import division as division_of
from services.platform.store import Database

metadata = MetaData()

items = Table(
    "items",
    metadata,
    Column("implementation_code", String(36), primary_key=True),
    Column("basic_code", String(12), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("type_code", String(2), nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("level", String(10), nullable=False),
    Column("department_code", String(18), nullable=False, index=True),
    Column("department_name", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("guide", Text, nullable=False),  # JSON
    Column("division", String(6), nullable=False),
)


class CatalogStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.node = division_of(db.source.division)
        db.create_schema(metadata)

    def publish(self, item: Item) -> Item:
        """Store a new item and emit `item.published`, in one transaction."""
        validate_new_item(item, self.node.level)
        try:
            with self.db.transaction() as tx:
                tx.conn.execute(insert(items).values(**_row(item)))
                tx.emit(
                    names.ITEM_PUBLISHED, item.published_event(), subject=item.implementation_code
                )
        except IntegrityError:
            raise AlreadyExists(
                f"implementation_code {item.implementation_code} is already in this catalog"
            ) from None
        return item

    def get(self, code: str) -> Item:
        """An item by implementation code or by basic code (the first implementation)."""
        code = code.strip()
        if not code:
            raise InvalidArgument.single("code", "is required (a basic or implementation code)")
        if len(code) == 12:
            try:
                check_basic_code(code)
            except IdentifierError as exc:
                raise InvalidArgument.single("code", exc.reason) from None
            column = items.c.basic_code
        else:
            column = items.c.implementation_code
        with self.db.read() as conn:
            row = conn.execute(
                select(items).where(column == code).order_by(items.c.implementation_code).limit(1)
            ).first()
        if row is None:
            raise NotFound(f"no item with code {code} at node {self.node.code}")
        return _item(row._mapping)

    def list(self, *, department_code: str = "", type_code: str = "") -> Iterator[Item]:
        query = select(items).order_by(items.c.implementation_code)
        if department_code:
            query = query.where(items.c.department_code == department_code)
        if type_code:
            query = query.where(items.c.type_code == type_code)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            yield _item(row._mapping)

    def count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(items)).scalar_one())

    def seed(self, seed_items: list[Item]) -> int:
        """Publish `seed_items` if the catalog is empty; return how many were published."""
        if self.count():
            return 0
        for item in seed_items:
            self.publish(item)
        return len(seed_items)


def _row(item: Item) -> dict[str, Any]:
    return {
        "implementation_code": item.implementation_code,
        "basic_code": item.basic_code,
        "name": item.name,
        "type_code": item.type_code,
        "legal_basis": item.legal_basis,
        "level": item.level,
        "department_code": item.department.code,
        "department_name": item.department.name,
        "version": item.version,
        "status": item.status,
        "guide": json.dumps(item.published_event()["guide"], ensure_ascii=False),
        "division": item.division,
    }


def _item(row: Any) -> Item:
    guide = json.loads(row["guide"])
    return Item(
        basic_code=row["basic_code"],
        implementation_code=row["implementation_code"],
        name=row["name"],
        type_code=row["type_code"],
        legal_basis=row["legal_basis"],
        level=row["level"],
        department=Department(row["department_code"], row["department_name"]),
        version=row["version"],
        status=row["status"],
        guide=Guide(
            case_kind=guide["case_kind"],
            legal_limit_days=guide["legal_limit_days"],
            promised_limit_days=guide["promised_limit_days"],
            materials=tuple(Material(m["name"], m["required"]) for m in guide["materials"]),
        ),
        division=row["division"],
    )
