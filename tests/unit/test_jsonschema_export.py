"""The JSON Schema export says the same thing about a payload as the marshmallow schema."""

from __future__ import annotations

import copy
import enum
import json
import re
from typing import Any, ClassVar

import pytest
from jsonschema import Draft202012Validator
from marshmallow import EXCLUDE, Schema, fields, validate

from services.contract.jsonschema import field_to_json_schema, schema_to_json_schema

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def export(schema: type[Schema] | Schema, **kwargs: Any) -> dict[str, Any]:
    """Export ``schema`` and check that the result is itself a valid JSON Schema."""
    exported = schema_to_json_schema(schema, **kwargs)
    Draft202012Validator.check_schema(exported)
    return exported


def properties_of(schema: type[Schema] | Schema) -> dict[str, Any]:
    properties: dict[str, Any] = export(schema)["properties"]
    return properties


def field_in_schema(field: fields.Field[Any]) -> dict[str, Any]:
    """Export one field as it appears once bound to a schema."""
    schema_class = Schema.from_dict({"value": field})
    exported: dict[str, Any] = properties_of(schema_class)["value"]
    return exported


class Channel(enum.Enum):
    COUNTER = "counter"
    ONLINE = "online"


class ResidentId(fields.String):
    """A mainland resident identity card number."""

    json_schema: ClassVar[dict[str, Any]] = {
        "pattern": "^[0-9]{17}[0-9X]$",
        "description": "居民身份证号码",
    }


class PersonSchema(Schema):
    name = fields.String(required=True)
    phone = fields.String()


PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "phone": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": True,
}


# Field types


def test_a_flat_schema_maps_every_simple_field_type() -> None:
    class EverySimpleFieldSchema(Schema):
        text = fields.String()
        email = fields.Email()
        homepage = fields.URL()
        reference = fields.UUID()
        submitted_at = fields.DateTime()
        signed_at = fields.AwareDateTime()
        recorded_at = fields.NaiveDateTime()
        birthday = fields.Date()
        opens_at = fields.Time()
        copies = fields.Integer()
        ratio = fields.Float()
        fee = fields.Decimal()
        fee_text = fields.Decimal(as_string=True)
        paid = fields.Boolean()
        anything = fields.Raw()
        schema_version = fields.Constant("1.0")
        channel = fields.Enum(Channel)
        channel_code = fields.Enum(Channel, by_value=True)

    assert export(EverySimpleFieldSchema) == {
        "$schema": DRAFT,
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "email": {"type": "string", "format": "email"},
            "homepage": {"type": "string", "format": "uri"},
            "reference": {"type": "string", "format": "uuid"},
            "submitted_at": {"type": "string", "format": "date-time"},
            "signed_at": {"type": "string", "format": "date-time"},
            "recorded_at": {"type": "string", "format": "date-time"},
            "birthday": {"type": "string", "format": "date"},
            "opens_at": {"type": "string", "format": "time"},
            "copies": {"type": "integer"},
            "ratio": {"type": "number"},
            "fee": {"type": "number"},
            "fee_text": {"type": "string"},
            "paid": {"type": "boolean"},
            "anything": {},
            "schema_version": {"const": "1.0", "default": "1.0"},
            "channel": {"enum": ["COUNTER", "ONLINE"]},
            "channel_code": {"enum": ["counter", "online"]},
        },
        "additionalProperties": True,
    }


def test_a_dict_describes_its_values_and_constrained_keys() -> None:
    class LabelsSchema(Schema):
        anything = fields.Dict()
        scores = fields.Dict(keys=fields.String(), values=fields.Integer())
        codes = fields.Dict(keys=fields.String(validate=validate.Regexp("^[A-Z]+$")))

    assert properties_of(LabelsSchema) == {
        "anything": {"type": "object"},
        "scores": {"type": "object", "additionalProperties": {"type": "integer"}},
        "codes": {"type": "object", "propertyNames": {"type": "string", "pattern": "^[A-Z]+$"}},
    }


def test_a_list_and_a_tuple_describe_their_items() -> None:
    class ShapesSchema(Schema):
        tags = fields.List(fields.String())
        point = fields.Tuple((fields.Float(), fields.Float(), fields.String()))

    assert properties_of(ShapesSchema) == {
        "tags": {"type": "array", "items": {"type": "string"}},
        "point": {
            "type": "array",
            "prefixItems": [{"type": "number"}, {"type": "number"}, {"type": "string"}],
            "minItems": 3,
            "maxItems": 3,
        },
    }


