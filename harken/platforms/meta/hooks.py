"""Meta webhooks: what Facebook Pages and Instagram accounts send as it happens, received by
``harken web`` at ``/hooks/meta`` (harken/web/hooks.py) for each source with
``webhook_verify_token`` (and ``app_secret``, which signs the deliveries).

* ``GET /hooks/meta?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…``: Meta's check when
  the subscription is made; the challenge is echoed when the token is a source's.
* ``POST /hooks/meta``: a delivery. ``X-Hub-Signature-256`` must be ``sha256=`` and the
  HMAC-SHA256 of the raw body under the app secret of a source that receives the delivery's
  ``object`` (``page``: facebook; ``instagram``: instagram); anything else is refused (401).

Each entry names the Page or account it is for; its brand is the one that lists it (``pages:``,
``accounts:``); an entry for another is skipped with a warning. What an entry carries:

* a Page's ``feed``: visitors' posts and comments, read as they come;
* an account's ``comments`` on its media, read as they come;
* an account's ``mentions``: a comment or caption elsewhere that @mentions it, named by id only
  and fetched with the source's token (``mentioned_comment``, ``mentioned_media``). This is the
  only way Meta tells an app about @mentions: no listing exists to poll.

The posts are stored through ingest by the web app, as a poll's (once each: Meta delivers at
least once), with the source's name; ``harken run`` finds them within a minute (its queue check
runs a pass when work is pending) and classifies, routes and alerts them. When a fetch fails
for a reason that may pass (Meta's 5xx, a timeout, throttling, usage at ``usage_ceiling``, or
the delivery's FETCH_FOR seconds spent), what was read is stored and the delivery is answered
503: Meta sends it again, for up to 36 hours, and nothing is stored twice. A mention Meta will
not show (deleted, comments turned off) is skipped; one it refuses for the token or a
permission is skipped too, logged as an error saying what to fix (retrying would not help).
A delivery for an ``object`` no source takes is answered 200, skipped (Meta would retry it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from harken.config import Config
from harken.errors import HarkenError
from harken.platforms.base import Rejection
from harken.platforms.meta.graph import RetryLater, Stored, UnknownAccount, nothing_stored
from harken.platforms.meta.walk import GraphSource
from harken.records import MentionRecord

log = logging.getLogger(__name__)

MAX_DELIVERY = 1024 * 1024  # bytes; Meta batches up to 1,000 changes, each a few hundred bytes
FETCH_FOR = 15.0  # seconds of fetching per delivery; the rest is fetched when it comes again
SIGNATURE = re.compile(r"sha256=[0-9a-fA-F]{64}")


class HookRefused(HarkenError):
    """A request that is not a delivery harken takes: ``status`` says why (400, 401, 413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Delivered:
    """What a delivery gave: the posts to store (with ``source``'s name), and why anything
    else was skipped."""

    source: str
    records: list[MentionRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    retry: str | None = None  # why part of it must be sent again (answered 503)


class MetaHooks:
    """The receiver for the sources with ``webhook_verify_token`` (built by ``of``)."""

    def __init__(self, sources: list[GraphSource]) -> None:
        self.sources = sources

    @classmethod
    def of(cls, config: Config) -> MetaHooks | None:
        """The receiver, or None when no enabled Meta source has ``webhook_verify_token``."""
        from harken.platforms.registry import build_sources

        wanted = [
            name
            for name, entry in config.sources.items()
            if entry.enabled and (entry.model_extra or {}).get("webhook_verify_token")
        ]
        sources = [s for name in wanted for s in build_sources(config, only=name)]
        receiving = [s for s in sources if isinstance(s, GraphSource)]
        for other in (s for s in sources if not isinstance(s, GraphSource)):
            other.close()
        return cls(receiving) if receiving else None

    def close(self) -> None:
        for source in self.sources:
            source.close()

    def challenge(self, mode: str | None, token: str | None, challenge: str | None) -> str:
        """Meta's subscription check: the challenge when the token is one of ours."""
        if mode != "subscribe" or not token or challenge is None:
            raise HookRefused(400, "expected hub.mode=subscribe, hub.verify_token, hub.challenge")
        for source in self.sources:
            expected = _secret(source, "webhook_verify_token")
            if expected and hmac.compare_digest(token.encode(), expected.encode()):
                return challenge
        raise HookRefused(403, "hub.verify_token is not the webhook_verify_token of any source")

    def receive(
        self, body: bytes, signature: str | None, stored: Stored = nothing_stored
    ) -> Delivered:
        """Check and read one delivery (fetching what it names by id and ``stored`` does not
        hold, for FETCH_FOR seconds at most: Meta waits about 20 for an answer)."""
        if len(body) > MAX_DELIVERY:
            raise HookRefused(413, f"a delivery over {MAX_DELIVERY} bytes")
        signers = [s for s in self.sources if _signed(body, signature, _secret(s, "app_secret"))]
        if not signers:
            raise HookRefused(401, "X-Hub-Signature-256 is missing or not signed by app_secret")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            raise HookRefused(400, "the delivery is not JSON") from None
        kind = payload.get("object") if isinstance(payload, dict) else None
        source = next((s for s in signers if s.webhook_object == kind), None)
        if source is None:  # answered 200: sent again, it would be refused for 36 hours
            log.info("meta webhook: no source takes deliveries of object %r", str(kind)[:40])
            return Delivered("", skipped=[f"no source takes deliveries of object {kind!r}"])
        entries = payload.get("entry")
        delivered = Delivered(source.name)
        until = time.monotonic() + FETCH_FOR
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                # Once one fetch must wait, none is tried: the rest is read as it came.
                time_left = until if delivered.retry is None else 0.0
                self._read(source, entry, delivered, time_left, stored)
        if delivered.retry is not None:
            log.warning(
                "%s: webhook: %s; stored what it could, Meta sends the delivery again",
                source.name, delivered.retry,
            )  # fmt: skip
        return delivered

    def _read(
        self,
        source: GraphSource,
        entry: dict[str, Any],
        delivered: Delivered,
        until: float,
        stored: Stored,
    ) -> None:
        try:
            found = source.delivered(entry, until, stored)
        except UnknownAccount as err:
            log.warning("%s: webhook: %s is not in the config; skipped", source.name, err)
            delivered.skipped.append(f"{err}: not in the config")
            return
        for item in found:
            if isinstance(item, MentionRecord):
                delivered.records.append(item)
            elif isinstance(item, RetryLater):
                delivered.retry = delivered.retry or item.reason
            elif isinstance(item, Rejection):
                log.info("%s: webhook: skipped: %s", source.name, item.reason)
                delivered.skipped.append(item.reason)


def _secret(source: GraphSource, key: str) -> str | None:
    value = getattr(source.settings, key, None)
    return value.get_secret_value() if value is not None else None


def _signed(body: bytes, header: str | None, secret: str | None) -> bool:
    """Whether ``header`` is ``sha256=`` and the body's HMAC under ``secret``, in hex."""
    if not header or not secret or not SIGNATURE.fullmatch(header.strip()):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.strip().removeprefix("sha256=").lower(), expected)
