"""Export marshmallow schemas as JSON Schema (draft 2020-12).

Event payloads are validated by marshmallow schemas inside govnet; systems written in
other languages validate the same events against the JSON Schema exported here.

The export describes what a producer sends: ``dump_only`` fields are left out,
``load_only`` fields are kept, and every object allows additional properties so that
adding a field to an event is a compatible change.

The translation follows one rule where marshmallow and JSON Schema cannot be matched
exactly: the JSON Schema may be looser than marshmallow, never stricter.  A validator
whose arguments cannot be written as plain JSON (a ``Range`` over datetimes, a
``OneOf`` over enum members, a ``Regexp`` compiled with flags) is left out rather than
approximated.

The output is built from dicts and lists only, in a stable order, so that an export can
be committed and compared in a test.
"""

from __future__ import annotations

import copy
import decimal
import enum
import inspect
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from marshmallow import Schema, fields, missing, validate

__all__ = ["DRAFT_2020_12", "field_to_json_schema", "schema_to_json_schema"]

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

JsonSchema = dict[str, Any]

# Keys copied from ``field.metadata``; they describe a value and never constrain it.
_ANNOTATION_KEYS = ("title", "description", "examples", "deprecated")

# Where two validators set the same bound, the tighter one is kept.
_LOWER_BOUNDS = frozenset({"minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum"})
_UPPER_BOUNDS = frozenset({"maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum"})

_LENGTH_KEYWORDS = {
    "string": ("minLength", "maxLength"),
    "array": ("minItems", "maxItems"),
    "object": ("minProperties", "maxProperties"),
}

# Regex flags that JSON Schema patterns cannot express.  ``re.UNICODE`` is set on every
# pattern compiled from ``str`` and matches the ECMA-262 behaviour closely enough.
_UNSUPPORTED_REGEX_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE | re.ASCII

# (schema class, names of its loadable fields) for each schema being converted, outermost
# first; a schema that appears twice would nest itself forever.
_Stack = tuple[tuple[type[Schema], tuple[str, ...]], ...]


class _NotJson:
    """Marks a Python value that has no plain JSON form."""


_NOT_JSON = _NotJson()


