"""`govnet catalog import` / `export`: files in, files out, with progress and a report.

Import semantics: every line is validated; good records are written in batches, each batch
in one transaction (an item is never half-written: its row, history, search entry, events
and deviations commit together); bad ones are reported with their line number and reason and
skipped. Unchanged records are left alone, so importing the same file twice changes nothing
and publishes nothing. A record that would change an item revoked in this catalog is
rejected (`domain.import_violation`): re-running an old file never undoes a revocation. A
file that cannot be read from some line on (a truncated .gz) is imported up to that line and
the report says where and why it stopped (`stopped`).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.catalog.domain import Item
from services.catalog.records import FileError, Line, Writer, inspect, read
from services.catalog.store import BatchResult, CatalogStore, Prepared, prepare

BATCH = 1000

Progress = Callable[[int], None]


@dataclass
class ImportReport:
    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deviations: int = 0
    events: int = 0
    seconds: float = 0.0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    by_record: dict[str, int] = field(default_factory=dict)
    stopped: str = ""
    """Why reading stopped before the end of the file (the lines before it were imported);
    "" when the whole file was read."""

    @property
    def items(self) -> int:
        """Item records read and accepted (created, updated or unchanged)."""
        return self.by_record.get("item", 0)

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged

    def add(self, batch: BatchResult) -> None:
        self.created += batch.created
        self.updated += batch.updated
        self.unchanged += batch.unchanged
        self.deviations += batch.deviations
        self.events += batch.events
        self.rejected.extend(batch.rejected)
        for kind, count in batch.by_record.items():
            self.by_record[kind] = self.by_record.get(kind, 0) + count

    def summary(self) -> str:
        per = ", ".join(f"{n} {k}s" for k, n in sorted(self.by_record.items()))
        rate = self.lines / self.seconds if self.seconds else 0.0
        return (
            f"{self.lines} lines in {self.seconds:.1f}s ({rate:,.0f}/s): {self.created} created, "
            f"{self.updated} updated, {self.unchanged} unchanged, {len(self.rejected)} rejected; "
            f"{per or 'nothing'}; {self.deviations} deviations; {self.events} events"
        )


def import_lines(
    store: CatalogStore, lines: Iterable[Line], *, progress: Progress | None = None
) -> ImportReport:
    report = ImportReport()
    seen: set[str] = set()
    started = time.perf_counter()
    batch: list[Line] = []

    def flush() -> None:
        if batch:
            report.add(store.import_batch(batch, seen))
            if progress:
                progress(len(batch))
            batch.clear()

    with collector_paused():
        try:
            for line in lines:
                report.lines += 1
                if line.error is not None:
                    report.rejected.append((line.number, line.error.field, line.error.reason))
                    if progress:
                        progress(1)
                    continue
                batch.append(line)
                if len(batch) >= BATCH:
                    flush()
        except FileError as exc:
            report.stopped = str(exc)  # every whole line read before it is still imported
        flush()
    report.rejected.sort()
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk load: it creates millions of
    short-lived objects and no cycles worth collecting mid-run, and the collector's passes
    over them cost about a tenth of the import. Reference counting still frees everything;
    the collector resumes (and runs) afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


PARALLEL_BYTES = 4 * 1024 * 1024
"""Files larger than this are read and prepared by a second process while this one writes."""


def import_file(
    store: CatalogStore,
    path: Path,
    *,
    encoding: str | None = None,
    progress: Progress | None = None,
    parallel: bool | None = None,
) -> ImportReport:
    """Import a catalog file. `encoding` is utf-8 or gb18030 (default: `records.inspect`
    decides, raising `FileError` before anything is imported if the file is neither). A file
    damaged part-way is imported up to the damage (`ImportReport.stopped`).

    With `parallel` (default: for files over 4 MB on a machine with two or more cores) a
    reader process parses, validates and prepares the rows while this process writes them: on
    two cores that is the difference between waiting for Python and waiting for the
    database."""
    encoding = encoding or inspect(path).encoding
    if parallel is None:
        parallel = path.stat().st_size > PARALLEL_BYTES and (os.cpu_count() or 1) > 1
    if not parallel:
        return import_lines(store, read(path, encoding), progress=progress)
    lines = _prepared_in_background(("file", str(path), encoding), store.node.code)
    return import_lines(store, lines, progress=progress)


def import_generated(
    store: CatalogStore, scale: str, seed: int, *, progress: Progress | None = None
) -> ImportReport:
    """Generate a synthetic catalog (`generator.generate`) and import it, the generator and
    the preparation running in a second process while this one writes."""
    lines = _prepared_in_background(("generate", scale, seed), store.node.code)
    return import_lines(store, lines, progress=progress)


def _prepared_in_background(source: tuple[Any, ...], node_division: str) -> Iterator[Line]:
    context = multiprocessing.get_context("spawn")
    queue: Any = context.Queue(maxsize=8)
    reader = context.Process(
        target=_prepare_batches, args=(source, node_division, queue), daemon=True
    )
    reader.start()
    try:
        while True:
            batch = queue.get()
            if batch is None:
                break
            if isinstance(batch, FileError):
                raise batch
            if isinstance(batch, str):
                raise RuntimeError(f"reading {source[1]} failed: {batch}")
            for number, record, error, packed in batch:
                prepared = Prepared.unpacked(packed) if packed is not None else None
                yield Line(number, record, error, prepared)
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()


def _lines_of(source: tuple[Any, ...]) -> Iterator[Line]:
    if source[0] == "file":
        yield from read(Path(source[1]), source[2])
        return
    from services.catalog.generator import generate

    _, scale, seed = source
    for number, record in enumerate(generate(scale, seed), start=1):
        yield Line(number, record)


def _prepare_batches(source: tuple[Any, ...], node_division: str, queue: Any) -> None:
    """The reader process: read (or generate) and prepare every line, in batches, then
    None. A file that stops being readable sends the lines before and then its `FileError`;
    any other failure is sent as its message."""
    gc.disable()  # a short-lived process that makes no cycles (see collector_paused)
    batch: list[tuple[Any, ...]] = []
    try:
        for line in _lines_of(source):
            if isinstance(line.record, Item):
                # Items travel as plain tuples; unpickling dataclasses is slow.
                packed = prepare(line.record, node_division).packed()
                batch.append((line.number, None, None, packed))
            else:
                batch.append((line.number, line.record, line.error, None))
            if len(batch) >= BATCH:
                queue.put(batch)
                batch = []
        if batch:
            queue.put(batch)
        queue.put(None)
    except FileError as exc:
        if batch:
            queue.put(batch)
        queue.put(exc)
    except Exception as exc:  # reported to, and raised in, the importing process
        queue.put(f"{type(exc).__name__}: {exc}")


def export_file(store: CatalogStore, path: Path, *, progress: Progress | None = None) -> int:
    """Write the whole catalog (departments, items, guides) in the import format."""
    with Writer(path) as writer:
        for records in (store.departments(), store.list(), store.guides()):
            for record in records:
                writer.write(record)
                if progress:
                    progress(1)
        return writer.count
