"""The catalog file format: JSON Lines or CSV, one record per line, read and written here.

Every line is one record; `record` says which kind. `docs/catalog-format.md` documents the
fields. A file lists departments, then items, then guides (the order `govnet catalog export`
writes); a guide must follow its item. Versions are the catalog's business: `version` is
written by export and ignored by import.

JSON Lines: one JSON object per line. CSV: a header row naming the columns below (any
order, unknown columns ignored); list-valued fields (`materials`, `fees`, `process`, ...) hold
JSON in their cell; booleans are `true`/`false`; an empty cell is the default. A row with
nothing in it (a blank line, or `,,,,` as spreadsheets write an empty row) is skipped. A quoted
cell may hold a line break, so a record may span lines: it is numbered by its first. Files
ending in `.gz` are gzip-compressed.

Encoding: UTF-8 (a byte-order mark is allowed, as Excel writes one). A file that is not UTF-8
but is GB18030 (which includes GBK and GB2312, what department systems on Chinese Windows
write) is read as GB18030; `inspect` decides, from the whole file, before anything is read. A
file that is neither is refused, naming its first bad line. Files are always written as UTF-8.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson

from services.catalog.domain import (
    Department,
    Fee,
    Guide,
    GuideFee,
    GuideMaterial,
    Item,
    Material,
    ProcessStep,
    Question,
)

Record = Department | Item | Guide

DEPARTMENT_COLUMNS = ("code", "name", "division", "vertical")
ITEM_COLUMNS = (
    "kind",
    "implementation_code",
    "basic_code",
    "name",
    "type_code",
    "legal_basis",
    "level",
    "division",
    "department_code",
    "department_name",
    "status",
    "version",
    "case_kind",
    "legal_limit_days",
    "promised_limit_days",
    "address",
    "materials",
    "fees",
)
GUIDE_COLUMNS = (
    "implementation_code",
    "version",
    "service_object",
    "acceptance_conditions",
    "process",
    "office_hours",
    "consultation_phone",
    "complaint_phone",
    "guide_fees",
    "guide_materials",
    "online_url",
    "mobile_url",
    "online_depth",
    "visits",
    "collaborating_departments",
    "result_type",
    "result_name",
    "qa",
)
CSV_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(("record", *DEPARTMENT_COLUMNS, *ITEM_COLUMNS, *GUIDE_COLUMNS))
)
LIST_FIELDS = frozenset(
    (
        "materials",
        "fees",
        "service_object",
        "process",
        "guide_fees",
        "guide_materials",
        "collaborating_departments",
        "qa",
    )
)
INT_FIELDS = frozenset(
    ("version", "legal_limit_days", "promised_limit_days", "online_depth", "visits")
)
BOOL_FIELDS = frozenset(("vertical",))


class RecordError(ValueError):
    """A line that cannot be read as a record. `field` may be empty (the whole line)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)

    def __reduce__(self) -> tuple[Any, ...]:
        # A line in error crosses from the import's reading process pickled; an exception
        # pickles as its class called with `args` (here the message alone), not its fields.
        return (RecordError, (self.field, self.reason))


class Line(NamedTuple):
    """One line of a catalog file: its number (from 1; the header of a CSV is line 1) and
    either a record or the error that kept it from being one. `prepared` is work done
    ahead of the store for the record (see `rows.prepare`), or None; `end` the line the
    record ends on, if it was set (0: `number`): a CSV record spans several lines when a
    quoted field holds a newline. (A named tuple: an import makes one per line, and a
    frozen dataclass costs several times as much to build.)"""

    number: int
    record: Record | None
    error: RecordError | None = None
    prepared: Any = None
    end: int = 0


# -- reading -------------------------------------------------------------------------------


class FileError(ValueError):
    """A catalog file that cannot be read as a whole, or from some line on: an encoding that
    is neither UTF-8 nor GB18030, or gzip data that is truncated or damaged. The message names
    the file, says what is wrong and where."""


