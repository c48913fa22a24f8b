"""POST a JSON body to a sink's HTTP endpoint (webhooks, Teams, PagerDuty), with every
failure turned into a ``DeliveryError`` that says what went wrong and whether to retry.

* 2xx: delivered. Redirects are not followed: a receiver that moved says so (3xx fails).
* 429: retried after the answer's Retry-After, else ``RATE_LIMIT_WAIT``; 408, 425 and 5xx:
  retried with the outbox's backoff, *in doubt* (the receiver may have acted on it).
* 410: the receiver is gone for good; any other 4xx is a mistake to fix (bad URL, key,
  payload): failed at once, with the receiver's own words.
* A refused connection never arrived (retried, not in doubt); a timeout or a cut-off may
  have (in doubt). Each call has a total deadline (harken.net.deadline), so a server that
  trickles its answer cannot hold the outbox.

Errors name the endpoint by scheme and host only: a Teams Workflows URL carries its
signature in its query, and a webhook's path may hold a token.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from harken import __version__
from harken.logs import redact
from harken.net.deadline import DEADLINE_FACTOR, DeadlineExceeded, deadline
from harken.notify.contract import DeliveryError
from harken.text import one_line

MAX_ANSWER_BYTES = 1024 * 1024  # of an answer read: receivers say little, a page of tickets more
RATE_LIMIT_WAIT = 60.0  # seconds, when a 429 names no Retry-After (PagerDuty's advice)


@dataclass(frozen=True)
class Answer:
    status: int
    text: str  # the start of the body, decoded

    def json(self) -> Any:
        """The body as JSON; a DeliveryError when it is not: worth a retry, and *in doubt*
        (the request was taken: a create may have happened)."""
        try:
            return json.loads(self.text)
        except ValueError as err:
            said = one_line(redact(self.text), 120)
            raise DeliveryError(
                f"the answer is not JSON: {said!r}", transient=True, in_doubt=True
            ) from err


def endpoint(url: str) -> str:
    """``https://prod-12.westus.logic.azure.com``: where a URL goes, without its secrets."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an unreadable URL"
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"


def _secret_parts(url: str) -> list[str]:
    """What of a URL may be a secret (a path token, a query's signature): masked wherever a
    receiver's answer or an error quotes it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.path, parts.query, *parts.path.split("/"), *parts.query.split("&")]
    found += [pair.partition("=")[2] for pair in parts.query.split("&")]
    return sorted({p for p in found if len(p) >= 6}, key=len, reverse=True)


def _masked(text: str, url: str) -> str:
    for part in _secret_parts(url):
        text = text.replace(part, "…")
    return redact(text)


class JsonPoster:
    """One sink's HTTP client. ``what`` names the sink in errors ("webhook ops")."""

    def __init__(self, what: str, timeout: float) -> None:
        self.what = what
        self.deadline = DEADLINE_FACTOR * timeout
        # No keep-alive: a connection httpx reuses raises no audit event, so the total
        # deadline could not cut it (harken.net.deadline).
        self.client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": f"harken/{__version__}"},
        )

    def post(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> Answer:
        """POST ``body`` (JSON); return the 2xx answer, or raise DeliveryError."""
        return self.request("POST", url, body, headers)

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        accept: tuple[int, ...] = (),
    ) -> Answer:
        """Send a request (a JSON body, if any); return the 2xx answer (or one whose status is
        in ``accept``: a 404 the caller expects), or raise DeliveryError."""
        where = f"{self.what} ({endpoint(url)})"
        sent = {"Accept": "application/json", **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/json"
        try:
            with (
                deadline(self.deadline, where),
                self.client.stream(method, url, content=body, headers=sent) as response,
            ):
                answer = Answer(response.status_code, _read_some(response))
                retry_after = response.headers.get("Retry-After")
        except DeadlineExceeded as err:
            raise DeliveryError(str(err), transient=True, in_doubt=True) from err
        except httpx.ConnectError as err:
            why = _masked(_why(err), url)
            raise DeliveryError(f"{where}: cannot connect ({why})", transient=True) from err
        except (httpx.UnsupportedProtocol, httpx.InvalidURL, ValueError) as err:
            raise DeliveryError(
                f"{where}: not a usable http(s) address ({_masked(_why(err), url)})",
                transient=False,
                hint="fix the URL in the config",
            ) from err
        except httpx.HTTPError as err:  # timeouts, resets, protocol errors: it may have arrived
            why = _masked(_why(err), url)
            raise DeliveryError(f"{where}: {why}", transient=True, in_doubt=True) from err
        if 200 <= answer.status < 300 or answer.status in accept:
            return answer
        raise status_error(where, Answer(answer.status, _masked(answer.text, url)), retry_after)


def status_error(where: str, answer: Answer, retry_after: str | None = None) -> DeliveryError:
    said = one_line(redact(answer.text), 200)
    problem = f"{where}: HTTP {answer.status}" + (f": {said}" if said else "")
    if answer.status == 429:
        return DeliveryError(
            problem, transient=True, retry_after=_seconds(retry_after) or RATE_LIMIT_WAIT
        )
    if answer.status >= 500 or answer.status in (408, 425):
        return DeliveryError(problem, transient=True, in_doubt=True)
    if answer.status == 410:
        return DeliveryError(
            problem + " (the receiver is gone)",
            transient=False,
            hint="remove this receiver from the config, or give its new URL",
        )
    if 300 <= answer.status < 400:
        return DeliveryError(
            problem + " (redirects are not followed)",
            transient=False,
            hint="give the URL the receiver redirects to",
        )
    return DeliveryError(problem, transient=False, hint="check the URL, key and payload")


def _read_some(response: httpx.Response) -> str:
    kept = bytearray()
    for chunk in response.iter_bytes():
        kept += chunk
        if len(kept) >= MAX_ANSWER_BYTES:
            break
    return bytes(kept[:MAX_ANSWER_BYTES]).decode("utf-8", "replace")


def _seconds(value: str | None) -> float | None:
    """Retry-After in seconds, from 1 s to an hour; None for none, or an HTTP date (rare:
    the default wait serves)."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, 1.0), 3600.0)


def _why(err: BaseException) -> str:
    return one_line(redact(str(err)), 200) or type(err).__name__
