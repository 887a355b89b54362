"""Audit rules. Pure: no I/O, no clock, no nameko/grpc."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.contract.envelope import MAX_SUBJECT_LENGTH, Event, format_time, parse_source
from services.contract.errors import FORBIDDEN, ContractError, FieldViolation
from services.contract.identifiers import IdentifierError, check_division_code
from services.contract.registry import Registry
from services.platform.errors import InvalidArgument


def admit_ingress(event: Event, registry: Registry, node_division: str) -> None:
    """Decide whether a valid event may enter the node through `govnet.ingress`.

    Department systems publish only the types registered for ingress, only under a
    department source (`govnet://<division>/dept/<USCC>`), and only to their own node.
    Raises `ContractError(FORBIDDEN)` naming the attribute otherwise.
    """
    spec = registry.get(event.type, event.major)
    if not spec.ingress:
        allowed = ", ".join(s.type for s in registry if s.ingress)
        raise ContractError.single(
            FORBIDDEN,
            "type",
            f"{event.type} is not accepted from department systems (ingress accepts: {allowed})",
        )
    source = parse_source(event.source)
    if not source.is_department:
        raise ContractError.single(
            FORBIDDEN, "source", "must be govnet://<division>/dept/<USCC> on ingress"
        )
    if source.division != node_division:
        raise ContractError.single(
            FORBIDDEN,
            "division",
            f"is {source.division}, but this is the node of {node_division}; "
            "publish to your own division's node",
        )


_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


@dataclass(frozen=True)
class ReplayFilter:
    """Which entries a replay returns. Every field is optional; all given must match.

    - `division`: a GB/T 2260 code; a province or city code also matches every division
      under it (`320100` is Nanjing and its districts).
    - `type`: an event type, or a prefix ending in `.*` (`application.*`).
    - `time_from` / `time_to`: the producer's event time, from inclusive, to exclusive.
    """

    division: str = ""
    source: str = ""
    type: str = ""
    subject: str = ""
    time_from: datetime | None = None
    time_to: datetime | None = None

    @classmethod
    def parse(
        cls,
        *,
        division: str = "",
        source: str = "",
        type: str = "",
        subject: str = "",
        time_from: datetime | None = None,
        time_to: datetime | None = None,
        names: Mapping[str, str] | None = None,
    ) -> ReplayFilter:
        """Check every field; raise `InvalidArgument` listing each bad one.

        `names`: what the caller calls each field (`{"time_from": "--since"}` for a command
        line), used in the violations' fields and reasons; a field not named there keeps
        its own name (which is also the gRPC request field's).
        """
        called = names or {}

        def name(field: str) -> str:
            return called.get(field, field)

        problems: list[FieldViolation] = []
        if division:
            try:
                check_division_code(division)
            except IdentifierError as exc:
                problems.append(FieldViolation(name("division"), exc.reason))
        if source:
            try:
                parse_source(source)
            except ContractError as exc:
                problems.append(FieldViolation(name("source"), exc.violations[0].reason))
        if type and not _TYPE_RE.match(type.removesuffix(".*")):
            problems.append(
                FieldViolation(name("type"), "must be an event type or a prefix like application.*")
            )
        if len(subject) > MAX_SUBJECT_LENGTH:
            problems.append(
                FieldViolation(name("subject"), f"must be at most {MAX_SUBJECT_LENGTH} characters")
            )
        for field, value in (("time_from", time_from), ("time_to", time_to)):
            if value is not None and value.tzinfo is None:
                problems.append(FieldViolation(name(field), "must carry a time zone"))
        if (
            time_from is not None
            and time_to is not None
            and time_from.tzinfo is not None
            and time_to.tzinfo is not None
            and time_from >= time_to
        ):
            problems.append(
                FieldViolation(name("time_to"), f"must be later than {name('time_from')}")
            )
        if problems:
            raise InvalidArgument(problems)
        return cls(division, source, type, subject, time_from, time_to)

    def division_prefix(self) -> str:
        """What the division codes of matching events start with ('' for any)."""
        if not self.division:
            return ""
        level = check_division_code(self.division).level
        return self.division[: {"province": 2, "city": 4, "county": 6}[level]]

    def conditions(self) -> list[tuple[str, str, Any]]:
        """(column, operator, value) triples for the log table, all to hold."""
        out: list[tuple[str, str, Any]] = []
        prefix = self.division_prefix()
        if len(prefix) == 6:
            out.append(("division", "=", prefix))
        elif prefix:
            out.append(("division", "LIKE", prefix + "%"))
        if self.source:
            out.append(("source", "=", self.source))
        if self.type.endswith(".*"):
            prefix = self.type.removesuffix("*")  # "application."
            out.append(("type", ">=", prefix))
            out.append(("type", "<", prefix[:-1] + "/"))  # "/" follows "." in ASCII
        elif self.type:
            out.append(("type", "=", self.type))
        if self.subject:
            out.append(("subject", "=", self.subject))
        if self.time_from is not None:
            out.append(("time", ">=", format_time(self.time_from)))
        if self.time_to is not None:
            out.append(("time", "<", format_time(self.time_to)))
        return out
