"""Evaluate routing rules. Every decision carries its reason in plain words.

Each condition of a rule is compiled once into a check that returns a ``Verdict``: whether it
holds and, either way, why in words ("keyword 'lawyer'", "complaint 0.12 < 0.50"). ``route``
stops at a rule's first failing condition; ``explain`` evaluates them all, for
``harken route --explain``.

Authors with a role (``accounts:``, ``harken.authors``): a rule without ``roles:`` is a
customer rule. It never applies to the brand's own accounts, its staff or its moderators, and
for press its complaint and sentiment conditions do not hold (an article about an outage is not
a complaint). A rule with ``roles:`` applies to those roles only, every condition as written.
After the rules, every press post also goes to ``routing.press`` (the built-in rule
``press``) unless a matching rule said ``stop``; own, staff and moderator posts that no rule
names are not queued at all (``route`` returns no decision, ``set_apart`` says why).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import regex

from harken.config import Priority, RoutingConfig, RoutingRule, RuleCondition
from harken.config.schema import PRESS_RULE
from harken.matching import Phrase, TopicExamples, compile_phrases, compile_topic, first_affirmed
from harken.negation import Solved, denial_note, solved_statement
from harken.text import normalize, visible_text, without_links

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
    author: str = ""  # the author's handle
    role: str | None = None  # from accounts: (harken.authors.role_of)
    role_source: str | None = None  # where the role came from, in words: "accounts:"
    # Whether the classifier read the post's language (its scores mean something).
    understood: bool = True

    @property
    def author_line(self) -> str | None:
        """``author @acmesupport is staff (accounts:)``, or None for an author with no role."""
        if self.role is None:
            return None
        return (
            f"author {shown_handle(self.platform, self.author)} is {self.role} ({self.role_source})"
        )


def shown_handle(platform: str, handle: str) -> str:
    """A handle as people write it there: @name, u/name on Reddit, a feed's title quoted."""
    if platform == "reddit":
        return handle if handle.startswith("u/") else f"u/{handle}"
    if platform == "rss" or " " in handle:
        return repr(handle)
    return handle if handle.startswith("@") else f"@{handle}"


# Roles whose posts customer rules never see: queued only by a rule that names the role.
SET_APART = ("own", "staff", "moderator")
# Roles whose complaint and sentiment are no customer's grievance, for customer rules.
NOT_COMPLAINING = (*SET_APART, "press")


@dataclass(frozen=True)
class Decision:
    department: str
    priority: Priority
    rule: str | None
    reason: str
    # The default department's, for a post that needs no answer (praise, thanks, chatter):
    # it only joins its incident's open items, if any; otherwise it is not queued.
    quiet: bool = False


# The score that makes a post worth an answer when no rule took it (routing.default_takes).
ANSWER_COMPLAINT = 0.5
ANSWER_RISK = 0.6
# A question: a question mark, or a polite Japanese question ending without one.
_QUESTION = regex.compile(r"[?？]|(?:ですか|ますか|でしょうか|ませんか)(?=[\s。．.！!…]|$)")


def answer_needed(
    subject: Subject, folded: str, solved: str | None, denied: str | None = None
) -> str | None:
    """Why a post that no rule took may need an answer from the default department, in
    words; None for praise, thanks and chatter. ``folded``: its visible words, normalized;
    ``solved``: its ``solved_statement``; ``denied``: what a rule found only denied."""
    if not subject.understood:  # or a row stored before harken kept meanings
        return f"no meaning read for it (language {subject.language!r})"
    complaining = subject.role not in NOT_COMPLAINING
    if subject.risk >= ANSWER_RISK:
        return f"risk {subject.risk:.2f}"
    if _QUESTION.search(without_links(folded)):
        return "a question"
    if solved is not None:
        return None  # thanks for a fix, however its words score
    if complaining and subject.complaint >= ANSWER_COMPLAINT:
        return f"complaint {subject.complaint:.2f}"
    # A rule's problem words named only to be denied explain a negative score: "No, Acme did
    # not lose my data" is no grievance.
    if complaining and subject.sentiment == "negative" and denied is None:
        return "negative sentiment"
    return None


def no_answer_reason(subject: Subject, solved: str | None, denied: str | None = None) -> str:
    """Why a post no rule took needs no answer, in words (``answer_needed`` said None)."""
    if solved is not None:
        return f"it says the problem is solved: {solved!r}"
    if denied is not None and subject.sentiment == "negative":
        return f"complaint {subject.complaint:.2f}, no question; {denial_note(denied)}"
    return f"complaint {subject.complaint:.2f}, {subject.sentiment}, no question"


