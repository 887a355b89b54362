"""Reading catalog files (services/catalog/records.py): which physical line each CSV record
is reported at, and which rows are no record at all."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import pytest

from services.catalog.domain import Department
from services.catalog.records import FileError, read, read_csv

HEADER = "record,code,name,division,vertical\r\n"
TRANSPORT = "department,11320000625974649U,江苏省交通运输厅,320000,false\r\n"
MARKET = "department,11320000010344018P,江苏省市场监督管理局,320000,false\r\n"
NAMELESS = "department,11320000131293819T,,320000,false\r\n"


def numbered(text: str) -> list[tuple[int, str]]:
    """(line, what was read there) for each line `read_csv` yields: a department's name or
    its error."""
    found = []
    for line in read_csv(io.StringIO(text, newline="")):
        if line.error is not None:
            found.append((line.number, str(line.error)))
        else:
            assert isinstance(line.record, Department)
            found.append((line.number, line.record.name))
    return found


def test_a_row_of_empty_cells_is_skipped_as_a_blank_line_is() -> None:
    # Spreadsheets write an empty row as commas only; spaces in cells are no record either.
    text = HEADER + TRANSPORT + ",,,,\r\n" + "\r\n" + " , ,,,\r\n" + NAMELESS + ",,,,\r\n"
    assert numbered(text) == [(2, "江苏省交通运输厅"), (6, "name: is required")]


def test_a_row_with_a_cell_is_still_read_and_reported() -> None:
    text = HEADER + ",11320000625974649U,,,\r\n"
    assert numbered(text) == [(2, "record: must be department, item or guide")]


def test_a_record_spanning_lines_is_numbered_by_its_first_and_later_ones_keep_theirs() -> None:
    # A spreadsheet cell with a line break (Alt+Enter) is a quoted field holding a newline.
    spanning = 'department,11320000706650195H,"江苏省住房\n和城乡建设厅",320000,false\r\n'
    bad_spanning = 'department,,"江苏省人力资源\n和\n社会保障厅",320000,false\r\n'
    text = HEADER + spanning + NAMELESS + "\r\n" + bad_spanning + MARKET + NAMELESS
    assert numbered(text) == [
        (2, "江苏省住房\n和城乡建设厅"),
        (4, "name: is required"),
        (6, "code: is required"),
        (9, "江苏省市场监督管理局"),
        (10, "name: is required"),
    ]


def test_reading_a_truncated_csv_gz_stops_after_the_last_line_of_its_last_whole_record(
    tmp_path: Path,
) -> None:
    spanning = 'department,11320000706650195H,"江苏省住房\n和城乡建设厅",320000,false\r\n'
    whole = (HEADER + TRANSPORT + spanning).encode("utf-8")
    packer = zlib.compressobj(wbits=31)  # gzip
    # Flushed but never finished: the data decompresses, then the stream ends early.
    data = packer.compress(whole) + packer.flush(zlib.Z_SYNC_FLUSH)
    path = tmp_path / "catalog.csv.gz"
    path.write_bytes(data)
    lines = read(path, "utf-8")
    assert [next(lines).number, next(lines).number] == [2, 3]
    with pytest.raises(FileError) as info:
        next(lines)
    assert str(info.value) == (
        f"{path}: reading stopped after line 4: the compressed data ends early: the file is "
        "truncated"
    )
