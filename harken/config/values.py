"""Value types of the config: durations, lists, times of day, time zones, priorities."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Longer than any window, SLA or interval anyone means; past it a date computed from "now"
# leaves the calendar (year 9999), so a typo would otherwise crash whatever adds it.
MAX_DURATION = timedelta(days=36500)


def looks_like_duration(value: Any) -> bool:
    return bool(_DURATION.match(str(value)))


def parse_duration(value: Any) -> timedelta:
    """``"90s"``, ``"2m"``, ``"1.5h"``, ``"7d"``, ``"1w"``, ``"250ms"`` or a number of seconds,
    from 0 to 100 years."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError("expected a duration like 30s, 5m, 2h or 7d")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not 0 <= seconds <= MAX_DURATION.total_seconds():  # also refuses NaN
        raise ValueError("expected a duration from 0s to 100 years (36500d)")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _timeout_range(value: timedelta) -> timedelta:
    if not timedelta(milliseconds=100) <= value <= timedelta(minutes=10):
        raise ValueError("expected a timeout between 100ms and 10m (0 would fail every call)")
    return value


# A network timeout (per connect and per read); a whole call gets a few times this.
Timeout = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_timeout_range)]


def as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(as_list)]


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"

    @property
    def rank(self) -> int:
        return list(Priority).index(self)


class Sentiment(StrEnum):
    negative = "negative"
    neutral = "neutral"
    positive = "positive"


SentimentList = Annotated[list[Sentiment], BeforeValidator(as_list)]


def _clock_time(value: Any) -> str:
    """ "08:00" (24-hour, local): the digest's time and the ends of quiet hours."""
    text = str(value).strip()
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"expected a time of day like '08:00' (24-hour), got {text!r}")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _timezone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = str(value).strip()
    try:
        ZoneInfo(text)
    # OSError: a name too long for a file name (ZoneInfo looks for one).
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{text!r} is not a time zone name (e.g. 'Asia/Tokyo', 'Europe/Paris', 'UTC')"
        ) from None
    return text


ClockTime = Annotated[str, BeforeValidator(_clock_time)]
TimeZone = Annotated[str, BeforeValidator(_timezone)]

Weight = Annotated[float, Field(ge=0, le=1)]


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently disable a rule."""

    model_config = ConfigDict(extra="forbid")
