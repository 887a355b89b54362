"""The audit log: every contract event seen at this node, once, in arrival order, under an
RFC 6962 Merkle tree with signed checkpoints.

Tables:

- `log`: one row per event — its log index (1, 2, 3 … without gaps), the envelope
  attributes auditors filter on, the canonical bytes (RFC 8785) and their leaf hash.
- `tree_nodes`: every complete aligned interior node of the tree from level 4 up (each
  covering 16, 32 … leaves), written in the transaction that completes it. With the leaf
  hashes they answer any proof at any earlier size: a lower node is rehashed from at most
  8 leaves, and only the nodes on the tree's right edge are combined anew. Keeping the
  three lowest levels out of the table saves seven rows in eight.
- `checkpoints`: every signed checkpoint (the signed note as text).

One writer appends: the audit worker, a batch per transaction. It keeps the tree's right
edge (`Frontier`) in memory and checks it against the table at each batch, so a second
writer (which should not exist) costs a reload, never a wrong tree; on PostgreSQL writers
also queue on an advisory lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    func,
    not_,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from services.audit.domain import ReplayFilter
from services.audit.merkle import (
    Frontier,
    consistency_proof,
    frontier_positions,
    inclusion_proof,
    leaf_hashes,
)
from services.audit.merkle import tree_nodes as tree_nodes_of
from services.audit.notes import Checkpoint, Signer, origin_for
from services.contract.envelope import Event, encode, format_time
from services.contract.errors import FieldViolation
from services.contract.names import CHECKPOINT_SIGNED
from services.platform.errors import FailedPrecondition, InvalidArgument, NotFound
from services.platform.settings import Settings
from services.platform.store import Database, Savepoints, Tx

metadata = MetaData()

log_entries = Table(
    "log",
    metadata,
    Column("log_index", Integer, primary_key=True, autoincrement=False),
    Column("source", String(200), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("type", String(100), nullable=False),
    Column("subject", String(256)),
    Column("division", String(6), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("time", String(32), nullable=False),  # RFC 3339 UTC, fixed width: sorts as text
    Column("recorded_at", String(32), nullable=False),
    Column("dataschema", String(120), nullable=False),
    Column("canonical", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    # The de-duplication key: a redelivered or duplicated event is ignored. `event_id`
    # first, so a batch's duplicates are found with one `event_id IN (...)` lookup.
    UniqueConstraint("event_id", "source", name="log_once"),
)
Index("log_by_subject", log_entries.c.subject, log_entries.c.log_index)

tree_nodes = Table(
    "tree_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", Integer, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("time", String(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("key", String(200), nullable=False),
)

NODE_FLOOR = 4
"""The lowest level of interior nodes kept in `tree_nodes`."""
MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_CHUNK = 2000
DEFAULT_CHUNK = 500
_IN_LIMIT = 900  # ids per `IN (...)`: within every SQLite build's limit on parameters
_LOG_LOCK = 0x676F766E6574  # "govnet": the PostgreSQL advisory lock of the log's writer
_LOG_COLUMNS = (
    "log_index",
    "source",
    "event_id",
    "type",
    "subject",
    "division",
    "sequence",
    "time",
    "recorded_at",
    "dataschema",
    "canonical",
    "leaf_hash",
)


@dataclass(frozen=True)
class Entry:
    log_index: int
    source: str
    event_id: str
    type: str
    subject: str | None
    division: str
    sequence: int
    time: datetime
    recorded_at: datetime
    dataschema: str
    canonical: bytes
    leaf_hash: bytes

    @property
    def data(self) -> dict[str, Any]:
        return dict(json.loads(self.canonical)["data"])


@dataclass(frozen=True)
class StoredCheckpoint:
    checkpoint: Checkpoint
    note: str
    key: str
    """The verifier key that signed it."""

    @property
    def size(self) -> int:
        return self.checkpoint.size


@dataclass(frozen=True)
class Chunk:
    """A run of replayed entries, in log order, and how far the scan got."""

    indexes: list[int]
    events: list[bytes]
    leaves: list[bytes]
    types: list[str]
    scanned_to: int


class AuditStore:
    def __init__(
        self, db: Database, *, settings: Settings | None = None, signer: Signer | None = None
    ) -> None:
        """`signer`: the node's key, for the one process that appends and signs (the
        worker); readers (the API) need none. `settings`: `checkpoint_every` is read."""
        self.db = db
        self.origin = origin_for(db.source.division)
        self.signer = signer
        self.checkpoint_every = settings.checkpoint_every if settings else 0
        self._frontier: Frontier | None = None
        db.create_schema(metadata)
        self._existing = select(log_entries.c.source, log_entries.c.event_id).where(
            log_entries.c.event_id.in_(bindparam("ids", expanding=True))
        )
        # Asked at every append: compiled once (see `Database.prepare`).
        self._log_size = db.prepare(select(func.coalesce(func.max(log_entries.c.log_index), 0)))
        self._checkpointed = db.prepare(select(func.coalesce(func.max(checkpoints.c.size), 0)))

    @classmethod
    def writer(cls, db: Database, *, settings: Settings) -> AuditStore:
        """The store of the audit worker: it appends and signs with the node's key."""
        signer = Signer.load_or_create(settings.audit_key_path, origin_for(settings.division))
        return cls(db, settings=settings, signer=signer)

    # -- appending ----------------------------------------------------------------------

    def record(self, event: Event) -> bool:
        """Append `event` unless it is already there; return whether it was new."""
        return self.record_many([event])[0] is not None

    def record_many(self, events: Sequence[Event]) -> list[int | None]:
        """Append the events not yet in the log, in the given order, in one transaction.

        Returns each event's new log index, or None for one already in the log (or earlier
        in the same batch). Signs a checkpoint in the same transaction when
        `checkpoint_every` entries have been added since the last one.
        """
        with self.db.transaction() as tx:
            conn = tx.conn
            frontier = self._locked_frontier(conn)
            if self.db.dialect == "sqlite":
                # The log's unique key checks each row as it goes in: look the batch up
                # only when it refuses one (a redelivery), not before every batch.
                savepoint = Savepoints(conn)
                savepoint.begin()
                try:
                    grown, indexes = self._append(tx, frontier, events, set())
                    savepoint.release()
                except IntegrityError:
                    savepoint.rollback()
                    seen = self._keys_in_log(conn, events)
                    if not seen:  # no event of the batch is logged: not a redelivery
                        raise
                    grown, indexes = self._append(tx, frontier, events, seen)
            else:
                seen = self._keys_in_log(conn, events)
                grown, indexes = self._append(tx, frontier, events, seen)
            if self.signer and self.checkpoint_every and grown.size > frontier.size:
                last = int(self._checkpointed.scalar(conn, {}))
                if grown.size - last >= self.checkpoint_every:
                    self._sign(tx, grown)
        self._frontier = grown
        return indexes

    def _append(
        self, tx: Tx, frontier: Frontier, events: Sequence[Event], seen: set[tuple[str, str]]
    ) -> tuple[Frontier, list[int | None]]:
        """Insert the events whose key is not in `seen` (nor earlier in `events`) after
        `frontier`, with the tree nodes they complete; return the tree grown by them and
        each event's log index (None for a duplicate)."""
        grown = Frontier(frontier.size, frontier.nodes)
        fresh: list[Event] = []
        indexes: list[int | None] = []
        for event in events:
            key = (event.source, event.id)
            if key in seen:
                indexes.append(None)
                continue
            seen.add(key)
            fresh.append(event)
            indexes.append(grown.size + len(fresh))
        canonicals = list(map(encode, fresh))
        leaves = leaf_hashes(canonicals)
        nodes = [node for node in grown.extend(leaves) if node[0] >= NODE_FLOOR]
        recorded_at = format_time(tx.now)
        rows = [
            (
                index,
                event.source,
                event.id,
                event.type,
                event.subject,
                event.division,
                event.sequence,
                _time_text(event),
                recorded_at,
                _dataschema(event),
                canonical,
                leaf,
            )
            for index, event, canonical, leaf in zip(
                range(frontier.size + 1, grown.size + 1), fresh, canonicals, leaves, strict=True
            )
        ]
        self.db.insert_tuples(tx.conn, log_entries, _LOG_COLUMNS, rows)
        self.db.insert_tuples(tx.conn, tree_nodes, ("level", "idx", "hash"), nodes)
        return grown, indexes

    def checkpoint_if_grown(self) -> StoredCheckpoint | None:
        """Sign a checkpoint if entries other than this log's own checkpoints were added
        since the last one (so an idle log does not sign its own checkpoint events)."""
        if self.signer is None:
            raise FailedPrecondition("this process holds no signing key")
        with self.db.transaction() as tx:
            frontier = self._locked_frontier(tx.conn)
            last = int(self._checkpointed.scalar(tx.conn, {}))
            grown = tx.conn.execute(
                select(log_entries.c.log_index)
                .where(
                    log_entries.c.log_index > last,
                    not_(
                        and_(
                            log_entries.c.type == CHECKPOINT_SIGNED,
                            log_entries.c.source == str(self.db.source),
                        )
                    ),
                )
                .limit(1)
            ).first()
            if grown is None:
                return None
            return self._sign(tx, frontier)

    def _sign(self, tx: Tx, frontier: Frontier) -> StoredCheckpoint:
        assert self.signer is not None
        checkpoint = Checkpoint(self.origin, frontier.size, frontier.root(), tx.now)
        note = self.signer.sign(checkpoint)
        key = str(self.signer.verifier)
        tx.conn.execute(
            checkpoints.insert().values(
                size=checkpoint.size,
                root=checkpoint.root,
                time=format_time(checkpoint.time),
                note=note,
                key=key,
            )
        )
        tx.emit(
            CHECKPOINT_SIGNED,
            {
                "origin": self.origin,
                "size": checkpoint.size,
                "root": note.split("\n")[2],
                "time": checkpoint.time.isoformat(),
                "key": key,
                "note": note,
            },
            subject=self.origin,
        )
        return StoredCheckpoint(checkpoint, note, key)

    def _locked_frontier(self, conn: Connection) -> Frontier:
        """The tree's right edge as the table has it, holding the writer's lock."""
        if self.db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOG_LOCK})
        size = int(self._log_size.scalar(conn, {}))
        if self._frontier is None or self._frontier.size != size:
            nodes = [_node(conn, level, index) for level, index in frontier_positions(size)]
            self._frontier = Frontier(size, nodes)
        return self._frontier

    def _keys_in_log(self, conn: Connection, events: Sequence[Event]) -> set[tuple[str, str]]:
        ids = list({e.id for e in events})
        if not ids:
            return set()
        if self.db.dialect != "sqlite":
            return {(row[0], row[1]) for row in conn.execute(self._existing, {"ids": ids})}
        found: set[tuple[str, str]] = set()
        for start in range(0, len(ids), _IN_LIMIT):  # straight to the driver: no compiling
            part = ids[start : start + _IN_LIMIT]
            query = (
                f"SELECT source, event_id FROM log WHERE event_id IN ({','.join('?' * len(part))})"
            )
            found.update((source, id_) for source, id_ in conn.exec_driver_sql(query, tuple(part)))
        return found

    # -- reading ------------------------------------------------------------------------

    def size(self) -> int:
        with self.db.read() as conn:
            return _size(conn)

    def events(
        self,
        *,
        after_index: int = 0,
        page_size: int = 0,
        type: str = "",
        subject: str = "",
        source: str = "",
    ) -> list[Entry]:
        """A page of entries after `after_index`, in log order, matching the filters (as in
        `ReplayFilter`: `type` may be a prefix like `application.*`). Raises
        `InvalidArgument` listing every bad argument."""
        problems: list[FieldViolation] = []
        try:
            where = ReplayFilter.parse(type=type, subject=subject, source=source)
        except InvalidArgument as exc:
            problems += exc.violations
        if after_index < 0:
            problems.append(FieldViolation("after_index", "must be 0 or a log index"))
        if page_size < 0 or page_size > MAX_PAGE:
            problems.append(FieldViolation("page_size", f"must be between 0 and {MAX_PAGE}"))
        if problems:
            raise InvalidArgument(problems)
        query = select(log_entries).where(
            log_entries.c.log_index > after_index,
            *(
                log_entries.c[column].op(operator)(value)
                for column, operator, value in where.conditions()
            ),
        )
        query = query.order_by(log_entries.c.log_index).limit(page_size or DEFAULT_PAGE)
        with self.db.read() as conn:
            return [_entry(row._mapping) for row in conn.execute(query)]

    def entry(self, log_index: int) -> Entry:
        with self.db.read() as conn:
            row = conn.execute(
                select(log_entries).where(log_entries.c.log_index == log_index)
            ).first()
        if row is None:
            raise NotFound(f"no entry {log_index} in the log")
        return _entry(row._mapping)

    def find(self, source: str, event_id: str) -> Entry:
        with self.db.read() as conn:
            row = conn.execute(
                select(log_entries).where(
                    log_entries.c.event_id == event_id, log_entries.c.source == source
                )
            ).first()
        if row is None:
            raise NotFound(f"event {event_id} of {source} is not in the log")
        return _entry(row._mapping)

    def scan(
        self,
        where: ReplayFilter,
        *,
        after_index: int = 0,
        until_index: int = 0,
        chunk_size: int = DEFAULT_CHUNK,
        with_leaves: bool = False,
    ) -> Iterator[Chunk]:
        """The entries matching `where`, in log order, a chunk at a time; each chunk says
        how far the scan got, so a consumer resumes with `after_index=scanned_to`."""
        if after_index < 0:
            raise InvalidArgument.single("after_index", "must be 0 or a log index")
        if until_index < 0:
            raise InvalidArgument.single("until_index", "must be 0 (the end) or a log index")
        if not 0 <= chunk_size <= MAX_CHUNK:
            raise InvalidArgument.single("chunk_size", f"must be between 0 and {MAX_CHUNK}")
        chunk_size = chunk_size or DEFAULT_CHUNK
        sql, params = _scan_sql(where, self.db.dialect, with_leaves)
        # SQLite hands BLOBs over as bytes; psycopg2 as memoryviews, which are copied.
        blobs: Any = None if self.db.dialect == "sqlite" else bytes
        with self.db.read() as conn:
            end = until_index or _size(conn)
        position = after_index
        while position < end:
            with self.db.read() as conn:
                cursor = conn.connection.driver_connection.cursor()
                try:
                    cursor.execute(sql, (*params, position, end, chunk_size))
                    rows = cursor.fetchall()
                finally:
                    cursor.close()
            if not rows:
                yield Chunk([], [], [], [], end)
                return
            indexes = list(map(_FIRST, rows))
            events = list(map(_SECOND, rows))
            leaves = list(map(_FOURTH, rows)) if with_leaves else []
            if blobs is not None:
                events, leaves = list(map(blobs, events)), list(map(blobs, leaves))
            position = indexes[-1] if len(rows) == chunk_size else end
            yield Chunk(indexes, events, leaves, list(map(_THIRD, rows)), position)

    # -- checkpoints and proofs ---------------------------------------------------------

    def checkpoint(self, size: int = 0) -> StoredCheckpoint:
        """The checkpoint at `size`, or the latest with `size=0`."""
        if size < 0:
            raise InvalidArgument.single("size", "must be 0 (the latest) or a tree size")
        query = select(checkpoints)
        if size:
            query = query.where(checkpoints.c.size == size)
        else:
            query = query.order_by(checkpoints.c.size.desc()).limit(1)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            if size:
                raise NotFound(f"no checkpoint was signed at size {size}")
            raise NotFound("no checkpoint has been signed yet")
        return _stored_checkpoint(row._mapping, self.origin)

    def checkpoints(self, *, after_size: int = 0, limit: int = MAX_PAGE) -> list[StoredCheckpoint]:
        query = (
            select(checkpoints)
            .where(checkpoints.c.size > after_size)
            .order_by(checkpoints.c.size)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [_stored_checkpoint(row._mapping, self.origin) for row in conn.execute(query)]

    def inclusion_proof(self, log_index: int, tree_size: int) -> list[bytes]:
        """The RFC 6962 audit path of entry `log_index` (from 1) in the tree of `tree_size`."""
        if not 1 <= log_index <= tree_size:
            raise InvalidArgument.single(
                "log_index", f"must be between 1 and the tree size {tree_size}"
            )
        with self.db.read() as conn:
            self._require_size(conn, tree_size, "tree_size")
            return inclusion_proof(_getter(conn), log_index - 1, tree_size)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The RFC 6962 proof that the tree of `second` entries extends that of `first`."""
        if not 1 <= first <= second:
            raise InvalidArgument.single("first", f"must be between 1 and second ({second})")
        with self.db.read() as conn:
            self._require_size(conn, second, "second")
            return consistency_proof(_getter(conn), first, second)

    @staticmethod
    def _require_size(conn: Connection, size: int, field: str) -> None:
        have = _size(conn)
        if size > have:
            raise InvalidArgument.single(field, f"is {size}, but the log has {have} entries")


def _dataschema(event: Event) -> str:
    """`event.dataschema`, reusing the wire text of a decoded event (`decode` accepts only
    the one spelling, so it is the same string)."""
    text = event.wire.get("dataschema") if event.wire is not None else None
    return text if isinstance(text, str) else event.dataschema


def _time_text(event: Event) -> str:
    """The event time as fixed-width RFC 3339 UTC (`format_time`), reusing the wire text
    when it already is that (govnet's own events always are)."""
    text = event.wire.get("time") if event.wire is not None else None
    if isinstance(text, str) and len(text) == 27 and text[-1] == "Z" and text[19] == ".":
        return text
    return format_time(event.time)


def _size(conn: Connection) -> int:
    return int(conn.execute(select(func.max(log_entries.c.log_index))).scalar() or 0)


def _node(conn: Connection, level: int, index: int) -> bytes:
    if level == 0:
        query = select(log_entries.c.leaf_hash).where(log_entries.c.log_index == index + 1)
    elif level < NODE_FLOOR:  # rehash it from its 2, 4 or 8 leaves
        first = (index << level) + 1
        query = (
            select(log_entries.c.leaf_hash)
            .where(log_entries.c.log_index.between(first, first + (1 << level) - 1))
            .order_by(log_entries.c.log_index)
        )
        leaves = [bytes(h) for h in conn.execute(query).scalars()]
        if len(leaves) != 1 << level:
            raise LookupError(f"the audit store lacks leaves of node ({level}, {index})")
        return tree_nodes_of(leaves)[(level, 0)]
    else:
        query = select(tree_nodes.c.hash).where(
            tree_nodes.c.level == level, tree_nodes.c.idx == index
        )
    found = conn.execute(query).scalar()
    if found is None:
        raise LookupError(f"the audit store lacks tree node ({level}, {index}): it is damaged")
    return bytes(found)


def _getter(conn: Connection) -> Any:
    cache: dict[tuple[int, int], bytes] = {}

    def node(level: int, index: int) -> bytes:
        key = (level, index)
        if key not in cache:
            cache[key] = _node(conn, level, index)
        return cache[key]

    return node


_FIRST, _SECOND, _THIRD, _FOURTH = (itemgetter(i) for i in range(4))


def _scan_sql(where: ReplayFilter, dialect: str, with_leaves: bool) -> tuple[str, tuple[Any, ...]]:
    """The replay query, on the driver directly: per-row SQLAlchemy processing would cost
    more than the read itself. Parameters: the filter's, then after, until, limit."""
    mark = "?" if dialect == "sqlite" else "%s"
    clauses, params = [], []
    for column, operator, value in where.conditions():
        clauses.append(f"{column} {operator} {mark}")
        params.append(value)
    clauses += [f"log_index > {mark}", f"log_index <= {mark}"]
    columns = "log_index, canonical, type" + (", leaf_hash" if with_leaves else "")
    sql = (
        f"SELECT {columns} FROM log WHERE "
        + " AND ".join(clauses)
        + f" ORDER BY log_index LIMIT {mark}"
    )
    return sql, tuple(params)


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _entry(row: Any) -> Entry:
    return Entry(
        log_index=row["log_index"],
        source=row["source"],
        event_id=row["event_id"],
        type=row["type"],
        subject=row["subject"],
        division=row["division"],
        sequence=row["sequence"],
        time=_parse_time(row["time"]),
        recorded_at=_parse_time(row["recorded_at"]),
        dataschema=row["dataschema"],
        canonical=bytes(row["canonical"]),
        leaf_hash=bytes(row["leaf_hash"]),
    )


def _stored_checkpoint(row: Any, origin: str) -> StoredCheckpoint:
    return StoredCheckpoint(
        Checkpoint(origin, row["size"], bytes(row["root"]), _parse_time(row["time"])),
        row["note"],
        row["key"],
    )
