"""Catalog tables and queries: departments, standards, items (current version and history),
guides, deviations, and the search index.

Ownership: an item whose division is this node's is *local*: it is changed through this
node's API or imports and its changes are published as events. Items of other divisions may
be held for reference (a provincial overview, or provincial standards at a county node);
they are read-only here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    DDL,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    event,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from services.catalog import domain
from services.catalog.domain import (
    Department,
    Deviation,
    Guide,
    Item,
    Query,
    Standard,
)
from services.catalog.records import Line, parse, to_json
from services.catalog.rows import (
    BASIC_CODE,
    CODE,
    INSERTED_COLUMNS,
    KIND,
    LOCAL,
    STANDARD_VERSION,
    STATUS,
    Prepared,
    item_digest,
    item_of_row,
    item_row,
    json_text,
    prepare,
    prepare_guide,
)
from services.contract import names
from services.contract.envelope import Event
from services.contract.errors import FieldViolation
from services.contract.identifiers import (
    IdentifierError,
    check_basic_code,
    check_division_code,
    check_implementation_code,
    check_uscc,
)
from services.platform.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.platform.node import Division, divisions
from services.platform.node import division as division_of
from services.platform.settings import Settings
from services.platform.store import Database, Tx

log = logging.getLogger(__name__)

metadata = MetaData()

departments = Table(
    "departments",
    metadata,
    Column("code", String(18), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("division", String(6), nullable=False, index=True),
    Column("vertical", Boolean, nullable=False),
)

standards = Table(
    "standards",
    metadata,
    Column("basic_code", String(12), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("type_code", String(2), nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(10), nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("implementation_code", String(36), nullable=False, unique=True),
    Column("basic_code", String(12), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("type_code", String(2), nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("kind", String(12), nullable=False),
    Column("level", String(10), nullable=False),
    Column("division", String(6), nullable=False),
    Column("department_code", String(18), nullable=False, index=True),
    Column("department_name", String(200), nullable=False),
    Column("status", String(10), nullable=False),
    Column("version", Integer, nullable=False),
    Column("standard_version", Integer, nullable=False),
    Column("case_kind", String(10), nullable=False),
    Column("legal_limit_days", Integer, nullable=False),
    Column("promised_limit_days", Integer, nullable=False),
    Column("address", Text, nullable=False),
    Column("materials", Text, nullable=False),  # JSON
    Column("fees", Text, nullable=False),  # JSON
    Column("search", Text, nullable=False),  # tokens of the name, space-separated
    Column("local", Boolean, nullable=False),
    Column("content_hash", String(40), nullable=False),
    Column("change", String(10), nullable=False),  # what made this version
    Column("changed_fields", Text, nullable=False),  # JSON list
    Column("reason", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)
# Single-column indexes list their rows in id order too (the id is the row id), which is
# the order search pages in: a filter-driven search stops after one page.
Index("items_by_division", items.c.division)
Index("items_by_type", items.c.type_code)
Index("items_by_level", items.c.level)

item_history = Table(
    "item_history",
    metadata,
    Column("implementation_code", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("change", String(10), nullable=False),
    Column("record", Text, nullable=False),  # JSON of the file format
    Column("changed_fields", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

guides = Table(
    "guides",
    metadata,
    Column("implementation_code", String(36), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("record", Text, nullable=False),  # JSON of the file format
    Column("content_hash", String(40), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

guide_history = Table(
    "guide_history",
    metadata,
    Column("implementation_code", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("record", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

deviations = Table(
    "deviations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("implementation_code", String(36), nullable=False),
    Column("basic_code", String(12), nullable=False),
    Column("division", String(6), nullable=False, index=True),
    Column("department_code", String(18), nullable=False),
    Column("field", String(20), nullable=False),
    Column("standard_value", Text, nullable=False),
    Column("local_value", Text, nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    UniqueConstraint("implementation_code", "field", "detected_at", name="deviation_once"),
)
Index(
    "deviations_open",
    deviations.c.implementation_code,
    deviations.c.field,
    unique=True,
    sqlite_where=deviations.c.resolved_at.is_(None),
    postgresql_where=deviations.c.resolved_at.is_(None),
)

# Full-text search over one token per Chinese character, Latin letter and digit (see
# domain.search_tokens):
# SQLite FTS5, and PostgreSQL a GIN index over a 'simple' tsvector.
#
# On SQLite new items are indexed by the statement that follows their insert
# (`_index_new_items`), not by a trigger: FTS5 writes out its pending terms at every
# statement savepoint, and a trigger's insert is one per row, so a row-level trigger made
# each imported item a tiny index segment to merge later (bulk imports ran 2.5x slower on
# it). Updates and deletes are rare and keep their triggers.
_SQLITE_SEARCH = [
    # An external-content index: the tokens live once, in items.search.
    "CREATE VIRTUAL TABLE IF NOT EXISTS item_search USING fts5("
    "search, content='items', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER IF NOT EXISTS item_search_delete AFTER DELETE ON items BEGIN "
    "INSERT INTO item_search(item_search, rowid, search) VALUES ('delete', old.id, old.search); "
    "END",
    "CREATE TRIGGER IF NOT EXISTS item_search_update AFTER UPDATE OF search ON items BEGIN "
    "INSERT INTO item_search(item_search, rowid, search) VALUES ('delete', old.id, old.search); "
    "INSERT INTO item_search(rowid, search) VALUES (new.id, new.search); END",
    # How many items hold each token: lets search choose between its two plans.
    "CREATE VIRTUAL TABLE IF NOT EXISTS item_search_vocab USING fts5vocab(item_search, 'row')",
]
for _statement in _SQLITE_SEARCH:
    event.listen(items, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
Index(
    "items_search",
    func.to_tsvector(literal_column("'simple'"), items.c.search),
    postgresql_using="gin",
).ddl_if(dialect="postgresql")


@dataclass(frozen=True)
class Version:
    version: int
    change: str
    item: Item
    changed_fields: tuple[str, ...]
    reason: str
    changed_at: datetime


@dataclass(frozen=True)
class DepartmentConformance:
    code: str
    name: str
    items: int
    deviating_items: int
    deviations: tuple[Deviation, ...]


@dataclass(frozen=True)
class DivisionConformance:
    division: str
    name: str
    items: int
    deviating_items: int
    by_field: dict[str, int]
    departments: tuple[DepartmentConformance, ...]

    @property
    def rate(self) -> float:
        """Share of implementations that match the provincial standard (1.0 when none)."""
        return 1.0 if not self.items else 1 - self.deviating_items / self.items


@dataclass
class BatchResult:
    """What one import batch did; `rejected` holds (line, field, reason)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deviations: int = 0
    events: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    by_record: dict[str, int] = field(default_factory=dict)


