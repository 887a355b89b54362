"""A small built-in catalog of real-looking items, so that a fresh node can take cases.

The items and legal bases are real Jiangsu-style licensing and public-service items; the
codes are synthetic but valid (check characters right). Every node gets the same basic codes
(三级四同), implemented by its own departments: 江苏省市场监督管理局 at the province,
玄武区市场监督管理局 in Xuanwu District. For bigger catalogs see `generator.py`.
"""

from __future__ import annotations

import hashlib

from services.catalog.domain import Department, Item, Material
from services.catalog.records import Record
from services.contract.identifiers import org_check_char, uscc_check_char
from services.platform.node import Division, divisions

# key: (provincial name, local name suffix)
_DEPARTMENTS = {
    "market": ("江苏省市场监督管理局", "市场监督管理局"),
    "transport": ("江苏省交通运输厅", "交通运输局"),
    "housing": ("江苏省住房和城乡建设厅", "住房和城乡建设局"),
    "civil": ("江苏省民政厅", "民政局"),
    "hrss": ("江苏省人力资源和社会保障厅", "人力资源和社会保障局"),
}

# (department key, basic code, name, legal basis, case kind, legal days, promised days,
#  materials as (name, required))
_ITEMS = (
    (
        "market",
        "011230010000",
        "食品经营许可",
        "《中华人民共和国食品安全法》第三十五条",
        "promised",
        20,
        10,
        (
            ("食品经营许可申请书", True),
            ("营业执照复印件", True),
            ("与食品经营相适应的主要设备设施布局、操作流程等文件", True),
            ("食品安全管理制度文本", False),
        ),
    ),
    (
        "transport",
        "010610020000",
        "道路旅客运输经营许可",
        "《中华人民共和国道路运输条例》第十条",
        "promised",
        20,
        15,
        (
            ("道路旅客运输经营申请表", True),
            ("企业章程文本", True),
            ("拟投入车辆承诺书", True),
        ),
    ),
    (
        "housing",
        "011080030000",
        "建筑业企业资质核准",
        "《中华人民共和国建筑法》第十三条",
        "promised",
        20,
        15,
        (
            ("建筑业企业资质申请表", True),
            ("企业法人营业执照副本", True),
            ("主要人员证明材料", True),
        ),
    ),
    (
        "civil",
        "010290010000",
        "社会团体成立登记",
        "《社会团体登记管理条例》第九条",
        "promised",
        60,
        20,
        (
            ("登记申请书", True),
            ("业务主管单位的批准文件", True),
            ("验资报告、场所使用权证明", True),
            ("章程草案", True),
        ),
    ),
    (
        "hrss",
        "200410020000",
        "失业保险金申领",
        "《失业保险条例》第十四条、第十六条",
        "immediate",
        0,
        0,
        (("失业保险金申领登记表", True),),
    ),
)


def department_code(division: Division, key: str) -> str:
    """A valid, stable USCC for a government department (registration authority 1, category
    1 = 机关) of `division`."""
    digest = hashlib.sha256(f"{division.code}/{key}".encode()).digest()
    body = f"{int.from_bytes(digest[:8], 'big') % 10**8:08d}"
    org = body + org_check_char(body)
    first17 = f"11{division.code}{org}"
    return first17 + uscc_check_char(first17)


def department(division: Division, key: str) -> Department:
    provincial, suffix = _DEPARTMENTS[key]
    name = provincial if division.level == "province" else f"{division.name}{suffix}"
    return Department(code=department_code(division, key), name=name, division=division.code)


def sample_items(division: Division) -> list[Item]:
    """The sample items as implemented at `division`."""
    out = []
    for key, basic, name, basis, kind, legal, promised, materials in _ITEMS:
        dept = department(division, key)
        out.append(
            Item(
                implementation_code=f"{dept.code}{basic}001",
                basic_code=basic,
                name=name,
                type_code=basic[:2],
                legal_basis=basis,
                level=division.level,
                division=division.code,
                department_code=dept.code,
                department_name=dept.name,
                case_kind=kind,
                legal_limit_days=legal,
                promised_limit_days=promised,
                address=f"{division.name}政务服务中心",
                materials=tuple(Material(n, r) for n, r in materials),
            )
        )
    return out


def sample_records(division: Division) -> list[Record]:
    """What `GOVNET_SEED=sample` imports at `division`: the provincial items (which carry
    the standards) and, below the province, this division's implementations of them."""
    province = divisions()[division.code[:2] + "0000"]
    levels = [province] if division.level == "province" else [province, division]
    records: list[Record] = []
    for place in levels:
        records.extend(department(place, key) for key in _DEPARTMENTS)
    for place in levels:
        records.extend(sample_items(place))
    return records
