"""What sinks hand back to the outbox: a rendered Slack message, and how a delivery failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harken.errors import NotifyError


@dataclass(frozen=True)
class SlackMessage:
    """``text`` is the notification fallback (mrkdwn, escaped); ``blocks`` the Block Kit."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


class DeliveryError(NotifyError):
    """A sink could not deliver an alert.

    transient: worth retrying (5xx, timeouts, connection refused, 429) - the outbox backs off;
        otherwise the alert fails at once (bad token, unknown channel, invalid payload) and
        the message says what to fix.
    retry_after: seconds the far end asked us to wait (429 Retry-After): nothing is sent to
        this sink before then, from any process.
    in_doubt: the request may have been delivered (a timeout or 5xx after the request was
        sent): the outbox checks before sending again, where the sink can check.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool = True,
        retry_after: float | None = None,
        in_doubt: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.transient = transient
        self.retry_after = retry_after
        self.in_doubt = in_doubt