def schema_to_json_schema(
    schema: type[Schema] | Schema,
    *,
    title: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of the payloads ``schema`` accepts.

    ``schema`` is a marshmallow schema class or instance; an instance keeps its
    ``only``, ``exclude`` and ``many`` options.  ``description`` defaults to the first
    paragraph of the schema class's docstring.
    """
    instance = schema() if isinstance(schema, type) else schema
    body = _object_schema(instance, ())
    if instance.many:
        body = {"type": "array", "items": body}

    result: JsonSchema = {"$schema": DRAFT_2020_12}
    if title is not None:
        result["title"] = title
    if description is None:
        description = _docstring_summary(type(instance))
    if description:
        result["description"] = description
    result.update(body)
    return result


def field_to_json_schema(field: fields.Field[Any]) -> dict[str, Any]:
    """Return the JSON Schema of the values ``field`` accepts when loading."""
    return _field_schema(field, ())


# Schemas


def _object_schema(schema: Schema, stack: _Stack) -> JsonSchema:
    key = (type(schema), tuple(schema.load_fields))
    if key in stack:
        msg = (
            f"{type(schema).__name__} nests itself; recursive schemas cannot be inlined "
            "in a JSON Schema export"
        )
        raise ValueError(msg)
    stack = (*stack, key)

    declared = list(schema.declared_fields)
    position = {name: index for index, name in enumerate(declared)}
    names = sorted(schema.load_fields, key=lambda name: position.get(name, len(declared)))

    properties: JsonSchema = {}
    required: list[str] = []
    for name in names:
        field = schema.load_fields[name]
        key_in_payload = field.data_key if field.data_key is not None else name
        properties[key_in_payload] = _field_schema(field, stack)
        if field.required:
            required.append(key_in_payload)

    result: JsonSchema = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    result["additionalProperties"] = True
    return result


def _docstring_summary(schema_class: type[Schema]) -> str | None:
    # Read the class's own docstring: inspect.getdoc would inherit marshmallow's.
    doc = schema_class.__dict__.get("__doc__")
    if not isinstance(doc, str):
        return None
    paragraph = re.split(r"\n\s*\n", inspect.cleandoc(doc).strip(), maxsplit=1)[0]
    lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
    if not lines:
        return None
    summary = lines[0]
    for line in lines[1:]:
        # Wrapped Chinese text is joined without a space; other text with one.
        joiner = "" if _is_wide(summary[-1]) or _is_wide(line[0]) else " "
        summary = f"{summary}{joiner}{line}"
    return summary


def _is_wide(character: str) -> bool:
    return unicodedata.east_asian_width(character) in ("W", "F")


# Fields


def _field_schema(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    core = _type_schema(field, stack)
    _apply_validators(core, field.validators)

    annotations: JsonSchema = {}
    class_schema = getattr(type(field), "json_schema", None)
    if isinstance(class_schema, Mapping):
        for key, value in class_schema.items():
            target = annotations if key in _ANNOTATION_KEYS else core
            target[key] = copy.deepcopy(value)

    result = _nullable(core, wrap=_wraps_null(field, core)) if field.allow_none else core

    for key in _ANNOTATION_KEYS:
        if key in field.metadata:
            annotations[key] = copy.deepcopy(field.metadata[key])
    result.update(annotations)

    default = _default(field)
    if default is not _NOT_JSON:
        result["default"] = default

    override = field.metadata.get("json_schema")
    if isinstance(override, Mapping):
        result.update(copy.deepcopy(dict(override)))
    return result


def _wraps_null(field: fields.Field[Any], core: JsonSchema) -> bool:
    nested = isinstance(field, fields.Nested) and not isinstance(field, fields.Pluck)
    return nested or core.get("type") == "object"


def _nullable(schema: JsonSchema, *, wrap: bool) -> JsonSchema:
    if not schema:  # already accepts anything, null included
        return schema
    declared_type = schema.get("type")
    needs_wrap = (
        wrap
        or "const" in schema
        or "allOf" in schema
        or (declared_type is None and "enum" not in schema)
    )
    if needs_wrap:
        return {"anyOf": [schema, {"type": "null"}]}

    result = dict(schema)
    if isinstance(declared_type, str) and declared_type != "null":
        result["type"] = [declared_type, "null"]
    elif isinstance(declared_type, list) and "null" not in declared_type:
        result["type"] = [*declared_type, "null"]
    if "enum" in result and None not in result["enum"]:
        result["enum"] = [*result["enum"], None]
    return result


def _default(field: fields.Field[Any]) -> Any:
    for value in (field.load_default, field.dump_default):
        if value is missing or callable(value):
            continue
        if isinstance(field, fields.Enum) and isinstance(value, field.enum):
            return _to_json(value.value if field.by_value else value.name)
        return _to_json(value)
    return _NOT_JSON


def _to_json(value: Any) -> Any:
    """Return ``value`` as plain JSON data, or ``_NOT_JSON`` if it has no such form."""
    if isinstance(value, enum.Enum):
        # A str or int enum member equals its value, which is what JSON carries.
        mixed_in = isinstance(value, str | int | float)
        return _to_json(value.value) if mixed_in else _NOT_JSON
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else _NOT_JSON
    if isinstance(value, list | tuple):
        items = [_to_json(item) for item in value]
        return _NOT_JSON if any(item is _NOT_JSON for item in items) else items
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return _NOT_JSON
        entries = {key: _to_json(item) for key, item in value.items()}
        return _NOT_JSON if any(item is _NOT_JSON for item in entries.values()) else entries
    return _NOT_JSON


# Field types, found by walking the field class's MRO


def _string(format_: str | None = None) -> JsonSchema:
    return {"type": "string"} if format_ is None else {"type": "string", "format": format_}


def _any(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    return {}


def _string_field(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    return _string()


def _email_field(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    return _string("email")


def _url_field(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    url = cast(fields.Url, field)
    return _string(_url_format(relative=url.relative, absolute=url.absolute))


def _url_format(*, relative: bool, absolute: bool) -> str:
    return "uri" if absolute and not relative else "uri-reference"


def _uuid_field(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    return _string("uuid")


def _number_type(json_type: str) -> Callable[[fields.Field[Any], _Stack], JsonSchema]:
    def convert(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
        if cast(fields.Number[Any], field).as_string:
            return _string()
        return {"type": json_type}

    return convert


def _boolean_field(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    return {"type": "boolean"}


def _temporal_type(iso_format: str) -> Callable[[fields.Field[Any], _Stack], JsonSchema]:
    def convert(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
        data_format = getattr(field, "format", None) or "iso"
        if data_format in ("iso", "iso8601"):
            return _string(iso_format)
        if data_format in ("timestamp", "timestamp_ms"):
            return {"type": "number"}
        return _string()  # RFC 822 or a strftime format

    return convert


def _time_delta_field(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    return {"type": "number"}


def _mapping_field(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    mapping = cast(fields.Mapping[Any], field)
    result: JsonSchema = {"type": "object"}
    if mapping.key_field is not None:
        keys = _field_schema(mapping.key_field, stack)
        # JSON object keys are always strings; only a constrained string says more.
        if keys.get("type") == "string" and len(keys) > 1:
            result["propertyNames"] = keys
    if mapping.value_field is not None:
        result["additionalProperties"] = _field_schema(mapping.value_field, stack)
    return result


def _list_field(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    inner = cast(fields.List[Any], field).inner
    return {"type": "array", "items": _field_schema(inner, stack)}


def _tuple_field(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    members = cast(fields.Tuple, field).tuple_fields
    return {
        "type": "array",
        "prefixItems": [_field_schema(member, stack) for member in members],
        "minItems": len(members),
        "maxItems": len(members),
    }


def _nested_field(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    nested = cast(fields.Nested, field)
    schema = nested.schema
    body = _object_schema(schema, stack)
    if schema.many or nested.many:
        return {"type": "array", "items": body}
    return body


def _pluck_field(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    pluck = cast(fields.Pluck, field)
    plucked = _field_schema(pluck.schema.fields[pluck.field_name], stack)
    if pluck.many:
        return {"type": "array", "items": plucked}
    return plucked


def _enum_field(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    enum_field = cast(fields.Enum[Any], field)
    if enum_field.by_value is False:
        # Loading by name accepts aliases too, so list every name in __members__.
        choices: list[Any] = list(enum_field.enum.__members__)
    else:
        choices = [member.value for member in enum_field.enum]
    values = _to_json(choices)
    return {} if values is _NOT_JSON else {"enum": values}


def _constant_field(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    value = _to_json(cast(fields.Constant[Any], field).constant)
    return {} if value is _NOT_JSON else {"const": value}


def _ip_type(format_: str | None) -> Callable[[fields.Field[Any], _Stack], JsonSchema]:
    def convert(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
        return _string(format_)

    return convert


_TypeConverter = Callable[[fields.Field[Any], _Stack], JsonSchema]

_TYPE_CONVERTERS: dict[type[Any], _TypeConverter] = {
    fields.Field: _any,
    fields.Raw: _any,
    fields.Method: _any,
    fields.Function: _any,
    fields.String: _string_field,
    fields.Email: _email_field,
    fields.Url: _url_field,
    fields.UUID: _uuid_field,
    fields.Number: _number_type("number"),
    fields.Integer: _number_type("integer"),
    fields.Float: _number_type("number"),
    fields.Decimal: _number_type("number"),
    fields.Boolean: _boolean_field,
    fields.DateTime: _temporal_type("date-time"),
    fields.NaiveDateTime: _temporal_type("date-time"),
    fields.AwareDateTime: _temporal_type("date-time"),
    fields.Date: _temporal_type("date"),
    fields.Time: _temporal_type("time"),
    fields.TimeDelta: _time_delta_field,
    fields.Mapping: _mapping_field,
    fields.Dict: _mapping_field,
    fields.List: _list_field,
    fields.Tuple: _tuple_field,
    fields.Nested: _nested_field,
    fields.Pluck: _pluck_field,
    fields.Enum: _enum_field,
    fields.Constant: _constant_field,
    fields.IP: _ip_type(None),
    fields.IPv4: _ip_type("ipv4"),
    fields.IPv6: _ip_type("ipv6"),
    fields.IPInterface: _ip_type(None),
}


def _type_schema(field: fields.Field[Any], stack: _Stack) -> JsonSchema:
    for cls in type(field).__mro__:
        converter = _TYPE_CONVERTERS.get(cls)
        if converter is not None:
            return converter(field, stack)
    return {}


# Validators


def _apply_validators(schema: JsonSchema, validators: Iterable[Any]) -> None:
    for validator in validators:
        if isinstance(validator, validate.And):
            _apply_validators(schema, validator.validators)
        else:
            _apply_validator(schema, validator)


def _apply_validator(schema: JsonSchema, validator: Any) -> None:
    # Validators see the loaded value.  Bounds are only written for a field whose JSON
    # value is of the same kind (a string's length, a number's range); the others, such
    # as a Range over datetimes, are left out.
    json_type = schema.get("type")
    if isinstance(validator, validate.Length):
        _apply_length(schema, json_type, validator)
    elif isinstance(validator, validate.Range):
        if json_type in ("integer", "number"):
            _apply_range(schema, validator)
    elif isinstance(validator, validate.ContainsOnly):
        choices = _json_choices(validator.choices)
        if "items" in schema and choices is not None:
            _combine(schema["items"], "enum", choices)
    elif isinstance(validator, validate.OneOf):
        choices = _json_choices(validator.choices)
        if choices is not None:
            _combine(schema, "enum", choices)
    elif isinstance(validator, validate.ContainsNoneOf):
        choices = _json_choices(validator.iterable)
        if "items" in schema and choices is not None:
            _combine(schema["items"], "not", {"enum": choices})
    elif isinstance(validator, validate.NoneOf):
        choices = _json_choices(validator.iterable)
        if choices is not None:
            _combine(schema, "not", {"enum": choices})
    elif isinstance(validator, validate.Equal):
        value = _to_json(validator.comparable)
        if value is not _NOT_JSON:
            _combine(schema, "const", value)
    elif isinstance(validator, validate.Regexp):
        pattern = _json_pattern(validator.regex)
        if pattern is not None:
            _combine(schema, "pattern", pattern)
    elif isinstance(validator, validate.Email):
        if json_type == "string":
            _combine(schema, "format", "email")
    elif isinstance(validator, validate.URL) and json_type == "string":
        url_format = _url_format(relative=validator.relative, absolute=validator.absolute)
        _combine(schema, "format", url_format)


def _apply_length(schema: JsonSchema, json_type: Any, length: validate.Length) -> None:
    if json_type not in _LENGTH_KEYWORDS:
        return
    min_key, max_key = _LENGTH_KEYWORDS[json_type]
    if length.equal is not None:
        _combine(schema, min_key, length.equal)
        _combine(schema, max_key, length.equal)
        return
    if length.min is not None:
        _combine(schema, min_key, length.min)
    if length.max is not None:
        _combine(schema, max_key, length.max)


def _apply_range(schema: JsonSchema, bounds: validate.Range) -> None:
    low = _json_number(bounds.min)
    if low is not None:
        _combine(schema, "minimum" if bounds.min_inclusive else "exclusiveMinimum", low)
    high = _json_number(bounds.max)
    if high is not None:
        _combine(schema, "maximum" if bounds.max_inclusive else "exclusiveMaximum", high)


def _json_number(value: Any) -> int | float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return int(value) if value == value.to_integral_value() else float(value)
    return None


def _json_choices(choices: Iterable[Any]) -> list[Any] | None:
    values = [_to_json(choice) for choice in choices]
    if any(value is _NOT_JSON for value in values):
        return None
    if isinstance(choices, set | frozenset):  # no stable order of its own
        values.sort(key=lambda value: (type(value).__name__, repr(value)))
    return values


def _json_pattern(regex: re.Pattern[Any]) -> str | None:
    if not isinstance(regex.pattern, str) or regex.flags & _UNSUPPORTED_REGEX_FLAGS:
        return None
    pattern = regex.pattern
    # Regexp uses re.match, anchored at the start; a JSON Schema pattern is not.
    return pattern if pattern.startswith("^") else f"^(?:{pattern})"


def _combine(schema: JsonSchema, key: str, value: Any) -> None:
    """Add one constraint to ``schema``; constraints from several validators all hold."""
    if key not in schema:
        schema[key] = value
    elif schema[key] == value:
        return
    elif key in _LOWER_BOUNDS:
        schema[key] = max(schema[key], value)
    elif key in _UPPER_BOUNDS:
        schema[key] = min(schema[key], value)
    elif key == "enum":
        schema[key] = [choice for choice in schema[key] if choice in value]
    else:
        schema.setdefault("allOf", []).append({key: value})