class CatalogStore:
    def __init__(self, db: Database, *, settings: Settings | None = None) -> None:
        """`settings`: the node's settings (this store needs none of them)."""
        self.db = db
        self.node: Division = division_of(db.source.division)
        db.create_schema(metadata)
        if db.dialect == "sqlite":
            _drop_insert_trigger(db)
        _refresh_search_texts(db)
        if self.is_province:
            db.routes = standards_route

    @property
    def is_province(self) -> bool:
        return self.node.level == "province"

    # -- reads -------------------------------------------------------------------------

    def get(self, code: str) -> Item:
        """An item by implementation code, or by basic code (its first implementation)."""
        code = code.strip()
        if not code:
            raise InvalidArgument.single("code", "is required (a basic or implementation code)")
        check = check_basic_code if len(code) == 12 else check_implementation_code
        try:
            code = check(code).value  # as stored: an implementation code is upper-cased
        except IdentifierError as exc:
            raise InvalidArgument.single("code", exc.reason) from None
        column = items.c.basic_code if len(code) == 12 else items.c.implementation_code
        with self.db.read() as conn:
            row = conn.execute(
                select(items).where(column == code).order_by(items.c.implementation_code).limit(1)
            ).first()
        if row is None:
            raise NotFound(f"no item with code {code} at node {self.node.code}")
        return item_of_row(row._mapping)

    def guide(self, code: str) -> tuple[Guide, Item]:
        item = self.get(code)
        with self.db.read() as conn:
            row = conn.execute(
                select(guides).where(guides.c.implementation_code == item.implementation_code)
            ).first()
        if row is None:
            raise NotFound(f"item {item.implementation_code} has no service guide at this node")
        guide = parse(json.loads(row.record))
        assert isinstance(guide, Guide)
        return replace(guide, version=row.version), item

    def history(self, code: str) -> list[Version]:
        """Every version of an item, oldest first, the current one last."""
        current = self.get(code)
        with self.db.read() as conn:
            rows = conn.execute(
                select(item_history)
                .where(item_history.c.implementation_code == current.implementation_code)
                .order_by(item_history.c.version)
            ).all()
            now = conn.execute(
                select(
                    items.c.change, items.c.changed_fields, items.c.reason, items.c.changed_at
                ).where(items.c.implementation_code == current.implementation_code)
            ).one()
        out = []
        for row in rows:
            record = parse(json.loads(row.record))
            assert isinstance(record, Item)
            out.append(
                Version(
                    row.version,
                    row.change,
                    replace(record, version=row.version),
                    tuple(json.loads(row.changed_fields)),
                    row.reason,
                    row.changed_at,
                )
            )
        out.append(
            Version(
                current.version,
                now.change,
                current,
                tuple(json.loads(now.changed_fields)),
                now.reason,
                now.changed_at,
            )
        )
        return out

    def standard(self, basic_code: str) -> Standard | None:
        with self.db.read() as conn:
            return self._standard(conn, basic_code)

    def search(self, query: Query) -> tuple[list[Item], str]:
        """Items matching `query`, in catalog order (the order they were added); returns the
        page and the token of the next one ("" at the end), which `domain.parse_query`
        takes back for this query only.

        Two plans, chosen per query: driven by the text index (it yields matches in catalog
        order, so a page stops early however common the words), or, when a division or
        department filter is narrower than the words, driven by that filter's index with the
        phrase checked on each row. Either way a page costs about the same.
        """
        found, last = self._search(query)
        return found, (domain.next_page_token(query, last) if last else "")

    def _search(self, query: Query) -> tuple[list[Item], int]:
        """`search`, with the position of the page's last item when more follow (else 0)."""
        after = query.after
        filters = {
            name: value
            for name, value in (
                ("department_code", query.department_code),
                ("type_code", query.type_code),
                ("level", query.level),
                ("division", query.division),
                ("kind", query.kind),
                ("status", query.status),
            )
            if value
        }
        limit = query.page_size + 1
        with self.db.read() as conn:
            if query.is_code:
                code = query.text
                condition = or_(items.c.implementation_code == code, items.c.basic_code == code)
                rows = self._page(conn, filters, after, limit, condition)
            elif query.tokens:
                phrase = " ".join(query.tokens)
                narrow = "division" in filters or "department_code" in filters
                if narrow and self._token_breadth(conn, query.tokens) > self.NARROW_FILTER:
                    padded = literal_column("' '") + items.c.search + literal_column("' '")
                    condition = padded.contains(f" {phrase} ", autoescape=True)
                    rows = self._page(conn, filters, after, limit, condition)
                elif self.db.dialect == "sqlite":
                    rows = self._page_by_text_index(conn, phrase, filters, after, limit)
                else:
                    vector = func.to_tsvector(literal_column("'simple'"), items.c.search)
                    condition = vector.op("@@")(
                        func.phraseto_tsquery(literal_column("'simple'"), phrase)
                    )
                    rows = self._page(conn, filters, after, limit, condition)
            else:
                rows = self._page(conn, filters, after, limit, None)
        found = [item_of_row(r._mapping) for r in rows[: query.page_size]]
        more = len(rows) > query.page_size
        return found, (rows[query.page_size - 1].id if more else 0)

    NARROW_FILTER = 20_000
    """Above this many items per token, a division or department filter drives the search."""

    def _page(
        self, conn: Connection, filters: dict[str, str], after: int, limit: int, condition: Any
    ) -> list[Any]:
        statement = select(items).where(*(items.c[n] == v for n, v in filters.items()))
        if condition is not None:
            statement = statement.where(condition)
        if after:
            statement = statement.where(items.c.id > after)
        return list(conn.execute(statement.order_by(items.c.id).limit(limit)).all())

    def _page_by_text_index(
        self, conn: Connection, phrase: str, filters: dict[str, str], after: int, limit: int
    ) -> list[Any]:
        """SQLite: scan the FTS5 matches in row id order and stop after one page. CROSS JOIN
        is how SQLite is told to keep that join order (its planner would otherwise probe the
        text index once per row of a filter's index)."""
        where = ["item_search MATCH :phrase", "item_search.rowid > :after"]
        where += [f"items.{name} = :{name}" for name in filters]  # names from a fixed list
        statement = text(
            "SELECT items.* FROM item_search CROSS JOIN items ON items.id = item_search.rowid "
            f"WHERE {' AND '.join(where)} ORDER BY item_search.rowid LIMIT :limit"
        )
        params = {"phrase": f'"{phrase}"', "after": after, "limit": limit, **filters}
        return list(conn.execute(statement, params).all())

    def _token_breadth(self, conn: Connection, tokens: Sequence[str]) -> int:
        """How many items hold the rarest of `tokens` (an upper bound on the matches)."""
        if self.db.dialect != "sqlite":
            return self.NARROW_FILTER + 1  # no cheap estimate: let the filter drive
        counts = conn.execute(
            text("SELECT term, doc FROM item_search_vocab WHERE term IN :terms").bindparams(
                bindparam("terms", expanding=True)
            ),
            {"terms": list(set(tokens))},
        ).all()
        if len(counts) < len(set(tokens)):
            return 0  # a token no item holds: nothing matches, any plan is instant
        return min(doc for _, doc in counts)

    def list(
        self,
        *,
        department_code: str = "",
        type_code: str = "",
        division: str = "",
        kind: str = "",
    ) -> Iterator[Item]:
        """Every item matching the filters (any status), in catalog order, read page by page.
        The filters are checked first (`domain.parse_filters`): `InvalidArgument` names each
        bad one before anything is read."""
        filters = domain.parse_filters(
            department_code=department_code, type_code=type_code, division=division, kind=kind
        )
        return self._list(filters)

    def _list(self, filters: domain.Filters) -> Iterator[Item]:
        after = 0
        while True:
            page, after = self._search(Query.of(filters, page_size=500, after=after))
            yield from page
            if not after:
                return

    def count(self, *, local_only: bool = False) -> int:
        statement = select(func.count()).select_from(items)
        if local_only:
            statement = statement.where(items.c.local.is_(True))
        with self.db.read() as conn:
            return int(conn.execute(statement).scalar_one())

    def departments(self) -> Iterator[Department]:
        with self.db.read() as conn:
            rows = conn.execute(select(departments).order_by(departments.c.code)).all()
        for row in rows:
            yield Department(row.code, row.name, row.division, row.vertical)

    def guides(self) -> Iterator[Guide]:
        after = ""
        while True:
            with self.db.read() as conn:
                rows = conn.execute(
                    select(guides)
                    .where(guides.c.implementation_code > after)
                    .order_by(guides.c.implementation_code)
                    .limit(500)
                ).all()
            for row in rows:
                guide = parse(json.loads(row.record))
                assert isinstance(guide, Guide)
                yield replace(guide, version=row.version)
            if len(rows) < 500:
                return
            after = rows[-1].implementation_code

    def conformance(
        self, *, division: str = "", department_code: str = ""
    ) -> list[DivisionConformance]:
        """Open deviations from the provincial standards, per division and department. The
        filters are checked first (`domain.parse_filters`): `InvalidArgument` names each bad
        one, so a mistyped filter is never reported as "nothing to check"."""
        filters = domain.parse_filters(division=division, department_code=department_code)
        division, department_code = filters.division, filters.department_code
        checked = (
            select(
                items.c.division,
                items.c.department_code,
                func.max(items.c.department_name).label("name"),
                func.count().label("n"),
            )
            .where(
                items.c.kind == "power",
                items.c.level != "province",
                items.c.status != "revoked",
            )
            .group_by(items.c.division, items.c.department_code)
        )
        open_ = select(deviations).where(deviations.c.resolved_at.is_(None))
        if division:
            checked = checked.where(items.c.division == division)
            open_ = open_.where(deviations.c.division == division)
        if department_code:
            checked = checked.where(items.c.department_code == department_code)
            open_ = open_.where(deviations.c.department_code == department_code)
        with self.db.read() as conn:
            counts = conn.execute(checked).all()
            found = conn.execute(
                open_.order_by(deviations.c.implementation_code, deviations.c.field)
            ).all()
            dept_names = dict(conn.execute(select(departments.c.code, departments.c.name)).all())
        dept_names.update({r.department_code: r.name for r in counts})
        per_department: dict[tuple[str, str], list[Deviation]] = {}
        for row in found:
            per_department.setdefault((row.division, row.department_code), []).append(
                Deviation(
                    row.implementation_code,
                    row.basic_code,
                    row.division,
                    row.department_code,
                    row.field,
                    row.standard_value,
                    row.local_value,
                )
            )
        totals: dict[tuple[str, str], int] = {(r.division, r.department_code): r.n for r in counts}
        divisions_seen = sorted({d for d, _ in totals} | {d for d, _ in per_department})
        report = []
        for code in divisions_seen:
            keys = sorted(
                {k for k in totals if k[0] == code} | {k for k in per_department if k[0] == code}
            )
            depts = []
            by_field: dict[str, int] = {}
            for key in keys:
                devs = per_department.get(key, [])
                for d in devs:
                    by_field[d.field] = by_field.get(d.field, 0) + 1
                depts.append(
                    DepartmentConformance(
                        key[1],
                        dept_names.get(key[1], ""),
                        totals.get(key, 0),
                        len({d.implementation_code for d in devs}),
                        tuple(devs),
                    )
                )
            known = division_name(code)
            report.append(
                DivisionConformance(
                    code,
                    known,
                    sum(d.items for d in depts),
                    sum(d.deviating_items for d in depts),
                    dict(sorted(by_field.items())),
                    tuple(depts),
                )
            )
        return report

    # -- the lifecycle -------------------------------------------------------------------

    def publish(self, item: Item, *, draft: bool = False) -> Item:
        """Publish a new item at this node (a draft if `draft`): at the province it defines
        the standard, elsewhere it implements the province's standard of its basic code."""
        item = replace(item, status="draft" if draft else "published", version=1)
        with self.db.transaction() as tx:
            standard = self._standard(tx.conn, item.basic_code)
            if self.is_province:
                item = domain.define(item, self.node.level, self.node.code)
                if standard is not None and standard.status == "published":
                    item = self._follow_existing_standard(item, standard)
                else:
                    self._put_standard(tx.conn, item.standard)
            else:
                item = domain.implement(item, standard, self.node.level, self.node.code)
            self._require_department(tx.conn, item)
            try:
                self._insert_items(tx, [item], change="drafted" if draft else "published")
            except IntegrityError:
                raise AlreadyExists(
                    f"implementation_code {item.implementation_code} is already in this catalog"
                ) from None
            if not draft:
                tx.emit(names.ITEM_PUBLISHED, item.event_data(), subject=item.implementation_code)
        return item

    def publish_draft(self, code: str) -> Item:
        with self.db.transaction() as tx:
            current = self._local(tx.conn, code)
            published = domain.publish_draft(current)
            self._replace(tx, current, published, "published", ["status"], "")
            tx.emit(
                names.ITEM_PUBLISHED, published.event_data(), subject=published.implementation_code
            )
        return published

    def revise(self, code: str, changes: dict[str, Any], reason: str = "") -> Item:
        """A new version of a local item. At the province a change to a standard field
        revises the standard, and every other implementation of it here follows."""
        with self.db.transaction() as tx:
            current = self._local(tx.conn, code)
            revised = domain.revise(current, changes, self.node.level)
            changed = domain.changed_fields(current, revised)
            standard_changed = [f for f in changed if f in domain.STANDARD_FIELDS]
            if standard_changed:  # only reachable at the province
                standard = replace(
                    revised.standard,
                    version=(
                        self._standard(tx.conn, revised.basic_code) or revised.standard
                    ).version
                    + 1,
                )
                self._put_standard(tx.conn, standard)
                revised = replace(revised, standard_version=standard.version)
            self._replace(tx, current, revised, "revised", changed, reason)
            if revised.status == "published":
                tx.emit(
                    names.ITEM_REVISED,
                    revised.event_data() | {"changed_fields": changed, "reason": reason},
                    subject=revised.implementation_code,
                )
            if standard_changed:
                self._follow_standard(
                    tx, standard, exclude=revised.implementation_code, reason=reason
                )
        return revised

    def revoke(self, code: str, reason: str = "") -> Item:
        with self.db.transaction() as tx:
            current = self._local(tx.conn, code)
            revoked = domain.revoke(current)
            self._replace(tx, current, revoked, "revoked", ["status"], reason)
            self._record_deviations(tx, [revoked], {})  # it implements nothing now
            standard_revoked = False
            if self.is_province and not self._published_implementations(
                tx.conn, revoked.basic_code
            ):
                standard = self._standard(tx.conn, revoked.basic_code)
                if standard is not None:
                    self._put_standard(tx.conn, replace(standard, status="revoked"))
                    standard_revoked = True
            tx.emit(
                names.ITEM_REVOKED,
                revoked.revoked_event_data(reason, standard_revoked),
                subject=revoked.implementation_code,
            )
        return revoked

    def publish_guide(self, guide: Guide) -> Guide:
        """Store a new version of a local item's guide (announced as `guide.published` when
        the item is published) and return it.

        Refused: bad values (`InvalidArgument` naming each field); no such item (`NotFound`);
        an item of another division, a revoked item (`domain.check_guide_item`) or a guide
        equal to the stored one (`FailedPrecondition`)."""
        problems, digest = prepare_guide(guide)
        if problems:
            raise InvalidArgument(problems)
        with self.db.transaction() as tx:
            item = self._local(tx.conn, guide.implementation_code)
            domain.check_guide_item(item)
            result = self._put_guides(tx, [(guide, item, digest)])
            if not result:
                raise FailedPrecondition("the guide is unchanged: nothing to publish")
        return result[0]

    # -- standards from the province ---------------------------------------------------

    def apply_standard(self, event: Event) -> int:
        """Apply a provincial item event (arriving on `catalog.standards`) once: keep the
        standard, and make this node's implementations follow it. Returns how many local
        items changed."""
        data = dict(event.data)
        if not self.is_province and event.division != self.node.code[:2] + "0000":
            raise FailedPrecondition(
                f"standards come from the province node {self.node.code[:2]}0000, "
                f"not from {event.division}"
            )
        if data.get("level") != "province":
            raise FailedPrecondition("only provincial items carry standards")
        with self.db.consume(event) as tx:
            if tx is None:
                return 0
            current = self._standard(tx.conn, data["basic_code"])
            if event.type == names.ITEM_REVOKED:
                if not data.get("standard_revoked") or current is None:
                    return 0
                self._put_standard(tx.conn, replace(current, status="revoked"))
                return self._revoke_implementations(tx, current.basic_code, data.get("reason", ""))
            standard = Standard(
                data["basic_code"],
                data["name"],
                data["type_code"],
                data["legal_basis"],
                int(data.get("standard_version", 1)),
            )
            if current is not None and current.version > standard.version:
                return 0  # an older standard arriving late changes nothing
            if current == standard:
                return 0
            self._put_standard(tx.conn, standard)
            return self._follow_standard(
                tx, standard, exclude="", reason="provincial standard revised"
            )

    # -- import --------------------------------------------------------------------------

    def import_batch(self, lines: Sequence[Line], seen: set[str]) -> BatchResult:
        """Import one batch of parsed lines in one transaction (all of it or none).

        Bad records are reported and skipped; good ones are created, updated (a new
        version) or left alone when unchanged, so importing a file twice changes nothing.
        `seen` holds the item codes of earlier batches of the same file (duplicates are
        refused) and is updated.
        """
        result = BatchResult()
        with self.db.transaction() as tx:
            events: list[tuple[str, dict[str, Any], str | None]] = []
            depts = [ln for ln in lines if isinstance(ln.record, Department)]
            item_lines = [ln for ln in lines if ln.record is None or isinstance(ln.record, Item)]
            guide_lines = [ln for ln in lines if isinstance(ln.record, Guide)]
            self._import_departments(tx.conn, depts, result)
            created = self._import_items(tx, item_lines, seen, result, events)
            self._import_guides(tx, guide_lines, result, events, created)
            tx.emit_many(events)
            result.events = len(events)
        return result

    def _import_departments(
        self, conn: Connection, lines: Sequence[Line], result: BatchResult
    ) -> None:
        if not lines:
            return
        codes = [ln.record.code for ln in lines]  # type: ignore[union-attr]
        existing = {
            row.code: (row.name, row.division, row.vertical)
            for row in conn.execute(select(departments).where(departments.c.code.in_(codes)))
        }
        new, changed = [], []
        rejected_before = len(result.rejected)
        for line in lines:
            dept = line.record
            assert isinstance(dept, Department)
            problems = _department_violations(dept)
            if problems:
                result.rejected.append((line.number, problems[0].field, problems[0].reason))
                continue
            row = {
                "code": dept.code,
                "name": dept.name,
                "division": dept.division,
                "vertical": dept.vertical,
            }
            before = existing.get(dept.code)
            if before is None:
                new.append(row)
                existing[dept.code] = (dept.name, dept.division, dept.vertical)
            elif before != (dept.name, dept.division, dept.vertical):
                changed.append(row | {"_code": dept.code})
            else:
                result.unchanged += 1
        if new:
            conn.execute(insert(departments), new)
        if changed:
            conn.execute(
                update(departments)
                .where(departments.c.code == bindparam("_code"))
                .values(
                    name=bindparam("name"),
                    division=bindparam("division"),
                    vertical=bindparam("vertical"),
                ),
                changed,
            )
        result.created += len(new)
        result.updated += len(changed)
        valid = len(lines) - (len(result.rejected) - rejected_before)
        result.by_record["department"] = result.by_record.get("department", 0) + valid

    def _import_items(
        self,
        tx: Tx,
        lines: Sequence[Line],
        seen: set[str],
        result: BatchResult,
        events: list[tuple[str, dict[str, Any], str | None]],
    ) -> dict[str, int]:
        """Import the item lines of a batch; return the line of each item it created."""
        created: dict[str, int] = {}
        if not lines:
            return created
        conn = tx.conn
        valid: list[Prepared] = []
        numbers: list[int] = []  # the line of each valid record
        for line in lines:
            prepared: Prepared = line.prepared or prepare(line.record, self.node.code)  # type: ignore[arg-type]
            code = prepared.values[CODE]
            if code in seen or prepared.problems:
                problems = list(prepared.problems)
                if code in seen:
                    problems.insert(
                        0, ("implementation_code", "appears more than once in the file")
                    )
                result.rejected.append((line.number, *problems[0]))
                continue
            seen.add(code)
            valid.append(prepared)
            numbers.append(line.number)
        existing = {
            row.implementation_code: row
            for row in conn.execute(
                select(items).where(items.c.implementation_code.in_([p.code for p in valid]))
            )
        }
        line_of = {p.code: number for p, number in zip(valid, numbers, strict=True)}
        if any(row.status == "revoked" for row in existing.values()):

            def item_changed(prepared: Prepared) -> str | None:
                before = existing.get(prepared.code)
                if before is None or before.content_hash == prepared.digest:
                    return None
                return str(before.status)

            valid = _refuse_changes_to_revoked(valid, numbers, item_changed, result)
        power = [p for p in valid if p.values[KIND] == "power"]
        known = self._standards(conn, {p.values[BASIC_CODE] for p in power})
        new_items: list[tuple[int, tuple[Any, ...], str]] = []
        new_standards: dict[str, Standard] = {}
        to_check: list[Item] = []
        for prepared in valid:
            values = prepared.values
            local = values[LOCAL]
            # Most lines (other divisions' convenience items) never need an Item built.
            item: Item | None = None
            if values[KIND] == "power":
                item = prepared.item
                standard = known.get(item.basic_code)
                if item.level == "province":
                    if standard is None or standard != replace(
                        item.standard, version=standard.version, status=standard.status
                    ):
                        standard = Standard(
                            item.basic_code,
                            item.name,
                            item.type_code,
                            item.legal_basis,
                            (standard.version + 1) if standard else 1,
                        )
                        known[item.basic_code] = standard
                        new_standards[item.basic_code] = standard
                    item = replace(item, standard_version=standard.version)
                else:
                    item = replace(item, standard_version=standard.version if standard else 1)
                    to_check.append(item)
            before = existing.get(values[CODE])
            if before is None:
                follows = item.standard_version if item else values[STANDARD_VERSION]
                new_items.append((follows, values, prepared.digest))
                # A draft is not announced yet; an item revoked before it came here never
                # was (announcing it would let other services take cases for it).
                if local and values[STATUS] == "published":
                    item = item or prepared.item
                    events.append(
                        (names.ITEM_PUBLISHED, item.event_data(), item.implementation_code)
                    )
                result.created += 1
                created[values[CODE]] = line_of[values[CODE]]
            elif before.content_hash == prepared.digest:
                result.unchanged += 1
            else:
                current = item_of_row(before._mapping)
                revised = replace(item or prepared.item, version=current.version + 1)
                changed = domain.changed_fields(current, revised)
                change = "revoked" if revised.status == "revoked" else "revised"
                self._replace(
                    tx, current, revised, change, changed, "import", digest=prepared.digest
                )
                if local and revised.status == "revoked":
                    events.append(
                        (
                            names.ITEM_REVOKED,
                            revised.revoked_event_data("import", False),
                            revised.implementation_code,
                        )
                    )
                elif local and revised.status == "published":
                    events.append(
                        (
                            names.ITEM_REVISED,
                            revised.event_data() | {"changed_fields": changed, "reason": "import"},
                            revised.implementation_code,
                        )
                    )
                result.updated += 1
        self._put_standards(conn, list(new_standards.values()))
        if new_items:
            self._insert_rows(tx, new_items, change="published")

        result.by_record["item"] = result.by_record.get("item", 0) + len(valid)
        found = self._record_deviations(tx, to_check, known)
        result.deviations += len(found)
        for deviation in found:
            events.append(
                (names.DEVIATION_DETECTED, deviation.event_data(), deviation.implementation_code)
            )
        return created

    def _import_guides(
        self,
        tx: Tx,
        lines: Sequence[Line],
        result: BatchResult,
        events: list[tuple[str, dict[str, Any], str | None]],
        created: Mapping[str, int],
    ) -> None:
        """Import the guide lines of a batch; `created` is the line of each item the batch
        created: a guide before its item's line is refused, wherever the batches split."""
        if not lines:
            return
        codes = [ln.record.implementation_code for ln in lines]  # type: ignore[union-attr]
        owners = {
            row.implementation_code: item_of_row(row._mapping)
            for row in tx.conn.execute(select(items).where(items.c.implementation_code.in_(codes)))
        }
        pairs: list[tuple[Guide, Item, str]] = []
        numbers: list[int] = []  # the line of each valid record
        for line in lines:
            guide = line.record
            assert isinstance(guide, Guide)
            # The reading process may have found its problems and digest (`prepare_guide`).
            problems, digest = line.prepared or prepare_guide(guide)
            code = guide.implementation_code
            if not problems and (code not in owners or created.get(code, 0) > line.number):
                problems = [
                    FieldViolation(
                        "implementation_code",
                        "no such item in the catalog or earlier in the file "
                        "(a guide follows its item)",
                    )
                ]
            if problems:
                result.rejected.append((line.number, problems[0].field, problems[0].reason))
                continue
            pairs.append((guide, owners[guide.implementation_code], digest))
            numbers.append(line.number)
        revoked = [item.implementation_code for item in owners.values() if item.status == "revoked"]
        if revoked:
            stored = {
                row.implementation_code: row.content_hash
                for row in tx.conn.execute(
                    select(guides.c.implementation_code, guides.c.content_hash).where(
                        guides.c.implementation_code.in_(revoked)
                    )
                )
            }

            def guide_changed(pair: tuple[Guide, Item, str]) -> str | None:
                # The first guide of an item that has none is kept: what a file exported
                # with its revoked items gives a new store (kept, never announced).
                before = stored.get(pair[0].implementation_code)
                if before is None or before == pair[2]:
                    return None
                return pair[1].status

            pairs = _refuse_changes_to_revoked(pairs, numbers, guide_changed, result)
        written = self._put_guides(tx, pairs, events=events)
        result.by_record["guide"] = result.by_record.get("guide", 0) + len(pairs)
        result.created += sum(1 for g in written if g.version == 1)
        result.updated += sum(1 for g in written if g.version > 1)
        result.unchanged += len(pairs) - len(written)

    # -- writing helpers -------------------------------------------------------------------

    def _insert_items(self, tx: Tx, new: Sequence[Item], *, change: str) -> None:
        self._insert_rows(
            tx,
            [
                (item.standard_version, tuple(row.values()), item_digest(row))
                for item in new
                for row in [item_row(item, self.node.code)]
            ],
            change=change,
        )

    def _insert_rows(
        self, tx: Tx, new: Sequence[tuple[int, tuple[Any, ...], str]], *, change: str
    ) -> None:
        """Insert new items: each is (the standard version it follows, its values in
        `ROW_COLUMNS` order, its digest). The rows go to the driver as tuples, the time of
        the change converted once for all of them."""
        now = self.db.driver_value(items.c.changed_at, tx.now)
        s = STANDARD_VERSION
        rows = [
            (*values[:s], follows, *values[s + 1 :], digest, change, "[]", "", now)
            for follows, values, digest in new
        ]
        if self.db.dialect != "sqlite":
            self.db.insert_tuples(tx.conn, items, INSERTED_COLUMNS, rows)
            return
        last = tx.conn.exec_driver_sql("SELECT max(id) FROM items").scalar() or 0
        self.db.insert_tuples(tx.conn, items, INSERTED_COLUMNS, rows)
        _index_new_items(tx.conn, after=last)

    def _replace(
        self,
        tx: Tx,
        current: Item,
        new: Item,
        change: str,
        changed: Sequence[str],
        reason: str,
        *,
        digest: str | None = None,
    ) -> None:
        """Move the current version to history and store `new` in its place."""
        old = tx.conn.execute(
            select(
                items.c.change, items.c.changed_fields, items.c.reason, items.c.changed_at
            ).where(items.c.implementation_code == current.implementation_code)
        ).one()
        tx.conn.execute(
            insert(item_history).values(
                implementation_code=current.implementation_code,
                version=current.version,
                change=old.change,
                record=json_text(to_json(current)),
                changed_fields=old.changed_fields,
                reason=old.reason,
                changed_at=old.changed_at,
            )
        )
        row = item_row(new, self.node.code)
        values = row | {
            "content_hash": digest or item_digest(row),
            "change": change,
            "changed_fields": json.dumps(list(changed)),
            "reason": reason,
            "changed_at": tx.now,
        }
        values.pop("implementation_code")
        tx.conn.execute(
            update(items)
            .where(items.c.implementation_code == current.implementation_code)
            .values(**values)
        )

    def _put_standard(self, conn: Connection, standard: Standard) -> None:
        self._put_standards(conn, [standard])

    def _put_standards(self, conn: Connection, new: Sequence[Standard]) -> None:
        """Insert or replace standards, in one statement."""
        if not new:
            return
        statement = self.db.upsert(standards)
        statement = statement.on_conflict_do_update(
            index_elements=[standards.c.basic_code],
            set_={
                name: getattr(statement.excluded, name)
                for name in ("name", "type_code", "legal_basis", "version", "status")
            },
        )
        conn.execute(
            statement,
            [
                {
                    "basic_code": s.basic_code,
                    "name": s.name,
                    "type_code": s.type_code,
                    "legal_basis": s.legal_basis,
                    "version": s.version,
                    "status": s.status,
                }
                for s in new
            ],
        )

    def _put_guides(
        self,
        tx: Tx,
        pairs: Sequence[tuple[Guide, Item, str]],
        *,
        events: list[tuple[str, dict[str, Any], str | None]] | None = None,
    ) -> list[Guide]:
        """Store guides (each with its item and `guide_digest`) that are new or changed (a
        new version); return them. Their events go to `events` when given, else they are
        emitted at once."""
        if not pairs:
            return []
        codes = [g.implementation_code for g, _, _ in pairs]
        existing = {
            row.implementation_code: row
            for row in tx.conn.execute(
                select(guides).where(guides.c.implementation_code.in_(codes))
            )
        }
        new_rows, history_rows, updates, written = [], [], [], []
        pending: list[tuple[str, dict[str, Any], str | None]] = []
        for guide, item, digest in pairs:
            before = existing.get(guide.implementation_code)
            if before is not None and before.content_hash == digest:
                continue
            version = 1 if before is None else before.version + 1
            stored = replace(guide, version=version)
            text_record = json_text(to_json(stored))
            if before is None:
                new_rows.append(
                    {
                        "implementation_code": guide.implementation_code,
                        "version": version,
                        "record": text_record,
                        "content_hash": digest,
                        "changed_at": tx.now,
                    }
                )
            else:
                history_rows.append(
                    {
                        "implementation_code": guide.implementation_code,
                        "version": before.version,
                        "record": before.record,
                        "changed_at": before.changed_at,
                    }
                )
                updates.append(
                    {
                        "_code": guide.implementation_code,
                        "version": version,
                        "record": text_record,
                        "content_hash": digest,
                        "changed_at": tx.now,
                    }
                )
            written.append(stored)
            if item.division == self.node.code and item.status == "published":
                pending.append(
                    (names.GUIDE_PUBLISHED, stored.event_data(item), item.implementation_code)
                )
        if new_rows:
            self.db.bulk_insert(tx.conn, guides, new_rows)
        if history_rows:
            self.db.bulk_insert(tx.conn, guide_history, history_rows)
        if updates:
            tx.conn.execute(
                update(guides)
                .where(guides.c.implementation_code == bindparam("_code"))
                .values(
                    version=bindparam("version"),
                    record=bindparam("record"),
                    content_hash=bindparam("content_hash"),
                    changed_at=bindparam("changed_at"),
                ),
                updates,
            )
        if events is None:
            tx.emit_many(pending)
        else:
            events.extend(pending)
        return written

    def _record_deviations(
        self, tx: Tx, checked: Sequence[Item], known: dict[str, Standard]
    ) -> list[Deviation]:
        """Compare implementations with their standards; open new deviations, resolve those
        that no longer hold. Returns the newly opened ones (to be announced)."""
        if not checked:
            return []
        codes = [i.implementation_code for i in checked]
        open_now = {
            (row.implementation_code, row.field): row
            for row in tx.conn.execute(
                select(deviations).where(
                    deviations.c.implementation_code.in_(codes), deviations.c.resolved_at.is_(None)
                )
            )
        }
        found: list[Deviation] = []
        still_open: set[tuple[str, str]] = set()
        for item in checked:
            for deviation in domain.deviations(item, known.get(item.basic_code)):
                key = (deviation.implementation_code, deviation.field)
                before = open_now.get(key)
                if (
                    before is not None
                    and before.local_value == deviation.local_value
                    and (before.standard_value == deviation.standard_value)
                ):
                    still_open.add(key)
                    continue
                found.append(deviation)
        stale = [row.id for key, row in open_now.items() if key not in still_open]
        if stale:
            tx.conn.execute(
                update(deviations).where(deviations.c.id.in_(stale)).values(resolved_at=tx.now)
            )
        if found:
            tx.conn.execute(
                insert(deviations),
                [
                    {
                        "implementation_code": d.implementation_code,
                        "basic_code": d.basic_code,
                        "division": d.division,
                        "department_code": d.department_code,
                        "field": d.field,
                        "standard_value": d.standard_value,
                        "local_value": d.local_value,
                        "detected_at": tx.now,
                    }
                    for d in found
                ],
            )
        return found

    def _follow_standard(self, tx: Tx, standard: Standard, *, exclude: str, reason: str) -> int:
        """Make every local implementation of `standard` carry its fields (a new version and
        an `item.revised` each); their deviations in those fields are resolved."""
        rows = tx.conn.execute(
            select(items).where(
                items.c.basic_code == standard.basic_code,
                items.c.local.is_(True),
                items.c.status != "revoked",
                items.c.implementation_code != exclude,
            )
        ).all()
        count = 0
        for row in rows:
            current = item_of_row(row._mapping)
            followed = replace(
                current,
                name=standard.name,
                type_code=standard.type_code,
                legal_basis=standard.legal_basis,
                standard_version=standard.version,
            )
            if followed == current:
                continue
            followed = replace(followed, version=current.version + 1)
            changed = domain.changed_fields(current, followed)
            self._replace(tx, current, followed, "revised", changed, reason)
            if followed.status == "published":
                tx.emit(
                    names.ITEM_REVISED,
                    followed.event_data() | {"changed_fields": changed, "reason": reason},
                    subject=followed.implementation_code,
                )
            count += 1
        self._record_deviations(
            tx,
            [r for r in self._local_power(tx.conn, standard.basic_code) if r.level != "province"],
            {standard.basic_code: standard},
        )
        return count

    def _revoke_implementations(self, tx: Tx, basic_code: str, reason: str) -> int:
        count = 0
        revoked_items = []
        for current in self._local_power(tx.conn, basic_code):
            if current.status == "revoked":
                continue
            revoked = domain.revoke(current)
            self._replace(tx, current, revoked, "revoked", ["status"], reason)
            revoked_items.append(revoked)
            tx.emit(
                names.ITEM_REVOKED,
                revoked.revoked_event_data(reason, False),
                subject=revoked.implementation_code,
            )
            count += 1
        self._record_deviations(tx, revoked_items, {})  # they implement nothing now
        return count

    def _follow_existing_standard(self, item: Item, standard: Standard) -> Item:
        for name in ("name", "type_code", "legal_basis"):
            if getattr(item, name) != standard.field(name):
                raise FailedPrecondition(
                    f"basic_code {item.basic_code} is already defined with {name} "
                    f"{standard.field(name)!r}; revise the standard instead"
                )
        return replace(item, standard_version=standard.version)

    def _require_department(self, conn: Connection, item: Item) -> None:
        exists = conn.execute(
            select(departments.c.code).where(departments.c.code == item.department_code)
        ).first()
        if exists is None:
            conn.execute(
                insert(departments).values(
                    code=item.department_code,
                    name=item.department_name,
                    division=item.division,
                    vertical=False,
                )
            )

    def _local(self, conn: Connection, code: str) -> Item:
        row = conn.execute(select(items).where(items.c.implementation_code == code.strip())).first()
        if row is None:
            raise NotFound(f"no item with implementation code {code} at node {self.node.code}")
        item = item_of_row(row._mapping)
        if not row.local:
            raise FailedPrecondition(
                f"item {code} belongs to division {item.division}; change it at that node"
            )
        return item

    def _local_power(self, conn: Connection, basic_code: str) -> list[Item]:
        rows = conn.execute(
            select(items).where(
                items.c.basic_code == basic_code,
                items.c.local.is_(True),
                items.c.kind == "power",
            )
        ).all()
        return [item_of_row(r._mapping) for r in rows]

    def _published_implementations(self, conn: Connection, basic_code: str) -> int:
        return int(
            conn.execute(
                select(func.count())
                .select_from(items)
                .where(
                    items.c.basic_code == basic_code,
                    items.c.level == "province",
                    items.c.status == "published",
                )
            ).scalar_one()
        )

    def _standard(self, conn: Connection, basic_code: str) -> Standard | None:
        return self._standards(conn, {basic_code}).get(basic_code)

    def _standards(self, conn: Connection, basic_codes: set[str]) -> dict[str, Standard]:
        """The stored standards of `basic_codes`, by code (no query for none)."""
        if not basic_codes:
            return {}
        return {
            row.basic_code: Standard(
                row.basic_code, row.name, row.type_code, row.legal_basis, row.version, row.status
            )
            for row in conn.execute(
                select(standards).where(standards.c.basic_code.in_(basic_codes))
            )
        }


