"""The schema registry: event `type` + major version → marshmallow schema.

Rules (DESIGN.md, "The event contract"): within a major version changes are additive only;
a breaking change is a new major registered with an upcaster from the previous one, and both
majors are accepted while producers migrate. Consumers validate on receipt and ignore
unknown fields.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema

from services.contract import errors
from services.contract.errors import ContractError, flatten_messages
from services.contract.fastcheck import Check, compile_check

Upcaster = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class EventSpec:
    """One registered (type, major) pair."""

    type: str
    major: int
    schema: builtins.type[Schema]
    description: str
    ingress: bool = False
    """True when department systems may publish this type to `govnet.ingress`."""
    upcaster: Upcaster | None = None
    """Turns a payload of the previous major into this one."""

    @property
    def dataschema(self) -> str:
        return f"govnet:{self.type}/v{self.major}"


class Registry:
    def __init__(self) -> None:
        self._specs: dict[tuple[str, int], EventSpec] = {}
        self._schemas: dict[tuple[str, int], Schema] = {}
        self._checks: dict[tuple[str, int], Check] = {}

    def register(
        self,
        event_type: str,
        major: int,
        schema: type[Schema],
        *,
        description: str,
        ingress: bool = False,
        upcaster: Upcaster | None = None,
    ) -> EventSpec:
        key = (event_type, major)
        if key in self._specs:
            raise ValueError(f"{event_type} v{major} is already registered")
        if major < 1:
            raise ValueError(f"{event_type}: major versions start at 1, got {major}")
        if major > 1 and (event_type, major - 1) not in self._specs:
            raise ValueError(f"register {event_type} v{major - 1} before v{major}")
        if major > 1 and upcaster is None:
            raise ValueError(f"{event_type} v{major} needs an upcaster from v{major - 1}")
        if major == 1 and upcaster is not None:
            raise ValueError(f"{event_type} v1 has nothing to upcast from")
        spec = EventSpec(event_type, major, schema, description, ingress, upcaster)
        self._specs[key] = spec
        self._schemas[key] = schema(unknown=EXCLUDE)
        self._checks[key] = compile_check(self._schemas[key])
        return spec

    def get(self, event_type: str, major: int) -> EventSpec:
        spec = self._specs.get((event_type, major))
        if spec is not None:
            return spec
        known = self.majors(event_type)
        if not known:
            raise ContractError.single(
                errors.UNKNOWN_TYPE, "type", f"{event_type} is not a registered event type"
            )
        versions = ", ".join(f"v{m}" for m in known)
        raise ContractError.single(
            errors.UNSUPPORTED_VERSION,
            "dataschema",
            f"{event_type} v{major} is not supported (supported: {versions})",
        )

    def schema(self, event_type: str, major: int) -> Schema:
        """The payload schema instance of a registered type and major version."""
        self.get(event_type, major)  # the same errors for an unknown one
        return self._schemas[(event_type, major)]

    def latest(self, event_type: str) -> EventSpec:
        majors = self.majors(event_type)
        if not majors:
            raise ContractError.single(
                errors.UNKNOWN_TYPE, "type", f"{event_type} is not a registered event type"
            )
        return self._specs[(event_type, majors[-1])]

    def majors(self, event_type: str) -> list[int]:
        return sorted(m for (t, m) in self._specs if t == event_type)

    def types(self) -> list[str]:
        return sorted({t for (t, _) in self._specs})

    def __iter__(self) -> Iterator[EventSpec]:
        for key in sorted(self._specs):
            yield self._specs[key]

    def validate(
        self, event_type: str, major: int, data: Mapping[str, Any], *, prefix: str = ""
    ) -> None:
        """Raise `ContractError(INVALID_DATA)` listing every violation of the payload schema."""
        self.get(event_type, major)
        if self._checks[(event_type, major)](data):
            return  # the fast path: marshmallow would find nothing (see fastcheck)
        messages = self._schemas[(event_type, major)].validate(dict(data))
        if messages:
            violations = flatten_messages(messages, prefix)
            raise ContractError(errors.INVALID_DATA, violations)

    def upcast(self, event_type: str, major: int, data: Mapping[str, Any]) -> dict[str, Any]:
        """Bring a valid payload of `major` up to the latest major of its type."""
        current = dict(data)
        for step in range(major + 1, self.latest(event_type).major + 1):
            spec = self.get(event_type, step)
            assert spec.upcaster is not None  # enforced by register()
            current = spec.upcaster(current)
        return current
