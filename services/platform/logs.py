"""Structured logging: one JSON object per line (or readable text on a terminal).

Every record carries the process role, the node's division and the current `trace_id`. Log
with `%s` arguments and `extra={}`; never log personal data or whole payloads. As a last
guard, ID and phone numbers in a line (a database error's text, say) are masked.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from services.contract.identifiers import mask_in_text
from services.platform.green import silence_eventlet_deprecation

# Attributes every LogRecord has; anything else came from `extra=` and is logged as a field.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class _Context(logging.Filter):
    def __init__(self, role: str, division: str) -> None:
        super().__init__()
        self.role = role
        self.division = division

    def filter(self, record: logging.LogRecord) -> bool:
        record.role = self.role
        record.division = self.division
        span = trace.get_current_span().get_span_context()
        record.trace_id = format(span.trace_id, "032x") if span.is_valid else None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_in_text(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = mask_in_text(value) if isinstance(value, str) else value
        if record.exc_info:
            out["error"] = mask_in_text(self.formatException(record.exc_info))
        # Each text is masked before encoding: JSON writes a line break as "\n", after which a
        # number would no longer stand alone.
        return mask_in_text(json.dumps(out, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        extras = {
            k: v
            for k, v in record.__dict__.items()
            if k not in _STANDARD
            and k not in ("role", "division", "trace_id")
            and not k.startswith("_")
        }
        tail = " ".join(f"{k}={v}" for k, v in extras.items())
        line = (
            f"{when} {record.levelname:<7} [{getattr(record, 'role', '-')}] {record.getMessage()}"
        )
        if tail:
            line = f"{line}  {tail}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return mask_in_text(line)


def setup_logging(role: str, division: str, level: str = "info", fmt: str = "auto") -> None:
    """Configure the root logger for a process (`role` such as `applications-api`)."""
    silence_eventlet_deprecation()
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if fmt == "text" else JsonFormatter())
    handler.addFilter(_Context(role, division))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Chatty libraries: keep their warnings, drop their chatter.
    for name in ("amqp", "kombu", "nameko", "urllib3", "grpc"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