def test_a_pluck_field_takes_the_plucked_fields_schema() -> None:
    class CaseSchema(Schema):
        owner = fields.Pluck(PersonSchema, "name")
        watchers = fields.Pluck(PersonSchema, "name", many=True)

    assert properties_of(CaseSchema) == {
        "owner": {"type": "string"},
        "watchers": {"type": "array", "items": {"type": "string"}},
    }


def test_a_relative_url_is_a_uri_reference() -> None:
    assert field_in_schema(fields.Url(relative=True)) == {
        "type": "string",
        "format": "uri-reference",
    }


def test_a_datetime_sent_as_a_timestamp_is_a_number() -> None:
    assert field_in_schema(fields.DateTime(format="timestamp")) == {"type": "number"}


def test_an_unknown_field_class_uses_its_nearest_known_base_class() -> None:
    class Money(fields.Decimal):
        pass

    class CaseReference(fields.Email):
        pass

    class Opaque(fields.Field[Any]):
        pass

    assert field_to_json_schema(Money()) == {"type": "number"}
    assert field_to_json_schema(CaseReference()) == {"type": "string", "format": "email"}
    assert field_to_json_schema(Opaque()) == {}


# Validators


def test_length_on_a_string_sets_min_length_and_max_length() -> None:
    assert field_to_json_schema(fields.String(validate=validate.Length(min=2, max=20))) == {
        "type": "string",
        "minLength": 2,
        "maxLength": 20,
    }


def test_length_on_a_list_sets_min_items_and_max_items() -> None:
    field = fields.List(fields.String(), validate=validate.Length(min=1, max=5))
    assert field_to_json_schema(field) == {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "maxItems": 5,
    }


def test_length_with_equal_sets_both_bounds() -> None:
    assert field_to_json_schema(fields.String(validate=validate.Length(equal=6))) == {
        "type": "string",
        "minLength": 6,
        "maxLength": 6,
    }


def test_an_inclusive_range_sets_minimum_and_maximum() -> None:
    assert field_to_json_schema(fields.Integer(validate=validate.Range(min=1, max=9))) == {
        "type": "integer",
        "minimum": 1,
        "maximum": 9,
    }


def test_an_exclusive_range_sets_exclusive_minimum_and_exclusive_maximum() -> None:
    bounds = validate.Range(min=0, max=1, min_inclusive=False, max_inclusive=False)
    assert field_to_json_schema(fields.Float(validate=bounds)) == {
        "type": "number",
        "exclusiveMinimum": 0,
        "exclusiveMaximum": 1,
    }


def test_a_range_with_only_a_lower_bound_sets_only_minimum() -> None:
    assert field_to_json_schema(fields.Integer(validate=validate.Range(min=1))) == {
        "type": "integer",
        "minimum": 1,
    }


def test_one_of_becomes_an_enum() -> None:
    field = fields.String(validate=validate.OneOf(["resident_id", "passport"]))
    assert field_to_json_schema(field) == {"type": "string", "enum": ["resident_id", "passport"]}


def test_one_of_over_a_set_lists_its_choices_in_sorted_order() -> None:
    field = fields.String(validate=validate.OneOf({"c", "a", "b"}))
    assert field_to_json_schema(field) == {"type": "string", "enum": ["a", "b", "c"]}


def test_an_anchored_regexp_becomes_its_pattern_unchanged() -> None:
    field = fields.String(validate=validate.Regexp(r"^GN-[0-9]{4}$"))
    assert field_to_json_schema(field) == {"type": "string", "pattern": "^GN-[0-9]{4}$"}


def test_a_compiled_regexp_becomes_its_pattern() -> None:
    field = fields.String(validate=validate.Regexp(re.compile("^[a-z]+$")))
    assert field_to_json_schema(field) == {"type": "string", "pattern": "^[a-z]+$"}


def test_an_unanchored_regexp_is_anchored_at_the_start_like_re_match() -> None:
    field = fields.String(validate=validate.Regexp("[0-9]+"))
    assert field_to_json_schema(field) == {"type": "string", "pattern": "^(?:[0-9]+)"}


