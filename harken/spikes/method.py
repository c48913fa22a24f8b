"""Volume spikes, the method (no database; ``harken.spikes.detection`` feeds it stored counts).

An hour is a spike when its count stands far above what the same hour of the week usually
brings: at least ``min_count`` posts, at least ``ratio`` times the baseline, and a Poisson
upper-tail p-value below ``p_value``. The baseline is the median of the same hour of the week
over the previous ``weeks`` weeks; with under two such weeks of history, the mean of the same
hour of the day over the previous seven days; with under a day, there is no verdict.
``drivers`` names the terms that set the spike hour's posts apart. docs/spikes.md has the why.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from statistics import median

import pandas as pd

from harken.config.schema import TOPIC_SERIES as TOPIC_PREFIX
from harken.config.schema import SpikesConfig
from harken.text import normalize

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)
MIN_WEEKS = 2  # the median of one week is last week's accident, not a baseline
FALLBACK_DAYS = 7


def series_of(settings: SpikesConfig, sentiment: str | None, topics: Iterable[str]) -> list[str]:
    """The series one post counts in: the definition both detection and explanation use."""
    names = ["volume"] if "volume" in settings.series else []
    if sentiment == "negative" and "negative" in settings.series:
        names.append("negative")
    every_topic = "topics" in settings.series
    for topic in topics:
        name = TOPIC_PREFIX + topic
        if every_topic or name in settings.series:
            names.append(name)
    return names


def floor_hour(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime; use timezone-aware UTC")
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class HourlyCounts:
    """Posts per hour start (aware UTC), observed from ``start`` on: earlier hours are
    unknown (harken was not listening yet); a missing hour from ``start`` on counts zero."""

    start: datetime | None
    counts: Mapping[datetime, int]

    @classmethod
    def of(cls, data: HourlyCounts | Mapping[datetime, int] | pd.Series) -> HourlyCounts:
        """From a zero-filled series or dict: its first hour is where observation began."""
        if isinstance(data, HourlyCounts):
            return data
        items = data.items()
        counts = {floor_hour(_as_datetime(hour)): int(n) for hour, n in items}
        return cls(min(counts) if counts else None, counts)

    def at(self, hour: datetime) -> int | None:
        if self.start is None or hour < self.start:
            return None
        return self.counts.get(hour, 0)


def _as_datetime(value: object) -> datetime:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, datetime):
        return value
    raise TypeError(f"hour keys must be datetimes, got {type(value).__name__}")


def hourly_series(timestamps: Iterable[datetime], start: datetime, end: datetime) -> pd.Series:
    """Zero-filled posts per hour for the hours starting in [start, end)."""
    hours = pd.date_range(floor_hour(start), end, freq="h", inclusive="left", tz=UTC)
    stamps = pd.DatetimeIndex(list(timestamps), dtype="datetime64[us, UTC]").floor("h")
    return stamps.value_counts().reindex(hours, fill_value=0).astype(int)


@dataclass(frozen=True)
class Baseline:
    value: float
    basis: str  # "hour of week" or "hour of day"
    samples: int  # how many past hours it is made of


def baseline(
    counts: HourlyCounts | Mapping[datetime, int] | pd.Series, hour_start: datetime, weeks: int = 4
) -> Baseline | None:
    """What this hour usually brings, from the hours before it only; None: too little history."""
    history = HourlyCounts.of(counts)
    same_hour_of_week = _looking_back(history, hour_start, WEEK, weeks)
    if len(same_hour_of_week) >= MIN_WEEKS:
        # The median: one past outage in the window must not raise the bar for the next.
        return Baseline(float(median(same_hour_of_week)), "hour of week", len(same_hour_of_week))
    same_hour_of_day = _looking_back(history, hour_start, DAY, FALLBACK_DAYS)
    if same_hour_of_day:
        # Few samples, weekdays and weekends mixed: the mean uses every one of them.
        mean = sum(same_hour_of_day) / len(same_hour_of_day)
        return Baseline(mean, "hour of day", len(same_hour_of_day))
    return None


def _looking_back(history: HourlyCounts, hour: datetime, step: timedelta, n: int) -> list[int]:
    values = (history.at(hour - step * k) for k in range(1, n + 1))
    return [v for v in values if v is not None]


def poisson_upper_tail(k: int, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu), summed in the direction that keeps its precision."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    if k > mu:  # terms fall from k on: sum the tail itself
        return math.exp(_log_pmf(k, mu)) * _relative_sum(k, lambda i: mu / (i + 1))
    # the tail is large; the lower sum (terms falling from k - 1 down to 0) is the small side
    lower = math.exp(_log_pmf(k - 1, mu)) * _relative_sum(k - 1, lambda i: i / mu, stop=0)
    return max(0.0, 1.0 - lower)


def _log_pmf(k: int, mu: float) -> float:
    return -mu + k * math.log(mu) - math.lgamma(k + 1)


def _relative_sum(i: int, step: Callable[[int], float], stop: int | None = None) -> float:
    """1 + r(i) + r(i)r(i±1) + ...: terms relative to the first, until they stop counting."""
    total, term = 1.0, 1.0
    direction = -1 if stop is not None else 1
    while term > total * 1e-17 and (stop is None or i > stop):
        term *= step(i)
        total += term
        i += direction
    return total


@dataclass(frozen=True)
class Verdict:
    hour_start: datetime
    count: int
    baseline: float | None  # None: too little history to judge
    basis: str
    ratio: float  # count / max(baseline, floor)
    p_value: float
    spike: bool


def judge(
    counts: HourlyCounts | Mapping[datetime, int] | pd.Series,
    hour_start: datetime,
    settings: SpikesConfig,
) -> Verdict:
    """Is this hour a spike? Only the hours before it go into its baseline."""
    history = HourlyCounts.of(counts)
    hour = floor_hour(hour_start)
    count = history.counts.get(hour, 0)
    usual = baseline(history, hour, settings.weeks)
    if usual is None:
        return Verdict(hour, count, None, "no history", 0.0, 1.0, False)
    # The floor: 3 posts in an hour that usually has none is not news.
    expected = max(usual.value, settings.baseline_floor)
    ratio = count / expected
    p_value = poisson_upper_tail(count, expected)
    spike = count >= settings.min_count and ratio >= settings.ratio and p_value < settings.p_value
    return Verdict(hour, count, usual.value, usual.basis, ratio, p_value, spike)


# --- drivers: which terms made the spike ---

# A small English list. "down" and "out", stopwords elsewhere, are what an outage is made of.
_STOPWORDS = """
    about above after again all also and any are aren because been before being below between
    both but can cannot could did didn does doesn doing don during each few for from
    further get got had hadn has hasn have haven having her here hers herself him himself his
    how into isn its itself just let like more most mustn myself nor not now off once only other
    our ours ourselves over own same she should shouldn some such than that the their
    theirs them themselves then there these they this those through too under until very was
    wasn were weren what when where which while who whom why will with won would wouldn you
    your yours yourself yourselves amp via rt http https www com
