"""The CloudEvents 1.0 envelope every govnet event travels in (structured JSON mode).

Wire form: the AMQP message body is one UTF-8 JSON object, content type
`application/cloudevents+json`, routing key == `type`. See README "Publishing events".

`decode()` turns untrusted bytes into an `Event` or raises `ContractError` naming the
attribute at fault; `encode()` produces the canonical bytes, which are also what the audit
log hashes: the JSON Canonicalization Scheme of RFC 8785 (see `canonical_json`).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from services.contract import errors
from services.contract.errors import ContractError, FieldViolation
from services.contract.identifiers import IdentifierError, check_division_code, check_uscc
from services.contract.registry import Registry

SPECVERSION = "1.0"

REQUIRED_ATTRIBUTES = (
    "specversion",
    "id",
    "source",
    "type",
    "dataschema",
    "time",
    "division",
    "sequence",
    "data",
)
OPTIONAL_ATTRIBUTES = ("subject", "traceparent", "datacontenttype")
KNOWN_ATTRIBUTES = frozenset(REQUIRED_ATTRIBUTES + OPTIONAL_ATTRIBUTES)

MAX_ID_LENGTH = 128
MAX_SUBJECT_LENGTH = 256

_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_DATASCHEMA_RE = re.compile(r"^govnet:(?P<type>[a-z0-9_.]+)/v(?P<major>[1-9][0-9]{0,3})$")
MAX_SERVICE_NAME = 64
"""A source is a key of every consumer's record of what it applied: it must stay short."""
_LONG_SERVICE_RE = re.compile(r"^govnet://[0-9]{6}/[a-z][a-z0-9-]*$")
_SOURCE_RE = re.compile(
    r"^govnet://(?P<division>[0-9]{6})/(?:(?P<service>[a-z][a-z0-9-]{0,63})|dept/(?P<uscc>[0-9A-Z]{18}))$"
)
_TIME_RE = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_TRACEPARENT_RE = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_EXTENSION_NAME_RE = re.compile(r"^[a-z0-9]{1,20}$")
_INT32 = range(-(2**31), 2**31)


@dataclass(frozen=True)
class Source:
    """A parsed `source` attribute: a platform service or a department system of a node."""

    division: str
    service: str | None = None
    department: str | None = None

    @property
    def is_department(self) -> bool:
        return self.department is not None

    def __str__(self) -> str:
        tail = self.service if self.service else f"dept/{self.department}"
        return f"govnet://{self.division}/{tail}"

    @classmethod
    def for_service(cls, division: str, service: str) -> Source:
        return cls(division=division, service=service)

    @classmethod
    def for_department(cls, division: str, uscc: str) -> Source:
        return cls(division=division, department=uscc)


@dataclass(frozen=True)
class Event:
    """One contract event. `data` is the JSON payload exactly as on the wire."""

    id: str
    source: str
    type: str
    major: int
    time: datetime
    division: str
    sequence: int
    data: Mapping[str, Any]
    subject: str | None = None
    traceparent: str | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)
    wire: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    """The JSON object as received, when decoded; its canonical form is what audit hashes."""
    body: bytes | None = field(default=None, compare=False, repr=False)
    """The canonical bytes, once computed (`encoded`), so they are computed once."""

    @property
    def dataschema(self) -> str:
        return dataschema_for(self.type, self.major)

    @property
    def key(self) -> tuple[str, str]:
        """The de-duplication key: `(source, id)`."""
        return (self.source, self.id)

    def with_sequence(self, sequence: int) -> Event:
        return replace(self, sequence=sequence, body=None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extensions)
        out.update(
            specversion=SPECVERSION,
            id=self.id,
            source=self.source,
            type=self.type,
            dataschema=self.dataschema,
            time=format_time(self.time),
            division=self.division,
            sequence=self.sequence,
            datacontenttype="application/json",
            data=dict(self.data),
        )
        if self.subject is not None:
            out["subject"] = self.subject
        if self.traceparent is not None:
            out["traceparent"] = self.traceparent
        return out


