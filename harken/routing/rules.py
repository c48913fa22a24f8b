"""Evaluate routing rules. Every decision carries its reason in plain words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harken.config import Priority, RoutingConfig, RoutingRule, RuleCondition
from harken.matching import Phrase, compile_phrases, first_hit
from harken.text import normalize


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


@dataclass(frozen=True)
class Decision:
    department: str
    priority: Priority
    rule: str | None
    reason: str


Check = Callable[[Subject, str], str | None]  # (subject, normalized text) -> reason or None


class Router:
    """Rules compiled once; ``route`` is pure and cheap."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self._rules = [(rule, _compile(rule.when)) for rule in config.rules]

    def route(self, subject: Subject) -> list[Decision]:
        folded = normalize(subject.text)
        decisions: dict[str, Decision] = {}
        for rule, checks in self._rules:
            reasons = _all_hold(checks, subject, folded)
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
        return list(decisions.values())


def _decision(rule: RoutingRule, department: str, reasons: list[str]) -> Decision:
    because = "; ".join(reasons) if reasons else "matches everything"
    return Decision(department, rule.priority, rule.name, f"rule {rule.name!r}: {because}")


def _all_hold(checks: list[Check], subject: Subject, folded: str) -> list[str] | None:
    reasons = []
    for check in checks:
        reason = check(subject, folded)
        if reason is None:
            return None
        reasons.append(reason)
    return reasons


def _compile(when: RuleCondition) -> list[Check]:
    checks: list[Check] = []
    if when.keywords:
        checks.append(_keyword_check(compile_phrases(when.keywords)))
    for field, values in (
        ("platform", when.platforms),
        ("language", when.languages),
        ("brand", when.brands),
        ("sentiment", [s.value for s in when.sentiment]),
    ):
        if values:
            checks.append(_one_of(field, values))
    if when.topics:
        checks.append(_topic_check(when.topics))
    for field, label, threshold in (
        ("complaint", "complaint", when.complaint_gte),
        ("abuse", "abuse", when.abuse_gte),
        ("risk", "risk", when.risk_gte),
    ):
        if threshold is not None:
            checks.append(_at_least(field, label, threshold))
    if when.followers_gte is not None:
        checks.append(_followers_check(when.followers_gte))
    if when.verified is not None:
        wanted = when.verified
        checks.append(
            lambda s, _: (
                ("verified author" if wanted else "unverified author")
                if s.verified == wanted
                else None
            )
        )
    return checks


def _keyword_check(phrases: list[Phrase]) -> Check:
    def check(_: Subject, folded: str) -> str | None:
        hit = first_hit(phrases, folded)
        return f"keyword {hit.text!r}" if hit else None

    return check


def _one_of(field: str, values: list[str]) -> Check:
    wanted = {v.casefold() for v in values}

    def check(subject: Subject, _: str) -> str | None:
        value = getattr(subject, field)
        return f"{field} {value}" if value is not None and value.casefold() in wanted else None

    return check


def _topic_check(topics: list[str]) -> Check:
    def check(subject: Subject, _: str) -> str | None:
        hit = next((t for t in topics if t in subject.topics), None)
        return f"topic {hit}" if hit else None

    return check


def _at_least(field: str, label: str, threshold: float) -> Check:
    def check(subject: Subject, _: str) -> str | None:
        value = getattr(subject, field)
        return f"{label} {value:.2f} ≥ {threshold:.2f}" if value >= threshold else None

    return check


def _followers_check(minimum: int) -> Check:
    def check(subject: Subject, _: str) -> str | None:
        if subject.followers is None or subject.followers < minimum:
            return None
        return f"author has {subject.followers:,} followers ≥ {minimum:,}"

    return check
