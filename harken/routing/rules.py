"""Evaluate routing rules. Every decision carries its reason in plain words.

Each condition of a rule is compiled once into a check that returns a ``Verdict``: whether it
holds and, either way, why in words ("keyword 'lawyer'", "complaint 0.12 < 0.50"). ``route``
stops at a rule's first failing condition; ``explain`` evaluates them all, for
``harken route --explain``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import regex

from harken.config import Priority, RoutingConfig, RoutingRule, RuleCondition
from harken.matching import Phrase, compile_phrases, first_hit
from harken.text import normalize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subject:
    """What routing sees of a mention: its post, its author and its classification."""

    text: str
    platform: str
    brand: str | None
    language: str
    followers: int | None
    verified: bool
    sentiment: str
    complaint: float
    abuse: float
    risk: float
    topics: tuple[str, ...] = ()
    topic_scores: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    department: str
    priority: Priority
    rule: str | None
    reason: str


@dataclass(frozen=True)
class Verdict:
    holds: bool
    text: str
    gave_up: bool = False  # a pattern ran out of its time budget (the text says which)


@dataclass(frozen=True)
class RuleTrace:
    """One rule's evaluation, condition by condition (what ``explain`` returns)."""

    rule: RoutingRule
    verdicts: list[Verdict]

    @property
    def matched(self) -> bool:
        return all(v.holds for v in self.verdicts)


Check = Callable[[Subject, str], Verdict]  # (subject, normalized text) -> verdict


