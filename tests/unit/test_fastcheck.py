"""The registry's fast validity check never accepts what marshmallow refuses."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from services.contract.fastcheck import compile_check
from services.contract.schemas import default_registry

GOLDEN = sorted((Path(__file__).resolve().parents[1] / "golden").glob("*.json"))
ODD_VALUES: list[Any] = [
    None,
    "",
    " ",
    "x" * 300,
    "not-a-date",
    "3201**********1234",
    0,
    -1,
    3.5,
    10**12,
    True,
    False,
    [],
    {},
    [1],
    {"a": 1},
    "2026-11-27T09:30:00",
    "2026-11-27T09:30:00+08:00",
    "1",
    "11320102767342276U",
    "011230010000",
    "natural",
    "legal",
    "inbox",
    "published",
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found.extend(paths(inner, (*prefix, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.extend(paths(inner, (*prefix, index)))
    return found


def mutate(data: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for _ in range(rnd.choice((1, 1, 2))):
        target = rnd.choice(paths(out))
        parent = out
        for step in target[:-1]:
            parent = parent[step]
        last = target[-1]
        if isinstance(parent, dict) and rnd.random() < 0.3:
            parent.pop(last, None)
        elif isinstance(parent, list) and rnd.random() < 0.3:
            parent.pop(last)
        else:
            parent[last] = copy.deepcopy(rnd.choice(ODD_VALUES))
    return out


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_the_fast_check_accepts_the_golden_payload(path: Path) -> None:
    event = json.loads(path.read_text(encoding="utf-8"))
    registry = default_registry()
    assert registry._checks[(event["type"], 1)](event["data"])


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_the_fast_check_never_accepts_what_marshmallow_refuses(path: Path) -> None:
    event = json.loads(path.read_text(encoding="utf-8"))
    schema = default_registry()._schemas[(event["type"], 1)]
    check = compile_check(schema)
    rnd = random.Random(f"fastcheck/{path.stem}")
    accepted = refused = 0
    for _ in range(1500):
        mutated = mutate(event["data"], rnd)
        if check(mutated):
            accepted += 1
            assert schema.validate(mutated) == {}, json.dumps(mutated, ensure_ascii=False)
        else:
            refused += 1
    assert refused > 0, "the mutations must break something"


def test_a_non_mapping_payload_is_not_valid() -> None:
    schema = default_registry()._schemas[("item.published", 1)]
    assert compile_check(schema)([]) is False