def dataschema_for(event_type: str, major: int) -> str:
    return f"govnet:{event_type}/v{major}"


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a `Z`: `2026-11-26T08:00:00.000000Z`."""
    if value.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """The canonical form of RFC 8785 (JSON Canonicalization Scheme): object keys sorted by
    their UTF-16 code units, no insignificant whitespace, strings as UTF-8 with only the
    escapes JSON requires, numbers as ECMAScript prints them (`1.0` is `1`, `1e-7` is
    `1e-7`). Any JCS library in any language produces the same bytes, so a department can
    recompute the audit leaf of an event it sent.

    orjson with sorted keys already produces exactly this for integers, strings and keys
    inside the Basic Multilingual Plane; the rare value with a float, an astral-plane
    character or an integer beyond 64 bits takes the slower, exact path.
    """
    try:
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return _jcs(value).encode("utf-8")
    if _needs_exact(value, out):
        return _jcs(value).encode("utf-8")
    return out


# Every byte but the lead bytes of 4-byte UTF-8 sequences (astral-plane characters).
_NOT_ASTRAL = bytes(range(0xF0)) + bytes(range(0xF5, 0x100))


def _needs_exact_python(value: Any, out: bytes) -> bool:
    """Whether orjson's output `out` of `value` is not yet RFC 8785: a float anywhere in
    `value`, or an astral-plane character in `out`."""
    return _has_float(value) or bool(not out.isascii() and out.translate(None, _NOT_ASTRAL))


try:  # the same check in C, when govnet was installed with a compiler (services/_speedups.c)
    from services._speedups import needs_exact as _needs_exact
except ImportError:  # pragma: no cover - depends on the install
    _needs_exact = _needs_exact_python


def _has_float(value: Any) -> bool:
    """Whether a JSON value holds a float anywhere (a walk that skips scalars quickly)."""
    pending = [value]
    while pending:
        container = pending.pop()
        for item in container.values() if type(container) is dict else container:
            kind = type(item)
            if kind is str or kind is int:
                continue
            if kind is float:
                return True
            if kind is dict or kind is list or kind is tuple:
                pending.append(item)
    return False


def _jcs(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None or isinstance(value, bool | int):
        return json.dumps(value)
    if isinstance(value, float):
        return es6_number(value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: item[0].encode("utf-16-be"))
        return "{" + ",".join(f"{_jcs(k)}:{_jcs(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_jcs(v) for v in value) + "]"
    raise TypeError(f"{type(value).__name__} is not JSON")


def es6_number(value: float) -> str:
    """A float as ECMAScript's Number.prototype.toString prints it (RFC 8785 §3.2.2.3)."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{value} is not allowed in JSON")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)  # the decimal point's position
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        mark = "+" if n - 1 >= 0 else "-"
        head = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = f"{head}e{mark}{abs(n - 1)}"
    return sign + text


def encode(event: Event) -> bytes:
    """The canonical bytes of an event: of the object as received if it was decoded (so a
    department can recompute them from what it sent), else of `to_dict()`."""
    if event.body is not None:
        return event.body
    return canonical_json(event.wire if event.wire is not None else event.to_dict())


def encoded(event: Event) -> Event:
    """`event` carrying its canonical bytes, so that encoding it again costs nothing."""
    return replace(event, body=encode(event))


def numbered(event: Event, sequence: int) -> Event:
    """A new event (built by `new_event`, not decoded) given its `sequence` and carrying its
    canonical bytes: `encoded(event.with_sequence(sequence))` in one copy instead of two."""
    if event.wire is not None:  # a decoded event keeps the object it came as
        return encoded(event.with_sequence(sequence))
    out = event.to_dict()
    out["sequence"] = sequence
    return replace(event, sequence=sequence, body=canonical_json(out))


def new_event(
    registry: Registry,
    event_type: str,
    data: Mapping[str, Any],
    *,
    source: Source,
    now: datetime,
    subject: str | None = None,
    major: int | None = None,
    traceparent: str | None = None,
    event_id: str | None = None,
) -> Event:
    """Build an event for publishing, validating `data` against the registry first.

    Producers validate before publishing: a payload that fails its schema raises
    `ContractError` here, in the producer, instead of being rejected downstream. The
    `sequence` is 0 until the outbox assigns the source's next number.
    """
    spec = registry.latest(event_type) if major is None else registry.get(event_type, major)
    registry.validate(spec.type, spec.major, data, prefix="data")
    return Event(
        id=event_id or str(uuid.uuid4()),
        source=str(source),
        type=spec.type,
        major=spec.major,
        time=now,
        division=source.division,
        sequence=0,
        data=dict(data),
        subject=subject,
        traceparent=traceparent,
    )


def decode(body: bytes | str, registry: Registry) -> Event:
    """Parse and validate untrusted bytes into an `Event`.

    Raises `ContractError` with the first structural problem (malformed JSON, a missing or
    invalid attribute, an unknown type or version) or with every payload violation at once.
    Unknown extension attributes and unknown payload fields are kept, not refused.
    """
    raw = _parse_json(body)
    _require_attributes(raw)
    event_type = _check_type(raw["type"])
    major = _check_dataschema(raw["dataschema"], event_type)
    registry.get(event_type, major)  # unknown type / version → ContractError
    source = parse_source(raw["source"])
    # Every envelope attribute is checked before the payload: a producer fixes those first.
    event = Event(
        id=_check_id(raw["id"]),
        source=str(source),
        type=event_type,
        major=major,
        time=parse_time(raw["time"], "time"),
        division=_check_division(raw["division"], source),
        sequence=_check_sequence(raw["sequence"]),
        data=raw["data"],
        subject=_check_subject(raw.get("subject")),
        traceparent=_check_traceparent(raw.get("traceparent")),
        extensions=_extensions(raw),
        wire=raw,
    )
    if not isinstance(event.data, dict):
        raise ContractError.single(errors.INVALID_ATTRIBUTE, "data", "must be a JSON object")
    registry.validate(event_type, major, event.data, prefix="data")
    return event


