"""What every live source shares: pages with their cursor, retries, rate limits, quotas.

A source turns the brand config into the platform's own query and yields **pages**. Each page
carries the cursor to commit *with* its mentions (``None``: the page does not move it), so the
collector stores a page and its cursor in one transaction: a process killed at any moment
restarts from the last committed page and the store's unique keys absorb any overlap.

Network calls go through :meth:`Source.call`, which owns the waiting policy:

* a ``RateLimited`` error resetting within ``RetryPolicy.max_rate_wait`` is waited out once,
  anything longer ends the poll and the scheduler skips the source until the reset;
* ``TransientSourceError`` (5xx, timeouts, garbled pages) is retried with exponential
  backoff and full jitter, a few times, then ends the poll;
* any other ``SourceError`` (bad credentials, bad query) ends the poll at once.

Time and sleeping come from a :class:`Runtime`, so tests stub them and a shutdown request
interrupts any wait.
"""

from __future__ import annotations

import logging
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator

from harken.config import BrandConfig, Duration, Timeout
from harken.errors import RateLimited, SourceError, TransientSourceError
from harken.net.deadline import DEADLINE_FACTOR, Aborted, DeadlineExceeded, deadline
from harken.net.limits import answer_too_large
from harken.platforms.base import ParseResult

log = logging.getLogger(__name__)
T = TypeVar("T")


class Stopped(Exception):
    """A shutdown was requested while a source was waiting; the poll ends without error."""


@dataclass(frozen=True)
class Page:
    items: list[ParseResult]
    cursor: str | None  # committed in the same transaction as ``items``
    label: str = ""  # what was fetched, for logs ("brand Acme, page 2")


@dataclass(frozen=True)
class Quota:
    """What the API said about the caller's remaining budget, when it says anything."""

    remaining: int | None = None
    limit: int | None = None
    reset_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "remaining": self.remaining,
            "limit": self.limit,
            "reset_at": self.reset_at.isoformat() if self.reset_at else None,
        }


@dataclass(frozen=True)
class RefreshTarget:
    """A stored mention whose engagement should be read again."""

    external_id: str
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # tries per call when the error is transient
    base_delay: float = 1.0  # seconds; doubles each try, with full jitter
    max_delay: float = 60.0
    max_rate_wait: float = 60.0  # rate limits resetting sooner are waited out inside the poll
    default_rate_wait: float = 60.0  # a 429 that does not say when to come back