def division_name(code: str) -> str:
    found = divisions().get(code)
    return found.name if found else ""


def _department_violations(dept: Department) -> list[FieldViolation]:
    problems = []
    try:
        check_uscc(dept.code)
    except IdentifierError as exc:
        problems.append(FieldViolation("code", exc.reason))
    try:
        check_division_code(dept.division)
    except IdentifierError as exc:
        problems.append(FieldViolation("division", exc.reason))
    if not dept.name.strip() or len(dept.name) > 200:
        problems.append(FieldViolation("name", "must be 1 to 200 characters"))
    return problems


T = TypeVar("T")


def _refuse_changes_to_revoked(
    records: Sequence[T],
    numbers: Sequence[int],
    revoked_and_changed: Callable[[T], str | None],
    result: BatchResult,
) -> list[T]:
    """The import lines to go on with: one that would change a revoked item or its guide
    (`revoked_and_changed` gives the stored item's status then, else None) is rejected
    instead (`domain.import_violation`); an unchanged one is kept (it changes nothing)."""
    kept = []
    for number, record in zip(numbers, records, strict=True):
        status = revoked_and_changed(record)
        problem = domain.import_violation(status) if status else None
        if problem is None:
            kept.append(record)
        else:
            result.rejected.append((number, problem.field, problem.reason))
    return kept