def test_a_regexp_with_flags_json_schema_cannot_express_is_left_out() -> None:
    field = fields.String(validate=validate.Regexp("^gn-", flags=re.IGNORECASE))
    assert field_to_json_schema(field) == {"type": "string"}


def test_equal_becomes_a_const() -> None:
    field = fields.String(validate=validate.Equal("ApplicationSubmitted"))
    assert field_to_json_schema(field) == {"type": "string", "const": "ApplicationSubmitted"}


def test_several_validators_on_one_field_combine() -> None:
    field = fields.String(
        validate=[
            validate.Length(min=1),
            validate.Regexp("^[A-Z]"),
            validate.Length(max=10),
            validate.Length(min=3),
        ]
    )
    assert field_to_json_schema(field) == {
        "type": "string",
        "minLength": 3,
        "pattern": "^[A-Z]",
        "maxLength": 10,
    }


def test_two_patterns_on_one_field_must_both_match() -> None:
    field = fields.String(validate=[validate.Regexp("^[A-Z]"), validate.Regexp("^.{3}$")])
    assert field_to_json_schema(field) == {
        "type": "string",
        "pattern": "^[A-Z]",
        "allOf": [{"pattern": "^.{3}$"}],
    }


def test_validators_inside_and_are_applied() -> None:
    field = fields.Integer(validate=validate.And(validate.Range(min=1), validate.Range(max=3)))
    assert field_to_json_schema(field) == {"type": "integer", "minimum": 1, "maximum": 3}


def test_unknown_validators_and_plain_callables_are_ignored() -> None:
    field = fields.String(
        validate=[validate.Predicate("isdigit"), lambda value: value != "x", validate.Length(max=4)]
    )
    assert field_to_json_schema(field) == {"type": "string", "maxLength": 4}


def test_a_range_over_values_json_cannot_carry_is_left_out() -> None:
    import datetime as dt

    field = fields.Date(validate=validate.Range(min=dt.date(2024, 1, 1)))
    assert field_to_json_schema(field) == {"type": "string", "format": "date"}


# Nested schemas


def test_a_nested_schema_is_inlined() -> None:
    class CaseSchema(Schema):
        applicant = fields.Nested(PersonSchema, required=True)

    assert export(CaseSchema) == {
        "$schema": DRAFT,
        "type": "object",
        "properties": {"applicant": PERSON},
        "required": ["applicant"],
        "additionalProperties": True,
    }


def test_a_nested_schema_with_many_becomes_an_array_of_objects() -> None:
    class CaseSchema(Schema):
        agents = fields.Nested(PersonSchema, many=True)

    assert properties_of(CaseSchema) == {"agents": {"type": "array", "items": PERSON}}


def test_a_list_of_nested_schemas_becomes_an_array_of_objects() -> None:
    class CaseSchema(Schema):
        agents = fields.List(fields.Nested(PersonSchema), validate=validate.Length(min=1))

    assert properties_of(CaseSchema) == {
        "agents": {"type": "array", "items": PERSON, "minItems": 1}
    }


def test_a_nested_schema_keeps_only_the_fields_it_is_limited_to() -> None:
    class CaseSchema(Schema):
        applicant = fields.Nested(PersonSchema, only=("name",))

    assert properties_of(CaseSchema) == {
        "applicant": {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
            "additionalProperties": True,
        }
    }


def test_a_schema_that_nests_itself_is_refused() -> None:
    class NodeSchema(Schema):
        name = fields.String()
        children = fields.List(fields.Nested(lambda: NodeSchema()))

    with pytest.raises(ValueError, match="NodeSchema nests itself"):
        schema_to_json_schema(NodeSchema)


# Null


def test_allow_none_on_a_string_adds_null_to_its_type() -> None:
    assert field_in_schema(fields.String(allow_none=True)) == {"type": ["string", "null"]}


def test_allow_none_on_a_nested_schema_wraps_it_in_any_of() -> None:
    field = fields.Nested(PersonSchema, allow_none=True, metadata={"description": "代理人"})
    assert field_in_schema(field) == {
        "anyOf": [PERSON, {"type": "null"}],
        "description": "代理人",
    }


def test_allow_none_on_a_one_of_adds_null_to_the_enum() -> None:
    field = fields.String(allow_none=True, validate=validate.OneOf(["a", "b"]))
    assert field_in_schema(field) == {"type": ["string", "null"], "enum": ["a", "b", None]}


