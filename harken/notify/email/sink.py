"""The digest by e-mail: the message was rendered when the digest was made (a snapshot of
its day, with a fixed Message-ID); this sink only sends it through SMTP."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from harken.config import Config
from harken.notify.contract import Delivered, Skip, Thread
from harken.store.repo import AlertView
from harken.store.tables import Alert


class EmailSink:
    name = "email"
    verifiable = False  # SMTP cannot tell; an interrupted send is sent again (same Message-ID)
    budgeted = True

    def __init__(self, config: Config) -> None:
        self.config = config

    def lane(self, alert: Alert) -> str:
        return "email"

    def verify(self, view: AlertView, thread: Thread | None = None) -> Delivered | None:
        return None

    def deliver(self, view: AlertView, thread: Thread | None = None) -> Delivered:
        from harken.notify.email.smtp import send_email

        settings = self.config.digest.email
        raw = view.alert.payload.get("email")
        if view.alert.kind != "digest" or not raw:
            raise Skip("only digests go by e-mail")
        if settings is None:
            raise Skip("digest.email is no longer configured")
        message = email.message_from_string(raw, _class=EmailMessage, policy=email.policy.SMTP)
        send_email(message, settings)  # type: ignore[arg-type]
        return Delivered(note=f"sent to {', '.join(settings.to)}")