ENCODINGS = ("utf-8", "gb18030")
"""What `inspect` recognises, in the order it tries them."""


@dataclass(frozen=True)
class FileInfo:
    encoding: str  # one of ENCODINGS
    lines: int  # physical lines that could be read (a damaged .gz stops the count)


def file_format(path: Path) -> str:
    name = path.name.removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    raise ValueError(f"{path}: the file name must end in .jsonl or .csv (optionally .gz)")


def open_text(path: Path, mode: str = "r", encoding: str = "utf-8") -> IO[str]:
    """A catalog file as text; reading "utf-8" drops a byte-order mark if there is one."""
    if mode == "r" and encoding == "utf-8":
        encoding = "utf-8-sig"
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, mode + "b"), encoding=encoding, newline="")
    return open(path, mode, encoding=encoding, newline="")


def inspect(path: Path, encoding: str | None = None) -> FileInfo:
    """Which encoding the file is in, and how many lines it has: UTF-8 if all of it decodes
    as UTF-8 (one pass, the usual case); else GB18030 if all of it decodes as that and it does
    not look like UTF-8 with a few damaged bytes (fewer bad sequences than good non-ASCII
    characters). Raises `FileError` naming the first line that is not UTF-8 otherwise. With
    `encoding` given, checks that the whole file is in it. A damaged .gz is inspected as far
    as it can be read; `read` reports the damage when it gets there."""
    if encoding is not None:
        found = _scan(path, encoding)
        if found.bad_line is not None:
            raise FileError(
                f"{path}: line {found.bad_line} is not {encoding.upper()} ({found.bad_byte})"
            )
        return FileInfo(encoding, found.lines)
    utf8 = _scan(path, "utf-8")
    if utf8.bad_line is None:
        return FileInfo("utf-8", utf8.lines)
    gb18030 = _scan(path, "gb18030")
    mostly_utf8 = _scan(path, "utf-8", count_bad=True)
    if mostly_utf8.bad < mostly_utf8.good_non_ascii:
        raise FileError(
            f"{path}: line {utf8.bad_line} is not valid UTF-8 ({utf8.bad_byte}), though most "
            "of the file is: the file is damaged; fix or export it again"
        )
    if gb18030.bad_line is None:
        return FileInfo("gb18030", gb18030.lines)
    raise FileError(
        f"{path}: line {utf8.bad_line} is neither UTF-8 nor GB18030 ({utf8.bad_byte}): save "
        "the file as UTF-8 and import it again"
    )


@dataclass
class _Scan:
    lines: int = 0
    bad_line: int | None = None  # the first line that does not decode (strict scans)
    bad_byte: str = ""
    bad: int = 0  # sequences that do not decode (count_bad scans)
    good_non_ascii: int = 0  # characters beyond ASCII that do (count_bad scans)


_CHUNK = 1 << 20


def _scan(path: Path, encoding: str, *, count_bad: bool = False) -> _Scan:
    """Decode the whole file with `encoding`, counting lines: up to the first byte that does
    not decode, or (`count_bad`) to the end, counting what does not. A damaged .gz is scanned
    as far as it yields data."""
    found = _Scan()
    decoder = codecs.getincrementaldecoder(encoding)("replace" if count_bad else "strict")
    newlines, ends_with_newline, seen = 0, True, False
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    return _bad(found, exc, newlines)
                if count_bad and not chunk.isascii():
                    bad = text.count("\ufffd")
                    found.bad += bad
                    found.good_non_ascii += len(text) - len(text.encode("ascii", "ignore")) - bad
                newlines += chunk.count(b"\n")
                ends_with_newline = chunk.endswith(b"\n")
                seen = True
            try:
                found.bad += decoder.decode(b"", final=True).count("\ufffd")
            except UnicodeDecodeError as exc:
                return _bad(found, exc, newlines)
    except (EOFError, gzip.BadGzipFile, zlib.error):
        pass  # a damaged .gz: `read` says so when it gets there
    found.lines = newlines + (0 if ends_with_newline or not seen else 1)
    return found


