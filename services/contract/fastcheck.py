"""A fast validity check for registered payload schemas.

`compile_check(schema)` returns a function that answers True only when marshmallow's
`schema.validate(data)` would find nothing wrong. It may answer False for a valid payload
that marshmallow would accept by coercing an unusual input (a number sent as a string); the
registry then asks marshmallow, which also words the errors. So the check is sound in the
one direction that matters, by construction: every leaf value still goes through its field's
own `deserialize` and validators (marshmallow's code); only the schema machinery around them
(error collection, hooks bookkeeping) is skipped, which is most of the cost.

Producers validate every event they publish and consumers every event they receive, so this
sits on the hot path of every service.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, missing
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA

from services.contract import fields as govnet_fields
from services.contract.identifiers import IdentifierError

Check = Callable[[Any], bool]


def compile_check(schema: Schema) -> Check:
    """A check for mappings loaded by `schema` (unknown keys are ignored, as EXCLUDE does)."""
    hooks = schema._hooks
    if hooks[PRE_LOAD] or hooks[POST_LOAD] or hooks[VALIDATES]:
        return lambda data: False  # too clever to shortcut: marshmallow decides
    checks = [
        (field.data_key or name, field, _compile_field(field))
        for name, field in schema.fields.items()
        if not field.dump_only
    ]
    schema_validators = [getattr(schema, attr) for attr, _, _ in hooks[VALIDATES_SCHEMA]]

    def check(data: Any) -> bool:
        if not isinstance(data, Mapping):
            return False
        for key, field, check_value in checks:
            value = data.get(key, missing)
            if value is missing:
                if field.required:
                    return False
                continue
            if value is None:
                if not field.allow_none:
                    return False
                continue
            if not check_value(value):
                return False
        if schema_validators:
            return _schema_validators_pass(schema, checks, schema_validators, data)
        return True

    return check


def _schema_validators_pass(
    schema: Schema,
    checks: list[tuple[str, fields.Field[Any], Check]],
    validators: list[Callable[..., Any]],
    data: Mapping[str, Any],
) -> bool:
    # Schema validators see deserialized data, keyed by attribute name. A value that passed
    # the check of a plain string, integer, boolean or identifier field is already what
    # deserializing it gives; only the other fields are deserialized again.
    loaded: dict[str, Any] = {}
    for key, field, _ in checks:
        raw = data.get(key, missing)
        if raw is missing or raw is None or not _loads_as_is(field):
            try:
                value = field.deserialize(raw, key, data)
            except ValidationError:
                return False
        else:
            value = raw
        if value is not missing:
            loaded[field.attribute or field.name or key] = value
    for validator in validators:
        try:
            validator(loaded, partial=None, many=False, unknown=schema.unknown)
        except ValidationError:
            return False
    return True


def _loads_as_is(field: fields.Field[Any]) -> bool:
    """Whether `field` deserializes a value that passed its check to that same value."""
    if isinstance(field, govnet_fields.Pattern | govnet_fields.Checked):
        return True
    return type(field) in (fields.String, fields.Integer, fields.Boolean)


def _compile_field(field: fields.Field[Any]) -> Check:
    if isinstance(field, fields.Nested) and isinstance(field.nested, type | Schema):
        nested = field.schema
        inner = compile_check(nested)
        if field.many:
            return _with_validators(field, lambda v: isinstance(v, list) and all(map(inner, v)))
        return _with_validators(field, inner)
    if isinstance(field, fields.List) and field.inner is not None:
        inner_field = field.inner
        inner = _compile_field(inner_field)

        def each(value: Any) -> bool:
            if not isinstance(value, list):
                return False
            for item in value:
                if item is None:
                    if not inner_field.allow_none:
                        return False
                elif not inner(item):
                    return False
            return True

        return _with_validators(field, each)
    if isinstance(field, govnet_fields.Pattern):
        pattern = re.compile(type(field).pattern)
        return _with_validators(field, lambda v: isinstance(v, str) and bool(pattern.match(v)))
    if isinstance(field, govnet_fields.Checked):
        return _with_validators(field, _identifier(field))
    exact = type(field)
    if exact is fields.String:
        return _with_validators(field, lambda v: isinstance(v, str))
    if exact is fields.Integer:
        return _with_validators(field, lambda v: type(v) is int)
    if exact is fields.Boolean:
        return _with_validators(field, lambda v: isinstance(v, bool))
    return _deserializes(field)


def _identifier(field: govnet_fields.Checked) -> Check:
    """An identifier field: its own check (the identifier rules), on a string."""

    def check(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            field.check(value)
        except IdentifierError:
            return False
        return True

    return check


def _with_validators(field: fields.Field[Any], base: Check) -> Check:
    validators = list(field.validators)
    if not validators:
        return base

    def check(value: Any) -> bool:
        if not base(value):
            return False
        try:
            for validator in validators:
                if validator(value) is False:
                    return False
        except ValidationError:
            return False
        return True

    return check


def _deserializes(field: fields.Field[Any]) -> Check:
    """Anything else (identifier fields, dates, UUIDs): the field's own deserialize."""

    def check(value: Any) -> bool:
        try:
            field.deserialize(value)
        except (ValidationError, TypeError, ValueError):
            return False
        return True

    return check