"""
STOPWORDS = frozenset(_STOPWORDS.split())

_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"@\w+")
_TERM = re.compile(
    r"[a-z\u00e0-\u00f6\u00f8-\u024f]{3,}"  # Latin words (accents already folded away)
    r"|[\u30a1-\u30fa\u30fc]{2,}"  # katakana runs
    r"|[\u3400-\u4dbf\u4e00-\u9fff\u3005]{2,}"  # kanji runs; one kanji alone says little
)
SMOOTHING = 0.5  # added to each cell of the 2x2 table (Haldane-Anscombe)


def tokens(text: str, exclude: Iterable[str] = ()) -> list[str]:
    """Words of 3+ Latin letters, katakana runs and kanji runs of 2+; no URLs or @handles."""
    dropped = set(exclude)
    return [t for t in _terms(text) if t not in dropped]


@lru_cache(maxsize=50_000)  # retweets and copy-paste storms repeat the same text
def _terms(text: str) -> tuple[str, ...]:
    folded = _HANDLE.sub(" ", _URL.sub(" ", normalize(text)))
    return tuple(t for t in _TERM.findall(folded) if t not in STOPWORDS and t.strip("ー"))


def drivers(
    spike_texts: Sequence[str],
    baseline_texts: Sequence[str],
    n: int = 8,
    exclude: Iterable[str] = (),
) -> list[str]:
    """The terms that set the spike hour apart, best first: smoothed log odds ratio of a
    term's share of spike texts against its share of baseline texts, over its standard error.
    ``exclude``: the brand's own name and keywords (every post has them)."""
    dropped = {t for phrase in exclude for t in tokens(phrase)}
    spike_df = document_frequency(spike_texts, dropped)
    baseline_df = document_frequency(baseline_texts, dropped)
    n_spike, n_base = len(spike_texts), len(baseline_texts)
    least = 2 if n_spike >= 2 else 1  # one post's pet word drives nothing
    scored = []
    for term, in_spike in spike_df.items():
        if in_spike < least:
            continue
        z = _log_odds_z(in_spike, n_spike, baseline_df.get(term, 0), n_base)
        if z > 0:
            scored.append((-z, term))
    return [term for _, term in sorted(scored)[:n]]


def document_frequency(
    texts: Iterable[str], exclude: AbstractSet[str] = frozenset()
) -> Counter[str]:
    """How many of the texts have each term (``tokens``), a text counting once per term;
    terms in ``exclude`` are left out. Spike drivers and topic reports count terms so."""
    frequency: Counter[str] = Counter()
    for text in texts:
        frequency.update(set(_terms(text)) - exclude)
    return frequency


def _log_odds_z(with_a: int, n_a: int, with_b: int, n_b: int) -> float:
    a = SMOOTHING
    cells = (with_a + a, n_a - with_a + a, with_b + a, n_b - with_b + a)
    log_odds_ratio = math.log(cells[0] / cells[1]) - math.log(cells[2] / cells[3])
    return log_odds_ratio / math.sqrt(sum(1 / c for c in cells))
