"""The CloudEvents envelope: what `decode` accepts, what it refuses and how it says why."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from services.contract import errors
from services.contract.envelope import (
    REQUIRED_ATTRIBUTES,
    Event,
    Source,
    canonical_json,
    decode,
    encode,
    es6_number,
    new_event,
    parse_source,
    parse_time,
    peek,
)
from services.contract.errors import ContractError, FieldViolation
from services.contract.registry import Registry
from services.contract.schemas import default_registry

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

XUANWU_MARKET = "11320102767342276U"  # 玄武区市场监督管理局, as in services/catalog/sample.py
# The same code with its last (check) character changed from U to 0.
XUANWU_MARKET_BAD_CHECK = "113201027673422760"
CASE = "320102-20261127-000001"
CHINA = timezone(timedelta(hours=8))


def golden(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GOLDEN / f"{name}.v1.json").read_text("utf-8"))
    return loaded


def application() -> dict[str, Any]:
    return golden("application.submitted")


def evaluation() -> dict[str, Any]:
    return golden("evaluation.submitted")


@pytest.fixture
def registry() -> Registry:
    return default_registry()


def refusal(body: bytes | str | dict[str, Any], registry: Registry) -> ContractError:
    if isinstance(body, dict):
        body = json.dumps(body, ensure_ascii=False)
    with pytest.raises(ContractError) as info:
        decode(body, registry)
    return info.value


def only(error: ContractError) -> tuple[str, str, str]:
    """(code, field, reason) of an error that has exactly one violation."""
    assert len(error.violations) == 1, error.violations
    return error.code, error.field, error.violations[0].reason


# -- what a valid event becomes -------------------------------------------------------------


def test_a_valid_event_decodes_into_its_attributes(registry: Registry) -> None:
    event = decode(json.dumps(application()).encode("utf-8"), registry)

    assert event.id == "1b4e28ba-2fa1-4d2b-9c5a-6f1e2d3c4b02"
    assert event.source == "govnet://320102/applications"
    assert event.type == "application.submitted"
    assert event.major == 1
    assert event.dataschema == "govnet:application.submitted/v1"
    assert event.time == datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
    assert event.division == "320102"
    assert event.sequence == 1
    assert event.subject == CASE
    assert event.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert event.data["applicant"]["name"] == "王*"
    assert event.extensions == {}
    assert event.key == ("govnet://320102/applications", "1b4e28ba-2fa1-4d2b-9c5a-6f1e2d3c4b02")


def test_a_text_body_decodes_like_its_utf8_bytes(registry: Registry) -> None:
    text = json.dumps(application(), ensure_ascii=False)

    assert decode(text, registry) == decode(text.encode("utf-8"), registry)


def test_optional_attributes_may_be_left_out(registry: Registry) -> None:
    raw = application()
    for name in ("subject", "traceparent", "datacontenttype"):
        del raw[name]

    event = decode(json.dumps(raw), registry)

    assert event.subject is None
    assert event.traceparent is None


def test_decoding_keeps_the_object_as_received(registry: Registry) -> None:
    raw = application()

    event = decode(json.dumps(raw), registry)

    assert event.wire == raw


def test_encoding_a_decoded_event_gives_the_canonical_form_of_what_was_sent(
    registry: Registry,
) -> None:
    raw = application()
    raw["departmentbatch"] = "批次-7"  # an extension must be in the hash too
    pretty = json.dumps(raw, ensure_ascii=False, indent=4)

    encoded = encode(decode(pretty, registry))

    assert encoded == canonical_json(raw)
    assert encoded == json.dumps(
        raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def test_canonical_json_sorts_keys_drops_whitespace_and_keeps_chinese_as_utf8() -> None:
    value = {"b": 1, "a": {"名称": "食品经营许可", "z": [1, 2]}}

    assert canonical_json(value) == '{"a":{"z":[1,2],"名称":"食品经营许可"},"b":1}'.encode()


@pytest.mark.parametrize("body", [b'{"score": Infinity}', b'{"n": 1e400}'])
def test_infinity_never_enters_an_event(registry: Registry, body: bytes) -> None:
    with pytest.raises(ContractError) as refused:
        decode(body, registry)

    assert refused.value.code == errors.MALFORMED
    assert str(refused.value).startswith("body is not valid JSON (")


def test_a_producer_cannot_put_nan_in_a_float_field(registry: Registry) -> None:
    data = {
        "case_number": CASE,
        "at": "2026-12-01T09:00:00+08:00",
        "department": XUANWU_MARKET,
        "due_date": "2026-12-10",
        "days_left": 2,
        "share_used": float("nan"),
    }

    with pytest.raises(ContractError) as refused:
        new_event(
            registry,
            "application.deadline_warning",
            data,
            source=Source.for_service("320102", "applications"),
            now=datetime(2026, 12, 1, tzinfo=UTC),
        )

    assert [v.field for v in refused.value.violations] == ["data.share_used"]


def test_a_float_in_an_event_takes_the_exact_path_and_a_string_that_looks_like_one_does_not() -> (
    None
):
    assert canonical_json({"a": 2.0, "b": "版本:1.5"}) == '{"a":2,"b":"版本:1.5"}'.encode()
    assert canonical_json({"b": "版本:1.5"}) == '{"b":"版本:1.5"}'.encode()
    assert canonical_json({"big": 2**70}) == b'{"big":1180591620717411303424}'


def test_canonical_json_is_rfc_8785_for_the_rfcs_own_example() -> None:
    # RFC 8785 §3.2.2: numbers as ECMAScript prints them, minimal string escapes.
    text = (
        '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],'
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        '"literals":[null,true,false]}'
    )

    assert (
        canonical_json(json.loads(text))
        == (
            '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
            '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
        ).encode()
    )


def test_canonical_json_sorts_keys_by_utf16_code_units_as_rfc_8785_does() -> None:
    # RFC 8785 §3.2.3: the emoji (UTF-16 D83D DE00) sorts before U+FB33, unlike code points.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }

    order = list(json.loads(canonical_json(value)))

    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (123.456, "123.456"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.2345678901234568e20, "123456789012345680000"),
        (-2.5e-9, "-2.5e-9"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
    ],
)
def test_floats_are_printed_as_ecmascript_prints_them(number: float, text: str) -> None:
    assert es6_number(number) == text
    assert canonical_json({"n": number}) == f'{{"n":{text}}}'.encode()


def test_extension_attributes_are_kept_in_extensions_and_in_the_canonical_bytes(
    registry: Registry,
) -> None:
    raw = application()
    raw["departmentbatch"] = "批次-7"
    raw["partitionkey"] = 3
    raw["urgent"] = True

    event = decode(json.dumps(raw), registry)

    assert event.extensions == {"departmentbatch": "批次-7", "partitionkey": 3, "urgent": True}
    assert event.to_dict()["departmentbatch"] == "批次-7"
    assert b'"departmentbatch":"\xe6\x89\xb9' in encode(event)


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        (
            "x-department-batch",
            "7",
            "extension attribute names are 1 to 20 lower-case letters a-z and digits",
        ),
        (
            "departmentbatchnumber",
            "7",
            "extension attribute names are 1 to 20 lower-case letters a-z and digits",
        ),
        (
            "partitionkey",
            {"shard": 3},
            "extension attributes must be a string, a boolean or a 32-bit integer",
        ),
        (
            "weight",
            0.5,
            "extension attributes must be a string, a boolean or a 32-bit integer",
        ),
        (
            "counter",
            2**31,
            "extension attributes must be a string, a boolean or a 32-bit integer",
        ),
    ],
)
def test_an_extension_attribute_outside_cloudevents_rules_is_refused(
    registry: Registry, name: str, value: Any, reason: str
) -> None:
    raw = application()
    raw[name] = value

    assert only(refusal(raw, registry)) == (errors.INVALID_ATTRIBUTE, name, reason)


def test_unknown_data_fields_are_tolerated_and_kept(registry: Registry) -> None:
    raw = application()
    raw["data"]["priority"] = "加急"

    event = decode(json.dumps(raw), registry)

    assert event.data["priority"] == "加急"


def test_unknown_fields_inside_nested_data_objects_are_tolerated(registry: Registry) -> None:
    raw = application()
    raw["data"]["applicant"]["nickname"] = "小王"

    event = decode(json.dumps(raw), registry)

    assert event.data["applicant"]["nickname"] == "小王"


def test_a_time_with_an_offset_is_normalised_to_utc(registry: Registry) -> None:
    raw = application()
    raw["time"] = "2026-11-27T09:30:00+08:00"

    event = decode(json.dumps(raw), registry)

    assert event.time == datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
    assert event.time.tzinfo is UTC


# -- refusals of the body -------------------------------------------------------------------


def test_malformed_json_is_refused_as_malformed(registry: Registry) -> None:
    error = refusal(b'{"specversion": "1.0",', registry)

    code, field, reason = only(error)
    assert (code, field) == (errors.MALFORMED, "")
    assert reason.startswith("body is not valid JSON (")


def test_a_body_that_is_not_utf8_is_refused_as_malformed(registry: Registry) -> None:
    body = json.dumps(application(), ensure_ascii=False).encode("gbk")

    assert only(refusal(body, registry)) == (errors.MALFORMED, "", "body is not UTF-8")


def test_a_json_array_body_is_refused_as_malformed(registry: Registry) -> None:
    body = json.dumps([application()])

    assert only(refusal(body, registry)) == (errors.MALFORMED, "", "body must be a JSON object")


def test_nan_in_the_body_is_refused_as_malformed(registry: Registry) -> None:
    body = json.dumps(application()).replace('"sequence": 1', '"sequence": NaN')

    code, field, reason = only(refusal(body, registry))
    assert (code, field) == (errors.MALFORMED, "")
    column = body.index("NaN") + 1
    assert reason == (
        "body is not valid JSON (unexpected character, expected a JSON value: "
        f"line 1 column {column} (char {column - 1}))"
    )


# -- refusals of attributes -----------------------------------------------------------------


@pytest.mark.parametrize("attribute", REQUIRED_ATTRIBUTES)
def test_missing_attribute_is_named_in_the_error(registry: Registry, attribute: str) -> None:
    raw = application()
    del raw[attribute]

    error = refusal(raw, registry)

    assert only(error) == (errors.MISSING_ATTRIBUTE, attribute, "required attribute is missing")


def test_a_null_attribute_counts_as_missing(registry: Registry) -> None:
    raw = application()
    raw["data"] = None

    assert only(refusal(raw, registry)) == (
        errors.MISSING_ATTRIBUTE,
        "data",
        "required attribute is missing",
    )


def test_every_missing_attribute_is_listed_at_once(registry: Registry) -> None:
    raw = application()
    del raw["time"], raw["sequence"]

    error = refusal(raw, registry)

    assert error.code == errors.MISSING_ATTRIBUTE
    assert error.violations == (
        FieldViolation("time", "required attribute is missing"),
        FieldViolation("sequence", "required attribute is missing"),
    )
    assert (
        str(error) == "time: required attribute is missing; sequence: required attribute is missing"
    )


def test_a_wrong_specversion_is_refused(registry: Registry) -> None:
    raw = application()
    raw["specversion"] = "0.3"

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "specversion",
        'must be "1.0"',
    )


def test_a_content_type_other_than_json_is_refused(registry: Registry) -> None:
    raw = application()
    raw["datacontenttype"] = "application/xml"

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "datacontenttype",
        'must be "application/json" when present',
    )


@pytest.mark.parametrize("value", ["ApplicationSubmitted", "application", "application.", 7])
def test_a_type_that_is_not_entity_dot_verb_is_refused(registry: Registry, value: Any) -> None:
    raw = application()
    raw["type"] = value

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "type",
        "must look like <entity>.<verb>, lower case",
    )


@pytest.mark.parametrize(
    "value",
    [
        "application.submitted/v1",
        "govnet:application.submitted/1",
        "govnet:application.submitted/v0",
    ],
)
def test_a_malformed_dataschema_is_refused(registry: Registry, value: str) -> None:
    raw = application()
    raw["dataschema"] = value

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "dataschema",
        "must be govnet:<type>/v<major>",
    )


def test_a_dataschema_naming_another_type_is_refused(registry: Registry) -> None:
    raw = application()
    raw["dataschema"] = "govnet:item.published/v1"

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "dataschema",
        "names type item.published but the event is application.submitted",
    )


def test_an_unknown_type_is_refused_as_unknown_type(registry: Registry) -> None:
    raw = application()
    raw["type"] = "case.closed"
    raw["dataschema"] = "govnet:case.closed/v1"

    assert only(refusal(raw, registry)) == (
        errors.UNKNOWN_TYPE,
        "type",
        "case.closed is not a registered event type",
    )


def test_an_unsupported_major_is_refused_naming_the_supported_ones(registry: Registry) -> None:
    raw = application()
    raw["dataschema"] = "govnet:application.submitted/v2"

    assert only(refusal(raw, registry)) == (
        errors.UNSUPPORTED_VERSION,
        "dataschema",
        "application.submitted v2 is not supported (supported: v1)",
    )


@pytest.mark.parametrize(
    "source",
    [
        "https://320102/applications",
        "govnet://320102",
        "govnet://320102/Applications",
        "govnet://3201/applications",
        "govnet://320102/dept/11320102767342276",
        "govnet://320102/dept/11320102767342276u",
    ],
)
def test_a_source_of_neither_form_is_refused(registry: Registry, source: str) -> None:
    raw = application()
    raw["source"] = source

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "source",
        "must be govnet://<division>/<service> or govnet://<division>/dept/<USCC>",
    )


def test_a_service_source_with_an_impossible_division_is_refused(registry: Registry) -> None:
    raw = application()
    raw["source"] = "govnet://990102/applications"

    code, field, reason = only(refusal(raw, registry))
    assert (code, field) == (errors.INVALID_ATTRIBUTE, "source")
    assert reason == "names a bad division: division 990102 is not a GB/T 2260 province prefix (99)"


def test_a_department_source_with_a_bad_credit_code_check_character_is_refused(
    registry: Registry,
) -> None:
    raw = evaluation()
    raw["source"] = f"govnet://320102/dept/{XUANWU_MARKET_BAD_CHECK}"

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "source",
        "department code: check character is 0, expected U",
    )


def test_a_department_source_with_a_valid_credit_code_is_accepted(registry: Registry) -> None:
    event = decode(json.dumps(evaluation()), registry)

    assert event.source == f"govnet://320102/dept/{XUANWU_MARKET}"
    assert parse_source(event.source) == Source(division="320102", department=XUANWU_MARKET)


def test_a_division_other_than_the_sources_is_refused(registry: Registry) -> None:
    raw = application()
    raw["division"] = "320100"

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "division",
        "is 320100 but source names division 320102",
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (320102, "must be a 6-digit GB/T 2260 code as a string"),
        ("32010", "must be 6 digits, got 5 characters"),
    ],
)
def test_a_malformed_division_is_refused(registry: Registry, value: Any, reason: str) -> None:
    raw = application()
    raw["division"] = value

    assert only(refusal(raw, registry)) == (errors.INVALID_ATTRIBUTE, "division", reason)


@pytest.mark.parametrize(
    "value", ["2026-11-27T01:30:00", "2026-11-27 01:30:00Z", "2026-11-27", 1795750200]
)
def test_a_time_without_a_zone_or_not_rfc3339_is_refused(registry: Registry, value: Any) -> None:
    raw = application()
    raw["time"] = value

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "time",
        "must be an RFC 3339 timestamp with a time zone",
    )


@pytest.mark.parametrize("value", ["2026-02-30T01:30:00Z", "2026-11-27T25:00:00Z"])
def test_an_impossible_time_is_refused(registry: Registry, value: str) -> None:
    raw = application()
    raw["time"] = value

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "time",
        "is not a real date and time",
    )


@pytest.mark.parametrize("value", [0, -1, "1", True, 1.5])
def test_a_sequence_that_is_not_a_positive_integer_is_refused(
    registry: Registry, value: Any
) -> None:
    raw = application()
    raw["sequence"] = value

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "sequence",
        "must be an integer >= 1 (per-source, gap-free)",
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "must be a non-empty string"),
        ("  ", "must be a non-empty string"),
        (42, "must be a non-empty string"),
        ("x" * 129, "must be at most 128 characters"),
    ],
)
def test_a_bad_id_is_refused(registry: Registry, value: Any, reason: str) -> None:
    raw = application()
    raw["id"] = value

    assert only(refusal(raw, registry)) == (errors.INVALID_ATTRIBUTE, "id", reason)


def test_an_id_of_128_characters_is_accepted(registry: Registry) -> None:
    raw = application()
    raw["id"] = "x" * 128

    assert decode(json.dumps(raw), registry).id == "x" * 128


@pytest.mark.parametrize("value", ["案" * 257, "", 5])
def test_a_subject_too_long_or_empty_is_refused(registry: Registry, value: Any) -> None:
    raw = application()
    raw["subject"] = value

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "subject",
        "must be a string of 1 to 256 characters",
    )


def test_a_subject_of_256_characters_is_accepted(registry: Registry) -> None:
    raw = application()
    raw["subject"] = "案" * 256

    assert decode(json.dumps(raw), registry).subject == "案" * 256


@pytest.mark.parametrize(
    "value",
    [
        "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ],
)
def test_a_bad_traceparent_is_refused(registry: Registry, value: str) -> None:
    raw = application()
    raw["traceparent"] = value

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "traceparent",
        "must be a W3C traceparent (00-<trace>-<span>-<flags>)",
    )


@pytest.mark.parametrize("value", [["case_number"], "case_number=1", 1])
def test_data_that_is_not_an_object_is_refused(registry: Registry, value: Any) -> None:
    raw = application()
    raw["data"] = value

    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "data",
        "must be a JSON object",
    )


def test_a_payload_failing_its_schema_lists_every_violation_with_data_paths(
    registry: Registry,
) -> None:
    raw = application()
    raw["data"]["channel"] = "fax"
    raw["data"]["applicant"]["id_number"] = "320102198803152411"  # not masked

    error = refusal(raw, registry)

    assert error.code == errors.INVALID_DATA
    assert error.violations == (
        FieldViolation("data.applicant.id_number", "a natural person's ID number must be masked"),
        FieldViolation("data.channel", "must be one of: web, mobile, window, terminal, hotline"),
    )


def test_a_missing_payload_field_is_named_with_its_data_path(registry: Registry) -> None:
    raw = application()
    del raw["data"]["case_number"]

    error = refusal(raw, registry)

    assert error.code == errors.INVALID_DATA
    assert error.violations == (
        FieldViolation("data.case_number", "missing data for required field"),
    )


# -- parse_source, parse_time ---------------------------------------------------------------


def test_a_service_source_parses_into_division_and_service() -> None:
    source = parse_source("govnet://320102/applications")

    assert source == Source(division="320102", service="applications")
    assert not source.is_department
    assert str(source) == "govnet://320102/applications"


def test_a_department_source_prints_back_as_it_was_written() -> None:
    text = f"govnet://320102/dept/{XUANWU_MARKET}"

    source = parse_source(text)

    assert source.is_department
    assert source.service is None
    assert str(source) == text


def test_a_source_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ContractError) as info:
        parse_source(["govnet://320102/applications"])

    assert only(info.value) == (errors.INVALID_ATTRIBUTE, "source", "must be a string")


def test_parse_time_names_the_field_it_was_given() -> None:
    with pytest.raises(ContractError) as info:
        parse_time("2026-11-27T01:30:00", "data.submitted_at")

    assert only(info.value) == (
        errors.INVALID_ATTRIBUTE,
        "data.submitted_at",
        "must be an RFC 3339 timestamp with a time zone",
    )


def test_parse_time_keeps_microseconds_of_a_nanosecond_timestamp() -> None:
    parsed = parse_time("2026-11-27T09:30:00.123456789+08:00", "time")

    assert parsed == datetime(2026, 11, 27, 1, 30, 0, 123456, tzinfo=UTC)


# -- peek ----------------------------------------------------------------------------------


def test_peek_returns_source_id_and_type_of_an_invalid_event() -> None:
    raw = {"source": "govnet://320102/dept/x", "id": "abc", "type": "Bad Type", "sequence": 0}

    assert peek(json.dumps(raw)) == {
        "source": "govnet://320102/dept/x",
        "id": "abc",
        "type": "Bad Type",
    }


@pytest.mark.parametrize(
    ("sequence", "seen"),
    [(7, {"sequence": 7}), (0, {}), (-1, {}), (2**53, {}), ("7", {}), (7.0, {}), (True, {})],
)
def test_peek_returns_a_sequence_only_when_it_is_a_usable_one(
    sequence: object, seen: dict[str, int]
) -> None:
    assert peek(json.dumps({"type": "x.y", "sequence": sequence})) == {"type": "x.y"} | seen


def test_peek_leaves_out_values_that_are_not_strings() -> None:
    assert peek(b'{"source": 5, "id": null, "type": "item.published"}') == {
        "type": "item.published"
    }


@pytest.mark.parametrize(
    "body", [b"{not json", "中文".encode("gbk"), b'["item.published"]', b"null"]
)
def test_peek_returns_nothing_for_a_body_it_cannot_read(body: bytes) -> None:
    assert peek(body) == {}


# -- new_event -----------------------------------------------------------------------------


def test_new_event_builds_an_unsequenced_event_of_the_latest_major(registry: Registry) -> None:
    now = datetime(2026, 11, 27, 9, 30, tzinfo=CHINA)
    source = Source.for_service("320102", "applications")

    event = new_event(
        registry,
        "application.submitted",
        application()["data"],
        source=source,
        now=now,
        subject=CASE,
        event_id="evt-1",
    )

    assert event.id == "evt-1"
    assert event.source == "govnet://320102/applications"
    assert event.division == "320102"
    assert event.dataschema == "govnet:application.submitted/v1"
    assert event.sequence == 0
    assert event.subject == CASE
    assert event.time == now


def test_new_event_makes_a_fresh_id_when_none_is_given(registry: Registry) -> None:
    source = Source.for_service("320102", "applications")
    now = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
    data = application()["data"]

    first = new_event(registry, "application.submitted", data, source=source, now=now)
    second = new_event(registry, "application.submitted", data, source=source, now=now)

    assert first.id != second.id
    assert len(first.id) == 36


def test_new_event_refuses_an_invalid_payload_before_anything_is_published(
    registry: Registry,
) -> None:
    data = copy.deepcopy(application()["data"])
    data["applicant"]["phone"] = "13912345678"
    del data["basic_code"]

    with pytest.raises(ContractError) as info:
        new_event(
            registry,
            "application.submitted",
            data,
            source=Source.for_service("320102", "applications"),
            now=datetime(2026, 11, 27, 1, 30, tzinfo=UTC),
        )

    assert info.value.code == errors.INVALID_DATA
    assert info.value.violations == (
        FieldViolation(
            "data.applicant.phone",
            "must be masked (first 3 and last 4 digits kept, e.g. 138****1234)",
        ),
        FieldViolation("data.basic_code", "missing data for required field"),
    )


def test_new_event_refuses_an_unknown_type(registry: Registry) -> None:
    with pytest.raises(ContractError) as info:
        new_event(
            registry,
            "case.closed",
            {},
            source=Source.for_service("320102", "applications"),
            now=datetime(2026, 11, 27, 1, 30, tzinfo=UTC),
        )

    assert only(info.value) == (
        errors.UNKNOWN_TYPE,
        "type",
        "case.closed is not a registered event type",
    )


def test_a_new_event_once_sequenced_survives_encode_and_decode(registry: Registry) -> None:
    event = new_event(
        registry,
        "evaluation.submitted",
        evaluation()["data"],
        source=Source.for_department("320102", XUANWU_MARKET),
        now=datetime(2026, 12, 2, 14, 45, 0, 250000, tzinfo=CHINA),
        subject=CASE,
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ).with_sequence(7)

    wire = encode(event)
    decoded = decode(wire, registry)

    assert decoded == event
    assert json.loads(wire)["time"] == "2026-12-02T06:45:00.250000Z"
    assert json.loads(wire)["datacontenttype"] == "application/json"
    assert encode(decoded) == wire


def test_an_event_built_in_code_has_no_wire_object() -> None:
    event = Event(
        id="e",
        source="govnet://320102/catalog",
        type="item.published",
        major=1,
        time=datetime(2026, 11, 26, tzinfo=UTC),
        division="320102",
        sequence=1,
        data={},
    )

    assert event.wire is None
    assert encode(event) == canonical_json(event.to_dict())


def test_numbering_a_new_event_gives_the_bytes_encoding_it_again_would(
    registry: Registry,
) -> None:
    from services.contract.envelope import Source, encoded, numbered

    data = application()["data"]
    source = Source.for_service("320102", "applications")
    event = new_event(registry, "application.submitted", data, source=source, now=datetime.now(UTC))
    once = numbered(event, 42)
    assert once.sequence == 42
    assert once.body == encoded(event.with_sequence(42)).body
    assert json.loads(once.body)["sequence"] == 42


def test_a_malformed_escalation_from_below_is_refused_naming_each_field(
    registry: Registry,
) -> None:
    raw = json.loads((GOLDEN / "rectification.escalated.v1.json").read_text("utf-8"))
    raw["data"].update(escalated_to="supervision:32010", level="angry", rectify_by="soon")
    del raw["data"]["department"]

    refused = refusal(raw, registry)

    assert refused.code == "invalid_data"
    assert sorted(v.field for v in refused.violations) == [
        "data.department",
        "data.escalated_to",
        "data.level",
        "data.rectify_by",
    ]
    assert any(
        "supervision:<6-digit division code> or dept:<18-character USCC>" in v.reason
        for v in refused.violations
    )


def test_a_source_with_a_service_name_too_long_to_be_recorded_is_refused_by_name(
    registry: Registry,
) -> None:
    # Every consumer records (source, id) of what it applied, in a column of 200 characters.
    raw = application()
    raw["source"] = "govnet://320102/" + "a" * 65
    assert only(refusal(raw, registry)) == (
        errors.INVALID_ATTRIBUTE,
        "source",
        "names a service of more than 64 characters",
    )
    assert parse_source("govnet://320102/" + "a" * 64).service == "a" * 64
