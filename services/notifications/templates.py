"""Notification templates: per purpose, versioned, in zh-CN (the default) and en.

A template names the event whose fields it may use (`event: application.refused/v1`).
Every placeholder — `{reason}`, `{applicant.name}` for a nested field — must be a field of
that event's payload schema or one of the context fields govnet computes (`CONTEXT`);
`load_templates` checks every placeholder of every text when the service starts and
refuses the whole file, listing each problem, if any names something else. A template
error is found by the operator who edits the file, not by an applicant who never gets a
message.

Placeholders are plain names, not Python format fields: no attribute access, no format
specs. `{{` and `}}` stand for braces. Values are formatted by kind: dates (and the day, in
China Standard Time, of date-times) as `2026年12月24日` / `24 December 2026`, lists joined
with `、` / `, `, booleans as 是/否 or yes/no.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from marshmallow import Schema, fields

from services.contract.errors import ContractError
from services.contract.registry import Registry

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
PARTS = ("title", "body", "sms")
CHANNELS = ("inbox", "email", "sms", "workorder")

CONTEXT_COMMON = frozenset(
    {
        "case.item_name",
        "case.applicant_name",
        "case.department_name",
        "case.channel",
        "division.name",
    }
)
"""Context fields every template may use: from the case as notifications knows it."""

CONTEXT: Mapping[str, frozenset[str]] = {
    "application.submitted": frozenset({"promise"}),
    "application.concluded": frozenset({"result"}),
    "evaluation.invitation": frozenset({"result", "invitation_days"}),
    "rectification.requested": frozenset({"level_name", "rectify_by", "rectify_days"}),
    "rectification.escalated": frozenset({"level_name", "rectify_by", "rectify_days"}),
    "callback.concluded": frozenset({"result"}),
    "callback.bad_review": frozenset({"level_name"}),
}
"""Context fields only some templates may use: computed for their purpose."""

REQUIRED: Mapping[str, str] = {
    "application.submitted": "application.submitted",
    "application.accepted": "application.accepted",
    "application.refused": "application.refused",
    "application.supplement_requested": "application.supplement_requested",
    "application.concluded": "application.concluded",
    "evaluation.invitation": "application.concluded",
    "application.deadline_warning": "application.deadline_warning",
    "application.overdue": "application.overdue",
    "application.review_assigned": "application.review_assigned",
    "rectification.requested": "application.evaluated",
    "rectification.escalated": "application.evaluated",
    "callback.accepted": "application.accepted",
    "callback.refused": "application.refused",
    "callback.concluded": "application.concluded",
    "callback.bad_review": "application.evaluated",
}
"""Every template govnet sends, and the event type whose fields it may use."""

AUDIENCE: Mapping[str, str] = {
    "application.submitted": "applicant",
    "application.accepted": "applicant",
    "application.refused": "applicant",
    "application.supplement_requested": "applicant",
    "application.concluded": "applicant",
    "evaluation.invitation": "applicant",
    "application.deadline_warning": "department",
    "application.overdue": "department",
    "application.review_assigned": "department",
    "rectification.requested": "department",
    "rectification.escalated": "supervisor",
    "callback.accepted": "workorder",
    "callback.refused": "workorder",
    "callback.concluded": "workorder",
    "callback.bad_review": "workorder",
}
"""Who each template goes to. Fixed by its purpose: a file states it (`audience:`) so that
whoever edits the texts sees who reads them, and loading refuses a file that says otherwise.
"""

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\}|[{}]")
CHINA = timezone(timedelta(hours=8))
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class Localized(dict[str, str]):
    """A context value with one text per language (`{"zh-CN": "已办结", "en": "concluded"}`)."""


class TemplateError(ValueError):
    """A templates file that cannot be used; `problems` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("bad notification templates:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Rendered:
    template: str
    """`<id>/<language>/v<version>`, as events and records name it."""
    language: str
    title: str
    body: str
    sms: str

    def text_for(self, channel: str) -> str:
        """What a message on `channel` says: the SMS text for SMS, else the body."""
        return self.sms if channel == "sms" else self.body


@dataclass(frozen=True)
class Template:
    id: str
    version: int
    event_type: str
    major: int
    audience: str
    channels: tuple[str, ...]
    """The channels it is sent on: a recipient hears it on those of them the node has and
    the recipient accepts, and on no other."""
    texts: Mapping[str, Mapping[str, str]]
    kinds: Mapping[str, str] = field(default_factory=dict)
    """The kind of each event field a placeholder names: date, list, boolean or text."""

    def render(self, language: str, values: Mapping[str, Any]) -> Rendered:
        """The template's texts in `language` (zh-CN if it has none in that language),
        with every placeholder filled from `values` (dotted names look into mappings)."""
        chosen = language if language in self.texts else DEFAULT_LANGUAGE
        parts = self.texts[chosen]
        filled = {part: _fill(parts.get(part, ""), values, chosen, self.kinds) for part in PARTS}
        return Rendered(
            f"{self.id}/{chosen}/v{self.version}",
            chosen,
            filled["title"],
            filled["body"],
            filled["sms"],
        )


@dataclass(frozen=True)
class TemplateSet:
    templates: Mapping[str, Template]
    """The newest version of each template, by id."""
    source: str

    def __getitem__(self, template_id: str) -> Template:
        return self.templates[template_id]


def builtin_path() -> Path:
    return Path(str(resources.files("services.notifications").joinpath("templates")))


def load_templates(path: Path | None, registry: Registry) -> TemplateSet:
    """Read and check a templates file (the built-in one without `path`); raise
    `TemplateError` listing every problem."""
    file = path or builtin_path() / "notifications.yaml"
    try:
        loaded = yaml.safe_load(file.read_text("utf-8"))
    except OSError as exc:
        raise TemplateError([f"{file}: cannot read it ({exc.strerror})"]) from None
    except yaml.YAMLError as exc:
        raise TemplateError([f"{file}: not valid YAML ({exc})"]) from None
    entries = loaded.get("templates") if isinstance(loaded, dict) else None
    if not isinstance(entries, list):
        raise TemplateError([f"{file}: must be a mapping with a list under 'templates'"])
    problems: list[str] = []
    newest: dict[str, Template] = {}
    for position, entry in enumerate(entries, 1):
        template = _read_template(entry, position, registry, problems, str(file))
        if template is None:
            continue
        held = newest.get(template.id)
        if held is not None and held.version == template.version:
            problems.append(f"{file}: {template.id} v{template.version} is defined twice")
        elif held is None or template.version > held.version:
            newest[template.id] = template
    for missing in sorted(set(REQUIRED) - set(newest)):
        problems.append(f"{file}: has no template {missing} (for {REQUIRED[missing]})")
    if problems:
        raise TemplateError(problems)
    return TemplateSet(newest, str(file))


def _read_template(
    entry: Any, position: int, registry: Registry, problems: list[str], file: str
) -> Template | None:
    where = f"{file}: template #{position}"
    if not isinstance(entry, dict):
        problems.append(f"{where}: must be a mapping")
        return None
    template_id = entry.get("id")
    if not isinstance(template_id, str) or not template_id:
        problems.append(f"{where}: needs an id")
        return None
    version = entry.get("version")
    where = f"{file}: {template_id} v{version}"
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(f"{where}: version must be a whole number >= 1")
        return None
    if template_id not in REQUIRED:
        problems.append(f"{where}: unknown template (govnet sends {', '.join(sorted(REQUIRED))})")
        return None
    event_type, _, major_text = str(entry.get("event", "")).partition("/v")
    if event_type != REQUIRED[template_id] or not major_text.isdigit():
        problems.append(f"{where}: event must be {REQUIRED[template_id]}/v<major>")
        return None
    try:
        spec = registry.get(event_type, int(major_text))
    except ContractError as exc:  # no such version
        problems.append(f"{where}: {exc.violations[0].reason}")
        return None
    audience = entry.get("audience")
    if audience != AUDIENCE[template_id]:
        problems.append(
            f"{where}: audience must be {AUDIENCE[template_id]} "
            f"(govnet sends {template_id} to the {AUDIENCE[template_id]})"
        )
        return None
    channels, channel_problem = _channels(entry.get("channels"), audience)
    if channel_problem:
        problems.append(f"{where}: {channel_problem}")
        return None
    available = _event_fields(registry.schema(spec.type, spec.major))
    allowed = set(available) | CONTEXT_COMMON | CONTEXT.get(template_id, frozenset())
    texts: dict[str, dict[str, str]] = {}
    for language in LANGUAGES:
        parts = entry.get(language)
        if parts is None:
            if language == DEFAULT_LANGUAGE:
                problems.append(f"{where}: has no {DEFAULT_LANGUAGE} texts")
            continue
        if not isinstance(parts, dict):
            problems.append(f"{where} {language}: must be a mapping of title, body, sms")
            continue
        needed = _parts_for(channels)
        for part in needed:
            text = parts.get(part)
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{where} {language}: needs a {part} (channels {list(channels)})")
                continue
            for name in _placeholders(text, f"{where} {language} {part}", problems):
                if name not in allowed:
                    problems.append(
                        f"{where} {language} {part}: uses {{{name}}}, which "
                        f"{spec.type} v{spec.major} does not have (it has: "
                        f"{', '.join(sorted(allowed))})"
                    )
        texts[language] = {part: str(parts.get(part) or "") for part in PARTS}
    kinds = {name: kind for name, kind in available.items() if kind != "text"}
    return Template(template_id, version, spec.type, spec.major, audience, channels, texts, kinds)


def _channels(value: Any, audience: str) -> tuple[tuple[str, ...], str | None]:
    """The channels of a template for `audience`, and what is wrong with them (or None)."""
    if audience == "workorder":
        if value != ["workorder"]:
            return (), "channels must be [workorder] (a 12345 call-back is a work order only)"
        return ("workorder",), None
    allowed = [c for c in CHANNELS if c != "workorder"]
    if (
        not isinstance(value, list)
        or not all(isinstance(c, str) for c in value)
        or not set(value) <= set(allowed)
        or len(set(value)) != len(value)
    ):
        return (), f"channels must be a list of {', '.join(allowed)}, each once"
    if "inbox" not in value:
        return (), "channels must include inbox (the inbox keeps every message a recipient gets)"
    return tuple(value), None


def _parts_for(channels: Iterable[str]) -> list[str]:
    wanted = set(channels)
    needed = []
    if wanted & {"inbox", "email", "workorder"}:
        needed += ["title", "body"]
    if "sms" in wanted:
        needed.append("sms")
    return needed


def _placeholders(text: str, where: str, problems: list[str]) -> list[str]:
    names = []
    for match in _PLACEHOLDER.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            problems.append(f"{where}: a lone {token!r} (write {token * 2} for a brace)")
            continue
        names.append(match.group(1))
    return names


def _event_fields(schema: Schema, prefix: str = "") -> dict[str, str]:
    """Every field path of a payload schema, and how its values are formatted."""
    out: dict[str, str] = {}
    for name, field_ in schema.fields.items():
        path = f"{prefix}{field_.data_key or name}"
        if isinstance(field_, fields.Nested) and not field_.many:
            out.update(_event_fields(field_.schema, f"{path}."))
        elif isinstance(field_, fields.List):
            out[path] = "list"
        elif isinstance(field_, fields.DateTime):
            out[path] = "datetime"
        elif isinstance(field_, fields.Date):
            out[path] = "date"
        elif isinstance(field_, fields.Boolean):
            out[path] = "boolean"
        else:
            out[path] = "text"
    return out


def _fill(text: str, values: Mapping[str, Any], language: str, kinds: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        return _format(_lookup(values, name), kinds.get(name, "text"), language)

    return _PLACEHOLDER.sub(replace, text)


def _lookup(values: Mapping[str, Any], name: str) -> Any:
    value: Any = values
    for part in name.split("."):
        if not isinstance(value, Mapping) or isinstance(value, Localized):
            return ""
        value = value.get(part, "")
    return value


def _format(value: Any, kind: str, language: str) -> str:
    if value is None:
        return ""
    if isinstance(value, Localized):
        return value.get(language) or value.get(DEFAULT_LANGUAGE, "")
    if kind == "list" or isinstance(value, list | tuple):
        separator = "、" if language == "zh-CN" else ", "
        return separator.join(_format(item, "text", language) for item in value)
    if kind == "boolean" or isinstance(value, bool):
        yes, no = ("是", "否") if language == "zh-CN" else ("yes", "no")
        return yes if value else no
    if kind == "datetime":
        return format_date(_china_day(value), language)
    if kind == "date" or isinstance(value, date):
        return format_date(value, language)
    return str(value)


def _china_day(value: Any) -> Any:
    """The day, in China Standard Time, of an RFC 3339 time (the text when it is not one)."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(CHINA).date()


def format_date(value: Any, language: str) -> str:
    """`2026年12月24日` or `24 December 2026` (the text itself when it is not a date)."""
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    if language == "zh-CN":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