@dataclass(frozen=True)
class Verdict:
    holds: bool
    text: str
    gave_up: bool = False  # a pattern ran out of its time budget (the text says which)
    denial: str | None = None  # it failed because the post names it only to deny it


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
        self._topic_examples = {n: compile_topic(list(ex)) for n, ex in (topics or {}).items()}
        self._rules = [(rule, self._compile(rule.when)) for rule in config.rules]

    def route(self, subject: Subject) -> list[Decision]:
        """The departments the post goes to; none for an own, staff or moderator post that no
        rule with ``roles:`` takes (``set_apart`` says why)."""
        folded = normalize(visible_text(subject.text))  # not words hidden in markup
        decisions: dict[str, Decision] = {}
        gave_up: list[str] = []  # patterns that ran out of time on this post, by rule
        denied: list[str] = []  # what the post names only to deny it, or says is solved
        stopped = False
        for rule, checks in self._rules:
            if _customers_only(rule, subject):
                continue
            reasons = _all_hold(checks, subject, folded, gave_up, rule.name, denied)
            if reasons is None:
                continue
            for department in rule.to:
                decisions.setdefault(department, _decision(rule, department, reasons))
            if rule.stop:
                stopped = True
                break
        if subject.role == "press" and self.config.press and not stopped:
            decisions.setdefault(self.config.press, self._press_decision(subject))
        if not decisions and subject.role in SET_APART:
            return []
        if not decisions:
            default = self._default_decision(subject, folded, denied[0] if denied else None)
            # A rule that ran out of time decided nothing: a person looks at the post.
            decisions[self.config.default] = replace(default, quiet=False) if gave_up else default
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
        folded = normalize(visible_text(subject.text))  # not words hidden in markup
        return [
            RuleTrace(rule, _not_for(subject) + [check(subject, folded) for check in checks])
            if _customers_only(rule, subject)
            else RuleTrace(rule, [check(subject, folded) for check in checks])
            for rule, checks in self._rules
        ]

    def _default_decision(self, subject: Subject, folded: str, denied: str | None) -> Decision:
        default, priority = self.config.default, self.config.default_priority
        if self.config.default_takes == "all":
            return Decision(default, priority, None, "no rule matched: default department")
        solved = solved_statement(folded)
        why = answer_needed(subject, folded, solved, denied)
        if why is not None:
            return Decision(default, priority, None, f"no rule matched: default department ({why})")
        return Decision(
            default,
            priority,
            None,
            f"not queued: no rule matched and it needs no answer (routing.default_takes: all "
            f"would queue it for {default}): {no_answer_reason(subject, solved, denied)}",
            quiet=True,
        )

    def set_apart(self, subject: Subject) -> str | None:
        """Why ``route`` queues the post nowhere, or None when it queues it."""
        if subject.role not in SET_APART:
            return None
        why = {
            "own": "the brand's own posts are never queued",
            "staff": "the brand's staff are never queued as customers",
            "moderator": "a moderator's posts manage the community, they are no complaint",
        }[subject.role]
        return (
            f"not queued: {subject.author_line}: {why} (a rule with roles: [{subject.role}] "
            "would take them)"
        )

    def _press_decision(self, subject: Subject) -> Decision:
        assert self.config.press
        return Decision(
            self.config.press,
            self.config.default_priority,
            PRESS_RULE,
            f"rule {PRESS_RULE!r} (built in): {subject.author_line}; press posts go to "
            f"{self.config.press} (routing.press)",
        )

    def _compile(self, when: RuleCondition) -> list[Check]:
        checks: list[Check] = []
        if when.keywords:
            checks.append(_keyword_check(compile_phrases(when.keywords)))
        if when.regex:
            budget = self.config.regex_budget.total_seconds()
            checks.append(_regex_check(when.regex, budget))
        if when.roles:
            checks.append(_role_check(when.roles))
        for name, values in (
            ("platform", when.platforms),
            ("language", when.languages),
            ("brand", when.brands),
            ("sentiment", [s.value for s in when.sentiment]),
        ):
            if values:
                one = _one_of(name, values)
                customer = name == "sentiment" and not when.roles
                checks.append(_for_complainers(one) if customer else one)
        if when.topics:
            checks.append(self._topic_check(when.topics))
        for name, threshold in (
            ("complaint", when.complaint_gte),
            ("abuse", when.abuse_gte),
            ("risk", when.risk_gte),
        ):
            if threshold is not None:
                least = _at_least(name, threshold)
                customer = name == "complaint" and not when.roles
                checks.append(_for_complainers(least) if customer else least)
        if when.followers_gte is not None:
            checks.append(_followers_check(when.followers_gte))
        if when.verified is not None:
            checks.append(_verified_check(when.verified))
        return checks

    def _topic_check(self, topics: list[str]) -> Check:
        def check(subject: Subject, folded: str) -> Verdict:
            held = [t for t in topics if t in subject.topics]
            if not held:
                scores = subject.topic_scores
                best = ", ".join(f"{t} {scores.get(t, 0.0):.2f}" for t in topics)
                # The post's own topics say why a close score was not enough (the margin).
                has = ", ".join(f"{t} {scores.get(t, 0.0):.2f}" for t in subject.topics)
                why = f"no topic among {', '.join(topics)} (similarity {best}"
                why += f"; the post has {has})" if has else ")"
                denial = _topic_denial(topics, self._topic_examples, folded)
                note = f"; {denial_note(denial)}" if denial is not None else ""
                return Verdict(False, why + note, denial=denial)
            return _topic_verdict(held, self._topic_examples, subject, folded)

        return check


