"""The catalog import's reading process: it reads (or generates) a catalog and prepares
each item's row (`rows.prepare`) while the importing process writes what it is sent. It
imports neither SQLAlchemy nor the store, so that it starts quickly (it is spawned)."""

from __future__ import annotations

import gc
import marshal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.catalog.domain import Guide, Item
from services.catalog.records import FileError, Line, read
from services.catalog.rows import Prepared, prepare, prepare_guide


def _lines_of(source: tuple[Any, ...]) -> Iterator[Line]:
    if source[0] == "file":
        yield from read(Path(source[1]), source[2])
        return
    from services.catalog.generator import generate

    _, scale, seed = source
    for number, record in enumerate(generate(scale, seed), start=1):
        yield Line(number, record)


def prepare_batches(source: tuple[Any, ...], node_division: str, size: int, queue: Any) -> None:
    """The reading process: read (or generate) and prepare every line, in batches of
    `size` lines (`_batched`), then None. A file that stops being readable sends the lines
    before and then its `FileError`; any other failure is sent as its message."""
    gc.disable()  # a short-lived process that makes no cycles (see importer.collector_paused)
    prepared: list[tuple[Any, ...]] = []
    others: list[tuple[Any, ...]] = []
    try:
        for line in _lines_of(source):
            if isinstance(line.record, Item):
                prepared.append((line.number, *prepare(line.record, node_division).packed()))
            elif isinstance(line.record, Guide):
                others.append((line.number, line.record, None, prepare_guide(line.record)))
            else:
                others.append((line.number, line.record, line.error))
            if len(prepared) + len(others) >= size:
                queue.put(_batched(prepared, others))
                prepared, others = [], []
        if prepared or others:
            queue.put(_batched(prepared, others))
        queue.put(None)
    except FileError as exc:
        if prepared or others:
            queue.put(_batched(prepared, others))
        queue.put(exc)
    except Exception as exc:  # reported to, and raised in, the importing process
        queue.put(f"{type(exc).__name__}: {exc}")


def _batched(prepared: list[tuple[Any, ...]], others: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """A batch as it crosses to the writing process: the prepared items (line number and
    `Prepared.packed`: strings, numbers and tuples only) in `marshal`'s form, which costs
    both processes less than pickling does, and the other lines (departments, guides, lines
    in error) as they are."""
    return (marshal.dumps(prepared), others)


def unbatched(prepared: bytes, others: list[tuple[Any, ...]]) -> list[Line]:
    """The lines of a `_batched` batch, in file order."""
    items = marshal.loads(prepared)
    if not others:
        return [Line(n, None, None, Prepared(p, v, d)) for n, p, v, d in items]
    lines: list[Line] = []
    i = j = 0
    while i < len(items) or j < len(others):
        if j == len(others) or (i < len(items) and items[i][0] < others[j][0]):
            number, problems, values, digest = items[i]
            lines.append(Line(number, None, None, Prepared(problems, values, digest)))
            i += 1
        else:
            lines.append(Line(*others[j]))
            j += 1
    return lines
