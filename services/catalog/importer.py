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
from queue import Empty
from typing import Any

from services.catalog import reading
from services.catalog.records import FileError, Line, Writer, inspect, read
from services.catalog.store import BatchResult, CatalogStore

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
    return import_batches(store, _in_batches(lines), progress=progress)


def import_batches(
    store: CatalogStore, batches: Iterable[list[Line]], *, progress: Progress | None = None
) -> ImportReport:
    """Import lines given in batches (each its own transaction): lines in error are
    reported, the others imported. A `FileError` raised by `batches` ends the import with
    what came before it (`ImportReport.stopped`)."""
    report = ImportReport()
    seen: set[str] = set()
    started = time.perf_counter()
    with collector_paused():
        try:
            for batch in batches:
                report.lines += len(batch)
                good = [line for line in batch if line.error is None]
                if len(good) < len(batch):
                    report.rejected.extend(
                        (line.number, line.error.field, line.error.reason)
                        for line in batch
                        if line.error is not None
                    )
                if good:
                    report.add(store.import_batch(good, seen))
                if progress:
                    progress(len(batch))
        except FileError as exc:
            report.stopped = str(exc)  # every whole line read before it is still imported
    report.rejected.sort()
    report.seconds = time.perf_counter() - started
    return report


def _in_batches(lines: Iterable[Line]) -> Iterator[list[Line]]:
    """`lines` in lists of BATCH; a `FileError` comes after the lines read before it."""
    batch: list[Line] = []
    try:
        for line in lines:
            batch.append(line)
            if len(batch) >= BATCH:
                yield batch
                batch = []
    except FileError:
        if batch:
            yield batch
        raise
    if batch:
        yield batch


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
    batches = _prepared_in_background(("file", str(path), encoding), store.node.code)
    return import_batches(store, batches, progress=progress)


def import_generated(
    store: CatalogStore, scale: str, seed: int, *, progress: Progress | None = None
) -> ImportReport:
    """Generate a synthetic catalog (`generator.generate`) and import it, the generator and
    the preparation running in a second process while this one writes."""
    batches = _prepared_in_background(("generate", scale, seed), store.node.code)
    return import_batches(store, batches, progress=progress)


def _prepared_in_background(source: tuple[Any, ...], node_division: str) -> Iterator[list[Line]]:
    context = multiprocessing.get_context("spawn")
    queue: Any = context.Queue(maxsize=8)
    reader = context.Process(
        target=reading.prepare_batches, args=(source, node_division, BATCH, queue), daemon=True
    )
    reader.start()
    try:
        while True:
            batch = _next_batch(queue, reader, source)
            if batch is None:
                break
            if isinstance(batch, FileError):
                raise batch
            if isinstance(batch, str):
                raise RuntimeError(f"reading {source[1]} failed: {batch}")
            yield reading.unbatched(*batch)
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()


READER_CHECK_SECONDS = 1.0
"""How often an import waiting for its reading process looks whether it is still there."""


def _next_batch(queue: Any, reader: Any, source: tuple[Any, ...]) -> Any:
    """What the reading process sent next. It sends None at the end, or its failure; if it
    dies without a word (killed, out of memory), that is an error, not a wait forever."""
    while True:
        try:
            return queue.get(timeout=READER_CHECK_SECONDS)
        except Empty:
            if not reader.is_alive():
                break
    try:  # it may have sent its last words just before it ended
        return queue.get(timeout=READER_CHECK_SECONDS)
    except Empty:
        raise RuntimeError(
            f"the process reading {source[1]} ended (exit code {reader.exitcode}) "
            "before the end; the lines before were imported"
        ) from None


def export_file(store: CatalogStore, path: Path, *, progress: Progress | None = None) -> int:
    """Write the whole catalog (departments, items, guides) in the import format."""
    with Writer(path) as writer:
        for records in (store.departments(), store.list(), store.guides()):
            for record in records:
                writer.write(record)
                if progress:
                    progress(1)
        return writer.count