def peek(body: bytes | str) -> dict[str, Any]:
    """Best-effort `source`, `id`, `type` and `sequence` of a message that may be invalid,
    for rejections: each only if present and of the right kind (a sequence a positive
    integer below 2**53)."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(raw, dict):
        return {}
    seen = {k: raw[k] for k in ("source", "id", "type") if isinstance(raw.get(k), str)}
    sequence = raw.get("sequence")
    if type(sequence) is int and 1 <= sequence < 2**53:
        seen["sequence"] = sequence
    return seen


def parse_source(value: Any) -> Source:
    if not isinstance(value, str):
        raise _invalid("source", "must be a string")
    match = _SOURCE_RE.match(value)
    if not match and _LONG_SERVICE_RE.match(value):
        raise _invalid("source", f"names a service of more than {MAX_SERVICE_NAME} characters")
    if not match:
        raise _invalid(
            "source",
            "must be govnet://<division>/<service> or govnet://<division>/dept/<USCC>",
        )
    division = match["division"]
    try:
        check_division_code(division)
    except IdentifierError as exc:
        raise _invalid("source", f"names a bad division: {exc.reason}") from None
    if match["uscc"]:
        try:
            uscc = check_uscc(match["uscc"]).value
        except IdentifierError as exc:
            raise _invalid("source", f"department code: {exc.reason}") from None
        return Source.for_department(division, uscc)
    return Source.for_service(division, match["service"])


def parse_time(value: Any, field_name: str) -> datetime:
    if not isinstance(value, str) or not _TIME_RE.match(value):
        raise _invalid(field_name, "must be an RFC 3339 timestamp with a time zone")
    text = value
    fraction = re.search(r"\.([0-9]+)", text)
    if fraction and len(fraction.group(1)) > 6:  # Python keeps microseconds only
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6])
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(field_name, "is not a real date and time") from None
    return parsed.astimezone(UTC)


def _parse_json(body: bytes | str) -> dict[str, Any]:
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if isinstance(body, bytes | bytearray):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                raise ContractError.single(errors.MALFORMED, "", "body is not UTF-8") from None
        raise ContractError.single(
            errors.MALFORMED, "", f"body is not valid JSON ({exc})"
        ) from None
    if not isinstance(raw, dict):
        raise ContractError.single(errors.MALFORMED, "", "body must be a JSON object")
    return raw


def _require_attributes(raw: Mapping[str, Any]) -> None:
    missing = [name for name in REQUIRED_ATTRIBUTES if name not in raw or raw[name] is None]
    if missing:
        raise ContractError(
            errors.MISSING_ATTRIBUTE,
            [FieldViolation(name, "required attribute is missing") for name in missing],
        )
    if raw["specversion"] != SPECVERSION:
        raise _invalid("specversion", f'must be "{SPECVERSION}"')
    content_type = raw.get("datacontenttype")
    if content_type is not None and content_type != "application/json":
        raise _invalid("datacontenttype", 'must be "application/json" when present')


def _check_type(value: Any) -> str:
    if not isinstance(value, str) or not _TYPE_RE.match(value):
        raise _invalid("type", "must look like <entity>.<verb>, lower case")
    return value


def _check_dataschema(value: Any, event_type: str) -> int:
    match = _DATASCHEMA_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise _invalid("dataschema", "must be govnet:<type>/v<major>")
    if match["type"] != event_type:
        raise _invalid("dataschema", f"names type {match['type']} but the event is {event_type}")
    return int(match["major"])


def _check_division(value: Any, source: Source) -> str:
    if not isinstance(value, str):
        raise _invalid("division", "must be a 6-digit GB/T 2260 code as a string")
    try:
        code = check_division_code(value).code
    except IdentifierError as exc:
        raise _invalid("division", exc.reason) from None
    if code != source.division:
        raise _invalid("division", f"is {code} but source names division {source.division}")
    return code


def _check_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid("id", "must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise _invalid("id", f"must be at most {MAX_ID_LENGTH} characters")
    return value


def _check_sequence(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid("sequence", "must be an integer >= 1 (per-source, gap-free)")
    return value


def _check_subject(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_SUBJECT_LENGTH:
        raise _invalid("subject", f"must be a string of 1 to {MAX_SUBJECT_LENGTH} characters")
    return value


def _check_traceparent(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _TRACEPARENT_RE.match(value):
        raise _invalid("traceparent", "must be a W3C traceparent (00-<trace>-<span>-<flags>)")
    return value


def _extensions(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Extension attributes as CloudEvents 1.0 defines them: a name of 1 to 20 lower-case
    ASCII letters and digits, and a string, boolean or 32-bit integer value."""
    out = {k: v for k, v in raw.items() if k not in KNOWN_ATTRIBUTES}
    for name, value in out.items():
        if not _EXTENSION_NAME_RE.match(name):
            raise _invalid(
                name, "extension attribute names are 1 to 20 lower-case letters a-z and digits"
            )
        if not (isinstance(value, str | bool) or (isinstance(value, int) and value in _INT32)):
            raise _invalid(
                name, "extension attributes must be a string, a boolean or a 32-bit integer"
            )
    return out


def _invalid(field_name: str, reason: str) -> ContractError:
    return ContractError.single(errors.INVALID_ATTRIBUTE, field_name, reason)