def test_allow_none_on_an_enum_field_adds_null_to_the_enum() -> None:
    assert field_in_schema(fields.Enum(Channel, allow_none=True)) == {
        "enum": ["COUNTER", "ONLINE", None]
    }


def test_allow_none_on_an_equal_wraps_the_const_in_any_of() -> None:
    field = fields.String(allow_none=True, validate=validate.Equal("v1"))
    assert field_in_schema(field) == {
        "anyOf": [{"type": "string", "const": "v1"}, {"type": "null"}]
    }


# Property names, direction and order


def test_data_key_renames_the_property() -> None:
    class CaseSchema(Schema):
        case_number = fields.String(data_key="caseNumber", required=True)

    exported = export(CaseSchema)
    assert exported["properties"] == {"caseNumber": {"type": "string"}}
    assert exported["required"] == ["caseNumber"]


def test_dump_only_fields_are_left_out_and_load_only_fields_are_kept() -> None:
    class CaseSchema(Schema):
        id = fields.Integer(dump_only=True)
        password = fields.String(load_only=True)
        status = fields.String()

        class Meta:
            dump_only = ("status",)

    assert properties_of(CaseSchema) == {"password": {"type": "string"}}


def test_required_names_follow_declaration_order() -> None:
    class CaseSchema(Schema):
        zeta = fields.String(required=True)
        alpha = fields.String()
        mid = fields.String(required=True)

    assert export(CaseSchema(only=("mid", "alpha", "zeta")))["required"] == ["zeta", "mid"]


def test_a_schema_with_no_required_fields_has_no_required_list() -> None:
    assert "required" not in export(Schema.from_dict({"note": fields.String()}))


# Custom fields and metadata


def test_a_custom_string_field_merges_its_json_schema_class_attribute() -> None:
    assert field_to_json_schema(ResidentId(required=True)) == {
        "type": "string",
        "pattern": "^[0-9]{17}[0-9X]$",
        "description": "居民身份证号码",
    }


def test_a_custom_field_subclass_inherits_the_json_schema_class_attribute() -> None:
    class ApplicantResidentId(ResidentId):
        pass

    assert field_to_json_schema(ApplicantResidentId())["pattern"] == "^[0-9]{17}[0-9X]$"


def test_metadata_description_wins_over_the_class_attribute() -> None:
    field = ResidentId(metadata={"description": "申请人身份证号码"})
    assert field_to_json_schema(field) == {
        "type": "string",
        "pattern": "^[0-9]{17}[0-9X]$",
        "description": "申请人身份证号码",
    }


def test_metadata_annotations_are_copied() -> None:
    field = fields.String(
        metadata={
            "title": "Case number",
            "description": "The number printed on the receipt.",
            "examples": ["GN-2024-000001"],
            "deprecated": True,
            "owner": "catalog team",
        }
    )
    assert field_to_json_schema(field) == {
        "type": "string",
        "title": "Case number",
        "description": "The number printed on the receipt.",
        "examples": ["GN-2024-000001"],
        "deprecated": True,
    }


def test_metadata_json_schema_is_merged_last_and_wins() -> None:
    field = ResidentId(
        metadata={
            "description": "申请人身份证号码",
            "json_schema": {"description": "覆盖", "pattern": "^[0-9]{18}$", "x-pii": True},
        }
    )
    assert field_to_json_schema(field) == {
        "type": "string",
        "pattern": "^[0-9]{18}$",
        "description": "覆盖",
        "x-pii": True,
    }


def test_merging_the_class_attribute_does_not_change_it() -> None:
    field_to_json_schema(ResidentId(metadata={"json_schema": {"pattern": "^x$"}}))
    assert ResidentId.json_schema["pattern"] == "^[0-9]{17}[0-9X]$"


# Defaults


def test_plain_json_defaults_become_default() -> None:
    class OptionsSchema(Schema):
        copies = fields.Integer(load_default=1)
        channel = fields.String(dump_default="online")
        tags = fields.List(fields.String(), load_default=("a", "b"))
        note = fields.String(load_default=None)
        method = fields.Enum(Channel, load_default=Channel.ONLINE)
        code = fields.Enum(Channel, by_value=True, load_default=Channel.ONLINE)

    assert properties_of(OptionsSchema) == {
        "copies": {"type": "integer", "default": 1},
        "channel": {"type": "string", "default": "online"},
        "tags": {"type": "array", "items": {"type": "string"}, "default": ["a", "b"]},
        "note": {"type": ["string", "null"], "default": None},
        "method": {"enum": ["COUNTER", "ONLINE"], "default": "ONLINE"},
        "code": {"enum": ["counter", "online"], "default": "online"},
    }


