"""Replies on Mastodon: Mastodon.py ``status_post(in_reply_to_id=...)`` on the first configured
instance, the one ``access_token`` belongs to.

Status ids are local to an instance and the stored one may come from another: it is used only
when this instance says it is the same status (same ``uri``), else the status is resolved there
by its URI (``search_v2`` with ``resolve=True``). The author is mentioned first unless the text
does already (Mastodon only notifies mentioned accounts); the parent's visibility and content
warning are kept (a reply to a followers-only post must not go public), and an
``Idempotency-Key`` makes the same reply sent twice within an hour post once. A boost is
answered on the status it boosts. Mastodon.py runs with ``ratelimit_method="throw"``: it never
sleeps.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import requests

from harken.errors import ReplyError
from harken.platforms.mastodon.source import status_code
from harken.platforms.reply import (
    CHECK_THREAD,
    LINK_LENGTH,
    Account,
    ReplyClient,
    ReplyTarget,
    SentReply,
    attempt,
    gone,
    graphemes,
    lost,
    rate_limited,
    server_error,
    with_links_as,
)
from harken.platforms.source import SourceSettings, parse_reset

_REMOTE_MENTION = re.compile(r"(?i)(^|[^/\w])@(([a-z0-9_]+)@[a-z0-9.\-]+[a-z0-9]+)")


class MastodonReply(ReplyClient):
    name, label = "mastodon", "Mastodon"
    max_length = 500
    needs = (
        "an access token of the account to post as, on the first of its instances "
        "(scopes read and write:statuses)"
    )
    counting = "as Mastodon counts them (a link 23, the author's @mention included)"
    credentials: ClassVar[dict[str, str | None]] = {"access_token": "MASTODON_ACCESS_TOKEN"}

    def settings_class(self) -> type[SourceSettings]:
        from harken.platforms.mastodon.source import MastodonSettings

        return MastodonSettings

    def length(self, target: ReplyTarget, text: str) -> int:
        status = answered_status(target)
        acct = ((status.get("account") or {}).get("acct")) or target.author_handle
        full = with_mention(text, str(acct))
        countable = _REMOTE_MENTION.sub(r"\1@\3", with_links_as(full, LINK_LENGTH))
        return graphemes(countable) + graphemes(str(status.get("spoiler_text") or ""))

    def target_problems(self, target: ReplyTarget) -> list[str]:
        uri = answered_status(target).get("uri") or target.external_id
        if isinstance(uri, str) and urlsplit(uri).scheme in ("http", "https"):
            return []
        return [f"Mastodon: {uri!r} is not a status URI"]

    def post(self, account: Account, target: ReplyTarget, text: str, timeout: float) -> SentReply:
        from harken.platforms.mastodon.source import make_client

        settings = account.settings
        instance = settings.api_base_url or settings.instances[0]
        session = requests.Session()
        seen: list[requests.Response] = []
        session.hooks["response"].append(lambda response, *a, **k: _keep(seen, response))
        client = make_client(instance, settings.access_token, timeout, session)
        explain = functools.partial(self.explain, account, seen)
        try:
            parent = attempt(
                lambda: _local_status(client, target, instance), explain, False, "Mastodon"
            )
            full = with_mention(text, str((parent.get("account") or {}).get("acct") or ""))
            created = attempt(
                lambda: client.status_post(
                    full,
                    in_reply_to_id=str(parent["id"]),
                    visibility=_visibility(parent),
                    spoiler_text=parent.get("spoiler_text") or None,
                    idempotency_key=_idempotency_key(instance, parent, full),
                ),
                explain,
                posting=True,
                label="Mastodon",
            )
        finally:
            session.close()
        return SentReply(str(created.get("uri") or created.get("id")), created.get("url"))

    def explain(
        self, account: Account, seen: list[requests.Response], exc: Exception, posting: bool
    ) -> ReplyError | None:
        from mastodon.errors import (
            MastodonAPIError,
            MastodonError,
            MastodonNetworkError,
            MastodonNotFoundError,
            MastodonRatelimitError,
            MastodonServerError,
            MastodonUnauthorizedError,
        )

        response = seen[-1] if seen else None
        status = status_code(exc)
        if isinstance(exc, MastodonRatelimitError):
            return self._rate_limited(response, posting)
        if isinstance(exc, MastodonNetworkError):
            return lost("Mastodon", exc, posting)
        if isinstance(exc, MastodonServerError):
            return server_error("Mastodon", status, posting)
        if isinstance(exc, MastodonUnauthorizedError):
            return ReplyError(
                f"Mastodon refused the access token (HTTP 401: {_api_message(exc, response)}); "
                "nothing was posted",
                hint=f"check {account.key('access_token')}: a token of an account on the first "
                "instance, with scopes read and write:statuses",
            )
        if isinstance(exc, MastodonNotFoundError):
            return gone("Mastodon", "HTTP 404")
        if isinstance(exc, MastodonAPIError) and status is None:  # a garbled answer
            return ReplyError(
                "Mastodon: the answer is not valid JSON"
                + ("; it may have been posted" if posting else "; nothing was posted"),
                hint=CHECK_THREAD if posting else None,
                maybe_posted=posting,
            )
        if isinstance(exc, MastodonAPIError):
            return ReplyError(
                f"Mastodon refused the reply (HTTP {status}: {_api_message(exc, response)}); "
                "nothing was posted",
                hint="HTTP 403: the token needs scope write:statuses" if status == 403 else None,
            )
        if isinstance(exc, MastodonError):
            return ReplyError(f"Mastodon: {type(exc).__name__}: {str(exc)[:300]}")
        return None

    @staticmethod
    def _rate_limited(response: requests.Response | None, posting: bool) -> ReplyError:
        if response is not None and response.status_code != 429:
            # Mastodon.py could not read a 2xx answer's X-RateLimit-Reset: the status exists.
            return ReplyError(
                "Mastodon: unreadable rate-limit headers in the answer; it may have been posted",
                hint=CHECK_THREAD,
                maybe_posted=posting,
            )
        headers = response.headers if response is not None else {}
        reset = headers.get("X-RateLimit-Reset") or headers.get("Retry-After")
        return rate_limited("Mastodon", parse_reset(reset, datetime.now(UTC)), "HTTP 429")


def _keep(seen: list[requests.Response], response: requests.Response) -> None:
    seen[:] = [response]  # the last response: Mastodon.py's 429 error carries none


def answered_status(target: ReplyTarget) -> Mapping[str, Any]:
    """The status to answer: a boost's original (Mastodon's reply button does the same)."""
    reblog = target.raw.get("reblog")
    return reblog if isinstance(reblog, Mapping) else target.raw


def _local_status(client: Any, target: ReplyTarget, instance: str) -> Mapping[str, Any]:
    """The status as the posting instance knows it (its id is local to that instance)."""
    from mastodon.errors import MastodonNotFoundError

    wanted = answered_status(target)
    uri = str(wanted.get("uri") or target.external_id)
    local_id = wanted.get("id")
    if isinstance(local_id, str | int) and not isinstance(local_id, bool) and str(local_id):
        try:
            found = client.status(quote(str(local_id), safe=""))
        except MastodonNotFoundError:
            found = None
        if found is not None and found.get("uri") == uri:
            return found  # type: ignore[no-any-return]
    # Read on another instance: have this one fetch it by its URI (needs a signed-in token).
    results = client.search_v2(uri, resolve=True, result_type="statuses", exclude_unreviewed=False)
    for status in results.get("statuses") or []:
        if status.get("uri") == uri:
            return status  # type: ignore[no-any-return]
    raise gone("Mastodon", f"{urlsplit(instance).netloc} cannot find {uri}")


def with_mention(text: str, acct: str) -> str:
    """The text, starting with the author's @mention unless it mentions them already."""
    acct = acct.strip().lstrip("@")
    if not acct or re.search(rf"(?i)(?<![\w@])@{re.escape(acct)}(?![\w@])", text):
        return text
    return f"@{acct} {text}"


def _visibility(status: Mapping[str, Any]) -> str | None:
    value = status.get("visibility")
    return value if value in ("public", "unlisted", "private", "direct") else None


def _idempotency_key(instance: str, status: Mapping[str, Any], text: str) -> str:
    # The same reply to the same status within an hour posts once (Mastodon keeps keys 1 h).
    seed = f"{instance}\n{status.get('uri')}\n{text}".encode()
    return "harken-" + hashlib.sha256(seed).hexdigest()[:32]


def _api_message(exc: Exception, response: requests.Response | None) -> str:
    message = None
    if response is not None:
        try:
            body = response.json()
        except ValueError:
            body = None
        message = body.get("error") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message:
        message = exc.args[3] if len(exc.args) > 3 else None
    return str(message or "error")[:300]
