"""Catalog search on SQLite (FTS5) and PostgreSQL (tsvector) alike: codes however they are
typed, full-width letters and digits, any part of a Latin word, and paging that neither
skips nor repeats nor takes a page token of another query."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update

from services.catalog import domain
from services.catalog.domain import Item
from services.catalog.importer import import_lines
from services.catalog.records import Line
from services.catalog.sample import sample_records
from services.catalog.store import SEARCH_TEXTS_CURRENT, CatalogStore, items
from services.contract.schemas import default_registry
from services.platform.errors import InvalidArgument
from services.platform.node import division
from services.platform.store import Database

PROVINCE = division("320000")


def codes(store: CatalogStore, text: str = "", **filters: Any) -> list[str]:
    found, _ = store.search(domain.parse_query(text, **filters))
    return [i.implementation_code for i in found]


def paged(store: CatalogStore, text: str, page_size: int, **filters: Any) -> list[str]:
    seen: list[str] = []
    token = ""
    while True:
        query = domain.parse_query(text, page_size=page_size, page_token=token, **filters)
        found, token = store.search(query)
        seen.extend(i.implementation_code for i in found)
        if not token:
            return seen


class SearchSuite:
    """Subclasses provide `url`: a fresh database URL."""

    @pytest.fixture
    def store(self, url: str) -> Iterator[CatalogStore]:
        db = Database(url, service="catalog", division="320000", registry=default_registry())
        records: list[Any] = list(sample_records(PROVINCE))
        first = next(i for i, r in enumerate(records) if isinstance(r, Item))
        records[first] = replace(records[first], name="互联网信息服务（ＩＣＰ）备案５Ｇ")
        store = CatalogStore(db)
        import_lines(store, (Line(n, r) for n, r in enumerate(records, start=1)))
        yield store
        db.dispose()

    def items(self, store: CatalogStore) -> list[Item]:
        return list(store.list())

    def test_a_code_in_lower_case_or_typed_in_groups_finds_its_item(
        self, store: CatalogStore
    ) -> None:
        item = self.items(store)[2]
        code = item.implementation_code
        assert codes(store, code.lower()) == [code]
        assert codes(store, f"{code[:18]} {code[18:]}") == [code]
        assert codes(store, item.basic_code[:6] + " " + item.basic_code[6:]) == [code]

    def test_an_item_is_read_by_its_code_in_lower_case(self, store: CatalogStore) -> None:
        code = self.items(store)[2].implementation_code
        assert store.get(code.lower()).implementation_code == code
        assert store.history(code.lower())[-1].item.implementation_code == code

    def test_full_width_letters_and_digits_match_their_ascii_twins(
        self, store: CatalogStore
    ) -> None:
        code = self.items(store)[0].implementation_code
        for text in ("ICP", "icp", "ＩＣＰ", "（ICP）备案", "备案5G", "５ｇ"):
            assert codes(store, text) == [code], text

    def test_latin_letters_and_digits_match_any_part_of_a_word(self, store: CatalogStore) -> None:
        code = self.items(store)[0].implementation_code  # 互联网信息服务（ＩＣＰ）备案５Ｇ
        for text in ("CP", "cp", "IC", "ｃｐ", "P）备", "CP备案", "案5", "5g", "ICP备案5G"):
            assert codes(store, text) == [code], text
        assert codes(store, "PC") == []
        assert codes(store, "ICPX") == []

    def test_a_page_token_of_another_query_is_refused(self, store: CatalogStore) -> None:
        _, token = store.search(domain.parse_query(status="any", page_size=1))
        assert token
        with pytest.raises(InvalidArgument) as info:
            store.search(domain.parse_query("登记", page_size=1, page_token=token))
        assert [v.field for v in info.value.violations] == ["page_token"]
        assert "belongs to another query" in info.value.violations[0].reason
        # The token goes on working for its own query, whatever the page size.
        found, _ = store.search(domain.parse_query(status="any", page_size=2, page_token=token))
        whole, _ = store.search(domain.parse_query(status="any", page_size=3))
        assert found == whole[1:]

    @pytest.mark.parametrize(
        "indexed",
        [
            "互 联 网 信 息 服 务 备 案",  # the full-width letters and digits left out
            "互 联 网 信 息 服 务 icp 备 案 5g",  # Latin indexed by word
        ],
    )
    def test_a_store_indexed_by_an_earlier_version_is_indexed_again_once(
        self, store: CatalogStore, indexed: str
    ) -> None:
        code = self.items(store)[0].implementation_code
        # What an earlier version stored for 互联网信息服务（ＩＣＰ）备案５Ｇ.
        with store.db.transaction() as tx:
            tx.conn.execute(
                update(items).where(items.c.implementation_code == code).values(search=indexed)
            )
            counters = store.db.counters
            tx.conn.execute(delete(counters).where(counters.c.key == SEARCH_TEXTS_CURRENT))
        assert codes(store, "ICP") == []
        reopened = CatalogStore(store.db)
        assert codes(reopened, "ICP") == [code]
        assert codes(reopened, "CP") == [code]
        assert codes(reopened, "互联网") == [code]
        with store.db.transaction() as tx:  # marked done: a later start looks once, no more
            tx.conn.execute(
                update(items).where(items.c.implementation_code == code).values(search="x")
            )
        assert codes(CatalogStore(store.db), "ICP") == []

    def test_paging_through_a_result_gives_one_big_page(self, store: CatalogStore) -> None:
        for text, filters in [("", {}), ("许可", {}), ("可", {"status": "any"}), ("登记", {})]:
            whole = codes(store, text, page_size=200, **filters)
            assert whole, text
            for size in (1, 2, 3):
                assert paged(store, text, size, **filters) == whole, (text, size)


class TestSqliteSearch(SearchSuite):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/catalog.db"


@pytest.mark.postgres
class TestPostgresSearch(SearchSuite):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url
