"""marshmallow fields for govnet's identifiers, with their JSON Schema.

Each field validates with the exact rule in `identifiers` and carries a `json_schema` class
attribute so that the JSON Schema export tells other languages the same rule as far as JSON
Schema can (check characters cannot be expressed; the pattern and description can).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from marshmallow import ValidationError, fields

from services.contract import identifiers
from services.contract.identifiers import IdentifierError

CASE_NUMBER_PATTERN = r"^[0-9]{6}-[0-9]{8}-[0-9]{6}$"
MASKED_ID_PATTERN = r"^[0-9A-Z]{4}\*{10}[0-9A-Z]{4}$"
MASKED_PHONE_PATTERN = r"^[0-9]{3}\*+[0-9]{4}$"


class Checked(fields.String):
    """A string checked by one of the identifier functions."""

    json_schema: ClassVar[dict[str, Any]] = {}

    def check(self, text: str) -> object:
        raise NotImplementedError

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            self.check(text)
        except IdentifierError as exc:
            raise ValidationError(exc.reason) from None
        return text


class DivisionCode(Checked):
    json_schema: ClassVar[dict[str, Any]] = {
        "pattern": "^[0-9]{6}$",
        "description": "GB/T 2260 division code: province (2) + prefecture (2) + county (2).",
    }

    def check(self, text: str) -> object:
        return identifiers.check_division_code(text)


class CreditCode(Checked):
    json_schema: ClassVar[dict[str, Any]] = {
        "pattern": "^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$",
        "description": "GB 32100 unified social credit code (18 characters, check character last).",
    }

    def check(self, text: str) -> object:
        return identifiers.check_uscc(text)


class BasicCode(Checked):
    json_schema: ClassVar[dict[str, Any]] = {
        "pattern": "^[0-9]{12}$",
        "description": "Item basic code (基本编码), the same at every level: type (2) + main "
        "item (5) + sub-item (3) + variant (2).",
    }

    def check(self, text: str) -> object:
        return identifiers.check_basic_code(text)


class ImplementationCode(Checked):
    json_schema: ClassVar[dict[str, Any]] = {
        "pattern": "^[0-9A-HJ-NPQRTUWXY]{18}[0-9]{12}[0-9]{1,6}$",
        "description": "Item implementation code (实施编码): implementing body's USCC (18) + "
        "basic code (12) + sequence (1-6 digits).",
    }

    def check(self, text: str) -> object:
        return identifiers.check_implementation_code(text)


class Pattern(fields.String):
    pattern: ClassVar[str]
    message: ClassVar[str]
    json_schema: ClassVar[dict[str, Any]] = {}

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not re.match(type(self).pattern, text):
            raise ValidationError(type(self).message)
        return text


class CaseNumber(Pattern):
    pattern = CASE_NUMBER_PATTERN
    message = "must be a case number: <division>-<YYYYMMDD>-<6-digit sequence>"
    json_schema: ClassVar[dict[str, Any]] = {
        "pattern": CASE_NUMBER_PATTERN,
        "description": "Case number (办件编号): division + date + per-node sequence, immutable.",
    }


class MaskedIdNumber(Pattern):
    """An ID number as it may appear in events: masked unless it is a public USCC."""

    pattern = r"^([0-9A-Z]{4}\*{10}[0-9A-Z]{4}|[0-9A-HJ-NPQRTUWXY]{18})$"
    message = (
        "must be masked (first 4 and last 4 characters kept, e.g. 3201**********123X) "
        "or a unified social credit code"
    )
    json_schema: ClassVar[dict[str, Any]] = {
        "pattern": r"^([0-9A-Z]{4}\*{10}[0-9A-Z]{4}|[0-9A-HJ-NPQRTUWXY]{18})$",
        "description": "A personal ID number masked as 3201**********123X, or a legal "
        "person's unified social credit code (public, not masked).",
    }


class MaskedPhone(Pattern):
    pattern = MASKED_PHONE_PATTERN
    message = "must be masked (first 3 and last 4 digits kept, e.g. 138****1234)"
    json_schema: ClassVar[dict[str, Any]] = {
        "pattern": MASKED_PHONE_PATTERN,
        "description": "A phone number masked as 138****1234.",
    }
