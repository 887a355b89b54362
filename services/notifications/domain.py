"""Who hears what, and in which words. Pure: no I/O, no clock, no nameko/grpc."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.contract import names


@dataclass(frozen=True)
class InboxMessage:
    recipient: str
    case_number: str | None
    title: str
    body: str
    template: str


def recipient_for(applicant: dict[str, Any], case_number: str) -> str:
    """An applicant's inbox: their account, or the case itself when they have no account
    (a walk-in applicant reads it through the case)."""
    account = applicant.get("account_id")
    return account if account else f"case:{case_number}"


def applicant_message(event_type: str, data: dict[str, Any]) -> InboxMessage | None:
    """The in-app message an applicant gets for an applications event, or None."""
    if event_type != names.APPLICATION_SUBMITTED:
        return None
    number = data["case_number"]
    applicant = data["applicant"]
    days = data["promised_limit_days"]
    promise = "即办件，将当场办结。" if days == 0 else f"承诺在 {days} 个工作日内办结。"
    return InboxMessage(
        recipient=recipient_for(applicant, number),
        case_number=number,
        title=f"您的“{data['item_name']}”申请已收到",
        body=(
            f"{applicant['name']}，您好：您提交的“{data['item_name']}”申请已收到，"
            f"办件编号 {number}，{promise}"
        ),
        template=f"{names.APPLICATION_SUBMITTED}/zh-CN/v1",
    )
