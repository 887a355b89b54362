"""Notifications, pure: the templates and their start-up check, who hears what on which
channel, and when an email or SMS may go (backoff, quiet hours, rate limits)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.contract import names
from services.contract.schemas import default_registry
from services.notifications import domain
from services.notifications.domain import Case, Contact
from services.notifications.templates import (
    REQUIRED,
    TemplateError,
    builtin_path,
    load_templates,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
MARKET = "11320102767342276U"
BOTH = frozenset({domain.EMAIL, domain.SMS})
TEMPLATES = load_templates(None, default_registry())


def golden(event_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GOLDEN / f"{event_type}.v1.json").read_text("utf-8"))
    return loaded


CASE = Case(
    case_number="320102-20261127-000001",
    recipient="js-gov-8f3a21c7",
    account_id="js-gov-8f3a21c7",
    applicant_name="王*",
    item_name="食品经营许可",
    channel="web",
    department=MARKET,
    division="320102",
)
BASE = domain.context(CASE, "玄武区市场监督管理局", "玄武区")
APPLICANT = Contact("js-gov-8f3a21c7", email="wang@example.com", phone="13812345678")


def render(planned: domain.Planned) -> Any:
    return TEMPLATES[planned.template_id].render(planned.language, planned.values)


def plan(event_type: str, case: Case = CASE, **kwargs: Any) -> domain.Plan:
    data = golden(event_type)["data"]
    data.update(kwargs.pop("data", {}))
    options: dict[str, Any] = {
        "applicant": APPLICANT,
        "department": Contact(
            f"dept:{MARKET}", email="xwscj@example.gov.cn", name="玄武区市场监督管理局"
        ),
        "base": BASE,
        "channels": BOTH,
        "templates": TEMPLATES,
    }
    options.update(kwargs)
    return domain.plan_event(event_type, data, case, **options)


# -- templates --------------------------------------------------------------------------


def test_the_built_in_templates_cover_every_purpose_in_both_languages() -> None:
    assert set(TEMPLATES.templates) == set(REQUIRED)
    for template in TEMPLATES.templates.values():
        assert set(template.texts) == {"zh-CN", "en"}, template.id


def test_a_submitted_application_gets_a_message_in_the_applicants_inbox() -> None:
    [message] = plan(names.APPLICATION_SUBMITTED).notifications

    rendered = render(message)
    assert (message.recipient, message.channel) == ("js-gov-8f3a21c7", "inbox")
    assert rendered.template == "application.submitted/zh-CN/v1"
    assert rendered.title == "您的“食品经营许可”申请已收到"
    assert rendered.body == (
        "王*，您好：您提交的“食品经营许可”申请已收到，办件编号 320102-20261127-000001，"
        "承诺在 10 个工作日内办结。"
    )


def test_an_immediate_item_is_promised_on_the_spot_and_an_english_reader_reads_english() -> None:
    reader = Contact("js-gov-8f3a21c7", language="en")

    [message] = plan(
        names.APPLICATION_SUBMITTED, applicant=reader, data={"promised_limit_days": 0}
    ).notifications

    rendered = render(message)
    assert rendered.template == "application.submitted/en/v1"
    assert rendered.body.endswith("case number 320102-20261127-000001. It is handled on the spot.")


def test_an_applicant_without_an_account_is_reached_through_the_case() -> None:
    data = golden(names.APPLICATION_SUBMITTED)["data"]
    data["applicant"]["account_id"] = None

    case = domain.case_from_submitted(data, "320102")

    assert case.recipient == "case:320102-20261127-000001"
    assert domain.applicant_key("", "320102-20261127-000002") == "case:320102-20261127-000002"


def test_a_refusal_reaches_the_applicant_on_every_channel_they_have_with_the_reason() -> None:
    planned = plan(names.APPLICATION_REFUSED).notifications

    assert [(p.channel, p.address) for p in planned] == [
        ("inbox", None),
        ("email", "wang@example.com"),
        ("sms", "13812345678"),
    ]
    reason = golden(names.APPLICATION_REFUSED)["data"]["reason"]
    rendered = render(planned[2])
    assert rendered.sms == f"【政务服务】您的申请320102-20261127-000001不予受理，原因：{reason}。"


def test_a_supplement_request_lists_every_material_and_a_date_reads_as_a_date() -> None:
    materials = golden(names.APPLICATION_SUPPLEMENT_REQUESTED)["data"]["materials"]
    [inbox, *_] = plan(names.APPLICATION_SUPPLEMENT_REQUESTED).notifications

    assert "、".join(materials) in render(inbox).body
    [accepted, *_] = plan(names.APPLICATION_ACCEPTED, data={"due_date": "2026-12-24"}).notifications
    assert "承诺于 2026年12月24日 前办结" in render(accepted).body
    english = domain.Planned(accepted.template_id, "x", "inbox", "en", accepted.values)
    assert "We promise a decision by 24 December 2026." in render(english).body


def test_channels_the_node_has_not_configured_or_the_applicant_turned_off_are_skipped() -> None:
    quiet = Contact("js-gov-8f3a21c7", email="wang@example.com", phone="13812345678",
                    sms_enabled=False)  # fmt: skip

    planned = plan(names.APPLICATION_ACCEPTED, applicant=quiet).notifications
    email_only_node = plan(names.APPLICATION_ACCEPTED, channels=frozenset()).notifications

    assert [p.channel for p in planned] == ["inbox", "email"]
    assert [p.channel for p in email_only_node] == ["inbox"]


def test_a_conclusion_says_the_result_in_words() -> None:
    [inbox, *_] = plan(
        names.APPLICATION_CONCLUDED, data={"result_code": 1, "reason": "不符合条件"}
    ).notifications

    assert render(inbox).body.endswith("已办结，结果：不予许可（不符合条件）。")


def test_a_hotline_case_also_becomes_a_call_back_work_order() -> None:
    hotline = Case(**{**CASE.__dict__, "channel": "hotline"})

    planned = plan(names.APPLICATION_CONCLUDED, hotline).notifications

    [order] = [p for p in planned if p.channel == "workorder"]
    assert (order.template_id, order.recipient) == ("callback.concluded", "12345:320102")
    assert render(order).title == "回访告知：办件 320102-20261127-000001 已办结"


def test_yellow_and_red_cards_go_to_the_department() -> None:
    yellow = plan(names.APPLICATION_DEADLINE_WARNING).notifications
    red = plan(names.APPLICATION_OVERDUE).notifications

    assert [(p.recipient, p.channel) for p in yellow] == [
        (f"dept:{MARKET}", "inbox"),
        (f"dept:{MARKET}", "email"),
    ]
    assert render(yellow[0]).title.startswith("【黄牌预警】办件 320102-20261127-000001")
    assert render(red[0]).title.startswith("【红牌警告】办件 320102-20261127-000001")


def test_a_bad_review_asks_the_department_to_rectify_by_a_deadline_and_opens_a_call_back() -> None:
    result = plan(
        names.APPLICATION_EVALUATED,
        data={"level": "very_dissatisfied", "bad": True, "comment": "等了太久"},
        rectify_by=date(2026, 12, 8),
        rectify_days=5,
    )

    assert result.rectification_due == date(2026, 12, 8)
    assert [(p.template_id, p.channel) for p in result.notifications] == [
        ("callback.bad_review", "workorder"),
        ("rectification.requested", "inbox"),
        ("rectification.requested", "email"),  # no SMS for rectifications
    ]
    body = render(result.notifications[1]).body
    assert "收到申请人“非常不满意”评价。评价内容：等了太久。" in body
    assert "请于 2026年12月8日 前（5 个工作日内）核实整改并反馈" in body


def test_a_good_review_and_other_events_send_nothing() -> None:
    assert plan(names.APPLICATION_EVALUATED, data={"bad": False}).notifications == []
    assert plan(names.APPLICATION_WITHDRAWN).notifications == []


def escalate(supervisor: Contact | None, division: str) -> list[domain.Planned]:
    return domain.plan_escalation(
        golden(names.APPLICATION_EVALUATED)["data"], supervisor=supervisor, division=division,
        base=BASE, channels=BOTH, templates=TEMPLATES, rectify_by=date(2026, 12, 8),
        rectify_days=5,
    )  # fmt: skip


def test_a_missed_rectification_goes_to_the_supervising_department_the_directory_names() -> None:
    supervisor = Contact("dept:11320100014000000A", email="sup@example.gov.cn", phone="13900000000")

    planned = escalate(supervisor, "320102")

    assert [(p.recipient, p.channel, p.address) for p in planned] == [
        ("dept:11320100014000000A", "inbox", None),
        ("dept:11320100014000000A", "email", "sup@example.gov.cn"),  # no SMS in its template
    ]


@pytest.mark.parametrize(
    ("division", "office"),
    [
        ("320102", "supervision:320100"),  # a county department: its city supervises
        ("320100", "supervision:320000"),  # a city department: the province
        ("320000", "supervision:320000"),  # a provincial department: the province itself
    ],
)
def test_without_a_supervising_department_it_goes_to_the_supervision_office_one_level_up(
    division: str, office: str
) -> None:
    [planned] = escalate(None, division)

    assert (planned.recipient, planned.channel) == (office, "inbox")
    assert render(planned).title == (
        "【督办】玄武区市场监督管理局差评整改逾期：办件 320102-20261127-000001"
    )


def received(division: str, escalated_by: str = "320102", **changes: Any) -> list[domain.Planned]:
    """What the node of `division` plans for the golden `rectification.escalated`, as the
    node of `escalated_by` emitted it."""
    escalated = golden(names.RECTIFICATION_ESCALATED)["data"]
    escalated.update(changes)
    return domain.plan_received_escalation(
        escalated, division=division, escalated_by=escalated_by, escalated_from="玄武区",
        channels=BOTH, templates=TEMPLATES,
    )  # fmt: skip


def test_an_escalation_from_below_reaches_this_levels_supervision_office_in_its_inbox() -> None:
    [planned] = received("320100")

    rendered = render(planned)
    assert (planned.recipient, planned.channel, planned.language) == (
        "supervision:320100", "inbox", "zh-CN",
    )  # fmt: skip
    assert rendered.template == "rectification.escalated/zh-CN/v1"
    assert rendered.title == "【督办】玄武区市场监督管理局差评整改逾期：办件 320102-20261127-000001"
    assert rendered.body == (
        "“食品经营许可”办件 320102-20261127-000001 的“非常不满意”评价应由玄武区市场监督管理局"
        "于 2026年12月23日 前整改反馈，现已逾期，请督办。评价内容：窗口多次让我补交同一份材料。"
    )


def test_an_escalation_from_below_reads_as_the_escalating_nodes_own_copy() -> None:
    """The office reads, in its own node, what the county wrote in its copy of the inbox."""
    evaluated = {**golden(names.APPLICATION_EVALUATED)["data"], "level": "very_dissatisfied"}
    evaluated["comment"] = "窗口多次让我补交同一份材料"
    [local] = domain.plan_escalation(
        evaluated, supervisor=None, division="320102", base=BASE, channels=BOTH,
        templates=TEMPLATES, rectify_by=date(2026, 12, 23), rectify_days=5,
    )  # fmt: skip
    [remote] = received("320100")

    assert (render(remote).title, render(remote).body) == (render(local).title, render(local).body)


@pytest.mark.parametrize(
    ("division", "escalated_to"),
    [
        ("320000", "supervision:320100"),  # the province hears of the city's escalations only
        ("320200", "supervision:320100"),  # another city
        ("320100", "dept:11320100014000000A"),  # a supervising department: not the office's
    ],
)
def test_an_escalation_for_another_level_or_a_department_is_ignored(
    division: str, escalated_to: str
) -> None:
    assert received(division, escalated_to=escalated_to) == []


@pytest.mark.parametrize(
    ("division", "escalated_by"),
    [
        ("320100", "320200"),  # a sibling city
        ("320100", "320205"),  # a county of another city (锡山区, 无锡市)
        ("320100", "320000"),  # the province, above
        ("320100", "320100"),  # the city itself
        ("320000", "320000"),  # the province itself: its office has its own copy
        ("320000", "320102"),  # a county, two levels below
    ],
)
def test_an_escalation_for_this_office_from_a_node_it_does_not_supervise_is_ignored(
    division: str, escalated_by: str
) -> None:
    assert received(division, escalated_by, escalated_to=f"supervision:{division}") == []


def test_a_city_escalation_reaches_the_provinces_office() -> None:
    [planned] = received("320000", "320100", escalated_to="supervision:320000")

    assert (planned.recipient, planned.channel) == ("supervision:320000", "inbox")


def test_an_escalation_from_below_reads_in_english_with_english_levels_and_dates() -> None:
    [planned] = received("320100", comment=None)

    rendered = render(dataclasses.replace(planned, language="en"))
    assert rendered.template == "rectification.escalated/en/v1"
    assert rendered.title == (
        "[Supervise] 玄武区市场监督管理局 missed a rectification: case 320102-20261127-000001"
    )
    assert rendered.body == (
        "The very dissatisfied review of case 320102-20261127-000001 (食品经营许可) was to be "
        "rectified by 玄武区市场监督管理局 by 23 December 2026. It was not: please supervise. "
        "Comment: ."
    )


def test_the_escalation_event_carries_what_a_node_that_never_saw_the_case_needs() -> None:
    case = Case(**{**CASE.__dict__, "implementation_code": "11320102767342276U011230010000001"})
    evaluated = golden(names.APPLICATION_EVALUATED)["data"]

    data = domain.escalation_data(
        "8e2f4a6b-1c3d-4e5f-9a7b-0c1d2e3f4a06", {**evaluated, "level": "dissatisfied"}, case,
        department=None, department_code=MARKET, escalated_to="supervision:320100",
        rectify_by=date(2026, 12, 23), escalated_at=datetime(2026, 12, 24, 1, tzinfo=UTC),
    )  # fmt: skip

    assert data == {
        "rectification_id": "8e2f4a6b-1c3d-4e5f-9a7b-0c1d2e3f4a06",
        "case_number": "320102-20261127-000001",
        "implementation_code": "11320102767342276U011230010000001",
        "item_name": "食品经营许可",
        "department": {"code": MARKET, "name": MARKET},  # not in the directory: its code
        "level": "dissatisfied",
        "comment": "办事效率高",
        "rectify_by": "2026-12-23",
        "escalated_to": "supervision:320100",
        "escalated_at": "2026-12-24T01:00:00+00:00",
    }
    assert default_registry().schema(names.RECTIFICATION_ESCALATED, 1).validate(data) == {}


# -- templates decide the channels ----------------------------------------------------------


def custom(tmp_path: Path, change: Any) -> Any:
    return load_templates(write(tmp_path, change), default_registry())


def test_a_template_without_sms_sends_no_sms_whatever_the_node_and_the_recipient_have(
    tmp_path: Path,
) -> None:
    def no_sms(templates: list[dict[str, Any]]) -> None:
        accepted = by_id(templates, "application.accepted")
        accepted["channels"] = ["inbox", "email"]
        for language in ("zh-CN", "en"):
            del accepted[language]["sms"]

    planned = plan(names.APPLICATION_ACCEPTED, templates=custom(tmp_path, no_sms)).notifications

    assert [(p.channel, p.address) for p in planned] == [
        ("inbox", None),
        ("email", "wang@example.com"),
    ]


def test_a_template_that_adds_a_channel_is_sent_on_it(tmp_path: Path) -> None:
    def more(templates: list[dict[str, Any]]) -> None:
        submitted = by_id(templates, "application.submitted")
        submitted["channels"] = ["inbox", "sms"]
        submitted["zh-CN"]["sms"] = "【政务服务】您的申请{case_number}已收到。"
        submitted["en"]["sms"] = "Application {case_number} received."

    templates = custom(tmp_path, more)
    planned = plan(names.APPLICATION_SUBMITTED, templates=templates).notifications

    assert [(p.channel, p.address) for p in planned] == [("inbox", None), ("sms", "13812345678")]
    text = templates["application.submitted"].render("zh-CN", planned[1].values).sms
    assert text == "【政务服务】您的申请320102-20261127-000001已收到。"


def test_the_built_in_templates_send_rectifications_without_sms() -> None:
    department = Contact(f"dept:{MARKET}", email="xwscj@example.gov.cn", phone="13900000000")

    planned = plan(
        names.APPLICATION_EVALUATED, department=department, data={"bad": True},
        rectify_by=date(2026, 12, 8),
    ).notifications  # fmt: skip

    assert [(p.template_id, p.channel) for p in planned] == [
        ("callback.bad_review", "workorder"),
        ("rectification.requested", "inbox"),
        ("rectification.requested", "email"),
    ]


# -- the start-up check of a templates file -------------------------------------------------


def write(tmp_path: Path, change: Any) -> Path:
    loaded = yaml.safe_load((builtin_path() / "notifications.yaml").read_text("utf-8"))
    change(loaded["templates"])
    path = tmp_path / "templates.yaml"
    path.write_text(yaml.safe_dump(loaded, allow_unicode=True), "utf-8")
    return path


def by_id(templates: list[dict[str, Any]], template_id: str) -> dict[str, Any]:
    return next(t for t in templates if t["id"] == template_id)


def test_a_template_naming_a_field_the_event_lacks_is_refused_at_load_naming_it(
    tmp_path: Path,
) -> None:
    def typo(templates: list[dict[str, Any]]) -> None:
        by_id(templates, "application.refused")["zh-CN"]["sms"] = "原因：{reson}"

    with pytest.raises(TemplateError) as refused:
        load_templates(write(tmp_path, typo), default_registry())

    [problem] = refused.value.problems
    assert problem.startswith(
        f"{tmp_path}/templates.yaml: application.refused v1 zh-CN sms: uses {{reson}}, which "
        "application.refused v1 does not have (it has: at, case.applicant_name, "
    )
    assert problem.endswith(", officer_id, reason)")


def test_every_problem_of_a_templates_file_is_listed_at_once(tmp_path: Path) -> None:
    def break_it(templates: list[dict[str, Any]]) -> None:
        by_id(templates, "application.accepted")["en"]["title"] = "accepted {"
        by_id(templates, "application.overdue")["event"] = "application.overdue/v9"
        del by_id(templates, "callback.refused")["zh-CN"]
        templates.remove(by_id(templates, "evaluation.invitation"))
        templates.append({"id": "application.accepted", "version": 1})

    with pytest.raises(TemplateError) as refused:
        load_templates(write(tmp_path, break_it), default_registry())

    file = f"{tmp_path}/templates.yaml"
    assert refused.value.problems == [
        f"{file}: application.accepted v1 en title: a lone '{{' (write {{{{ for a brace)",
        f"{file}: application.overdue v1: application.overdue v9 is not supported (supported: v1)",
        f"{file}: callback.refused v1: has no zh-CN texts",
        f"{file}: application.accepted v1: event must be application.accepted/v<major>",
        f"{file}: has no template application.overdue (for application.overdue)",
        f"{file}: has no template evaluation.invitation (for application.concluded)",
    ]


@pytest.mark.parametrize(
    ("template_id", "change", "problem"),
    [
        (
            "application.overdue",
            {"audience": "applicant"},
            "audience must be department (govnet sends application.overdue to the department)",
        ),
        (
            "callback.refused",
            {"channels": ["workorder", "sms"]},
            "channels must be [workorder] (a 12345 call-back is a work order only)",
        ),
        (
            "application.refused",
            {"channels": ["inbox", "workorder"]},
            "channels must be a list of inbox, email, sms, each once",
        ),
        (
            "application.refused",
            {"channels": ["inbox", "fax"]},
            "channels must be a list of inbox, email, sms, each once",
        ),
        (
            "application.refused",
            {"channels": ["email", "sms"]},
            "channels must include inbox (the inbox keeps every message a recipient gets)",
        ),
    ],
)
def test_a_template_for_the_wrong_audience_or_channels_is_refused_at_load(
    tmp_path: Path, template_id: str, change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(TemplateError) as refused:
        custom(tmp_path, lambda templates: by_id(templates, template_id).update(change))

    file = f"{tmp_path}/templates.yaml"
    assert refused.value.problems == [
        f"{file}: {template_id} v1: {problem}",
        f"{file}: has no template {template_id} (for {REQUIRED[template_id]})",
    ]


def test_the_newest_version_of_a_template_is_used(tmp_path: Path) -> None:
    def add_version(templates: list[dict[str, Any]]) -> None:
        newer = json.loads(json.dumps(by_id(templates, "application.refused")))
        newer["version"] = 2
        newer["zh-CN"]["title"] = "申请未予受理"
        templates.append(newer)

    loaded = load_templates(write(tmp_path, add_version), default_registry())

    rendered = loaded["application.refused"].render("zh-CN", {"case": {}})
    assert (rendered.template, rendered.title) == ("application.refused/zh-CN/v2", "申请未予受理")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("templates: {}", "must be a mapping with a list under 'templates'"),
        ("templates: [", "not valid YAML"),
    ],
)
def test_a_file_that_is_not_a_templates_file_is_refused(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(content)

    with pytest.raises(TemplateError, match=problem):
        load_templates(path, default_registry())


# -- when a message may go ----------------------------------------------------------------


def test_temporary_failures_back_off_exponentially_up_to_a_cap() -> None:
    assert [domain.retry_delay(n, 30, 3600) for n in range(1, 10)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("utc", "until"),
    [
        (datetime(2026, 12, 1, 15, 0, tzinfo=UTC), datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),
        (datetime(2026, 12, 1, 23, 30, tzinfo=UTC), datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),
        (datetime(2026, 12, 1, 13, 59, tzinfo=UTC), None),  # 21:59 in China
        (datetime(2026, 12, 2, 0, 0, tzinfo=UTC), None),  # 08:00 in China
    ],
)
def test_sms_in_quiet_hours_wait_for_their_end_in_china_time(
    utc: datetime, until: datetime | None
) -> None:
    found = domain.quiet_until(utc, (22 * 60, 8 * 60))

    assert (found.astimezone(UTC) if found else None) == until


def test_a_recipient_over_the_rate_limit_waits_until_the_oldest_try_leaves_the_window() -> None:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    recent = [datetime(2026, 12, 1, 9, m, tzinfo=UTC) for m in (5, 20, 40)]

    assert domain.rate_limited_until(recent, (3, 3600), now) == datetime(
        2026, 12, 1, 10, 5, tzinfo=UTC
    )
    assert domain.rate_limited_until(recent, (4, 3600), now) is None
    assert domain.rate_limited_until(recent, (2, 1800), now) is None  # one left the window


@pytest.mark.parametrize(
    ("email", "phone", "problems"),
    [
        ("wang@example.com", "13812345678", []),
        ("wang", "13812345678", ["email"]),
        ("wang@example.com", "12812345678", ["phone"]),
        ("a b@x.cn", "1381234567", ["email", "phone"]),
    ],
)
def test_contact_details_are_checked(email: str, phone: str, problems: list[str]) -> None:
    found = [
        name
        for name, reason in (
            ("email", domain.check_email(email)),
            ("phone", domain.check_mobile(phone)),
        )
        if reason
    ]

    assert found == problems