def test_callable_and_non_json_defaults_are_left_out() -> None:
    import datetime as dt
    import decimal

    class OptionsSchema(Schema):
        received_at = fields.DateTime(load_default=dt.datetime.now)
        fee = fields.Decimal(load_default=decimal.Decimal("0.00"))
        ratio = fields.Float(load_default=float("nan"))
        note = fields.String()

    assert properties_of(OptionsSchema) == {
        "received_at": {"type": "string", "format": "date-time"},
        "fee": {"type": "number"},
        "ratio": {"type": "number"},
        "note": {"type": "string"},
    }


# The top level


def test_the_top_level_carries_schema_title_and_the_docstrings_first_paragraph() -> None:
    class ApplicationSubmittedSchema(Schema):
        """An application was submitted
        at a counter or online.

        Sent by the applications service.
        """

        case_number = fields.String()

    exported = export(ApplicationSubmittedSchema, title="ApplicationSubmitted")
    assert list(exported)[:4] == ["$schema", "title", "description", "type"]
    assert exported["$schema"] == DRAFT
    assert exported["title"] == "ApplicationSubmitted"
    assert exported["description"] == "An application was submitted at a counter or online."


def test_wrapped_chinese_docstring_lines_join_without_a_space() -> None:
    class MaterialSchema(Schema):
        """申请材料，
        由申请人上传。
        """

    assert export(MaterialSchema)["description"] == "申请材料，由申请人上传。"


def test_an_explicit_description_wins_over_the_docstring() -> None:
    class NoticeSchema(Schema):
        """Docstring."""

    assert export(NoticeSchema(), description="Given.")["description"] == "Given."


def test_a_schema_without_a_docstring_has_no_description() -> None:
    class BareSchema(Schema):
        name = fields.String()

    assert "description" not in export(BareSchema)
    assert "title" not in export(BareSchema)


def test_the_export_is_deterministic_plain_json() -> None:
    class CaseSchema(Schema):
        """A case."""

        status = fields.String(validate=validate.OneOf({"open", "closed", "pending"}))
        applicant = fields.Nested(PersonSchema)
        tags = fields.List(fields.String(), load_default=["x"])

    first = json.dumps(schema_to_json_schema(CaseSchema), ensure_ascii=False)
    second = json.dumps(schema_to_json_schema(CaseSchema()), ensure_ascii=False)
    assert first == second
    assert json.loads(first)["properties"]["status"]["enum"] == ["closed", "open", "pending"]


# Marshmallow and JSON Schema agree on realistic payloads


class ApplicantSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    id_type = fields.String(
        required=True, validate=validate.OneOf(["resident_id", "passport", "hk_macao_permit"])
    )
    id_number = fields.String()


class ApplicationSubmittedSchema(Schema):
    """An application was submitted."""

    class Meta:
        unknown = EXCLUDE

    case_number = fields.String(required=True, validate=validate.Regexp(r"^GN-[0-9]{4}-[0-9]{6}$"))
    applicant = fields.Nested(ApplicantSchema, required=True)
    materials = fields.List(
        fields.String(validate=validate.Length(min=1)),
        required=True,
        validate=validate.Length(min=1),
    )
    copies = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    remark = fields.String(allow_none=True)


BASE_EVENT: dict[str, Any] = {
    "case_number": "GN-2024-000001",
    "applicant": {"name": "张三", "id_type": "resident_id", "id_number": "11010519491231002X"},
    "materials": ["身份证复印件"],
    "copies": 1,
}

REMOVED = object()


def event(*changes: tuple[str, Any]) -> dict[str, Any]:
    """A copy of the base event with each dotted path set to a value (or removed)."""
    payload = copy.deepcopy(BASE_EVENT)
    for path, value in changes:
        *parents, last = path.split(".")
        target = payload
        for parent in parents:
            target = target[parent]
        if value is REMOVED:
            del target[last]
        else:
            target[last] = value
    return payload


