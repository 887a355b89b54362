"""`govnet catalog generate | import | export` as a user runs them."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from tests.support.nodes import node_env
from tests.support.running import govnet


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return node_env(amqp_uri="amqp://guest:guest@127.0.0.1:1/", var_dir=tmp_path / "var")


def test_a_generated_catalog_imports_once_and_then_changes_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = tmp_path / "small.jsonl"
    generated = govnet("catalog", "generate", "--scale", "small", "--out", str(path), env=env)
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.strip() == (
        f"wrote 1,677 records to {path} (112 department, 1,489 item, 76 guide)"
    )
    first = govnet("catalog", "import", str(path), env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().startswith("1677 lines in ")
    assert ": 1677 created, 0 updated, 0 unchanged, 0 rejected;" in first.stdout
    again = govnet("catalog", "import", str(path), env=env)
    assert ": 0 created, 0 updated, 1677 unchanged, 0 rejected;" in again.stdout
    assert again.stdout.rstrip().endswith("; 0 deviations; 0 events")


def test_bad_lines_are_listed_with_their_numbers_and_the_rest_imported(
    tmp_path: Path, env: dict[str, str]
) -> None:
    source = tmp_path / "small.jsonl"
    govnet("catalog", "generate", "--scale", "small", "--out", str(source), env=env)
    lines = source.read_text(encoding="utf-8").splitlines()
    with_guide = {
        json.loads(text)["implementation_code"] for text in lines if '"record":"guide"' in text
    }
    item_line = next(
        i
        for i, text in enumerate(lines)
        if '"record":"item"' in text and json.loads(text)["implementation_code"] in with_guide
    )
    broken = json.loads(lines[item_line]) | {"type_code": "99"}
    code = broken["implementation_code"]
    lines[item_line] = json.dumps(broken, ensure_ascii=False)
    lines.insert(3, "{not json")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    errors = tmp_path / "errors.csv"
    result = govnet("catalog", "import", str(bad), "--errors", str(errors), env=env)
    assert result.returncode == 1
    listed = [line for line in result.stdout.splitlines() if line.startswith("line ")]
    assert listed[0].startswith("line 4: not valid JSON")
    assert listed[1] == (
        f"line {item_line + 2}: type_code: must be a national item type code "
        "(01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 20)"
    )
    # The broken item's guide is refused too: its item never made it in.
    guide_line = next(
        n for n, text in enumerate(lines, start=1) if '"record":"guide"' in text and code in text
    )
    assert listed[2] == (
        f"line {guide_line}: implementation_code: no such item in the catalog or earlier in "
        "the file (a guide follows its item)"
    )
    assert ": 1675 created, 0 updated, 0 unchanged, 3 rejected;" in result.stdout
    with errors.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["line", "field", "reason"]
    assert [row[0] for row in rows[1:]] == ["4", str(item_line + 2), str(guide_line)]


def test_an_export_imports_into_an_empty_node(tmp_path: Path, env: dict[str, str]) -> None:
    source = tmp_path / "small.jsonl"
    govnet("catalog", "generate", "--scale", "small", "--out", str(source), env=env)
    govnet("catalog", "import", str(source), env=env)
    exported = tmp_path / "export.csv.gz"
    result = govnet("catalog", "export", "--out", str(exported), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote 1,677 records to {exported}"
    other = dict(env, GOVNET_VAR=str(tmp_path / "other"))
    reimported = govnet("catalog", "import", str(exported), env=other)
    assert ": 1677 created, 0 updated, 0 unchanged, 0 rejected;" in reimported.stdout


def test_a_gbk_csv_from_a_department_system_is_read_as_gb18030(
    tmp_path: Path, env: dict[str, str]
) -> None:
    source = tmp_path / "small.csv"
    govnet("catalog", "generate", "--scale", "small", "--out", str(source), env=env)
    gbk = tmp_path / "department-export.csv"
    gbk.write_bytes(source.read_text(encoding="utf-8").encode("gbk"))
    result = govnet("catalog", "import", str(gbk), env=env)
    assert result.returncode == 0, result.stderr
    first, summary = result.stdout.strip().splitlines()
    assert first == f"{gbk} is not UTF-8: reading it as GB18030"
    assert ": 1677 created, 0 updated, 0 unchanged, 0 rejected;" in summary
    # The names arrived as Chinese, not mojibake: the UTF-8 original changes nothing.
    again = govnet("catalog", "import", str(source), env=env)
    assert ": 0 created, 0 updated, 1677 unchanged, 0 rejected;" in again.stdout


def test_a_file_neither_utf8_nor_gb18030_is_refused_in_one_line(
    tmp_path: Path, env: dict[str, str]
) -> None:
    source = tmp_path / "small.jsonl"
    govnet("catalog", "generate", "--scale", "small", "--out", str(source), env=env)
    lines = source.read_bytes().splitlines(keepends=True)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join([*lines[:2], b"\xff\xfe\xfd\n", *lines[2:]]))
    result = govnet("catalog", "import", str(bad), env=env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.strip() == (
        f"govnet: {bad}: line 3 is not valid UTF-8 (byte 0xff), though most of the file is: "
        "the file is damaged; fix or export it again"
    )
    exported = tmp_path / "export.jsonl"
    listed = govnet("catalog", "export", "--out", str(exported), env=env)
    assert listed.stdout.strip() == f"wrote 0 records to {exported}"  # nothing was imported


def test_a_truncated_gz_keeps_its_whole_lines_and_names_the_file_and_the_damage(
    tmp_path: Path, env: dict[str, str]
) -> None:
    source = tmp_path / "small.jsonl"
    govnet("catalog", "generate", "--scale", "small", "--out", str(source), env=env)
    packed = gzip.compress(source.read_bytes())
    truncated = tmp_path / "small.jsonl.gz"
    truncated.write_bytes(packed[: len(packed) // 2])
    result = govnet("catalog", "import", str(truncated), env=env)
    assert result.returncode == 1
    assert "Aborted!" not in result.stderr
    assert "Traceback" not in result.stderr
    read = int(result.stdout.split(" lines in ")[0])
    assert 0 < read < 1677
    assert f": {read} created, 0 updated, 0 unchanged, 0 rejected;" in result.stdout
    assert result.stderr.strip() == (
        f"govnet: {truncated}: reading stopped after line {read}: the compressed data ends "
        "early: the file is truncated; the lines before it were imported"
    )
    # What was imported is exactly those lines, each whole: the export gives them back.
    exported = tmp_path / "export.jsonl"
    govnet("catalog", "export", "--out", str(exported), env=env)
    whole_lines = source.read_text(encoding="utf-8").splitlines()[:read]
    assert sorted(exported.read_text(encoding="utf-8").splitlines()) == sorted(whole_lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("catalog", "import", "catalog.txt"), "the file name must end in .jsonl or .csv"),
        (("catalog", "generate", "--scale", "local", "--out", "x.jsonl"), "division"),
        (("catalog", "export", "--out", "catalog.xml"), "the file name must end in .jsonl or .csv"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(
    tmp_path: Path, env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "catalog.txt").write_text("x\n", encoding="utf-8")
    result = govnet(*[str(tmp_path / a) if a == "catalog.txt" else a for a in args], env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_spreadsheet_csv_reports_bad_rows_at_their_first_line_and_skips_empty_rows(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # As Excel saves "CSV UTF-8": a byte-order mark, CRLF rows, `,,,,` for an empty row and a
    # quoted LF for a line break typed in a cell.
    market = {"code": "11320000010344018P", "name": "江苏省市场监督管理局", "division": "320000"}
    food = {
        "record": "item",
        "implementation_code": "11320000010344018P011230010000001",
        "basic_code": "011230010000",
        "name": "食品经营许可",
        "type_code": "01",
        "legal_basis": "《中华人民共和国食品安全法》第三十五条",
        "level": "province",
        "division": "320000",
        "department_code": market["code"],
        "department_name": market["name"],
        "address": "江苏省政务服务中心\n3号窗口",
    }
    roads = food | {
        "implementation_code": "11320000010344018P010610020000001",
        "basic_code": "010610020000",
        "name": "道路旅客运输经营许可",
        "type_code": "99",
        "legal_basis": "《中华人民共和国道路运输条例》第十条",
    }
    path = tmp_path / "spreadsheet.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["record", *market, *list(food)[1:]])
        writer.writeheader()
        # Lines 2, 3 (empty), 4-5, 6-7 and 8 (empty).
        writer.writerows([{"record": "department"} | market, {}, food, roads, {}])
    for created, unchanged in ((2, 0), (0, 2)):
        result = govnet("catalog", "import", str(path), env=env)
        assert result.returncode == 1, result.stderr
        listed = [line for line in result.stdout.splitlines() if line.startswith("line ")]
        assert listed == [
            "line 6: type_code: must be a national item type code "
            "(01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 20)"
        ]
        summary = f": {created} created, 0 updated, {unchanged} unchanged, 1 rejected;"
        assert summary in result.stdout