def _bad(found: _Scan, exc: UnicodeDecodeError, newlines: int) -> _Scan:
    # exc.object is what the decoder held: an incomplete sequence carried over from the chunk
    # before (never a newline, which is complete by itself) and this chunk.
    found.bad_line = newlines + exc.object[: exc.start].count(b"\n") + 1
    found.bad_byte = f"byte 0x{exc.object[exc.start]:02x}"
    return found


def read(path: Path, encoding: str | None = None) -> Iterator[Line]:
    """Every line of a catalog file as a record or an error; never raises for a bad line.

    `encoding` is one of ENCODINGS (default: what `inspect` finds, which raises `FileError`
    if it is neither). Raises `FileError` where the file itself stops being readable (gzip
    data truncated or damaged), after yielding every line before that point."""
    fmt = file_format(path)
    encoding = encoding or inspect(path).encoding
    last = 0
    try:
        with open_text(path, encoding=encoding) as handle:
            for line in read_jsonl(handle) if fmt == "jsonl" else read_csv(handle):
                last = line.end or line.number
                yield line
    except EOFError:
        what = "the compressed data ends early: the file is truncated"
        raise FileError(_stopped(path, last, what)) from None
    except gzip.BadGzipFile as exc:
        what = f"it is not valid gzip data ({exc})"
        raise FileError(_stopped(path, last, what)) from None
    except zlib.error as exc:
        what = f"the compressed data is damaged ({exc})"
        raise FileError(_stopped(path, last, what)) from None
    except UnicodeDecodeError as exc:
        what = f"the text is not {encoding.upper()} ({exc.reason})"
        # `inspect` stops at a gzip error; reading line by line meets what a damaged stream
        # decompressed to before that error.
        if path.name.endswith(".gz"):
            what += ": the compressed data is probably damaged"
        raise FileError(_stopped(path, last, what)) from None


def _stopped(path: Path, last: int, what: str) -> str:
    where = f"after line {last}" if last else "before its first line"
    return f"{path}: reading stopped {where}: {what}"


def read_jsonl(lines: Iterable[str]) -> Iterator[Line]:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            raw = orjson.loads(text)
        except ValueError as exc:
            yield Line(number, None, RecordError("", f"not valid JSON ({exc})"))
            continue
        if not isinstance(raw, dict):
            yield Line(number, None, RecordError("", "must be a JSON object"))
            continue
        yield _line(number, raw)


def read_csv(handle: IO[str]) -> Iterator[Line]:
    """Every record after the header row, numbered by the line it starts on. A row with
    nothing in it is skipped: a blank line, or one of empty cells (`,,,,`: a spreadsheet's
    empty row)."""
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None or "record" not in header:
        yield Line(1, None, RecordError("record", "the header row has no `record` column"))
        return
    end = reader.line_num
    for cells in reader:
        # A record ends on `line_num` and starts on the line after the previous one ended:
        # the two differ when a quoted field holds a newline.
        number, end = end + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        try:
            raw = _from_cells(dict(zip(header, cells, strict=False)))
        except RecordError as exc:
            yield Line(number, None, exc, end=end)
            continue
        yield _line(number, raw, end)


def _line(number: int, raw: dict[str, Any], end: int = 0) -> Line:
    try:
        return Line(number, parse(raw), end=end)
    except RecordError as exc:
        return Line(number, None, exc, end=end)


