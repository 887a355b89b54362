"""Domain errors, shared by every service.

Domain code raises these; the edges map them in one place each: to a gRPC status in
`platform.grpc_server`, to a rejection in `platform.consumer`. A `DomainError` is permanent
(retrying the same input fails the same way); anything else raised by a handler is treated as
transient and retried by the broker.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.contract.errors import ContractError, FieldViolation


class DomainError(Exception):
    """Base of the errors a person can act on. The message never carries personal data."""


class InvalidArgument(DomainError):
    """The input is wrong; every violation is listed with its field."""

    def __init__(self, violations: Iterable[FieldViolation]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(str(v) for v in self.violations))

    @classmethod
    def single(cls, field: str, reason: str) -> InvalidArgument:
        return cls([FieldViolation(field, reason)])

    @classmethod
    def from_contract(cls, error: ContractError, prefix: str = "") -> InvalidArgument:
        def rename(field: str) -> str:
            # Payload paths are `data.x.y` in the envelope; a caller knows them as `x.y`.
            field = field.removeprefix("data.").removeprefix("data")
            return f"{prefix}{field}" if field else prefix.rstrip(".")

        return cls(FieldViolation(rename(v.field), v.reason) for v in error.violations)


class NotFound(DomainError):
    pass


class FailedPrecondition(DomainError):
    """The request is well-formed but the current state does not allow it."""


class PermissionDenied(DomainError):
    pass


class AlreadyExists(DomainError):
    pass


class Unavailable(Exception):
    """A dependency (broker, database) is not reachable now; retrying later may work."""
