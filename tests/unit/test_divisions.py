"""The division list (services/platform/data/divisions.csv) and node identity lookups."""

from __future__ import annotations

from collections import Counter

import pytest

from services.contract.identifiers import IdentifierError, check_division_code
from services.platform.node import Division, UnknownDivision, children, division, divisions

ALL = list(divisions().values())


def test_the_file_holds_the_110_jiangsu_divisions_of_2017() -> None:
    assert len(ALL) == 110
    assert Counter(d.level for d in ALL) == {"province": 1, "city": 13, "county": 96}


def test_codes_are_unique() -> None:
    assert len({d.code for d in ALL}) == len(ALL)


@pytest.mark.parametrize("entry", ALL, ids=lambda d: d.code)
def test_every_code_is_a_valid_division_code_whose_level_and_parent_agree_with_the_file(
    entry: Division,
) -> None:
    derived = check_division_code(entry.code)

    assert (entry.level, entry.parent) == (derived.level, derived.parent)


@pytest.mark.parametrize("entry", ALL, ids=lambda d: d.code)
def test_every_division_has_a_chinese_and_an_english_name(entry: Division) -> None:
    assert entry.name.strip()
    assert entry.name_en.strip()
    assert entry.name[-1] in "省市区县"


def test_every_parent_is_in_the_file() -> None:
    missing = {
        d.code: d.parent for d in ALL if d.parent is not None and d.parent not in divisions()
    }

    assert missing == {}


def test_the_province_is_jiangsu_with_no_parent() -> None:
    province = division("320000")

    assert province == Division("320000", "江苏省", "Jiangsu", "province", None)
    assert str(province) == "320000 江苏省 (Jiangsu, province)"


def test_every_city_belongs_to_the_province() -> None:
    assert [d.code for d in children("320000")] == [d.code for d in ALL if d.level == "city"]


def test_320102_is_xuanwu_district_of_nanjing() -> None:
    xuanwu = division("320102")

    assert xuanwu.name == "玄武区"
    assert xuanwu.name_en == "Xuanwu District"
    assert xuanwu.level == "county"
    assert xuanwu.parent == "320100"
    assert division("320100").name == "南京市"


def test_nanjing_has_eleven_districts() -> None:
    assert [d.name for d in children("320100")] == [
        "玄武区",
        "秦淮区",
        "建邺区",
        "鼓楼区",
        "浦口区",
        "栖霞区",
        "雨花台区",
        "江宁区",
        "六合区",
        "溧水区",
        "高淳区",
    ]


def test_a_malformed_code_is_refused_as_an_identifier_error() -> None:
    with pytest.raises(IdentifierError) as info:
        division("999999")

    assert info.value.reason == "division 999999 is not a GB/T 2260 province prefix (99)"


def test_a_well_formed_code_missing_from_the_file_is_an_unknown_division() -> None:
    with pytest.raises(UnknownDivision) as info:
        division("320199")

    assert str(info.value) == (
        "320199 is a well-formed GB/T 2260 code but not a division in "
        "services/platform/data/divisions.csv (it holds the 110 Jiangsu divisions of 2017)"
    )


def test_a_division_of_another_province_is_unknown() -> None:
    with pytest.raises(UnknownDivision, match=r"^110105 is a well-formed"):
        division("110105")
