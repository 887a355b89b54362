"""JSON Schema of whole events (envelope + payload), for department systems in any language.

`make schemas` writes one file per event type and major version to `schemas/`
(`schemas/application.submitted.v1.json`); a test keeps the committed files equal to what the
registry produces, so the export never drifts from the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.contract.envelope import SPECVERSION
from services.contract.jsonschema import DRAFT_2020_12, schema_to_json_schema
from services.contract.registry import EventSpec, Registry

SCHEMA_ID_BASE = "https://govnet.example/schemas/"


def event_schema(spec: EventSpec) -> dict[str, Any]:
    """The JSON Schema of a whole event of `spec` as it travels on the wire."""
    data = schema_to_json_schema(spec.schema)
    data.pop("$schema", None)
    return {
        "$schema": DRAFT_2020_12,
        "$id": f"{SCHEMA_ID_BASE}{spec.type}.v{spec.major}.json",
        "title": f"{spec.type} v{spec.major}",
        "description": spec.description
        + (" Department systems may publish it to govnet.ingress." if spec.ingress else ""),
        "type": "object",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "dataschema",
            "time",
            "division",
            "sequence",
            "data",
        ],
        "properties": {
            "specversion": {"const": SPECVERSION},
            "id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "description": "Unique per source (a UUID); with source, the de-duplication key.",
            },
            "source": {
                "type": "string",
                "pattern": r"^govnet://[0-9]{6}/([a-z][a-z0-9-]{0,63}|dept/[0-9A-HJ-NPQRTUWXY]{18})$",
                "description": "govnet://<division>/<service>, or govnet://<division>/dept/<USCC> "
                "for a department system.",
            },
            "type": {"const": spec.type},
            "dataschema": {"const": spec.dataschema},
            "time": {
                "type": "string",
                "format": "date-time",
                "description": "RFC 3339 with a time zone; UTC recommended.",
            },
            "subject": {
                "type": "string",
                "minLength": 1,
                "maxLength": 256,
                "description": "What the event is about: a case number, an item code.",
            },
            "division": {
                "type": "string",
                "pattern": "^[0-9]{6}$",
                "description": "GB/T 2260 code of the producing node; equals source's division.",
            },
            "sequence": {
                "type": "integer",
                "minimum": 1,
                "description": "Per source: 1, 2, 3 ... with no gaps, so auditors can prove "
                "nothing is missing.",
            },
            "traceparent": {
                "type": "string",
                "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                "description": "W3C trace context (optional).",
            },
            "datacontenttype": {"const": "application/json"},
            "data": data,
        },
        "additionalProperties": True,
    }


def file_name(spec: EventSpec) -> str:
    return f"{spec.type}.v{spec.major}.json"


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"


def export_all(registry: Registry, directory: Path) -> list[Path]:
    """Write every event schema to `directory`, removing files of types no longer registered."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in registry:
        path = directory / file_name(spec)
        path.write_text(render(event_schema(spec)), encoding="utf-8")
        written.append(path)
    for stale in set(directory.glob("*.json")) - set(written):
        stale.unlink()
    return written
