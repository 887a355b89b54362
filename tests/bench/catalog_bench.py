"""Catalog benchmarks, shared by `make bench` (full scale) and a smoke test (small scale).

- import: items/s (the issue's measure) and records/s (items, departments and guides) of
  `import_file` of a generated catalog into an empty SQLite store, each next to a raw bulk
  insert (executemany, same batches) of exactly the rows that import wrote, into an empty
  database with the same schema (triggers and indexes included), timed in the same run:
  the raw rate is the same items (or records) over the raw insert's time.
- search: latency of 1,000 mixed queries (codes, 1-4 character parts of names, filters),
  next to the raw FTS5 / primary-key SQL for the same lookups without govnet's layer.
"""

from __future__ import annotations

import random
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from services.catalog import domain
from services.catalog.generator import generate
from services.catalog.importer import ImportReport, import_file
from services.catalog.records import Writer
from services.catalog.store import CatalogStore
from services.contract.schemas import default_registry
from services.platform.store import SQLITE_PRAGMAS, Database

TABLES = (
    "departments",
    "standards",
    "items",
    "item_history",
    "guides",
    "guide_history",
    "deviations",
    "outbox",
    "counters",
)
BATCH = 1000


@dataclass(frozen=True)
class ImportResult:
    records: int
    seconds: float
    raw_seconds: float
    raw_rows: int
    report: ImportReport

    @property
    def items(self) -> int:
        """Item records imported (power and convenience items; not departments or guides)."""
        return self.report.items

    @property
    def item_rate(self) -> float:
        return self.items / self.seconds

    @property
    def raw_item_rate(self) -> float:
        return self.items / self.raw_seconds

    @property
    def rate(self) -> float:
        """Records (items, departments, guides) per second."""
        return self.records / self.seconds

    @property
    def raw_rate(self) -> float:
        return self.records / self.raw_seconds


def write_catalog(scale: str, path: Path, seed: int = 2017) -> int:
    with Writer(path) as writer:
        for record in generate(scale, seed):
            writer.write(record)
        return writer.count


def open_store(path: Path, division: str = "320000") -> CatalogStore:
    db = Database(
        f"sqlite:///{path}", service="catalog", division=division, registry=default_registry()
    )
    return CatalogStore(db)


def import_benchmark(scale: str, workdir: Path) -> ImportResult:
    source = workdir / f"catalog-{scale}.jsonl"
    records = write_catalog(scale, source)
    store = open_store(workdir / "imported.db")
    started = time.perf_counter()
    report = import_file(store, source)
    seconds = time.perf_counter() - started
    store.db.dispose()
    raw_seconds, raw_rows = raw_insert(workdir / "imported.db", workdir / "raw.db")
    return ImportResult(records, seconds, raw_seconds, raw_rows, report)


def raw_insert(imported: Path, target: Path) -> tuple[float, int]:
    """Insert the rows `imported` holds into an empty database of the same schema with plain
    sqlite3 executemany, in batches of BATCH rows per transaction (each item's search entry
    with it, as the store adds them), and time it."""
    open_store(target).db.dispose()  # the same schema, triggers and indexes, empty
    source = sqlite3.connect(imported)
    rows_by_table = {t: source.execute(f"SELECT * FROM {t}").fetchall() for t in TABLES}
    names = [c[1] for c in source.execute("PRAGMA table_info(items)")]
    search = names.index("search")
    source.close()
    conn = sqlite3.connect(target, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:  # the same settings govnet's stores use
        conn.execute(pragma)
    for table in TABLES:  # what a new store writes at its start (its counters) goes too
        conn.execute(f"DELETE FROM {table}")
    total = 0
    started = time.perf_counter()
    for table, rows in rows_by_table.items():
        if not rows:
            continue
        marks = ",".join("?" * len(rows[0]))
        for start in range(0, len(rows), BATCH):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows[start : start + BATCH])
            if table == "items":  # and their search entries, as the store indexes them
                conn.executemany(
                    "INSERT INTO item_search(rowid, search) VALUES (?, ?)",
                    [(row[0], row[search]) for row in rows[start : start + BATCH]],
                )
            conn.execute("COMMIT")
        total += len(rows)
    seconds = time.perf_counter() - started
    conn.close()
    return seconds, total


