"""The catalog store on SQLite and PostgreSQL (one suite): lifecycle and history, 三级四同,
standards from the province, search, import and export, conformance."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import multiprocessing
import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from services.catalog import domain, importer
from services.catalog import store as store_module
from services.catalog.domain import Department, Fee, Guide, GuideMaterial, Item, Material
from services.catalog.importer import export_file, import_file, import_lines
from services.catalog.records import FileError, Line, Writer, inspect, read
from services.catalog.sample import sample_items, sample_records
from services.catalog.store import CatalogStore
from services.contract import names
from services.contract.envelope import Event, Source, decode, new_event
from services.contract.schemas import default_registry
from services.platform.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from services.platform.node import division
from services.platform.store import Database

NOW = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
REVOKED = (
    "the item is revoked in this catalog; an import never changes or re-publishes a revoked item "
    "(publish it under a new implementation code to offer it again)"
)
PROVINCE, XUANWU = division("320000"), division("320102")


def lines(records: list[Any]) -> Iterator[Line]:
    return (Line(number, record) for number, record in enumerate(records, start=1))


class CatalogSuite:
    """Subclasses provide `url_for(label)`: a fresh database URL per store."""

    @pytest.fixture
    def open_store(self, url_for: Any) -> Iterator[Any]:
        opened: list[Database] = []

        def open_(code: str) -> CatalogStore:
            db = Database(
                url_for(code),
                service="catalog",
                division=code,
                registry=default_registry(),
                clock=lambda: NOW,
            )
            opened.append(db)
            return CatalogStore(db)

        yield open_
        for db in opened:
            db.dispose()

    @pytest.fixture
    def province(self, open_store: Any) -> CatalogStore:
        store = open_store("320000")
        import_lines(store, lines(sample_records(PROVINCE)))
        return store

    @pytest.fixture
    def county(self, open_store: Any) -> CatalogStore:
        store = open_store("320102")
        import_lines(store, lines(sample_records(XUANWU)))
        return store

    def events(
        self, store: CatalogStore, event_type: str | None = None, exchange: str = "catalog.events"
    ) -> list[Event]:
        with store.db.read() as conn:
            bodies = conn.execute(
                select(store.db.outbox.c.body)
                .where(store.db.outbox.c.exchange == exchange)
                .order_by(store.db.outbox.c.id)
            ).scalars()
            found = [decode(body, default_registry()) for body in bodies]
        return [e for e in found if event_type is None or e.type == event_type]

    # -- publishing ------------------------------------------------------------------

    def test_the_province_defines_an_item_and_announces_it(self, open_store: Any) -> None:
        store = open_store("320000")
        item = sample_items(PROVINCE)[0]
        published = store.publish(item)
        assert published.status == "published"
        assert published.version == 1
        assert store.get(item.basic_code) == published
        assert store.standard(item.basic_code) == item.standard
        [event] = self.events(store)
        assert (event.type, event.subject) == ("item.published", item.implementation_code)
        assert event.data["name"] == "食品经营许可"
        # The same event goes down to the cities and counties as the standard.
        assert self.events(store, exchange="catalog.standards") == [event]

    def test_a_city_or_county_item_is_not_sent_down_as_a_standard(self, open_store: Any) -> None:
        province = open_store("320000")
        province.publish(sample_items(PROVINCE)[0])
        county = open_store("320102")
        county.apply_standard(self.events(province)[0])
        county.publish(sample_items(division("320102"))[0])

        assert [e.type for e in self.events(county)] == ["item.published"]

        assert self.events(county, exchange="catalog.standards") == []

    def test_a_second_province_definition_must_match_the_standard(
        self, province: CatalogStore
    ) -> None:
        other = sample_items(PROVINCE)[1]
        clash = replace(
            other,
            basic_code="011230010000",
            type_code="01",
            implementation_code=other.department_code + "011230010000002",
            name="餐饮许可",
        )
        with pytest.raises(
            FailedPrecondition, match="basic_code 011230010000 is already defined with name"
        ):
            province.publish(clash)

    def test_publishing_an_existing_code_again_is_already_exists(
        self, province: CatalogStore
    ) -> None:
        with pytest.raises(AlreadyExists, match="is already in this catalog"):
            province.publish(sample_items(PROVINCE)[0])

    def test_a_county_implements_a_standard_with_empty_standard_fields(
        self, open_store: Any
    ) -> None:
        store = open_store("320102")
        import_lines(
            store,
            lines([r for r in sample_records(XUANWU) if getattr(r, "division", "") == "320000"]),
        )
        bare = replace(sample_items(XUANWU)[0], name="", type_code="", legal_basis="")
        implemented = store.publish(bare)
        assert implemented.name == "食品经营许可"
        [event] = self.events(store)
        assert event.data["legal_basis"] == "《中华人民共和国食品安全法》第三十五条"

    def test_a_county_cannot_publish_a_changed_standard_field(self, open_store: Any) -> None:
        store = open_store("320102")
        import_lines(
            store,
            lines([r for r in sample_records(XUANWU) if getattr(r, "division", "") == "320000"]),
        )
        with pytest.raises(FailedPrecondition, match=r"^name is a standard field"):
            store.publish(replace(sample_items(XUANWU)[0], name="食品经营许可（玄武）"))
        assert self.events(store) == []

    def test_a_draft_is_silent_until_published(self, open_store: Any) -> None:
        store = open_store("320000")
        item = sample_items(PROVINCE)[0]
        draft = store.publish(item, draft=True)
        assert draft.status == "draft"
        assert self.events(store) == []
        published = store.publish_draft(item.implementation_code)
        assert (published.status, published.version) == ("published", 2)
        assert [e.type for e in self.events(store)] == ["item.published"]

    # -- revisions and history ---------------------------------------------------------

    def test_every_revision_is_a_new_version_kept_in_history(self, county: CatalogStore) -> None:
        code = sample_items(XUANWU)[0].implementation_code
        county.revise(code, {"promised_limit_days": 8}, "窗口提速")
        county.revise(code, {"address": "玄武大道 1 号"}, "搬迁")
        history = county.history(code)
        assert [(v.version, v.change, v.changed_fields) for v in history] == [
            (1, "published", ()),
            (2, "revised", ("promised_limit_days",)),
            (3, "revised", ("address",)),
        ]
        assert [v.item.promised_limit_days for v in history] == [10, 8, 8]
        assert history[-1].reason == "搬迁"
        revised = self.events(county, "item.revised")
        assert [(e.data["version"], e.data["changed_fields"]) for e in revised] == [
            (2, ["promised_limit_days"]),
            (3, ["address"]),
        ]

    def test_a_county_revision_of_a_standard_field_is_refused(self, county: CatalogStore) -> None:
        code = sample_items(XUANWU)[0].implementation_code
        with pytest.raises(FailedPrecondition, match=r"^legal_basis is a standard field"):
            county.revise(code, {"legal_basis": "本区规定"})
        assert county.get(code).version == 1

    def test_a_county_revision_of_the_basic_code_is_refused_naming_it(
        self, county: CatalogStore
    ) -> None:
        code = sample_items(XUANWU)[0].implementation_code
        with pytest.raises(FailedPrecondition) as info:
            county.revise(code, {"basic_code": "011230020000"})
        assert str(info.value) == (
            "basic_code is a standard field (三级四同): only the province node defines it; "
            "this node is county"
        )
        assert county.get(code).version == 1

    def test_the_province_never_revises_a_basic_code(self, province: CatalogStore) -> None:
        code = sample_items(PROVINCE)[0].implementation_code
        with pytest.raises(InvalidArgument) as info:
            province.revise(code, {"basic_code": "011230020000"})
        assert str(info.value) == (
            "basic_code: identifies the provincial standard and is part of the implementation "
            "code, so it is never revised: publish the item under the new basic code and "
            "revoke this one"
        )
        assert (province.get(code).version, province.standard("011230010000").version) == (1, 1)

    @pytest.mark.parametrize("basic_code", ["", "0112300100"])
    def test_a_county_implementation_with_a_malformed_basic_code_is_invalid(
        self, county: CatalogStore, basic_code: str
    ) -> None:
        bare = replace(sample_items(XUANWU)[0], basic_code=basic_code, name="", legal_basis="")
        with pytest.raises(InvalidArgument) as info:
            county.publish(replace(bare, type_code=""))
        assert info.value.violations[0].field == "basic_code"
        assert info.value.violations[0].reason.startswith("must be 12 characters, got ")

    def test_items_of_other_divisions_are_read_only_here(self, county: CatalogStore) -> None:
        provincial = sample_items(PROVINCE)[0].implementation_code
        with pytest.raises(
            FailedPrecondition, match="belongs to division 320000; change it at that node"
        ):
            county.revise(provincial, {"address": "x"})

    def test_a_province_standard_revision_moves_the_standard_version(
        self, province: CatalogStore
    ) -> None:
        code = sample_items(PROVINCE)[0].implementation_code
        revised = province.revise(code, {"name": "食品经营许可（含网络经营）"}, "法规修订")
        assert revised.standard_version == 2
        assert province.standard("011230010000").name == "食品经营许可（含网络经营）"
        [event] = self.events(province, "item.revised")
        assert (event.data["standard_version"], event.data["changed_fields"]) == (2, ["name"])

    def test_revoking_the_last_provincial_implementation_withdraws_the_standard(
        self, province: CatalogStore
    ) -> None:
        code = sample_items(PROVINCE)[0].implementation_code
        province.revoke(code, "事项取消")
        assert province.standard("011230010000").status == "revoked"
        [event] = self.events(province, "item.revoked")
        assert (event.data["standard_revoked"], event.data["reason"]) == (True, "事项取消")
        assert {k: event.data[k] for k in domain.STANDARD_FIELDS} == {
            "name": "食品经营许可",
            "basic_code": "011230010000",
            "type_code": "01",
            "legal_basis": "《中华人民共和国食品安全法》第三十五条",
        }

    # -- standards arriving from the province --------------------------------------------

    def province_event(self, event_type: str, data: dict[str, Any], sequence: int = 1) -> Event:
        return new_event(
            default_registry(),
            event_type,
            data,
            source=Source.for_service("320000", "catalog"),
            now=NOW,
        ).with_sequence(sequence)

    def test_a_revised_standard_is_followed_by_the_countys_implementation(
        self, county: CatalogStore
    ) -> None:
        provincial = replace(
            sample_items(PROVINCE)[0],
            name="食品经营许可（含网络经营）",
            version=2,
            standard_version=2,
        )
        event = self.province_event(
            names.ITEM_REVISED,
            provincial.event_data() | {"changed_fields": ["name"], "reason": "法规修订"},
        )
        assert county.apply_standard(event) == 1
        assert county.apply_standard(event) == 0, "a redelivery changes nothing"
        local = county.get(sample_items(XUANWU)[0].implementation_code)
        assert (local.name, local.version, local.standard_version) == (
            "食品经营许可（含网络经营）",
            2,
            2,
        )
        [announced] = self.events(county, "item.revised")
        assert announced.data["changed_fields"] == ["name"]

    def test_an_older_standard_arriving_late_changes_nothing(self, county: CatalogStore) -> None:
        newer = replace(sample_items(PROVINCE)[0], name="新名称", standard_version=3)
        older = replace(sample_items(PROVINCE)[0], name="旧名称", standard_version=2)
        county.apply_standard(self.province_event(names.ITEM_PUBLISHED, newer.event_data(), 2))
        county.apply_standard(self.province_event(names.ITEM_PUBLISHED, older.event_data(), 1))
        assert county.standard("011230010000").name == "新名称"

    def test_a_withdrawn_standard_revokes_the_countys_implementations(
        self, county: CatalogStore
    ) -> None:
        item = sample_items(PROVINCE)[0]
        data = {
            "basic_code": item.basic_code,
            "implementation_code": item.implementation_code,
            "name": item.name,
            "level": "province",
            "department": {"code": item.department_code, "name": item.department_name},
            "version": 2,
            "reason": "事项取消",
            "standard_revoked": True,
        }
        assert county.apply_standard(self.province_event(names.ITEM_REVOKED, data)) == 1
        assert county.get(sample_items(XUANWU)[0].implementation_code).status == "revoked"

    def test_standards_come_only_from_the_province(self, county: CatalogStore) -> None:
        event = new_event(
            default_registry(),
            names.ITEM_PUBLISHED,
            sample_items(division("320100"))[0].event_data(),
            source=Source.for_service("320100", "catalog"),
            now=NOW,
        ).with_sequence(1)
        with pytest.raises(
            FailedPrecondition,
            match="standards come from the province node 320000, not from 320100",
        ):
            county.apply_standard(event)

    # -- search --------------------------------------------------------------------------

    def test_search_finds_one_and_two_character_parts_of_names(self, county: CatalogStore) -> None:
        def names_for(text: str, **filters: str) -> list[tuple[str, str]]:
            found, _ = county.search(domain.parse_query(text, **filters))
            return [(i.name, i.division) for i in found]

        assert names_for("食品") == [("食品经营许可", "320000"), ("食品经营许可", "320102")]
        # In catalog order: the order the items were added (the sample's order).
        assert names_for("许可", division="320102") == [
            ("食品经营许可", "320102"),
            ("道路旅客运输经营许可", "320102"),
        ]
        assert names_for("团", level="county") == [("社会团体成立登记", "320102")]
        assert names_for("品经营") == [("食品经营许可", "320000"), ("食品经营许可", "320102")]
        assert names_for("许营") == []
        assert names_for("", type_code="20", division="320102") == [("失业保险金申领", "320102")]
        code = sample_items(XUANWU)[2].implementation_code
        assert names_for(code) == [("建筑业企业资质核准", "320102")]
        assert [i.division for i in county.search(domain.parse_query("011230010000"))[0]] == [
            "320000",
            "320102",
        ]

    def test_search_pages_in_catalog_order(self, county: CatalogStore) -> None:
        seen, token = [], ""
        while True:
            page, token = county.search(domain.parse_query(page_size=3, page_token=token))
            seen.extend(i.implementation_code for i in page)
            if not token:
                break
        assert seen == [i.implementation_code for i in sample_records_items()]
        assert len(seen) == 10

    def test_both_search_plans_find_the_same_items(self, open_store: Any) -> None:
        from services.catalog.generator import generate

        store = open_store("320000")
        import_lines(store, lines(list(generate("small", 2017))))
        queries = [
            ("办理", {"division": "320102"}),
            ("证", {"division": "320100"}),
            ("许可", {"division": "320000"}),
            (
                "登记",
                {"department_code": next(iter(store.list(division="320102"))).department_code},
            ),
            ("社保卡", {"division": "320102", "kind": "convenience"}),
        ]
        for text_, filters in queries:
            by_text = store.search(domain.parse_query(text_, page_size=200, **filters))
            store.NARROW_FILTER = -1  # every token is "broad": the filter's index drives
            by_filter = store.search(domain.parse_query(text_, page_size=200, **filters))
            del store.NARROW_FILTER
            assert by_filter == by_text, (text_, filters)
            assert by_text[0], f"the query {text_!r} should find something"

    def test_a_bad_filter_is_refused_by_every_call_that_takes_filters(
        self, county: CatalogStore
    ) -> None:
        with pytest.raises(InvalidArgument) as listed:
            county.list(type_code="99", division="abc")
        assert [v.field for v in listed.value.violations] == ["type_code", "division"]
        with pytest.raises(InvalidArgument) as checked:
            county.conformance(division="abc", department_code="11320102767342276A")
        assert str(checked.value) == (
            "department_code: check character is A, expected U; "
            "division: must be 6 digits, got 3 characters"
        )
        # A valid filter that matches nothing is an empty answer, not an error.
        assert list(county.list(division="110101")) == []
        assert county.conformance(division="110101") == []

    def test_a_revised_name_is_found_by_its_new_words(self, province: CatalogStore) -> None:
        code = sample_items(PROVINCE)[0].implementation_code
        province.revise(code, {"name": "网络食品经营许可"})
        found, _ = province.search(domain.parse_query("网络"))
        assert [i.implementation_code for i in found] == [code]

    # -- import, export, conformance ---------------------------------------------------------

    def test_importing_a_file_twice_changes_and_announces_nothing(
        self, open_store: Any, tmp_path: Path
    ) -> None:
        path = tmp_path / "catalog.jsonl"
        with Writer(path) as writer:
            for record in sample_records(XUANWU):
                writer.write(record)
        store = open_store("320102")
        first = import_file(store, path)
        events_after_first = len(self.events(store))
        second = import_file(store, path)
        assert (first.created, first.rejected) == (20, [])
        assert (second.created, second.updated, second.unchanged) == (0, 0, 20)
        assert len(self.events(store)) == events_after_first == 5

    def test_a_changed_line_becomes_a_new_version(self, county: CatalogStore) -> None:
        changed = replace(sample_items(XUANWU)[0], address="玄武区政务服务中心二楼")
        report = import_lines(county, lines([changed]))
        assert (report.updated, report.unchanged) == (1, 0)
        item = county.get(changed.implementation_code)
        assert (item.version, item.address) == (2, "玄武区政务服务中心二楼")
        assert [e.data["changed_fields"] for e in self.events(county, "item.revised")] == [
            ["address"]
        ]

    def test_bad_lines_are_reported_and_the_good_ones_imported(
        self, open_store: Any, tmp_path: Path
    ) -> None:
        path = tmp_path / "catalog.jsonl"
        good = [json.dumps(_json(r), ensure_ascii=False) for r in sample_records(PROVINCE)]
        bad_item = _json(sample_items(PROVINCE)[1]) | {
            "legal_limit_days": 5,
            "promised_limit_days": 15,
        }
        path.write_text(
            "\n".join(
                [
                    *good[:5],
                    "{not json",
                    json.dumps({"record": "permit"}),
                    json.dumps(bad_item, ensure_ascii=False),
                    good[5],
                    good[5],
                    json.dumps(
                        {
                            "record": "guide",
                            "implementation_code": "11320000999999999X011230010000001",
                        }
                    ),
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        store = open_store("320000")
        report = import_file(store, path)
        assert [(n, f) for n, f, _ in report.rejected] == [
            (6, ""),
            (7, "record"),
            (8, "promised_limit_days"),
            (10, "implementation_code"),
            (11, "implementation_code"),
        ]
        assert report.rejected[2][2] == "must not be longer than the legal time limit"
        assert report.rejected[3][2] == "appears more than once in the file"
        assert store.count() == 1

    @pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "reader-process"])
    def test_a_spreadsheet_csv_skips_empty_rows_and_numbers_rows_by_their_first_line(
        self, open_store: Any, tmp_path: Path, parallel: bool
    ) -> None:
        path = tmp_path / "county.csv"
        with Writer(path) as writer:
            for record in sample_records(XUANWU):
                writer.write(record)
        with path.open(encoding="utf-8", newline="") as handle:
            header, *rows = csv.reader(handle)
        departments, item_rows = rows[:10], rows[10:]
        # A cell with a line break (a quoted newline) makes its record span two lines.
        address, type_code = header.index("address"), header.index("type_code")
        item_rows[0][address] = item_rows[1][address] = "玄武区政务服务中心\n二楼"
        item_rows[1][type_code] = item_rows[3][type_code] = "99"
        empty = [""] * len(header)  # `,,,,…`: what a spreadsheet writes for an empty row
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([header, *departments, empty, *item_rows, empty])
        store = open_store("320102")
        bad_type = "must be a national item type code (01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 20)"
        for _ in range(2):
            report = import_file(store, path, parallel=parallel)
            # Line 1 is the header, 2-11 departments, 12 empty, 13-14 and 15-16 the first
            # two items, 17 and 18 the next two.
            assert report.rejected == [(15, "type_code", bad_type), (18, "type_code", bad_type)]
            assert (report.lines, report.stopped) == (20, "")
        assert (report.created, report.unchanged) == (0, 18)
        first = store.get(item_rows[0][header.index("implementation_code")])
        assert (first.address, first.version) == ("玄武区政务服务中心\n二楼", 1)
        assert store.count() == 8

    def test_a_gb18030_csv_imports_as_its_utf8_twin_does(
        self, county: CatalogStore, tmp_path: Path, open_store: Any
    ) -> None:
        utf8 = tmp_path / "county.csv"
        export_file(county, utf8)
        gbk = tmp_path / "county-gbk.csv"
        gbk.write_bytes(utf8.read_text("utf-8").encode("gbk"))
        assert inspect(gbk).encoding == "gb18030"
        copy = open_store("320102")
        report = import_file(copy, gbk)
        assert (report.rejected, report.stopped, report.created) == ([], "", 20)
        assert sorted(i.name for i in copy.list()) == sorted(i.name for i in county.list())

    @pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "reader-process"])
    def test_a_truncated_gz_imports_its_whole_lines_and_says_where_it_stopped(
        self, open_store: Any, tmp_path: Path, parallel: bool
    ) -> None:
        records = sample_records(XUANWU)
        text = "".join(json.dumps(_json(r), ensure_ascii=False) + "\n" for r in records)
        whole = gzip.compress(text.encode("utf-8"))
        path = tmp_path / "county.jsonl.gz"
        path.write_bytes(whole[: len(whole) * 2 // 3])
        store = open_store("320102")
        report = import_file(store, path, parallel=parallel)
        read_lines = report.lines
        assert 0 < read_lines < len(records)
        assert report.stopped == (
            f"{path}: reading stopped after line {read_lines}: the compressed data ends early: "
            "the file is truncated"
        )
        assert report.rejected == []
        assert report.created == read_lines  # every whole line before the damage
        assert store.count() == read_lines - 10  # less the 10 departments

    def test_a_file_neither_utf8_nor_gb18030_is_refused_before_anything_is_read(
        self, open_store: Any, tmp_path: Path
    ) -> None:
        path = tmp_path / "catalog.jsonl"
        good = json.dumps(_json(sample_records(XUANWU)[0]), ensure_ascii=False)
        path.write_bytes((good + "\n").encode("utf-8") + b'{"record": "item", "name": "\x80"}\n')
        store = open_store("320102")
        with pytest.raises(FileError) as info:
            import_file(store, path)
        assert str(info.value) == (
            f"{path}: line 2 is not valid UTF-8 (byte 0x80), though most of the file is: the "
            "file is damaged; fix or export it again"
        )
        assert list(store.departments()) == []

    def test_export_writes_what_import_reads(
        self, county: CatalogStore, tmp_path: Path, open_store: Any
    ) -> None:
        code = sample_items(XUANWU)[0].implementation_code
        county.publish_guide(
            Guide(code, materials=(GuideMaterial("食品经营许可申请书"),), visits=1)
        )
        for suffix in ("jsonl", "csv"):
            path = tmp_path / f"export.{suffix}"
            written = export_file(county, path)
            assert written == 21  # 10 departments, 10 items, 1 guide
            assert [ln.error for ln in read(path)] == [None] * 21
            copy = open_store("320102")
            report = import_file(copy, path)
            assert report.rejected == []
            assert sorted(copy.list(), key=lambda i: i.implementation_code) == sorted(
                (replace(i, version=1) for i in county.list()), key=lambda i: i.implementation_code
            )

    def test_a_local_catalog_import_records_and_announces_each_deviation(
        self, open_store: Any
    ) -> None:
        store = open_store("320102")
        provincial = [r for r in sample_records(XUANWU) if getattr(r, "division", "") == "320000"]
        local = sample_items(XUANWU)
        local[0] = replace(local[0], name="食品经营许可证核发")
        local[3] = replace(local[3], legal_basis="《南京市社会组织管理办法》第五条")
        report = import_lines(store, lines([*provincial, *local]))
        assert report.deviations == 2
        events = self.events(store, "deviation.detected")
        assert sorted((e.data["field"], e.data["local_value"]) for e in events) == [
            ("legal_basis", "《南京市社会组织管理办法》第五条"),
            ("name", "食品经营许可证核发"),
        ]
        [xuanwu] = store.conformance()
        assert (xuanwu.division, xuanwu.name, xuanwu.items, xuanwu.deviating_items) == (
            "320102",
            "玄武区",
            5,
            2,
        )
        assert xuanwu.by_field == {"legal_basis": 1, "name": 1}
        assert {d.name: d.deviating_items for d in xuanwu.departments} == {
            "玄武区市场监督管理局": 1,
            "玄武区民政局": 1,
            "玄武区交通运输局": 0,
            "玄武区住房和城乡建设局": 0,
            "玄武区人力资源和社会保障局": 0,
        }
        # Importing the same local catalog again finds nothing new.
        again = import_lines(store, lines([*provincial, *local]))
        assert again.deviations == 0
        # Fixing the local name resolves that deviation.
        import_lines(store, lines([replace(local[0], name="食品经营许可")]))
        [xuanwu] = store.conformance()
        assert xuanwu.by_field == {"legal_basis": 1}

    def test_revoking_a_deviating_item_resolves_its_deviations(self, open_store: Any) -> None:
        store = open_store("320102")
        provincial = [r for r in sample_records(XUANWU) if getattr(r, "division", "") == "320000"]
        local = sample_items(XUANWU)
        local[0] = replace(local[0], name="食品经营许可证核发")
        local[3] = replace(local[3], legal_basis="《南京市社会组织管理办法》第五条")
        import_lines(store, lines([*provincial, *local]))
        store.revoke(local[0].implementation_code, "并入食品生产经营许可")
        # Revoked by a later import of the local catalog.
        report = import_lines(store, lines([replace(local[3], status="revoked")]))
        assert (report.updated, report.deviations) == (1, 0)

        [xuanwu] = store.conformance()
        assert (xuanwu.items, xuanwu.deviating_items, xuanwu.by_field, xuanwu.rate) == (
            3,
            0,
            {},
            1.0,
        )
        assert [d.deviations for d in xuanwu.departments] == [()] * 3  # the other three
        with store.db.read() as conn:
            rows = conn.execute(
                select(
                    store_module.deviations.c.implementation_code,
                    store_module.deviations.c.resolved_at,
                ).order_by(store_module.deviations.c.implementation_code)
            ).all()
        # Each deviation was recorded once and is resolved (SQLite keeps no time zone).
        assert [(code, resolved is not None) for code, resolved in rows] == sorted(
            [(local[0].implementation_code, True), (local[3].implementation_code, True)]
        )

    def test_a_local_item_imported_as_revoked_or_draft_is_not_announced(
        self, county: CatalogStore
    ) -> None:
        before = len(self.events(county))
        food = sample_items(XUANWU)[0]
        revoked = replace(food, implementation_code=food.implementation_code[:-3] + "002")
        draft = replace(food, implementation_code=food.implementation_code[:-3] + "003")
        report = import_lines(
            county, lines([replace(revoked, status="revoked"), replace(draft, status="draft")])
        )
        assert (report.created, report.rejected, report.events) == (2, [], 0)
        assert len(self.events(county)) == before
        assert county.get(revoked.implementation_code).status == "revoked"
        assert county.get(draft.implementation_code).status == "draft"

    def test_importing_an_old_file_again_does_not_bring_back_a_revoked_item(
        self, county: CatalogStore
    ) -> None:
        records = sample_records(XUANWU)
        food = sample_items(XUANWU)[0]
        county.revoke(food.implementation_code, "并入食品生产经营许可")
        history = county.history(food.implementation_code)
        events = len(self.events(county))
        for _ in range(2):
            report = import_lines(county, lines(records))
            assert report.rejected == [(records.index(food) + 1, "status", REVOKED)]
            assert (report.created, report.updated, report.unchanged) == (0, 0, 19)
            assert (report.events, report.items) == (0, 9)
        assert county.get(food.implementation_code) == replace(food, status="revoked", version=2)
        assert county.history(food.implementation_code) == history
        assert len(self.events(county)) == events

    def test_an_import_does_not_change_a_revoked_item(self, county: CatalogStore) -> None:
        food = sample_items(XUANWU)[0]
        county.revoke(food.implementation_code, "并入食品生产经营许可")
        moved = replace(food, address="玄武区政务服务中心二楼")
        events = len(self.events(county))
        for line in (moved, replace(moved, status="revoked"), replace(moved, status="draft")):
            report = import_lines(county, lines([line]))
            assert report.rejected == [(1, "status", REVOKED)]
        assert county.get(food.implementation_code) == replace(food, status="revoked", version=2)
        assert len(self.events(county)) == events

    def test_a_file_exported_after_a_revocation_imports_unchanged(
        self, county: CatalogStore, tmp_path: Path
    ) -> None:
        food = sample_items(XUANWU)[0]
        county.revoke(food.implementation_code, "并入食品生产经营许可")
        path = tmp_path / "county.jsonl"
        export_file(county, path)
        report = import_file(county, path)
        assert (report.rejected, report.updated, report.unchanged) == ([], 0, 20)
        assert county.get(food.implementation_code).status == "revoked"

    def test_importing_an_old_file_again_does_not_bring_back_a_withdrawn_standard(
        self, province: CatalogStore
    ) -> None:
        records = sample_records(PROVINCE)
        food = sample_items(PROVINCE)[0]
        province.revoke(food.implementation_code, "事项取消")
        report = import_lines(province, lines(records))
        assert report.rejected == [(records.index(food) + 1, "status", REVOKED)]
        assert province.get(food.implementation_code).status == "revoked"
        assert province.standard(food.basic_code) == replace(food.standard, status="revoked")

    def test_a_local_item_declared_provincial_cannot_redefine_the_standard(
        self, county: CatalogStore
    ) -> None:
        food = sample_items(XUANWU)[0]
        before = len(self.events(county))
        claimed = replace(
            food,
            implementation_code=food.implementation_code[:-3] + "002",
            level="province",
            name="食品经营许可证核发",
        )
        report = import_lines(county, lines([claimed]))
        assert report.rejected == [(1, "level", "must be county, the level of division 320102")]
        assert county.standard(food.basic_code) == food.standard  # 食品经营许可, version 1
        assert len(self.events(county)) == before
        with pytest.raises(NotFound):
            county.get(claimed.implementation_code)

    def test_an_implementation_of_an_unknown_standard_is_a_deviation(self, open_store: Any) -> None:
        store = open_store("320102")
        report = import_lines(store, lines(sample_items(XUANWU)[:1]))
        assert report.deviations == 1
        [xuanwu] = store.conformance()
        assert xuanwu.by_field == {"basic_code": 1}

    def test_guides_are_versioned_and_announced(self, county: CatalogStore) -> None:
        code = sample_items(XUANWU)[0].implementation_code
        first = county.publish_guide(Guide(code, materials=(GuideMaterial("申请书"),)))
        second = county.publish_guide(
            Guide(code, materials=(GuideMaterial("申请书"), GuideMaterial("营业执照")))
        )
        assert (first.version, second.version) == (1, 2)
        guide, _item = county.guide(code)
        assert [m.name for m in guide.materials] == ["申请书", "营业执照"]
        announced = self.events(county, "guide.published")
        assert [e.data["version"] for e in announced] == [1, 2]
        assert {k: announced[1].data[k] for k in (*domain.STANDARD_FIELDS, "department")} == {
            "name": "食品经营许可",
            "basic_code": "011230010000",
            "type_code": "01",
            "legal_basis": "《中华人民共和国食品安全法》第三十五条",
            "department": {"code": _item.department_code, "name": "玄武区市场监督管理局"},
        }
        with pytest.raises(FailedPrecondition, match="unchanged"):
            county.publish_guide(
                Guide(code, materials=(GuideMaterial("申请书"), GuideMaterial("营业执照")))
            )
        with pytest.raises(NotFound, match="has no service guide"):
            county.guide(sample_items(XUANWU)[1].implementation_code)

    def test_the_guide_of_a_revoked_item_is_neither_changed_nor_published(
        self, county: CatalogStore
    ) -> None:
        food, roads = sample_items(XUANWU)[:2]
        first = Guide(food.implementation_code, materials=(GuideMaterial("申请书"),))
        county.publish_guide(first)
        county.revoke(food.implementation_code, "并入食品生产经营许可")
        county.revoke(roads.implementation_code, "改由市级实施")
        events = self.events(county)
        for guide in (
            replace(first, materials=(GuideMaterial("申请书"), GuideMaterial("营业执照"))),
            first,  # unchanged, and still no service to guide applicants to
            Guide(roads.implementation_code, online_depth=4),
        ):
            with pytest.raises(FailedPrecondition) as info:
                county.publish_guide(guide)
            assert str(info.value) == f"item {guide.implementation_code} is revoked"
        assert county.guide(food.implementation_code)[0] == first
        with pytest.raises(NotFound, match="has no service guide"):
            county.guide(roads.implementation_code)
        assert self.events(county) == events

    def test_an_import_does_not_change_the_guide_of_a_revoked_item(
        self, county: CatalogStore
    ) -> None:
        food, roads, housing = sample_items(XUANWU)[:3]
        first = Guide(food.implementation_code, materials=(GuideMaterial("申请书"),))
        county.publish_guide(first)
        county.revoke(food.implementation_code, "并入食品生产经营许可")
        county.revoke(roads.implementation_code, "改由市级实施")
        before = len(self.events(county))
        changed = replace(first, visits=0)
        kept = Guide(roads.implementation_code, online_depth=4)  # its first: kept, unannounced
        offered = Guide(housing.implementation_code, online_depth=4)
        for created, unchanged, announced in ((2, 0, 1), (0, 2, 0)):
            report = import_lines(county, lines([changed, kept, offered]))
            assert report.rejected == [(1, "status", REVOKED)]
            assert (report.created, report.updated, report.unchanged) == (created, 0, unchanged)
            assert (report.by_record, report.events) == ({"guide": 2}, announced)
        assert county.guide(food.implementation_code)[0] == first
        assert county.guide(roads.implementation_code)[0] == kept
        assert county.guide(housing.implementation_code)[0] == offered
        assert [(e.type, e.subject) for e in self.events(county)[before:]] == [
            ("guide.published", housing.implementation_code)
        ]

    def test_a_file_that_revokes_an_item_cannot_change_its_guide_further_down(
        self, county: CatalogStore
    ) -> None:
        food = sample_items(XUANWU)[0]
        first = Guide(food.implementation_code, materials=(GuideMaterial("申请书"),))
        county.publish_guide(first)
        stopped = replace(
            food, implementation_code=food.implementation_code[:-3] + "002", status="revoked"
        )
        before = len(self.events(county))
        report = import_lines(
            county,
            lines(
                [
                    replace(food, status="revoked"),
                    stopped,
                    replace(first, visits=0),
                    Guide(stopped.implementation_code),
                ]
            ),
        )
        assert report.rejected == [(3, "status", REVOKED)]
        assert (report.created, report.updated, report.unchanged) == (2, 1, 0)
        assert county.get(food.implementation_code).status == "revoked"
        assert county.get(stopped.implementation_code) == stopped
        assert county.guide(food.implementation_code)[0] == first
        assert county.guide(stopped.implementation_code)[0] == Guide(stopped.implementation_code)
        assert [(e.type, e.subject) for e in self.events(county)[before:]] == [
            ("item.revoked", food.implementation_code)
        ]

    @pytest.mark.parametrize("suffix", ["jsonl", "csv"])
    def test_a_catalog_with_revoked_items_and_their_guides_copies_to_a_new_store(
        self, county: CatalogStore, open_store: Any, tmp_path: Path, suffix: str
    ) -> None:
        food = sample_items(XUANWU)[0]
        first = Guide(food.implementation_code, materials=(GuideMaterial("申请书"),))
        county.publish_guide(first)
        county.revoke(food.implementation_code, "并入食品生产经营许可")
        path = tmp_path / f"county.{suffix}"
        export_file(county, path)
        copy = open_store("320102")

        report = import_file(copy, path)

        assert (report.rejected, report.created) == ([], 21)
        assert copy.get(food.implementation_code).status == "revoked"
        assert copy.guide(food.implementation_code)[0] == first
        announced = self.events(copy, "guide.published")
        assert food.implementation_code not in [e.subject for e in announced]

    @pytest.mark.parametrize("suffix", ["jsonl", "csv"])
    def test_a_file_exported_with_the_guide_of_a_revoked_item_imports_unchanged(
        self, county: CatalogStore, tmp_path: Path, suffix: str
    ) -> None:
        food = sample_items(XUANWU)[0]
        first = Guide(food.implementation_code, materials=(GuideMaterial("申请书"),))
        county.publish_guide(first)
        county.revoke(food.implementation_code, "并入食品生产经营许可")
        before = len(self.events(county))
        path = tmp_path / f"county.{suffix}"
        assert export_file(county, path) == 21  # 10 departments, 10 items, 1 guide
        for _ in range(2):
            report = import_file(county, path)
            assert (report.rejected, report.created, report.updated, report.unchanged) == (
                [],
                0,
                0,
                21,
            )
            assert (report.by_record["guide"], report.events) == (1, 0)
        assert county.guide(food.implementation_code)[0] == first
        assert len(self.events(county)) == before

    # -- the two import paths: in this process, or read and prepared by a second one ---------

    @pytest.mark.parametrize("batch", [1000, 2, 1])
    def test_a_guide_before_its_item_is_refused_wherever_the_batches_split(
        self, open_store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
    ) -> None:
        monkeypatch.setattr(importer, "BATCH", batch)
        it = sample_records_items()  # 5-9 are this county's own
        path = tmp_path / "county.jsonl"
        lines = [_text(it[5]), _text(_guide(it[6])), _text(it[6]), _text(_guide(it[5]))]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        store = open_store("320102")
        report = import_file(store, path, parallel=False)
        no_item = "no such item in the catalog or earlier in the file (a guide follows its item)"
        assert report.rejected == [(2, "implementation_code", no_item)]
        assert (report.by_record["item"], report.by_record["guide"]) == (2, 1)
        assert store.guide(it[5].implementation_code)[0] == _guide(it[5])
        with pytest.raises(NotFound):
            store.guide(it[6].implementation_code)

    @pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "reader-process"])
    def test_a_mixed_file_in_many_batches_imports_alike_on_both_paths(
        self, open_store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
    ) -> None:
        monkeypatch.setattr(importer, "BATCH", 4)
        departments = [r for r in sample_records(XUANWU) if isinstance(r, Department)]
        it = sample_records_items()  # 5-9 are this county's own
        codes = [i.implementation_code for i in it]
        path = tmp_path / "county.jsonl"
        path.write_text(
            "\n".join(
                [
                    _text(departments[0]),  # batch 1: lines 1-4
                    _text(departments[1]),
                    "{not json",
                    json.dumps(_json(it[5]) | {"legal_limit_days": "x"}, ensure_ascii=False),
                    _text(_guide(it[6])),  # batch 2: lines 5-8; its item is on line 9
                    _text(it[7]),
                    _text(_guide(it[7])),  # after its item, in the same batch
                    json.dumps({"record": "permit"}),
                    _text(it[6]),  # batch 3: lines 9-12
                    _text(it[8]),
                    _text(it[7]),  # already on line 6, in another batch
                    _text(departments[2]),
                    _text(it[9]),  # batch 4: lines 13-16
                    _text(replace(it[0], type_code="99")),
                    _text(_guide(it[8])),  # its item in an earlier batch
                    _text(replace(_guide(it[9]), online_depth=9)),
                    _text(it[5]),  # batch 5: lines 17 and 19
                    "",
                    _text(_guide(it[5])),
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        try:
            orjson.loads("{not json")
        except orjson.JSONDecodeError as exc:
            not_json = f"not valid JSON ({exc})"
        no_item = "no such item in the catalog or earlier in the file (a guide follows its item)"
        bad_type = "must be a national item type code (01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 20)"
        rejected = [
            (3, "", not_json),
            (4, "legal_limit_days", "must be a whole number"),
            (5, "implementation_code", no_item),
            (8, "record", "must be department, item or guide"),
            (11, "implementation_code", "appears more than once in the file"),
            (14, "type_code", bad_type),
            (16, "online_depth", "must be 1 (information) to 4 (fully online)"),
        ]
        store = open_store("320102")
        batches: list[int] = []

        report = import_file(store, path, parallel=parallel, progress=batches.append)

        assert batches == [4, 4, 4, 4, 2]  # the reading process was given the batch size
        assert report.rejected == rejected
        assert (report.lines, report.stopped) == (18, "")
        assert (report.created, report.updated, report.unchanged) == (11, 0, 0)
        assert report.by_record == {"department": 3, "item": 5, "guide": 3}
        assert sorted(i.implementation_code for i in store.list()) == sorted(codes[5:])
        assert [d.code for d in store.departments()] == sorted(d.code for d in departments[:3])
        for code in (codes[5], codes[7], codes[8]):
            assert store.guide(code)[0] == replace(_guide(it[codes.index(code)]), version=1)
        with pytest.raises(NotFound):
            store.guide(codes[6])
        published = sorted([(e.type, e.subject) for e in self.events(store)])
        assert published == sorted(
            [
                *[(names.ITEM_PUBLISHED, code) for code in codes[5:]],
                *[(names.DEVIATION_DETECTED, code) for code in codes[5:]],  # no standards
                *[(names.GUIDE_PUBLISHED, code) for code in (codes[5], codes[7], codes[8])],
            ]
        )
        assert report.events == len(published)

        # Line 5's item is in the catalog now: its guide is taken; the rest is unchanged.
        again = import_file(store, path, parallel=parallel)
        assert again.rejected == [r for r in rejected if r[0] != 5]
        assert (again.created, again.updated, again.unchanged, again.events) == (1, 0, 11, 1)
        assert [e.subject for e in self.events(store)[len(published) :]] == [codes[6]]

        third = import_file(store, path, parallel=parallel)
        assert (third.created, third.updated, third.unchanged, third.events) == (0, 0, 12, 0)
        assert len(self.events(store)) == len(published) + 1

    @pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "reader-process"])
    def test_a_gb18030_csv_with_a_record_on_two_lines_imports_as_its_utf8_twin_on_both_paths(
        self, open_store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
    ) -> None:
        monkeypatch.setattr(importer, "BATCH", 3)
        departments = [r for r in sample_records(XUANWU) if isinstance(r, Department)]
        it = sample_records_items()
        utf8 = tmp_path / "county.csv"
        with Writer(utf8) as writer:
            for record in [
                *departments[:3],  # batch 1: lines 2-4 (line 1 is the header)
                it[5],  # batch 2: lines 5-8
                it[6],
                _guide(it[8]),  # its item is on line 11, in the next batch
                _guide(it[5]),  # batch 3: lines 9-11
                it[7],
                it[8],
                _guide(it[7]),  # batch 4: line 12
            ]:
                writer.write(record)
        with utf8.open(encoding="utf-8", newline="") as handle:
            header, *rows = csv.reader(handle)
        rows[3][header.index("address")] = "玄武区政务服务中心\n二楼"  # lines 5-6
        rows[4][header.index("legal_limit_days")] = "二十"  # line 7
        with utf8.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
        gbk = tmp_path / "county-gbk.csv"
        gbk.write_bytes(utf8.read_text("utf-8").encode("gb18030"))
        assert inspect(gbk).encoding == "gb18030"
        no_item = "no such item in the catalog or earlier in the file (a guide follows its item)"
        codes = [i.implementation_code for i in it]
        for path in (gbk, utf8):
            store = open_store("320102")
            batches: list[int] = []
            report = import_file(store, path, parallel=parallel, progress=batches.append)
            # Line 1 is the header; 5-6 the item with a line break in its address.
            assert report.rejected == [
                (7, "legal_limit_days", "must be a whole number"),
                (8, "implementation_code", no_item),
            ]
            assert (report.lines, report.stopped, batches) == (10, "", [3, 3, 3, 1])
            assert (report.created, report.updated, report.unchanged) == (8, 0, 0)
            assert sorted(i.implementation_code for i in store.list()) == sorted(
                [codes[5], codes[7], codes[8]]
            )
            assert store.get(codes[5]).address == "玄武区政务服务中心\n二楼"
            assert store.guide(codes[5])[0] == replace(_guide(it[5]), version=1)
            assert store.guide(codes[7])[0] == replace(_guide(it[7]), version=1)

    @pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "reader-process"])
    def test_a_changed_item_and_guide_become_new_versions_stored_as_before_on_both_paths(
        self, open_store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
    ) -> None:
        """The stored texts and digests are what the catalog stored before the reading
        process prepared them (json.dumps, sha1 of the fields): a store made by an older
        version sees the same file as unchanged."""
        monkeypatch.setattr(importer, "BATCH", 3)
        it = [replace(i, materials=(*i.materials, TRICKY)) for i in sample_records_items()[5:]]
        it[0] = replace(it[0], fees=(Fee('"工本费"\\', "每证\u2028 10 元 😀"),))
        guides = [_guide(i) for i in it]
        path = tmp_path / "v1.jsonl"
        path.write_text("".join(_text(r) + "\n" for r in [*it, *guides]), encoding="utf-8")
        store = open_store("320102")
        first = import_file(store, path, parallel=parallel)
        assert (first.rejected, first.created, first.updated) == ([], 10, 0)
        self.assert_stored_as_before(store, it, guides)

        moved = replace(it[1], address="玄武区政务服务中心二楼", materials=(TRICKY,))
        changed = replace(guides[2], acceptance_conditions='申请人为"本区"居民\t\\')
        v2 = tmp_path / "v2.jsonl"
        records = [it[0], moved, *it[2:], guides[0], guides[1], changed, *guides[3:]]
        v2.write_text("".join(_text(r) + "\n" for r in records), encoding="utf-8")
        before = len(self.events(store))
        report = import_file(store, v2, parallel=parallel)
        assert (report.rejected, report.stopped) == ([], "")
        assert (report.created, report.updated, report.unchanged) == (0, 2, 8)
        new = self.events(store)[before:]
        assert [(e.type, e.subject) for e in new] == [
            (names.ITEM_REVISED, moved.implementation_code),
            (names.GUIDE_PUBLISHED, changed.implementation_code),
        ]
        assert new[0].data["changed_fields"] == ["address", "materials"]
        assert new[1].data["version"] == 2
        assert store.get(moved.implementation_code) == replace(moved, version=2)
        assert store.guide(changed.implementation_code)[0] == replace(changed, version=2)
        self.assert_stored_as_before(
            store, [it[0], replace(moved, version=2), *it[2:]], [*guides[:2], changed, *guides[3:]]
        )
        with store.db.read() as conn:
            item_history = conn.execute(
                select(
                    store_module.item_history.c.implementation_code,
                    store_module.item_history.c.version,
                    store_module.item_history.c.record,
                )
            ).all()
            guide_history = conn.execute(
                select(
                    store_module.guide_history.c.implementation_code,
                    store_module.guide_history.c.version,
                    store_module.guide_history.c.record,
                )
            ).all()
        assert item_history == [
            (it[1].implementation_code, 1, json.dumps(_json(it[1]), ensure_ascii=False))
        ]
        assert guide_history == [
            (guides[2].implementation_code, 1, json.dumps(_json(guides[2]), ensure_ascii=False))
        ]

        again = import_file(store, v2, parallel=parallel)
        assert (again.rejected, again.created, again.updated, again.unchanged) == ([], 0, 0, 10)
        assert len(self.events(store)) == before + 2

    def assert_stored_as_before(
        self, store: CatalogStore, stored_items: list[Item], stored_guides: list[Guide]
    ) -> None:
        """Items and guides are stored as the code before the reading process stored them."""
        with store.db.read() as conn:
            item_rows = {r.implementation_code: r for r in conn.execute(select(store_module.items))}
            guide_rows = {
                r.implementation_code: r for r in conn.execute(select(store_module.guides))
            }
        assert sorted(item_rows) == sorted(i.implementation_code for i in stored_items)
        for item in stored_items:
            row = item_rows[item.implementation_code]
            materials = [{"name": m.name, "required": m.required} for m in item.materials]
            fees = [{"item": f.item, "standard": f.standard} for f in item.fees]
            assert row.materials == json.dumps(materials, ensure_ascii=False)
            assert row.fees == json.dumps(fees, ensure_ascii=False)
            assert row.content_hash == _item_digest_before(item, row.materials, row.fees)
        assert sorted(guide_rows) == sorted(g.implementation_code for g in stored_guides)
        for guide in stored_guides:
            row = guide_rows[guide.implementation_code]
            text = json.dumps(_json(replace(guide, version=row.version)), ensure_ascii=False)
            assert row.record == text
            assert (
                row.content_hash
                == hashlib.sha1(
                    json.dumps(
                        _json(guide) | {"version": 0},
                        sort_keys=True,
                        ensure_ascii=False,
                        separators=(",", ":"),
                    ).encode("utf-8")
                ).hexdigest()
            )

    @pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "reader-process"])
    def test_an_import_keeps_revoked_items_and_their_guides_on_both_paths(
        self, open_store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
    ) -> None:
        monkeypatch.setattr(importer, "BATCH", 3)
        it = sample_records_items()[5:]
        guides = [_guide(i) for i in it]
        v1 = tmp_path / "v1.jsonl"
        v1.write_text("".join(_text(r) + "\n" for r in [*it[:3], *guides[:3]]), encoding="utf-8")
        store = open_store("320102")
        assert import_file(store, v1, parallel=parallel).created == 6
        before = len(self.events(store))
        v2 = tmp_path / "v2.jsonl"
        records = [
            replace(it[0], status="revoked"),  # batch 1: lines 1-3
            it[1],
            it[2],
            replace(guides[0], visits=0),  # batch 2: its item was revoked on line 1
            guides[1],
            replace(guides[2], visits=0),
            replace(it[3], status="revoked"),  # batch 3: a new item, revoked
            guides[3],  # its first guide: kept, never announced
        ]
        v2.write_text("".join(_text(r) + "\n" for r in records), encoding="utf-8")
        for run in range(2):
            report = import_file(store, v2, parallel=parallel)
            assert report.rejected == [(4, "status", REVOKED)]
            assert (report.created, report.updated, report.unchanged) == (
                (2, 2, 3) if run == 0 else (0, 0, 7)
            )
            new = [(e.type, e.subject) for e in self.events(store)[before:]]
            assert new == [
                (names.ITEM_REVOKED, it[0].implementation_code),
                (names.GUIDE_PUBLISHED, it[2].implementation_code),
            ]
        assert store.get(it[0].implementation_code) == replace(it[0], status="revoked", version=2)
        assert store.guide(it[0].implementation_code)[0] == replace(guides[0], version=1)
        assert store.guide(it[2].implementation_code)[0] == replace(guides[2], visits=0, version=2)
        assert store.get(it[3].implementation_code).status == "revoked"
        assert store.guide(it[3].implementation_code)[0] == replace(guides[3], version=1)
        # An item line changing the revoked item is refused as well.
        v3 = tmp_path / "v3.jsonl"
        v3.write_text(
            _text(replace(it[0], address="玄武区政务服务中心二楼")) + "\n", encoding="utf-8"
        )
        report = import_file(store, v3, parallel=parallel)
        assert (report.rejected, report.updated) == ([(1, "status", REVOKED)], 0)

    @pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "reader-process"])
    def test_a_truncated_gz_in_many_batches_imports_its_whole_lines_on_both_paths(
        self, open_store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
    ) -> None:
        monkeypatch.setattr(importer, "BATCH", 3)
        records = sample_records(XUANWU)
        text = "".join(_text(r) + "\n" for r in [*records[:4], "{not json", *records[4:]])
        whole = gzip.compress(text.encode("utf-8"))
        path = tmp_path / "county.jsonl.gz"
        path.write_bytes(whole[: len(whole) * 2 // 3])
        store = open_store("320102")
        batches: list[int] = []
        report = import_file(store, path, parallel=parallel, progress=batches.append)
        read_lines = report.lines
        assert 12 < read_lines < len(records) + 1
        assert sum(batches) == read_lines
        assert set(batches[:-1]) == {3}
        assert report.stopped == (
            f"{path}: reading stopped after line {read_lines}: the compressed data ends early: "
            "the file is truncated"
        )
        assert [(n, f) for n, f, _ in report.rejected] == [(5, "")]
        assert (report.created, report.updated, report.unchanged) == (read_lines - 1, 0, 0)
        assert store.count() == read_lines - 11  # less the bad line and the 10 departments


def sample_records_items() -> list[Item]:
    return [r for r in sample_records(XUANWU) if isinstance(r, Item)]


def _json(record: Any) -> dict[str, Any]:
    from services.catalog.records import to_json

    return to_json(record)


TRICKY = Material('申请书"副本"\\ \u2028\t😀', False)
"""A material whose name json.dumps escapes in every way it does: quotes, a backslash, a
line separator, a control character (and an astral-plane character it keeps)."""


def _text(record: Any) -> str:
    """A JSON line: `record`'s, or `record` itself when it is text."""
    return record if isinstance(record, str) else json.dumps(_json(record), ensure_ascii=False)


