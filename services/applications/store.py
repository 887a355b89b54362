"""Applications tables and queries: cases, the daily case counter and the catalog replica.

Full personal data (ID numbers, phone numbers) is kept here and only here; everything that
leaves this store through events is masked.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from services.applications.domain import (
    Applicant,
    Case,
    CatalogItem,
    Submission,
    case_number,
    local_date,
    normalise,
    validate_submission,
)
from services.contract import names
from services.contract.envelope import Event
from services.platform.errors import FailedPrecondition, NotFound
from services.platform.store import Database

metadata = MetaData()

cases = Table(
    "cases",
    metadata,
    Column("case_number", String(32), primary_key=True),
    Column("request_id", String(128), nullable=False, unique=True),
    Column("implementation_code", String(36), nullable=False),
    Column("item", Text, nullable=False),  # JSON snapshot of the replica item at intake
    Column("applicant_kind", String(10), nullable=False),
    Column("applicant_name", String(200), nullable=False),
    Column("id_number", String(18), nullable=False, index=True),
    Column("phone", String(20), nullable=False),
    Column("account_id", String(128), nullable=False, index=True),
    Column("channel", String(10), nullable=False),
    Column("status", String(20), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("materials", Text, nullable=False),  # JSON list
)

catalog_items = Table(
    "catalog_items",
    metadata,
    Column("implementation_code", String(36), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("item", Text, nullable=False),  # JSON of CatalogItem
    Column("guide_version", Integer, nullable=False, default=0),
    Column("guide_materials", Text),  # JSON list of required material names, from the guide
)


class ApplicationsStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create_schema(metadata)

    # -- intake ------------------------------------------------------------------------

    def submit(self, submission: Submission) -> tuple[Case, bool]:
        """Receive an application; return the case and whether it is new.

        Idempotent on `request_id`: a retry with the same request returns the stored case
        without a second event; the same request id with a different application is refused.
        """
        submission = normalise(submission)
        with self.db.transaction() as tx:
            existing = self._by_request(tx.conn, submission.request_id)
            if existing is not None:
                if not _same_request(existing, submission):
                    raise FailedPrecondition(
                        f"request_id {submission.request_id} was already used for case "
                        f"{existing.case_number} with different content"
                    )
                return existing, False
            item = self._item(tx.conn, submission.implementation_code)
            validate_submission(submission, item)
            assert item is not None  # validate_submission refuses a missing item
            day = local_date(tx.now)
            number = case_number(
                self.db.source.division, day, self.db.next_value(tx.conn, f"case:{day:%Y%m%d}")
            )
            case = Case(
                case_number=number,
                request_id=submission.request_id,
                item=item,
                applicant=submission.applicant,
                channel=submission.channel,
                status="received",
                submitted_at=tx.now,
                materials=submission.materials,
            )
            tx.conn.execute(insert(cases).values(**_case_row(case)))
            tx.emit(names.APPLICATION_SUBMITTED, case.submitted_event(), subject=number)
        return case, True

    def get(self, number: str) -> Case:
        with self.db.read() as conn:
            row = conn.execute(select(cases).where(cases.c.case_number == number)).first()
        if row is None:
            raise NotFound(f"no case {number} at this node")
        return _case(row._mapping)

    # -- the catalog replica -------------------------------------------------------------

    def apply_item_event(self, event: Event) -> bool:
        """Apply a catalog event once; an older version never overwrites a newer one."""
        with self.db.consume(event) as tx:
            if tx is None:
                return False
            data = dict(event.data)
            code = data["implementation_code"]
            current = tx.conn.execute(
                select(catalog_items.c.version, catalog_items.c.guide_version).where(
                    catalog_items.c.implementation_code == code
                )
            ).first()
            if event.type == names.GUIDE_PUBLISHED:
                if current is None or data["version"] <= current.guide_version:
                    return False
                required = [m["name"] for m in data["materials"] if m["required"]]
                tx.conn.execute(
                    update(catalog_items)
                    .where(catalog_items.c.implementation_code == code)
                    .values(guide_version=data["version"], guide_materials=json.dumps(required))
                )
                return True
            if current is not None and data["version"] < current.version:
                return False
            if event.type == names.ITEM_REVOKED:
                if current is not None:
                    tx.conn.execute(
                        update(catalog_items)
                        .where(catalog_items.c.implementation_code == code)
                        .values(status="revoked", version=data["version"])
                    )
                return current is not None
            item = CatalogItem.from_event(data)
            row = {"version": item.version, "status": "published", "item": _item_json(item)}
            if current is None:
                tx.conn.execute(insert(catalog_items).values(implementation_code=code, **row))
            else:
                tx.conn.execute(
                    update(catalog_items)
                    .where(catalog_items.c.implementation_code == code)
                    .values(**row)
                )
            return True

    def known_items(self) -> int:
        with self.db.read() as conn:
            return len(conn.execute(select(catalog_items.c.implementation_code)).all())

    def _item(self, conn: Connection, code: str) -> CatalogItem | None:
        row = conn.execute(
            select(catalog_items).where(
                catalog_items.c.implementation_code == code, catalog_items.c.status == "published"
            )
        ).first()
        if row is None:
            return None
        item = _catalog_item(json.loads(row.item))
        if row.guide_materials is not None:  # the guide, when there is one, says what is required
            item = dataclasses.replace(
                item, required_materials=tuple(json.loads(row.guide_materials))
            )
        return item

    def _by_request(self, conn: Connection, request_id: str) -> Case | None:
        row = conn.execute(select(cases).where(cases.c.request_id == request_id)).first()
        return _case(row._mapping) if row else None


def _same_request(case: Case, submission: Submission) -> bool:
    return (
        case.item.implementation_code == submission.implementation_code
        and case.applicant == submission.applicant
        and case.channel == submission.channel
        and case.materials == submission.materials
    )


def _item_json(item: CatalogItem) -> str:
    return json.dumps(dataclasses.asdict(item), ensure_ascii=False)


def _catalog_item(data: dict[str, Any]) -> CatalogItem:
    return CatalogItem(**(data | {"required_materials": tuple(data["required_materials"])}))


def _case_row(case: Case) -> dict[str, Any]:
    return {
        "case_number": case.case_number,
        "request_id": case.request_id,
        "implementation_code": case.item.implementation_code,
        "item": _item_json(case.item),
        "applicant_kind": case.applicant.kind,
        "applicant_name": case.applicant.name,
        "id_number": case.applicant.id_number,
        "phone": case.applicant.phone,
        "account_id": case.applicant.account_id,
        "channel": case.channel,
        "status": case.status,
        "submitted_at": case.submitted_at,
        "materials": json.dumps(list(case.materials), ensure_ascii=False),
    }


def _case(row: Any) -> Case:
    submitted_at = row["submitted_at"]
    if submitted_at.tzinfo is None:  # SQLite keeps no zone; every stored time is UTC
        submitted_at = submitted_at.replace(tzinfo=UTC)
    return Case(
        case_number=row["case_number"],
        request_id=row["request_id"],
        item=_catalog_item(json.loads(row["item"])),
        applicant=Applicant(
            kind=row["applicant_kind"],
            name=row["applicant_name"],
            id_number=row["id_number"],
            phone=row["phone"],
            account_id=row["account_id"],
        ),
        channel=row["channel"],
        status=row["status"],
        submitted_at=submitted_at,
        materials=tuple(json.loads(row["materials"])),
    )
