"""The synthetic catalog generator (services/catalog/generator.py): the seed article's
figures, valid records, 三级四同 between the province and a local catalog, determinism and
the file round trip."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

import pytest

from services.catalog import records
from services.catalog.domain import (
    Department,
    Guide,
    Item,
    Standard,
    deviations,
    guide_violations,
    item_violations,
)
from services.catalog.generator import (
    CONVENIENCE_ITEMS,
    SCALES,
    chinese_number,
    expected_counts,
    generate,
)
from services.contract.identifiers import ITEM_TYPES, check_uscc
from services.platform.node import divisions

SEED = 2017
ROOT = Path(__file__).resolve().parents[2]
CITY = "320100"  # 南京市
COUNTY = "320102"  # 玄武区
RURAL_COUNTY = "320923"  # 阜宁县

Records = list[records.Record]


def departments_of(rs: Iterable[records.Record]) -> list[Department]:
    return [r for r in rs if isinstance(r, Department)]


def items_of(rs: Iterable[records.Record], kind: str | None = None) -> list[Item]:
    return [r for r in rs if isinstance(r, Item) and (kind is None or r.kind == kind)]


def guides_of(rs: Iterable[records.Record]) -> list[Guide]:
    return [r for r in rs if isinstance(r, Guide)]


def kinds(rs: Iterable[records.Record]) -> dict[str, int]:
    counted = Counter(type(r).__name__.lower() for r in rs)
    return {"department": counted["department"], "item": counted["item"], "guide": counted["guide"]}


def digest(rs: Iterable[records.Record]) -> str:
    sha = hashlib.sha256()
    for r in rs:
        sha.update(json.dumps(records.to_json(r), ensure_ascii=False).encode())
    return sha.hexdigest()


@pytest.fixture(scope="module")
def province() -> Records:
    return list(generate("province", SEED))


@pytest.fixture(scope="module")
def small() -> Records:
    return list(generate("small", SEED))


@pytest.fixture(scope="module")
def local_county() -> Records:
    return list(generate("local", SEED, division=COUNTY))


@pytest.fixture(scope="module")
def standards(province: Records) -> dict[str, Item]:
    return {i.basic_code: i for i in items_of(province, "power")}


# -- the seed article's figures ----------------------------------------------------------


def test_the_province_has_49_provincial_and_14_vertically_managed_departments(
    province: Records,
) -> None:
    provincial = [d for d in departments_of(province) if d.division == "320000"]
    assert Counter(d.vertical for d in provincial) == {False: 49, True: 14}
    assert len({d.name for d in provincial}) == 63
    assert {"江苏省公安厅", "江苏省市场监督管理局", "国家税务总局江苏省税务局", "南京海关"} <= {
        d.name for d in provincial
    }


def test_provincial_departments_hold_8234_power_items_and_vertical_ones_696(
    province: Records,
) -> None:
    vertical = {d.code: d.vertical for d in departments_of(province)}
    power = items_of(province, "power")
    assert Counter(vertical[i.department_code] for i in power) == {False: 8_234, True: 696}
    assert {(i.level, i.division) for i in power} == {("province", "320000")}


def test_every_provincial_department_holds_at_least_one_item_and_a_few_hold_many(
    province: Records,
) -> None:
    per = Counter(i.department_name for i in items_of(province, "power"))
    assert len(per) == 63
    assert min(per.values()) >= 1
    biggest = [name for name, _ in per.most_common(5)]
    assert "江苏省市场监督管理局" in biggest
    assert per.most_common(1)[0][1] > 30 * min(per.values())


def test_the_province_has_7611_guides(province: Records) -> None:
    assert len(guides_of(province)) == 7_611


def test_there_are_140000_convenience_items_in_all_110_divisions(province: Records) -> None:
    convenience = items_of(province, "convenience")
    assert abs(len(convenience) - 140_000) <= 1_400
    per_division = Counter(i.division for i in convenience)
    assert set(per_division) == set(divisions())
    assert 100 <= per_division["320000"] <= 1_000
    county_total = sum(n for c, n in per_division.items() if divisions()[c].level == "county")
    assert county_total > CONVENIENCE_ITEMS / 2


def test_city_and_county_convenience_counts_vary_around_their_level_mean(
    province: Records,
) -> None:
    per_division = Counter(i.division for i in items_of(province, "convenience"))
    for level in ("city", "county"):
        counts = [n for c, n in per_division.items() if divisions()[c].level == level]
        mean = sum(counts) / len(counts)
        assert all(0.75 * mean <= n <= 1.25 * mean for n in counts), level
        assert len(set(counts)) > len(counts) // 2, level


def test_the_province_scale_yields_exactly_the_expected_counts(province: Records) -> None:
    assert kinds(province) == expected_counts("province")


def test_the_small_scale_yields_exactly_the_expected_counts(small: Records) -> None:
    counts = expected_counts("small")
    assert kinds(small) == counts
    vertical = {d.code: d.vertical for d in departments_of(small)}
    power = items_of(small, "power")
    assert Counter(vertical[i.department_code] for i in power) == {False: 82, True: 7}
    assert len(guides_of(small)) == 76
    assert len(items_of(small, "convenience")) == 1_400
    assert {i.division for i in items_of(small, "convenience")} >= {"320000", "320100", "320102"}


@pytest.mark.parametrize("code", [CITY, COUNTY, RURAL_COUNTY])
def test_a_local_scale_yields_exactly_the_expected_counts(code: str) -> None:
    out = list(generate("local", SEED, division=code))
    counts = expected_counts("local", code)
    assert kinds(out) == {k: v for k, v in counts.items() if k != "deviations"}


def test_expected_counts_do_not_depend_on_the_seed() -> None:
    assert kinds(generate("small", 1)) == expected_counts("small")
    assert kinds(generate("local", 99, division=COUNTY)) == {
        k: v for k, v in expected_counts("local", COUNTY).items() if k != "deviations"
    }


# -- valid records ----------------------------------------------------------------------


def test_every_small_scale_item_and_guide_passes_validation(small: Records) -> None:
    problems = [(i.implementation_code, item_violations(i)) for i in items_of(small)]
    problems += [(g.implementation_code, guide_violations(g)) for g in guides_of(small)]
    assert [p for p in problems if p[1]] == []


def test_a_sample_of_province_items_and_guides_passes_validation(province: Records) -> None:
    sample = province[::37]
    assert len(sample) >= 2_000
    problems = [(i.implementation_code, item_violations(i)) for i in items_of(sample)]
    problems += [(g.implementation_code, guide_violations(g)) for g in guides_of(sample)]
    assert [p for p in problems if p[1]] == []


def test_every_local_item_and_guide_passes_validation(local_county: Records) -> None:
    problems = [(i.implementation_code, item_violations(i)) for i in items_of(local_county)]
    problems += [(g.implementation_code, guide_violations(g)) for g in guides_of(local_county)]
    assert [p for p in problems if p[1]] == []


def test_department_codes_are_valid_and_unique_and_name_their_division(
    province: Records,
) -> None:
    found = departments_of(province)
    assert len({d.code for d in found}) == len(found)
    for d in found:
        code = check_uscc(d.code)  # strict: the embedded organisation code is checked too
        assert code.division == d.division
        assert code.registration_authority == "1"


def test_every_city_and_county_has_15_to_25_departments_named_after_it(
    province: Records,
) -> None:
    per_division: dict[str, list[Department]] = defaultdict(list)
    for d in departments_of(province):
        per_division[d.division].append(d)
    assert set(per_division) == set(divisions())
    for code, found in per_division.items():
        if code == "320000":
            continue
        assert 15 <= len(found) <= 25, code
        assert all(d.name.startswith(divisions()[code].name) for d in found), code
        assert not any(d.vertical for d in found)
    names = {d.name for d in per_division["320102"]}
    assert {"玄武区公安局", "玄武区市场监督管理局"} <= names


def test_implementation_codes_are_unique(province: Records) -> None:
    codes = [i.implementation_code for i in items_of(province)]
    assert len(set(codes)) == len(codes)


def test_implementation_codes_are_the_department_code_the_basic_code_and_001(
    province: Records,
) -> None:
    for i in items_of(province)[::50]:
        assert i.implementation_code == f"{i.department_code}{i.basic_code}001"


def test_basic_codes_of_provincial_power_items_are_unique(province: Records) -> None:
    codes = [i.basic_code for i in items_of(province, "power")]
    assert len(set(codes)) == len(codes)
    assert all(c[:2] in ITEM_TYPES and c.endswith("00") and len(c) == 12 for c in codes)


def test_item_names_are_unique_within_each_provincial_department(province: Records) -> None:
    names = [(i.department_code, i.name) for i in items_of(province, "power")]
    assert len(set(names)) == len(names)


def test_licensing_is_the_most_common_type_then_penalties(province: Records) -> None:
    types = Counter(i.type_code for i in items_of(province, "power"))
    ranked = [t for t, _ in types.most_common()]
    assert ranked[:2] == ["01", "02"]
    assert set(types) == set(ITEM_TYPES)


def test_about_15_percent_of_power_items_are_immediate_cases(province: Records) -> None:
    power = items_of(province, "power")
    immediate = [i for i in power if i.case_kind == "immediate"]
    assert 0.10 <= len(immediate) / len(power) <= 0.20
    assert all(i.legal_limit_days == i.promised_limit_days == 0 for i in immediate)
    promised = [i for i in power if i.case_kind == "promised"]
    assert all(1 <= i.promised_limit_days <= i.legal_limit_days for i in promised)
    licensing = [i for i in promised if i.type_code == "01"]
    assert Counter(i.legal_limit_days for i in licensing).most_common(1)[0][0] == 20


def test_power_items_cite_a_law_by_article_in_chinese_numerals(province: Records) -> None:
    for i in items_of(province, "power")[::25]:
        assert i.legal_basis.startswith("《")
        assert "》第" in i.legal_basis
        assert i.legal_basis.rstrip("款").endswith("条") or "款" in i.legal_basis
        assert not any(c.isdigit() for c in i.legal_basis)


def test_power_items_have_one_to_six_materials_and_a_nanjing_address(
    province: Records,
) -> None:
    for i in items_of(province, "power"):
        assert 1 <= len(i.materials) <= 6
        assert i.address.startswith("南京市")


def test_convenience_items_are_public_services_of_the_local_departments(
    province: Records,
) -> None:
    owner = {d.code: d for d in departments_of(province)}
    for i in items_of(province, "convenience"):
        assert i.type_code == "20"
        department = owner[i.department_code]
        assert department.division == i.division
        assert not department.vertical
        assert i.level == divisions()[i.division].level
        assert i.promised_limit_days <= 5


def test_a_convenience_service_has_the_same_basic_code_in_every_division(
    province: Records,
) -> None:
    codes: dict[str, set[str]] = defaultdict(set)
    places: dict[str, set[str]] = defaultdict(set)
    for i in items_of(province, "convenience"):
        codes[i.name].add(i.basic_code)
        places[i.name].add(i.division)
    assert all(len(c) == 1 for c in codes.values())
    assert len({next(iter(c)) for c in codes.values()}) == len(codes)
    assert len(places["社保卡补办"]) > 50
    assert {"居住证办理", "住房公积金提取", "新生儿落户", "医保关系转移接续"} <= set(codes)
    power = {i.basic_code for i in items_of(province, "power")}
    assert not power & {next(iter(c)) for c in codes.values()}


def test_guides_follow_their_items(province: Records) -> None:
    items = {i.implementation_code: i for i in items_of(province, "power")}
    for g in guides_of(province):
        item = items[g.implementation_code]
        assert sum(step.limit_days for step in g.process) <= item.promised_limit_days
        assert 3 <= len(g.process) <= 6
        assert [m.name for m in g.materials] == [m.name for m in item.materials]
        assert [m.required for m in g.materials] == [m.required for m in item.materials]
        assert [f.standard for f in g.fees] == [f.standard for f in item.fees]
        assert g.online_url.startswith("https://www.jszwfw.gov.cn/")
        assert g.consultation_phone.startswith("025-")
        assert g.result_type in ("证照", "批文", "其他")
        assert g.result_name
        assert len(g.qa) <= 3
        assert g.acceptance_conditions
        assert g.office_hours


def test_about_one_guide_in_ten_names_collaborating_provincial_departments(
    province: Records,
) -> None:
    provincial = {d.code for d in departments_of(province) if d.division == "320000"}
    guides = guides_of(province)
    joint = [g for g in guides if g.collaborating_departments]
    assert 0.06 <= len(joint) / len(guides) <= 0.14
    assert all(set(g.collaborating_departments) <= provincial for g in joint)


# -- order and determinism ---------------------------------------------------------------


@pytest.mark.parametrize("scale", ["province", "small", "local"])
def test_departments_come_first_then_items_then_guides_each_after_its_item(
    scale: str, province: Records, small: Records, local_county: Records
) -> None:
    out = {"province": province, "small": small, "local": local_county}[scale]
    rank = {Department: 0, Item: 1, Guide: 2}
    order = [rank[type(r)] for r in out]
    assert order == sorted(order)
    seen: set[str] = set()
    for r in out:
        if isinstance(r, Item):
            seen.add(r.implementation_code)
        elif isinstance(r, Guide):
            assert r.implementation_code in seen


def test_the_same_arguments_give_the_same_records(small: Records) -> None:
    assert list(generate("small", SEED)) == small
    assert list(generate("local", SEED, division=COUNTY)) == list(
        generate("local", SEED, division=COUNTY)
    )


def test_another_seed_gives_other_records(small: Records) -> None:
    other = list(generate("small", SEED + 1))
    assert kinds(other) == kinds(small)
    assert other != small
    assert {d.code for d in departments_of(other)}.isdisjoint(d.code for d in departments_of(small))


def test_the_records_do_not_depend_on_the_process_or_its_hash_seed(small: Records) -> None:
    program = (
        "import hashlib, json\n"
        "from services.catalog import records\n"
        "from services.catalog.generator import generate\n"
        "sha = hashlib.sha256()\n"
        f"for r in generate('small', {SEED}):\n"
        "    sha.update(json.dumps(records.to_json(r), ensure_ascii=False).encode())\n"
        "print(sha.hexdigest())\n"
    )
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", program],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip() == digest(small)


# -- the local scale (三级四同) ------------------------------------------------------------


def test_a_local_catalog_implements_only_provincial_standards_of_the_same_seed(
    local_county: Records, standards: dict[str, Item]
) -> None:
    power = items_of(local_county, "power")
    assert 540 <= len(power) <= 660
    assert all(i.basic_code in standards for i in power)
    for i in power:
        std = standards[i.basic_code]
        assert (i.level, i.division) == ("county", COUNTY)
        assert i.type_code == std.type_code
        assert i.case_kind == std.case_kind
        assert i.legal_limit_days == std.legal_limit_days
        assert i.promised_limit_days <= std.promised_limit_days
        assert {m.name for m in i.materials} <= {m.name for m in std.materials}


def test_a_local_catalog_deviates_in_exactly_the_expected_number_of_items(
    local_county: Records, standards: dict[str, Item]
) -> None:
    found = []
    for i in items_of(local_county, "power"):
        std = standards[i.basic_code]
        found.append(
            deviations(i, Standard(std.basic_code, std.name, std.type_code, std.legal_basis))
        )
    deviating = [d for d in found if d]
    assert len(deviating) == expected_counts("local", COUNTY)["deviations"]
    assert len(deviating) == round(0.05 * len(found))
    assert all(len(d) == 1 and d[0].field in ("name", "legal_basis") for d in deviating)
    assert {d[0].field for d in deviating} == {"name", "legal_basis"}


def test_without_deviations_a_local_catalog_keeps_every_standard_field(
    standards: dict[str, Item],
) -> None:
    out = list(generate("local", SEED, division=CITY, deviation_rate=0.0))
    assert expected_counts("local", CITY, deviation_rate=0.0)["deviations"] == 0
    for i in items_of(out, "power"):
        std = standards[i.basic_code]
        assert (i.name, i.type_code, i.legal_basis) == (std.name, std.type_code, std.legal_basis)


def test_the_deviation_rate_changes_only_the_deviating_items() -> None:
    plain = list(generate("local", SEED, division=CITY, deviation_rate=0.0))
    deviating = list(generate("local", SEED, division=CITY, deviation_rate=0.2))
    changed = [b for a, b in zip(plain, deviating, strict=True) if a != b]
    changed_items = items_of(changed)
    assert len(changed_items) == expected_counts("local", CITY, deviation_rate=0.2)["deviations"]
    assert all(i.kind == "power" for i in changed_items)
    # a guide quotes its item's name, so only the guides of deviating items change
    assert {g.implementation_code for g in guides_of(changed)} <= {
        i.implementation_code for i in changed_items
    }


def test_a_local_catalog_has_the_province_scales_departments_and_convenience_items(
    local_county: Records, province: Records
) -> None:
    assert departments_of(local_county) == [
        d for d in departments_of(province) if d.division == COUNTY
    ]
    assert items_of(local_county, "convenience") == [
        i for i in items_of(province, "convenience") if i.division == COUNTY
    ]
    own = {d.code for d in departments_of(local_county)}
    assert all(i.department_code in own for i in items_of(local_county))


def test_a_local_catalog_guides_80_percent_of_its_power_items(local_county: Records) -> None:
    power = items_of(local_county, "power")
    guides = guides_of(local_county)
    assert len(guides) == round(0.8 * len(power))
    assert {g.implementation_code for g in guides} <= {i.implementation_code for i in power}
    assert all(g.consultation_phone.startswith("025-") for g in guides)


def test_a_city_implements_about_1000_standards_by_city_departments() -> None:
    out = list(generate("local", SEED, division="320200"))  # 无锡市
    power = items_of(out, "power")
    assert 900 <= len(power) <= 1_100
    assert all(i.level == "city" and i.department_name.startswith("无锡市") for i in power)


# -- arguments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "division", "rate"),
    [
        ("national", None, 0.05),
        ("local", None, 0.05),
        ("local", "320000", 0.05),
        ("local", "110105", 0.05),
        ("local", "32010", 0.05),
        ("province", "320102", 0.05),
        ("local", COUNTY, 1.5),
        ("local", COUNTY, -0.1),
    ],
)
def test_bad_arguments_are_refused_when_called(
    scale: str, division: str | None, rate: float
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - every message names its own problem
        generate(scale, SEED, division=division, deviation_rate=rate)
    with pytest.raises(ValueError):  # noqa: PT011
        expected_counts(scale, division, deviation_rate=rate)


def test_the_scales_are_small_province_and_local() -> None:
    assert SCALES == ("small", "province", "local")


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1, "一"),
        (10, "十"),
        (11, "十一"),
        (20, "二十"),
        (35, "三十五"),
        (100, "一百"),
        (105, "一百零五"),
        (110, "一百一十"),
        (112, "一百一十二"),
        (999, "九百九十九"),
    ],
)
def test_articles_are_numbered_in_chinese(number: int, text: str) -> None:
    assert chinese_number(number) == text


# -- the file format -------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_the_small_scale_survives_a_write_and_read_round_trip(
    small: Records, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"small{suffix}"
    with records.Writer(path) as writer:
        for r in small:
            writer.write(r)
    lines = list(records.read(path))
    assert [line.error for line in lines if line.error] == []
    assert [line.record for line in lines] == small