class Router:
    """Rules compiled once; ``route`` is pure and cheap."""

    def __init__(
        self, config: RoutingConfig, topics: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.config = config
        # A topic's example phrases found literally in a post explain its topic better than
        # a similarity score does.
        self._topic_phrases = {n: compile_phrases(list(ex)) for n, ex in (topics or {}).items()}
        self._rules = [(rule, self._compile(rule.when)) for rule in config.rules]

    def route(self, subject: Subject) -> list[Decision]:
        folded = normalize(subject.text)
        decisions: dict[str, Decision] = {}
        gave_up: list[str] = []  # patterns that ran out of time on this post, by rule
        for rule, checks in self._rules:
            reasons = _all_hold(checks, subject, folded, gave_up, rule.name)
            if reasons is None:
                continue
            for department in rule.to:
                decisions.setdefault(department, _decision(rule, department, reasons))
            if rule.stop:
                break
        if not decisions:
            default = self.config.default
            decisions[default] = Decision(
                default, self.config.default_priority, None, "no rule matched: default department"
            )
        if gave_up:
            note = "; ".join(gave_up)
            decisions = {
                name: replace(d, reason=f"{d.reason} (not applied: {note})")
                for name, d in decisions.items()
            }
        return list(decisions.values())

    def explain(self, subject: Subject) -> list[RuleTrace]:
        """Every rule with every condition evaluated, in order (evaluation after a matching
        ``stop`` rule is still shown; ``route`` says what was decided)."""
        folded = normalize(subject.text)
        return [
            RuleTrace(rule, [check(subject, folded) for check in checks])
            for rule, checks in self._rules
        ]

    def _compile(self, when: RuleCondition) -> list[Check]:
        checks: list[Check] = []
        if when.keywords:
            checks.append(_keyword_check(compile_phrases(when.keywords)))
        if when.regex:
            budget = self.config.regex_budget.total_seconds()
            checks.append(_regex_check(when.regex, budget))
        for name, values in (
            ("platform", when.platforms),
            ("language", when.languages),
            ("brand", when.brands),
            ("sentiment", [s.value for s in when.sentiment]),
        ):
            if values:
                checks.append(_one_of(name, values))
        if when.topics:
            checks.append(self._topic_check(when.topics))
        for name, threshold in (
            ("complaint", when.complaint_gte),
            ("abuse", when.abuse_gte),
            ("risk", when.risk_gte),
        ):
            if threshold is not None:
                checks.append(_at_least(name, threshold))
        if when.followers_gte is not None:
            checks.append(_followers_check(when.followers_gte))
        if when.verified is not None:
            checks.append(_verified_check(when.verified))
        return checks

    def _topic_check(self, topics: list[str]) -> Check:
        def check(subject: Subject, folded: str) -> Verdict:
            hit = next((t for t in topics if t in subject.topics), None)
            if hit is None:
                best = ", ".join(f"{t} {subject.topic_scores.get(t, 0.0):.2f}" for t in topics)
                return Verdict(False, f"no topic among {', '.join(topics)} (similarity {best})")
            phrase = first_hit(self._topic_phrases.get(hit, []), folded)
            if phrase is not None:
                return Verdict(True, f"topic {hit} (phrase {phrase.text!r})")
            score = subject.topic_scores.get(hit)
            shown = f" (similarity {score:.2f})" if score is not None else ""
            return Verdict(True, f"topic {hit}{shown}")

        return check


def _decision(rule: RoutingRule, department: str, reasons: list[str]) -> Decision:
    because = "; ".join(reasons) if reasons else "matches everything"
    return Decision(department, rule.priority, rule.name, f"rule {rule.name!r}: {because}")


def _all_hold(
    checks: list[Check], subject: Subject, folded: str, gave_up: list[str], rule: str
) -> list[str] | None:
    reasons = []
    for check in checks:
        verdict = check(subject, folded)
        if verdict.gave_up:
            gave_up.append(f"rule {rule!r}: {verdict.text}")
        if not verdict.holds:
            return None
        reasons.append(verdict.text)
    return reasons


def _keyword_check(phrases: list[Phrase]) -> Check:
    listed = ", ".join(repr(p.text) for p in phrases[:4]) + (", ..." if len(phrases) > 4 else "")

    def check(_: Subject, folded: str) -> Verdict:
        hit = first_hit(phrases, folded)
        if hit is None:
            return Verdict(False, f"none of the keywords {listed}")
        return Verdict(True, f"keyword {hit.text!r}")

    return check


def _regex_check(patterns: list[str], budget: float) -> Check:
    """Patterns run on the `regex` module, which can stop a search: all of a rule's patterns
    share ``budget`` seconds per post, so one unlucky post cannot hold up the others."""
    compiled = [regex.compile(p, regex.IGNORECASE | regex.V0) for p in patterns]

    def check(subject: Subject, folded: str) -> Verdict:
        deadline = time.monotonic() + budget
        for pattern in compiled:
            try:
                found = _search(pattern, subject.text, deadline) or _search(
                    pattern, folded, deadline
                )
            except TimeoutError:
                log.warning("pattern %r gave up after %gs on one post", pattern.pattern, budget)
                text = f"pattern '{pattern.pattern}' gave up after {budget:g}s on this post"
                return Verdict(False, text, gave_up=True)
            if found:
                return Verdict(True, f"pattern '{pattern.pattern}' matched {_shown(found[0])}")
        shown = ", ".join(f"'{p}'" for p in patterns)
        return Verdict(False, f"no pattern matched ({shown})")

    return check


def _search(pattern: regex.Pattern[str], text: str, deadline: float) -> regex.Match[str] | None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return pattern.search(text, timeout=left)


def _shown(matched: str) -> str:
    """A match as the reason quotes it: a pattern like '.*' can match a whole long post."""
    return repr(matched if len(matched) <= 60 else matched[:57] + "...")


def _one_of(name: str, values: list[str]) -> Check:
    wanted = {v.casefold() for v in values}

    def check(subject: Subject, _: str) -> Verdict:
        value = getattr(subject, name)
        holds = value is not None and value.casefold() in wanted
        return Verdict(holds, f"{name} {value}" + ("" if holds else f" not in {values}"))

    return check


def _at_least(name: str, threshold: float) -> Check:
    def check(subject: Subject, _: str) -> Verdict:
        value = getattr(subject, name)
        sign = "≥" if value >= threshold else "<"
        return Verdict(value >= threshold, f"{name} {value:.2f} {sign} {threshold:.2f}")

    return check


def _followers_check(minimum: int) -> Check:
    def check(subject: Subject, _: str) -> Verdict:
        if subject.followers is None:
            return Verdict(False, "author's followers unknown")
        holds = subject.followers >= minimum
        sign = "≥" if holds else "<"
        return Verdict(holds, f"author has {subject.followers:,} followers {sign} {minimum:,}")

    return check


def _verified_check(wanted: bool) -> Check:
    def check(subject: Subject, _: str) -> Verdict:
        text = "verified author" if subject.verified else "unverified author"
        return Verdict(subject.verified == wanted, text)

    return check