class Runtime:
    """The clock, the sleeper and the stop signal a source uses (tests replace the first two)."""

    def __init__(
        self,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        stop: threading.Event | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.stop = stop or threading.Event()
        self._sleep = sleep
        self._clock = clock or (lambda: datetime.now(UTC))
        self.rng = rng or random.Random()

    def now(self) -> datetime:
        return self._clock()

    def wait(self, seconds: float) -> None:
        """Sleep, unless a shutdown is requested first (then raise Stopped)."""
        self.check_stop()
        if self._sleep is not None:
            self._sleep(seconds)
        elif self.stop.wait(max(0.0, seconds)):
            raise Stopped
        self.check_stop()

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped


class SourceSettings(BaseModel):
    """Keys every source takes; each source subclasses this with its own (unknown keys fail)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    interval: Duration = timedelta(minutes=5)
    api_base_url: str | None = None
    # Per connect and read; a whole call (a request, or the few a client library makes for
    # one page) gets DEADLINE_FACTOR times this (harken.net.deadline).
    timeout: Timeout = timedelta(seconds=20)
    # Keep a live connection open as well (harken run), where the platform has one
    # (harken/platforms/stream.py); polls stay the fallback.
    stream: bool = False

    @field_validator("interval")
    @classmethod
    def _interval_in_range(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("expected at least 1s between polls")
        return value


class Source(ABC):
    """One configured source. Subclasses set ``platform`` and ``Settings``, write ``pages``."""

    platform: ClassVar[str]
    Settings: ClassVar[type[SourceSettings]] = SourceSettings

    def __init__(
        self,
        name: str,
        settings: SourceSettings,
        brands: list[BrandConfig],
        runtime: Runtime | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.brands = brands
        self.runtime = runtime or Runtime()
        self.policy = policy or RetryPolicy()
        self.quota: Quota | None = None

    @property
    def timeout(self) -> float:
        return self.settings.timeout.total_seconds()

    @property
    def deadline(self) -> float:
        """Seconds one call may take in all, connect and every read included."""
        return DEADLINE_FACTOR * self.timeout

    @abstractmethod
    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Everything new since ``cursor``, page by page, each with the cursor to commit."""

    def refresh(self, targets: list[RefreshTarget]) -> dict[str, dict[str, int]]:
        """Current engagement of stored mentions: external_id -> metrics. Default: unsupported."""
        return {}

    def close(self) -> None:
        """Release connections (called when the process is done with the source)."""
        return None

    def translate(self, exc: Exception) -> SourceError | None:
        """Map the client library's exception to harken's family (None: not a known one)."""
        return None

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` under the retry and rate-limit policy (see the module docstring)."""
        waited_for_rate = False
        attempt = 0
        err: SourceError
        while True:
            attempt += 1
            self.runtime.check_stop()
            try:
                with deadline(self.deadline, f"{self.name}: {what}"):
                    return fn()
            except SourceError as exc:
                err = exc
            except Aborted:
                raise Stopped from None
            except DeadlineExceeded as exc:  # a server that answers, but too slowly to finish
                err = TransientSourceError(str(exc))
            except Exception as exc:  # the client library's own exception family
                too_large = answer_too_large(exc)
                if too_large is not None:  # retrying would read the same again
                    raise SourceError(f"{self.name}: {what}: {too_large}") from None
                translated = self.translate(exc)
                if translated is None:
                    raise
                err = translated
            if isinstance(err, RateLimited):
                delay = self._rate_delay(err)
                if waited_for_rate or delay > self.policy.max_rate_wait:
                    raise err
                log.warning("%s: %s rate limited; waiting %.0fs", self.name, what, delay + 1)
                # One second past the reset: the server's clock and ours are not the same clock.
                self.runtime.wait(delay + 1.0)
                waited_for_rate = True
            elif isinstance(err, TransientSourceError) and attempt < self.policy.attempts:
                delay = self._backoff(attempt)
                log.warning(
                    "%s: %s failed (%s); retry %d/%d in %.1fs",
                    self.name,
                    what,
                    err,
                    attempt,
                    self.policy.attempts - 1,
                    delay,
                )
                self.runtime.wait(delay)
            else:
                raise err

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.policy.max_delay, self.policy.base_delay * 2 ** (attempt - 1))
        # "Equal jitter": never less than half the step, so retries cannot bunch up at zero.
        return ceiling / 2 + self.runtime.rng.uniform(0, ceiling / 2)

    def _rate_delay(self, err: RateLimited) -> float:
        if err.reset_at is None:
            err.reset_at = self.runtime.now() + timedelta(seconds=self.policy.default_rate_wait)
        return max(0.0, (err.reset_at - self.runtime.now()).total_seconds())

    def note_quota(self, remaining: Any, limit: Any, reset: Any) -> None:
        """Record the budget headers of the last response (any of them may be missing)."""
        self.quota = Quota(
            remaining=_int_or_none(remaining),
            limit=_int_or_none(limit),
            reset_at=parse_reset(reset, self.runtime.now()),
        )


def parse_reset(value: Any, now: datetime) -> datetime | None:
    """A reset header as a time: Unix seconds, seconds from now, ISO 8601 or an HTTP date.

    None when absent or nonsense (a proxy's garbage must not break the call it came with).
    """
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    try:
        if number is not None:
            # Unix times are large; "seconds until reset" (Reddit, Retry-After) are small.
            if number > 1_000_000_000:
                return datetime.fromtimestamp(number, tz=UTC)
            return now + timedelta(seconds=max(0.0, number))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def http_error(
    status: int, what: str, reset: Any = None, now: datetime | None = None
) -> SourceError:
    """The harken error for an HTTP status (shared by sources that see raw responses)."""
    if status == 429:
        reset_at = parse_reset(reset, now or datetime.now(UTC))
        return RateLimited(f"{what}: HTTP 429 Too Many Requests", reset_at=reset_at)
    if status >= 500 or status == 408:
        return TransientSourceError(f"{what}: HTTP {status} from the server")
    if status in (401, 403):
        return SourceError(
            f"{what}: HTTP {status} (not authorised)",
            hint="check the source's credentials in the environment (harken doctor)",
        )
    return SourceError(f"{what}: HTTP {status}")


def _int_or_none(value: Any) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
