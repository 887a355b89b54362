"""Build contract events the way a department system would: plain dicts, then JSON."""

from __future__ import annotations

import json
import uuid
from typing import Any

from services.contract.identifiers import org_check_char, uscc_check_char


def department_uscc(division: str = "320000", body: str = "01400001") -> str:
    org = body + org_check_char(body)
    first17 = f"11{division}{org}"
    return first17 + uscc_check_char(first17)


def evaluation(
    *,
    division: str = "320000",
    sequence: int = 1,
    level: str = "very_satisfied",
    event_id: str | None = None,
    department: str | None = None,
) -> dict[str, Any]:
    dept = department or department_uscc(division)
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": f"govnet://{division}/dept/{dept}",
        "type": "evaluation.submitted",
        "dataschema": "govnet:evaluation.submitted/v1",
        "time": "2026-11-26T09:15:00+08:00",
        "subject": f"{division}-20261126-000001",
        "division": division,
        "sequence": sequence,
        "data": {
            "case_number": f"{division}-20261126-000001",
            "department": dept,
            "level": level,
            "channel": "window",
            "comment": "窗口工作人员很耐心",
            "evaluated_at": "2026-11-26T09:14:30+08:00",
        },
    }


def to_bytes(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()
