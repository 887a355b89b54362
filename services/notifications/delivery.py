"""Sending emails and SMS: take what is due from the store, hand it to its channel, record
what the channel said. Runs in the notifications worker's delivery loop; one round is
`Deliverer.run_once`, so tests can drive it step by step."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from services.notifications.channels import (
    PERMANENT,
    TEMPORARY,
    Email,
    EmailChannel,
    Outcome,
    SmsChannel,
)
from services.notifications.domain import EMAIL, SMS
from services.notifications.store import Claimed, NotificationsStore
from services.platform.settings import Settings

log = logging.getLogger(__name__)


class Deliverer:
    def __init__(
        self,
        store: NotificationsStore,
        *,
        email: EmailChannel | None = None,
        sms: SmsChannel | None = None,
        concurrency: int = 8,
    ) -> None:
        self.store = store
        self.email = email
        self.sms = sms
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="deliver")

    @classmethod
    def from_settings(cls, store: NotificationsStore, settings: Settings) -> Deliverer:
        email = EmailChannel(settings.smtp_url, settings.email_from) if settings.smtp_url else None
        sms = SmsChannel(settings.sms_gateway_url) if settings.sms_gateway_url else None
        return cls(store, email=email, sms=sms)

    def run_once(self, limit: int = 20) -> int:
        """Send what is due (up to `limit`, in parallel); return how many were tried."""
        claimed = self.store.claim_due(limit)
        if not claimed:
            return 0
        outcomes = list(self._pool.map(self.send, claimed))
        for item, outcome in zip(claimed, outcomes, strict=True):
            self.store.record_outcome(item, outcome.status, outcome.detail)
            if outcome.status != "delivered":
                log.info(
                    "notification not delivered",
                    extra={
                        "notification_id": item.notification.id,
                        "channel": item.notification.channel,
                        "status": outcome.status,
                        "attempts": item.notification.attempts,
                    },
                )
        return len(claimed)

    def send(self, claimed: Claimed) -> Outcome:
        message = claimed.notification
        if claimed.address is None:
            return Outcome(
                PERMANENT, f"no {message.channel} address on file for {message.recipient}"
            )
        try:
            if message.channel == EMAIL:
                if self.email is None:
                    return Outcome(TEMPORARY, "email is not configured at this node")
                return self.email.send(
                    Email(claimed.address, message.title, message.body, message.id)
                )
            if message.channel == SMS:
                if self.sms is None:
                    return Outcome(TEMPORARY, "SMS is not configured at this node")
                return self.sms.send(claimed.address, message.body, message.id)
        except Exception as exc:  # a channel bug must not lose the message: try again later
            log.exception("channel %s failed unexpectedly", message.channel)
            return Outcome(TEMPORARY, f"unexpected {type(exc).__name__} in the channel")
        return Outcome(PERMANENT, f"no channel {message.channel}")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
