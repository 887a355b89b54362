"""Errors raised when something breaks the event contract.

A `ContractError` is permanent: the same bytes will fail the same way however often they are
retried, so consumers reject them (to `govnet.rejected`) instead of requeueing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Rejection codes, also the value of the `x-govnet-reject-code` header.
MALFORMED = "malformed"  # not UTF-8 JSON, or not a JSON object
MISSING_ATTRIBUTE = "missing_attribute"
INVALID_ATTRIBUTE = "invalid_attribute"
UNKNOWN_TYPE = "unknown_type"
UNSUPPORTED_VERSION = "unsupported_version"
INVALID_DATA = "invalid_data"
FORBIDDEN = "forbidden"  # a valid event that this entry point does not accept


@dataclass(frozen=True)
class FieldViolation:
    """One problem with one field. `field` is a dotted path (`data.applicant.id_number`)."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason


class ContractError(Exception):
    """An event, or an event payload, that does not satisfy the contract."""

    def __init__(self, code: str, violations: Iterable[FieldViolation]) -> None:
        self.code = code
        self.violations = tuple(violations)
        super().__init__("; ".join(str(v) for v in self.violations))

    @classmethod
    def single(cls, code: str, field: str, reason: str) -> ContractError:
        return cls(code, [FieldViolation(field, reason)])

    @property
    def field(self) -> str:
        """The first offending field, for headers that hold one value."""
        return self.violations[0].field if self.violations else ""

    @property
    def reason(self) -> str:
        return str(self)


def flatten_messages(messages: Any, prefix: str = "") -> list[FieldViolation]:
    """Turn marshmallow's nested error dict into dotted-path violations, in a stable order.

    `{"applicant": {"id_number": ["bad"]}, "materials": {0: {"name": ["missing"]}}}` becomes
    `applicant.id_number: bad`, `materials.0.name: missing`.
    """
    out: list[FieldViolation] = []
    if isinstance(messages, Mapping):
        for key in sorted(messages, key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                name = prefix
            out.extend(flatten_messages(messages[key], name))
    elif isinstance(messages, list | tuple):
        for item in messages:
            if isinstance(item, Mapping | list | tuple):
                out.extend(flatten_messages(item, prefix))
            else:
                out.append(FieldViolation(prefix, _reason(str(item))))
    else:
        out.append(FieldViolation(prefix, _reason(str(messages))))
    return out


def _reason(text: str) -> str:
    # marshmallow's messages end with a full stop; the rest of govnet's reasons do not.
    text = text.strip()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text
