"""Golden events: one complete, valid event per registered type, checked three ways.

`tests/golden/<type>.v<major>.json` is what a department system's developer copies to see a
real event. Each one must decode with govnet's own decoder and validate against the JSON
Schema that `schemas/` publishes, and `schemas/` must be what the registry exports now.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from services.contract.envelope import canonical_json, decode, encode
from services.contract.export import event_schema, export_all, file_name
from services.contract.registry import EventSpec
from services.contract.schemas import default_registry

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
SCHEMAS = ROOT / "schemas"

SPECS = list(default_registry())
GOLDEN_FILES = sorted(GOLDEN.glob("*.json"))


def spec_id(spec: EventSpec) -> str:
    return f"{spec.type}.v{spec.major}"


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return loaded


def test_there_are_golden_events() -> None:
    assert GOLDEN_FILES, f"no golden events in {GOLDEN}"


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_every_registered_type_and_major_has_a_golden_event(spec: EventSpec) -> None:
    path = GOLDEN / file_name(spec)

    assert path.is_file(), (
        f"{spec.type} v{spec.major} is registered but has no golden event: add "
        f"tests/golden/{file_name(spec)} with one complete, valid event of that type"
    )


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_every_golden_event_is_of_the_type_and_major_its_file_names(path: Path) -> None:
    raw = load(path)
    registered = {file_name(spec) for spec in SPECS}

    assert path.name in registered, (
        f"tests/golden/{path.name} is not a registered type and major; remove it or register it"
    )
    assert f"{raw['type']}.v{raw['dataschema'].rsplit('/v', 1)[1]}.json" == path.name


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_every_golden_event_decodes_with_the_default_registry(path: Path) -> None:
    raw = load(path)

    event = decode(path.read_bytes(), default_registry())

    assert event.type == raw["type"]
    assert event.dataschema == raw["dataschema"]
    assert event.extensions == {}, "golden events use only the attributes the contract names"
    assert encode(event) == canonical_json(raw)


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_every_golden_event_carries_a_subject_and_its_content_type(path: Path) -> None:
    raw = load(path)

    assert raw["specversion"] == "1.0"
    assert raw["datacontenttype"] == "application/json"
    assert raw["subject"]
    assert raw["sequence"] >= 1


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_every_golden_event_validates_against_the_exported_json_schema(spec: EventSpec) -> None:
    path = GOLDEN / file_name(spec)
    if not path.is_file():
        pytest.fail(f"add tests/golden/{file_name(spec)}")
    schema = event_schema(spec)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    problems = [
        f"{'/'.join(map(str, error.absolute_path)) or '(event)'}: {error.message}"
        for error in validator.iter_errors(load(path))
    ]

    assert problems == []


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_the_json_schema_refuses_a_golden_event_of_another_type(spec: EventSpec) -> None:
    other = next(s for s in SPECS if s.type != spec.type)
    validator = Draft202012Validator(event_schema(spec))

    assert not validator.is_valid(load(GOLDEN / file_name(other)))


def test_the_committed_schemas_are_what_the_registry_exports(tmp_path: Path) -> None:
    export_all(default_registry(), tmp_path)
    expected = {path.name: path.read_text("utf-8") for path in sorted(tmp_path.glob("*.json"))}
    committed = {path.name: path.read_text("utf-8") for path in sorted(SCHEMAS.glob("*.json"))}
    fix = "run `.venv/bin/govnet events schema --out schemas` and commit schemas/"

    assert sorted(committed) == sorted(expected), fix
    for name, text in expected.items():
        assert committed[name] == text, f"schemas/{name} is out of date: {fix}"