VALID_EVENTS = {
    "the base event": event(),
    "a passport holder": event(("applicant.id_type", "passport")),
    "a Hong Kong or Macao permit holder": event(("applicant.id_type", "hk_macao_permit")),
    "an applicant without an id number": event(("applicant.id_number", REMOVED)),
    "a one character name": event(("applicant.name", "李")),
    "a fifty character name": event(("applicant.name", "名" * 50)),
    "a latin name": event(("applicant.name", "Maria Chan")),
    "several materials": event(("materials", ["身份证复印件", "户口簿", "申请表"])),
    "a one character material": event(("materials", ["表"])),
    "a duplicated material": event(("materials", ["申请表", "申请表"])),
    "two copies": event(("copies", 2)),
    "a large number of copies": event(("copies", 10_000)),
    "a remark": event(("remark", "加急办理")),
    "an empty remark": event(("remark", "")),
    "a null remark": event(("remark", None)),
    "an unknown top-level field": event(("channel", "online")),
    "an unknown applicant field": event(("applicant.phone", "13800000000")),
    "the highest case number": event(("case_number", "GN-9999-999999")),
    "the lowest case number": event(("case_number", "GN-0000-000000")),
    "every optional field at once": event(
        ("remark", "补交材料"), ("applicant.id_type", "passport"), ("copies", 3)
    ),
}

INVALID_EVENTS = {
    "no case number": event(("case_number", REMOVED)),
    "a null case number": event(("case_number", None)),
    "a numeric case number": event(("case_number", 2024000001)),
    "a case number with too few digits": event(("case_number", "GN-2024-00001")),
    "a case number in lower case": event(("case_number", "gn-2024-000001")),
    "a case number with a trailing letter": event(("case_number", "GN-2024-000001X")),
    "a case number with a leading space": event(("case_number", " GN-2024-000001")),
    "no applicant": event(("applicant", REMOVED)),
    "a null applicant": event(("applicant", None)),
    "an applicant given as a string": event(("applicant", "张三")),
    "an applicant without a name": event(("applicant.name", REMOVED)),
    "an applicant with an empty name": event(("applicant.name", "")),
    "an applicant with a fifty-one character name": event(("applicant.name", "名" * 51)),
    "an applicant with an unknown id type": event(("applicant.id_type", "driving_licence")),
    "no materials": event(("materials", REMOVED)),
    "an empty list of materials": event(("materials", [])),
    "materials given as a string": event(("materials", "身份证复印件")),
    "an empty material name": event(("materials", ["身份证复印件", ""])),
    "zero copies": event(("copies", 0)),
    "copies given as a string": event(("copies", "2")),
}


def count_messages(errors: Any) -> int:
    if isinstance(errors, dict):
        return sum(count_messages(value) for value in errors.values())
    if isinstance(errors, list) and all(isinstance(item, str) for item in errors):
        return 1 if errors else 0
    if isinstance(errors, list):
        return sum(count_messages(item) for item in errors)
    return 1


@pytest.fixture(scope="module")
def json_validator() -> Draft202012Validator:
    return Draft202012Validator(export(ApplicationSubmittedSchema))


def test_the_round_trip_cases_are_twenty_valid_and_twenty_invalid() -> None:
    assert len(VALID_EVENTS) == 20
    assert len(INVALID_EVENTS) == 20


@pytest.mark.parametrize("payload", list(VALID_EVENTS.values()), ids=list(VALID_EVENTS))
def test_both_validators_accept_a_valid_event(
    payload: dict[str, Any], json_validator: Draft202012Validator
) -> None:
    assert ApplicationSubmittedSchema().validate(payload) == {}
    assert [error.message for error in json_validator.iter_errors(payload)] == []


@pytest.mark.parametrize("payload", list(INVALID_EVENTS.values()), ids=list(INVALID_EVENTS))
def test_both_validators_reject_an_event_that_breaks_one_rule(
    payload: dict[str, Any], json_validator: Draft202012Validator
) -> None:
    marshmallow_errors = ApplicationSubmittedSchema().validate(payload)
    json_errors = list(json_validator.iter_errors(payload))
    assert count_messages(marshmallow_errors) == 1, marshmallow_errors
    assert len(json_errors) == 1, [error.message for error in json_errors]
