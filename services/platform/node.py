"""Node identity: which division this node serves, its level and its parent.

The divisions come from `data/divisions.csv`, a copy of the 2017 Jiangsu GB/T 2260 list
(110 divisions: the province, 13 cities, 96 counties). Level and parent are derived from the
code itself (DOMAIN.md); a test checks the file agrees with the derivation.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from services.contract.identifiers import check_division_code

DIVISIONS_FILE = "services/platform/data/divisions.csv"


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    name_en: str
    level: str  # province | city | county
    parent: str | None

    def __str__(self) -> str:
        return f"{self.code} {self.name} ({self.name_en}, {self.level})"


@cache
def divisions() -> dict[str, Division]:
    """Every known division by code, in file order."""
    text = resources.files("services.platform").joinpath("data/divisions.csv").read_text("utf-8")
    out: dict[str, Division] = {}
    for row in csv.DictReader(text.splitlines()):
        out[row["code"]] = Division(
            code=row["code"],
            name=row["name"],
            name_en=row["name_en"],
            level=row["level"],
            parent=row["parent"] or None,
        )
    return out


class UnknownDivision(ValueError):
    pass


def division(code: str) -> Division:
    """The division for `code`, or `UnknownDivision` with a reason a person can act on."""
    parsed = check_division_code(code)  # IdentifierError (a ValueError) for a malformed code
    found = divisions().get(parsed.code)
    if found is None:
        raise UnknownDivision(
            f"{code} is a well-formed GB/T 2260 code but not a division in {DIVISIONS_FILE} "
            f"(it holds the {len(divisions())} Jiangsu divisions of 2017)"
        )
    return found


def children(code: str) -> list[Division]:
    return [d for d in divisions().values() if d.parent == code]