@dataclass(frozen=True)
class SearchResult:
    latencies_ms: list[float]
    raw_latencies_ms: list[float]
    hits: int


def mixed_queries(store: CatalogStore, count: int, seed: int = 7) -> list[domain.Query]:
    """A deterministic mix: exact codes, 1-4 character parts of real names, and filters."""
    rnd = random.Random(seed)
    with store.db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT implementation_code, basic_code, name, division, type_code, level, "
            "department_code FROM items"
        ).fetchall()
    queries = []
    for _ in range(count):
        row = rnd.choice(rows)
        roll = rnd.random()
        if roll < 0.2:
            queries.append(domain.parse_query(row[0]))
        elif roll < 0.3:
            queries.append(domain.parse_query(row[1]))
        else:
            length = rnd.choice((1, 2, 2, 3, 4))
            start = rnd.randrange(max(1, len(row[2]) - length + 1))
            text = row[2][start : start + length]
            if not domain.search_tokens(text):  # a fragment of punctuation: take the name
                text = row[2][:length]
            if roll < 0.7:
                queries.append(domain.parse_query(text))
            else:
                which = rnd.choice(("division", "type_code", "level", "department_code"))
                value = {
                    "division": row[3],
                    "type_code": row[4],
                    "level": row[5],
                    "department_code": row[6],
                }[which]
                queries.append(domain.parse_query(text, **{which: value}))
    return queries


def search_benchmark(store: CatalogStore, count: int = 1000) -> SearchResult:
    queries = mixed_queries(store, count)
    for query in queries[:20]:  # warm the page cache, as a running node would be
        store.search(query)
    latencies, hits = [], 0
    for query in queries:
        started = time.perf_counter()
        found, _ = store.search(query)
        latencies.append((time.perf_counter() - started) * 1000)
        hits += len(found)
    raw = raw_search(store, queries)
    return SearchResult(latencies, raw, hits)


def raw_search(store: CatalogStore, queries: list[domain.Query]) -> list[float]:
    """The same statements govnet issues for these queries, run with bare sqlite3 (no
    SQLAlchemy, no rows turned into items): what the database itself costs."""
    url = store.db.url.removeprefix("sqlite:///")
    conn = sqlite3.connect(url)
    latencies = []
    for query in queries:
        filters = {
            name: getattr(query, name)
            for name in ("department_code", "type_code", "level", "division", "kind", "status")
            if getattr(query, name)
        }
        where = [f"items.{name} = :{name}" for name in filters]
        params: dict[str, object] = {**filters, "limit": query.page_size + 1}
        phrase = " ".join(query.tokens)
        with store.db.read() as sa_conn:  # the plan choice itself, as govnet makes it
            broad = store._token_breadth(sa_conn, query.tokens) > store.NARROW_FILTER
        started = time.perf_counter()
        if domain.looks_like_code(query.text):
            where.append("(implementation_code = :code OR basic_code = :code)")
            sql = f"SELECT * FROM items WHERE {' AND '.join(where)} ORDER BY id LIMIT :limit"
            params["code"] = query.text
        elif ("division" in filters or "department_code" in filters) and broad:
            where.append("instr(' ' || search || ' ', :padded) > 0")
            sql = f"SELECT * FROM items WHERE {' AND '.join(where)} ORDER BY id LIMIT :limit"
            params["padded"] = f" {phrase} "
        else:
            where.insert(0, "item_search MATCH :phrase")
            sql = (
                "SELECT items.* FROM item_search CROSS JOIN items ON items.id = item_search.rowid "
                f"WHERE {' AND '.join(where)} ORDER BY item_search.rowid LIMIT :limit"
            )
            params["phrase"] = f'"{phrase}"'
        conn.execute(sql, params).fetchall()
        latencies.append((time.perf_counter() - started) * 1000)
    conn.close()
    return latencies
