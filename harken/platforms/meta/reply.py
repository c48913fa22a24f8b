"""Replies through the Graph API, shared by Facebook and Instagram: one POST of ``message``
with the source's access token, sent once (the attempt rules of harken.platforms.reply), and
Meta's error codes in words. Each platform says where a reply goes (``reply_path``)."""

from __future__ import annotations

from typing import ClassVar

import httpx

from harken.errors import ReplyError
from harken.platforms.meta.graph import (
    TOKEN_ERRORS,
    GraphClient,
    GraphError,
    GraphSettings,
    error_of,
)
from harken.platforms.reply import (
    Account,
    ReplyClient,
    ReplyTarget,
    SentReply,
    attempt,
    gone,
    lost,
    rate_limited,
    server_error,
)


class GraphReply(ReplyClient):
    counting = "in characters"
    token_variable: ClassVar[str]

    def length(self, target: ReplyTarget, text: str) -> int:
        return len(text)

    def reply_path(self, target: ReplyTarget) -> str:
        """The edge the reply is posted to ("{comment-id}/comments")."""
        raise NotImplementedError

    def reply_fields(self, target: ReplyTarget) -> dict[str, str]:
        """What the call takes besides ``message`` (none by default)."""
        return {}

    def post(self, account: Account, target: ReplyTarget, text: str, timeout: float) -> SentReply:
        settings: GraphSettings = account.settings  # its token was checked (reply_problems)
        client = GraphClient(settings, timeout)
        path = self.reply_path(target)
        try:
            client.url(path)  # an id that is no id (a file's or a webhook's): nothing is sent
        except GraphError:
            client.close()
            raise ReplyError(
                f"{self.label}: the post's stored id cannot be answered; nothing was posted"
            ) from None
        try:
            response = attempt(
                lambda: client.post(path, {**self.reply_fields(target), "message": text}),
                self.explain,
                posting=True,
                label=self.label,
            )
        finally:
            client.close()
        try:
            created = response.json()
        except (ValueError, RecursionError):
            created = None
        if response.status_code >= 300 or (
            isinstance(created, dict) and isinstance(created.get("error"), dict)
        ):
            raise self._refused(response, client)
        new_id = created.get("id") if isinstance(created, dict) else None
        if not isinstance(new_id, str) or not new_id:
            raise ReplyError(
                f"{self.label} answered the reply without its id; it was probably posted",
                hint="look at the thread before sending it again",
                maybe_posted=True,
            )
        return SentReply(new_id, target.url)

    def _refused(self, response: httpx.Response, client: GraphClient) -> ReplyError:
        err = error_of(response.status_code, response.content, client.secrets)
        if err.throttled:
            usage = client.usage
            reset = usage.regained_at() if usage is not None else None
            return rate_limited(self.label, reset, f"code {err.code}")
        if err.passing:
            return server_error(self.label, response.status_code, posting=True)
        if err.gone:
            return gone(self.label, str(err))
        if err.code in TOKEN_ERRORS:
            return ReplyError(
                f"{self.label} refused the access token ({err}); nothing was posted",
                hint=f"make a new token and set {self.token_variable}",
            )
        hint = None
        if err.permission:
            hint = f"the token needs {self.needs}"
        return ReplyError(f"{self.label} refused the reply ({err}); nothing was posted", hint=hint)

    def explain(self, exc: Exception, posting: bool) -> ReplyError | None:
        if isinstance(exc, httpx.HTTPError | TimeoutError | ConnectionError | OSError):
            return lost(self.label, exc, posting)
        return None
