"""Personal data written into free text: an ID number or a phone number that an officer puts
in a reason or an opinion, or an applicant in a comment, leaves in events masked as the
applicant's own are (3201**********0421, 139****5678); the case keeps the text as written."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.applications.domain import (
    Case,
    Transition,
    complete_review,
    conclude,
    evaluate,
    pause,
    refuse,
    withdraw,
)
from services.contract.identifiers import mask_in_text
from tests.unit.test_lifecycle import (
    ACCEPTED_AT,
    APPLICANT,
    CALENDAR,
    OFFICER,
    RULES,
    TRANSPORT_OFFICER,
    accepted,
    checked,
    china,
    concluded,
    in_joint_review,
    received,
)

ID = APPLICANT.id_number  # 320102198506120421
WRITTEN = f"身份证号{ID}与营业执照不符，请致电13912345678或025-83456789"
MASKED = "身份证号3201**********0421与营业执照不符，请致电139****5678或025*****6789"
LATER = china(2026, 3, 13)

# (the transition with the text in it, the event field, the text the case keeps)
TRANSITIONS: dict[str, tuple[Callable[[], Transition], str, Callable[[Case], str]]] = {
    "refused": (
        lambda: refuse(received(), OFFICER, WRITTEN, ACCEPTED_AT),
        "reason",
        lambda c: c.reason,
    ),
    "review_completed": (
        lambda: complete_review(in_joint_review(), TRANSPORT_OFFICER, False, WRITTEN, LATER),
        "opinion",
        lambda c: c.reviews[0].opinion,
    ),
    "clock_paused": (
        lambda: pause(accepted(), OFFICER, "hearing", WRITTEN, LATER),
        "reason",
        lambda c: c.pauses[-1].reason,
    ),
    "concluded": (
        lambda: conclude(accepted(), OFFICER, 1, WRITTEN, "", LATER),
        "reason",
        lambda c: c.reason,
    ),
    "withdrawn": (
        lambda: withdraw(received(), WRITTEN, ACCEPTED_AT, CALENDAR),
        "reason",
        lambda c: c.reason,
    ),
    "evaluated": (
        lambda: evaluate(concluded(), "very_dissatisfied", "hotline", WRITTEN, LATER, RULES),
        "comment",
        lambda c: c.evaluation.comment if c.evaluation else "",
    ),
}


@pytest.mark.parametrize("event", TRANSITIONS)
def test_an_id_or_phone_number_in_free_text_leaves_in_the_event_masked(event: str) -> None:
    make, field, kept = TRANSITIONS[event]
    transition = checked(make())
    assert transition.event_type == f"application.{event}"
    assert (transition.data[field], kept(transition.case)) == (MASKED, WRITTEN)


@pytest.mark.parametrize(
    ("written", "masked"),
    [
        ("手机 139-1234-5678，139 1234 5678", "手机 139******5678，139******5678"),
        ("+8613912345678 或 0512-6523456", "+86*******5678 或 051*****3456"),
        (f"{ID.lower()[:-1]}x 已核验", "3201**********042x 已核验"),
    ],
)
def test_phone_numbers_written_with_separators_or_country_code_are_masked(
    written: str, masked: str
) -> None:
    assert mask_in_text(written) == masked


@pytest.mark.parametrize(
    "text",
    [
        "许可证编号JY13201020012345",  # a licence number is not a phone number
        "统一社会信用代码91320102MA1X7Y8Z9Q，事业单位123201004660012345",
        "依据《食品经营许可管理办法》第十二条，2026年3月13日前补正",
        "受理编号320102-20260302-000001",
    ],
)
def test_codes_and_dates_in_free_text_are_left_as_written(text: str) -> None:
    assert mask_in_text(text) == text


def test_masking_keeps_the_length_the_contract_allows() -> None:
    assert len(mask_in_text(WRITTEN)) == len(WRITTEN)