def _guide(item: Item) -> Guide:
    return Guide(
        item.implementation_code,
        acceptance_conditions=f"{item.name}：申请人为本区居民",
        materials=(GuideMaterial('申请表"一式两份"\\', copies=2),),
        collaborating_departments=(item.department_code,),
    )


def _item_digest_before(item: Item, materials: str, fees: str) -> str:
    """An item's digest as the store computed it before rows.py (977143d)."""
    fields = (
        item.basic_code,
        item.name,
        item.type_code,
        item.legal_basis,
        item.kind,
        item.level,
        item.division,
        item.department_code,
        item.department_name,
        item.status,
        item.case_kind,
        item.legal_limit_days,
        item.promised_limit_days,
        item.address,
        materials,
        fees,
    )
    text = "\x1f".join(str(value) for value in fields)
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


class TestSqliteCatalog(CatalogSuite):
    @pytest.fixture
    def url_for(self, tmp_path: Path) -> Any:
        counter = iter(range(100))
        return lambda code: f"sqlite:///{tmp_path}/catalog-{code}-{next(counter)}.db"

    def test_every_new_item_is_in_the_search_index_once(self, tmp_path: Path) -> None:
        """New items are indexed by the statement after their insert. A store made when a
        trigger did that loses the trigger on opening, so no item is indexed twice."""
        url = f"sqlite:///{tmp_path}/older.db"

        def open_() -> CatalogStore:
            db = Database(url, service="catalog", division="320102", registry=default_registry())
            return CatalogStore(db)

        older = open_()
        with older.db.transaction() as tx:  # as stores made before had it
            tx.conn.exec_driver_sql(
                "CREATE TRIGGER item_search_insert AFTER INSERT ON items BEGIN "
                "INSERT INTO item_search(rowid, search) VALUES (new.id, new.search); END"
            )
        older.db.dispose()
        store = open_()
        import_lines(store, lines(sample_records(XUANWU)))
        with store.db.read() as conn:
            triggers = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
            ).scalars()
            assert list(triggers) == ["item_search_delete", "item_search_update"]
            indexed = conn.exec_driver_sql("SELECT count(*) FROM item_search").scalar()
            assert indexed == conn.exec_driver_sql("SELECT count(*) FROM items").scalar() == 10
        with store.db.transaction() as tx:  # FTS5 compares its index with the items' text
            tx.conn.exec_driver_sql(
                "INSERT INTO item_search(item_search, rank) VALUES ('integrity-check', 1)"
            )
        for item in sample_records_items():
            found, _ = store.search(domain.parse_query(item.name, division=item.division))
            assert item.implementation_code in [i.implementation_code for i in found]
            assert len(found) == len({i.implementation_code for i in found}), item.name


@pytest.mark.postgres
class TestPostgresCatalog(CatalogSuite):
    @pytest.fixture
    def url_for(self, postgres_admin: str, request: pytest.FixtureRequest) -> Iterator[Any]:
        from contextlib import ExitStack

        from tests.support.infra import fresh_database

        with ExitStack() as stack:
            yield lambda code: stack.enter_context(fresh_database(postgres_admin, f"cat{code}"))


def test_an_import_whose_reading_process_dies_ends_with_an_error_not_a_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importer, "BATCH", 1)  # the reader fills the queue and waits on it
    batches = importer._prepared_in_background(("generate", "small", 1), "320000")
    first = next(batches)
    assert [line.number for line in first] == [1]
    [reader] = multiprocessing.active_children()
    os.kill(reader.pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match=r"ended \(exit code -9\) before the end"):
        for _ in batches:
            pass