def _from_cells(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row (column name to cell; cells beyond the header's columns are dropped) as
    the JSON object of its record."""
    out: dict[str, Any] = {}
    for key, cell in row.items():
        if cell == "":
            continue
        if key in LIST_FIELDS:
            try:
                out[key] = json.loads(cell)
            except ValueError:
                raise RecordError(key, "must hold a JSON list") from None
        elif key in INT_FIELDS:
            try:
                out[key] = int(cell)
            except ValueError:
                raise RecordError(key, "must be a whole number") from None
        elif key in BOOL_FIELDS:
            if cell not in ("true", "false"):
                raise RecordError(key, "must be true or false")
            out[key] = cell == "true"
        else:
            out[key] = cell
    return out


def parse(raw: dict[str, Any]) -> Record:
    """A record from its JSON object; `RecordError` names the first field that is wrong."""
    kind = raw.get("record")
    if kind == "item":
        return _item(raw)
    if kind == "guide":
        return _guide(raw)
    if kind == "department":
        return Department(
            code=_str(raw, "code", required=True),
            name=_str(raw, "name", required=True),
            division=_str(raw, "division", required=True),
            vertical=_bool(raw, "vertical"),
        )
    raise RecordError("record", "must be department, item or guide")


def _item(raw: dict[str, Any]) -> Item:
    return Item(
        implementation_code=_str(raw, "implementation_code", required=True),
        basic_code=_str(raw, "basic_code", required=True),
        name=_str(raw, "name"),
        type_code=_str(raw, "type_code"),
        legal_basis=_str(raw, "legal_basis"),
        level=_str(raw, "level", required=True),
        division=_str(raw, "division", required=True),
        department_code=_str(raw, "department_code", required=True),
        department_name=_str(raw, "department_name", required=True),
        kind=_str(raw, "kind") or "power",
        status=_str(raw, "status") or "published",
        case_kind=_str(raw, "case_kind") or "promised",
        legal_limit_days=_int(raw, "legal_limit_days", 20),
        promised_limit_days=_int(raw, "promised_limit_days", 20),
        address=_str(raw, "address"),
        materials=tuple(
            Material(_str(m, "name", "materials"), _bool(m, "required", True, "materials"))
            for m in _objects(raw, "materials")
        ),
        fees=tuple(
            Fee(_str(f, "item", "fees"), _str(f, "standard", "fees")) for f in _objects(raw, "fees")
        ),
    )


def _guide(raw: dict[str, Any]) -> Guide:
    return Guide(
        implementation_code=_str(raw, "implementation_code", required=True),
        service_object=tuple(_strings(raw, "service_object")) or ("natural",),
        acceptance_conditions=_str(raw, "acceptance_conditions"),
        process=tuple(
            ProcessStep(
                _str(p, "step", "process"),
                _str(p, "description", "process"),
                _int(p, "limit_days", 0, "process"),
            )
            for p in _objects(raw, "process")
        ),
        office_hours=_str(raw, "office_hours"),
        consultation_phone=_str(raw, "consultation_phone"),
        complaint_phone=_str(raw, "complaint_phone"),
        fees=tuple(
            GuideFee(
                _str(f, "item", "guide_fees"),
                _str(f, "standard", "guide_fees"),
                _str(f, "basis", "guide_fees"),
                _str(f, "waiver", "guide_fees"),
            )
            for f in _objects(raw, "guide_fees")
        ),
        materials=tuple(
            GuideMaterial(
                name=_str(m, "name", "guide_materials"),
                form=_str(m, "form", "guide_materials") or "原件",
                required=_bool(m, "required", True, "guide_materials"),
                copies=_int(m, "copies", 1, "guide_materials"),
                source=_str(m, "source", "guide_materials") or "申请人自备",
                blank_form=_str(m, "blank_form", "guide_materials"),
                sample=_str(m, "sample", "guide_materials"),
            )
            for m in _objects(raw, "guide_materials")
        ),
        online_url=_str(raw, "online_url"),
        mobile_url=_str(raw, "mobile_url"),
        online_depth=_int(raw, "online_depth", 1),
        visits=_int(raw, "visits", 1),
        collaborating_departments=tuple(_strings(raw, "collaborating_departments")),
        result_type=_str(raw, "result_type"),
        result_name=_str(raw, "result_name"),
        qa=tuple(
            Question(_str(q, "question", "qa"), _str(q, "answer", "qa"))
            for q in _objects(raw, "qa")
        ),
    )


def _name(key: str, parent: str) -> str:
    return f"{parent}.{key}" if parent else key


def _str(raw: dict[str, Any], key: str, parent: str = "", *, required: bool = False) -> str:
    value = raw.get(key)
    if value is None:
        if required:
            raise RecordError(_name(key, parent), "is required")
        return ""
    if not isinstance(value, str):
        raise RecordError(_name(key, parent), "must be a string")
    if required and not value.strip():
        raise RecordError(_name(key, parent), "is required")
    return value


def _int(raw: dict[str, Any], key: str, default: int, parent: str = "") -> int:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(_name(key, parent), "must be a whole number")
    return value


def _bool(raw: dict[str, Any], key: str, default: bool = False, parent: str = "") -> bool:
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RecordError(_name(key, parent), "must be true or false")
    return value


def _objects(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise RecordError(key, "must be a list of objects")
    return value


def _strings(raw: dict[str, Any], key: str) -> list[str]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(key, "must be a list of strings")
    return value


# -- writing -------------------------------------------------------------------------------


def to_json(record: Record, *, version: int | None = None) -> dict[str, Any]:
    """The JSON object of a record (what `read` parses back to an equal record)."""
    if isinstance(record, Department):
        return {
            "record": "department",
            "code": record.code,
            "name": record.name,
            "division": record.division,
            "vertical": record.vertical,
        }
    if isinstance(record, Item):
        out: dict[str, Any] = {
            "record": "item",
            "kind": record.kind,
            "implementation_code": record.implementation_code,
            "basic_code": record.basic_code,
            "name": record.name,
            "type_code": record.type_code,
            "legal_basis": record.legal_basis,
            "level": record.level,
            "division": record.division,
            "department_code": record.department_code,
            "department_name": record.department_name,
            "status": record.status,
            "version": record.version,
            "case_kind": record.case_kind,
            "legal_limit_days": record.legal_limit_days,
            "promised_limit_days": record.promised_limit_days,
            "address": record.address,
            "materials": [{"name": m.name, "required": m.required} for m in record.materials],
            "fees": [{"item": f.item, "standard": f.standard} for f in record.fees],
        }
        return out
    return {
        "record": "guide",
        "implementation_code": record.implementation_code,
        "version": record.version if version is None else version,
        "service_object": list(record.service_object),
        "acceptance_conditions": record.acceptance_conditions,
        "process": [
            {"step": p.step, "description": p.description, "limit_days": p.limit_days}
            for p in record.process
        ],
        "office_hours": record.office_hours,
        "consultation_phone": record.consultation_phone,
        "complaint_phone": record.complaint_phone,
        "guide_fees": [
            {"item": f.item, "standard": f.standard, "basis": f.basis, "waiver": f.waiver}
            for f in record.fees
        ],
        "guide_materials": [
            {
                "name": m.name,
                "form": m.form,
                "required": m.required,
                "copies": m.copies,
                "source": m.source,
                "blank_form": m.blank_form,
                "sample": m.sample,
            }
            for m in record.materials
        ],
        "online_url": record.online_url,
        "mobile_url": record.mobile_url,
        "online_depth": record.online_depth,
        "visits": record.visits,
        "collaborating_departments": list(record.collaborating_departments),
        "result_type": record.result_type,
        "result_name": record.result_name,
        "qa": [{"question": q.question, "answer": q.answer} for q in record.qa],
    }


class Writer:
    """Writes records to a .jsonl or .csv file (optionally .gz)."""

    def __init__(self, path: Path) -> None:
        self.format = file_format(path)
        self.handle = open_text(path, "w")
        self.count = 0
        self._csv: csv.DictWriter[str] | None = None
        if self.format == "csv":
            self._csv = csv.DictWriter(self.handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            self._csv.writeheader()

    def write(self, record: Record) -> None:
        data = to_json(record)
        if self._csv is not None:
            self._csv.writerow({k: _cell(k, v) for k, v in data.items()})
        else:
            self.handle.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
            self.handle.write("\n")
        self.count += 1

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cell(key: str, value: Any) -> str:
    if key in LIST_FIELDS:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
