"""`govnet catalog import` / `export`: files in, files out, with progress and a report.

Import semantics: every line is validated; good records are written in batches, each batch
in one transaction (an item is never half-written: its row, history, search entry, events
and deviations commit together); bad ones are reported with their line number and reason and
skipped. Unchanged records are left alone, so importing the same file twice changes nothing
and publishes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from services.catalog.records import Line, Writer, read
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
    flush()
    report.rejected.sort()
    report.seconds = time.perf_counter() - started
    return report


def import_file(
    store: CatalogStore, path: Path, *, progress: Progress | None = None
) -> ImportReport:
    return import_lines(store, read(path), progress=progress)


def export_file(store: CatalogStore, path: Path, *, progress: Progress | None = None) -> int:
    """Write the whole catalog (departments, items, guides) in the import format."""
    with Writer(path) as writer:
        for records in (store.departments(), store.list(), store.guides()):
            for record in records:
                writer.write(record)
                if progress:
                    progress(1)
        return writer.count


def chunks(values: Iterable[Line], size: int) -> Iterator[list[Line]]:
    chunk: list[Line] = []
    for value in values:
        chunk.append(value)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