def _customers_only(rule: RoutingRule, subject: Subject) -> bool:
    """A customer rule (no ``roles:``) and an own, staff or moderator author: it does not apply."""
    return not rule.when.roles and subject.role in SET_APART


def _not_for(subject: Subject) -> list[Verdict]:
    return [Verdict(False, f"{subject.author_line}: a rule without roles: is for customers")]


def _role_check(roles: list[str]) -> Check:
    def check(subject: Subject, _: str) -> Verdict:
        if subject.role is None:
            return Verdict(False, f"author has no role (the rule is for {', '.join(roles)})")
        holds = subject.role in roles
        return Verdict(holds, f"{subject.author_line}" + ("" if holds else f" not in {roles}"))

    return check


def _for_complainers(check: Check) -> Check:
    """A complaint or sentiment condition of a customer rule: press posts (and other set-apart
    authors) do not complain, whatever their words score."""

    def wrapped(subject: Subject, folded: str) -> Verdict:
        verdict = check(subject, folded)
        if subject.role in NOT_COMPLAINING:
            return Verdict(False, f"{verdict.text}, but {subject.author_line}: not a complaint")
        return verdict

    return wrapped


def _decision(rule: RoutingRule, department: str, reasons: list[str]) -> Decision:
    because = "; ".join(reasons) if reasons else "matches everything"
    return Decision(department, rule.priority, rule.name, f"rule {rule.name!r}: {because}")


def _all_hold(
    checks: list[Check],
    subject: Subject,
    folded: str,
    gave_up: list[str],
    rule: str,
    denied: list[str],
) -> list[str] | None:
    reasons = []
    for check in checks:
        verdict = check(subject, folded)
        if verdict.gave_up:
            gave_up.append(f"rule {rule!r}: {verdict.text}")
        if not verdict.holds:
            if verdict.denial is not None:
                denied.append(verdict.denial)
            return None
        reasons.append(verdict.text)
    return reasons


def _topic_verdict(
    held: list[str], examples: Mapping[str, TopicExamples], subject: Subject, folded: str
) -> Verdict:
    """The first topic the post names outside a denial holds; a topic whose examples (or
    their words) the post names only inside denials does not ("no evidence of a breach")."""
    denials = []
    for topic in held:
        phrase, denial = examples[topic].denial(folded) if topic in examples else (None, None)
        if phrase is not None:
            return Verdict(True, f"topic {topic} (phrase {phrase.text!r})")
        if denial is None:  # similar, no example word denied: unless the post thanks for a fix
            solved = solved_statement(folded)
            denial = Solved(solved) if solved is not None else None
        if denial is None:
            score = subject.topic_scores.get(topic)
            shown = f" (similarity {score:.2f})" if score is not None else ""
            return Verdict(True, f"topic {topic}{shown}")
        denials.append(denial)
    return Verdict(False, denial_note(denials[0]), denial=denials[0])


def _topic_denial(
    topics: list[str], examples: Mapping[str, TopicExamples], folded: str
) -> str | None:
    """Why the classifier did not give a topic the post names: it names it only to deny it."""
    for topic in topics:
        _, denial = examples[topic].denial(folded) if topic in examples else (None, None)
        if denial is not None:
            return denial
    return None


def _keyword_check(phrases: list[Phrase]) -> Check:
    listed = ", ".join(repr(p.text) for p in phrases[:4]) + (", ..." if len(phrases) > 4 else "")

    def check(_: Subject, folded: str) -> Verdict:
        hit, denials = first_affirmed(phrases, folded)
        if hit is None and denials:
            return Verdict(False, denial_note(denials[0]), denial=denials[0])
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