_STANDARD_EVENTS = frozenset({names.ITEM_PUBLISHED, names.ITEM_REVISED, names.ITEM_REVOKED})


def standards_route(event: Event) -> tuple[str, ...]:
    """At the province, provincial items' events are the standards: they go down on
    `catalog.standards` too, which city and county nodes federate from their parent."""
    if event.type in _STANDARD_EVENTS and event.data.get("level") == "province":
        return (names.STANDARDS_EXCHANGE,)
    return ()


def _index_new_items(conn: Connection, *, after: int) -> None:
    """Add the items inserted after id `after` to the SQLite search index, in one statement
    (the caller holds the write lock, so they are exactly the rows with greater ids)."""
    conn.exec_driver_sql(
        "INSERT INTO item_search(rowid, search) SELECT id, search FROM items WHERE id > ?",
        (after,),
    )


SEARCH_TEXTS_CURRENT = "catalog:search-texts-latin-by-character"
"""The counter that says every item's search text was made by this version's
`domain.search_text`. A version that changes how search texts are made names a new counter
here, so that every store is indexed again once. Earlier ones:

- catalog:search-texts-nfkc: names NFKC-normalised (full-width letters and digits, and rare
  characters, were left out before); Latin still indexed by word.
"""


def _refresh_search_texts(db: Database) -> None:
    """Stores indexed by an earlier version hold search texts made another way (full-width
    letters and digits left out; Latin by word, so "CP" did not find ICP): make those
    items' search texts again, once per store (a counter marks it; the index follows the
    column)."""
    counters = db.counters
    with db.read() as conn:
        marked = select(counters.c.last).where(counters.c.key == SEARCH_TEXTS_CURRENT)
        if conn.execute(marked).first() is not None:
            return
        stale = [
            {"_id": row.id, "search": fresh}
            for row in conn.execute(select(items.c.id, items.c.name, items.c.search))
            for fresh in [domain.search_text(row.name)]
            if fresh != row.search
        ]
    with db.transaction() as tx:
        if stale:
            tx.conn.execute(
                update(items)
                .where(items.c.id == bindparam("_id"))
                .values(search=bindparam("search")),
                stale,
            )
            log.info("made the search text of %s items again", len(stale))
        db.next_value(tx.conn, SEARCH_TEXTS_CURRENT)


def _drop_insert_trigger(db: Database) -> None:
    """Stores made before new items were indexed explicitly had a trigger doing it: drop it,
    or each new item would be indexed twice."""
    find = "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'item_search_insert'"
    with db.read() as conn:
        if conn.exec_driver_sql(find).first() is None:
            return
    with db.transaction() as tx:
        tx.conn.exec_driver_sql("DROP TRIGGER IF EXISTS item_search_insert")
