"""Phrase matching shared by brand detection, topic keywords and routing rules.

Text and phrases are compared after ``normalize`` (width, case, accents). A phrase made of
Latin letters and digits must match whole words ("sue" does not match "issue"); a phrase in a
script without word spaces (Japanese, Chinese) matches anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harken.negation import denied_in_clause, negated
from harken.text import normalize

_WORDISH = re.compile(r"^[\w\s'’&.@#+-]+$", re.ASCII)


# Each occurrence read for a denial costs a little: past this many, all denied, a phrase stands
# (as it did before denials were read), so 40,000 characters of "no breach, " stay cheap.
_MOST_DENIALS = 50


@dataclass(frozen=True)
class Phrase:
    text: str  # as configured, for explanations
    pattern: re.Pattern[str]
    # The pattern's literal: a text without it cannot match, and a substring check says so
    # many times faster than the pattern (most phrases are absent from most posts).
    folded: str = ""

    def found_in(self, normalized_text: str) -> bool:
        if self.folded not in normalized_text:
            return False
        return self.pattern.search(normalized_text) is not None

    def affirmed_in(self, normalized_text: str) -> tuple[bool, list[str]]:
        """Whether one occurrence stands (is not denied), and the denials seen before it."""
        denials: list[str] = []
        if self.folded not in normalized_text:
            return False, denials
        for n, found in enumerate(self.pattern.finditer(normalized_text)):
            if n == _MOST_DENIALS:
                return True, denials  # a post that repeats a denial this often is not believed
            denial = negated(normalized_text, found.start(), found.end())
            if denial is None:
                return True, denials
            denials.append(denial)
        return False, denials


def compile_phrase(phrase: str) -> Phrase:
    folded = normalize(phrase).strip()
    escaped = re.escape(folded)
    if _WORDISH.match(folded):
        escaped = rf"(?<![a-z0-9_]){escaped}(?![a-z0-9_])"
    return Phrase(phrase, re.compile(escaped), folded)


def compile_phrases(phrases: list[str]) -> list[Phrase]:
    return [compile_phrase(p) for p in phrases if p.strip()]


def first_hit(phrases: list[Phrase], normalized_text: str) -> Phrase | None:
    return next((p for p in phrases if p.found_in(normalized_text)), None)


def first_affirmed(phrases: list[Phrase], normalized_text: str) -> tuple[Phrase | None, list[str]]:
    """The first phrase found outside a denial ("no evidence of a data breach" does not name
    a breach), and when there is none, the denials that hid the phrases (for explanations)."""
    denials: list[str] = []
    for phrase in phrases:
        stands, seen = phrase.affirmed_in(normalized_text)
        if stands:
            return phrase, []
        denials += seen
    return None, denials


# --- topics by example, read for denials -------------------------------------------------------

# Words of a topic's examples too common to carry its meaning.
# fmt: off
_COMMON = frozenset((
    "this", "that", "with", "from", "have", "been", "were", "will", "just", "about", "into",
    "there", "their", "they", "them", "your", "what", "when", "some", "when", "than", "then",
    "also", "very", "much", "more", "most", "only", "over", "after", "before",
))
# fmt: on
_SUFFIX = re.compile(r"(?:ing|ed|es|er|s)$")
_JAPANESE_RUN = re.compile(r"[\u4e00-\u9fff\u30a0-\u30ff]{2,}")
_KANA_OR_KANJI = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
_KANJI_OR_KATAKANA = re.compile(r"[\u30a0-\u30ff\u3400-\u9fff]")  # not a bare ending (した)
_PARTICLE = re.compile(r"[をがはにでもとへの、\s]")


@dataclass(frozen=True)
class TopicExamples:
    """A topic's example phrases, and the words that carry their meaning ("hack" of "my
    account was hacked"). A post given the topic by similarity names none of the examples
    literally; where it names their words only inside denials, the topic is denied."""

    phrases: list[Phrase]
    anchors: list[re.Pattern[str]]

    def denial(self, normalized_text: str) -> tuple[Phrase | None, str | None]:
        """(an example phrase that stands, or None; the denial that hides the topic, or None
        when the post names it outside a denial or not at all)."""
        phrase, denials = first_affirmed(self.phrases, normalized_text)
        if phrase is not None:
            return phrase, None
        found = [m for a in self.anchors for m in a.finditer(normalized_text)]
        if len(found) > _MOST_DENIALS:
            return None, None  # too many to read: the similarity stands
        for m in found:
            if denied_in_clause(normalized_text, m.start(), m.end()) is None:
                return None, None  # its meaning stands somewhere in the post
        if found:
            return None, denials[0] if denials else denied_in_clause(
                normalized_text, found[0].start(), found[0].end()
            )
        return None, denials[0] if denials else None


def _japanese_parts(folded: str) -> list[str]:
    """The words of a Japanese example that carry its meaning: its runs of kanji or katakana,
    and its parts between particles (お腹を壊した: お腹, 壊した), so that a post saying it
    in other words ("お腹壊したって言ったけど、ただの風邪") is read for denials too. Never the
    halves of a compound: 情報 of 情報漏洩, イン of ログイン are words of any post."""
    parts = _JAPANESE_RUN.findall(folded)
    parts += [p for p in _PARTICLE.split(folded) if len(p) >= 2 and _KANJI_OR_KATAKANA.search(p)]
    return list(dict.fromkeys(parts))


def compile_topic(examples: list[str]) -> TopicExamples:
    anchors: dict[str, re.Pattern[str]] = {}
    for example in examples:
        folded = normalize(example)
        for word in re.findall(r"[a-z0-9]+", folded):
            stem = _SUFFIX.sub("", word) if len(word) > 5 else word
            if len(stem) >= 4 and word not in _COMMON:
                anchors[stem] = re.compile(rf"(?<![a-z0-9_]){re.escape(stem)}[a-z]*")
        for run in [folded.strip(), *_japanese_parts(folded)]:
            if _KANA_OR_KANJI.search(run):
                anchors[run] = re.compile(re.escape(run))
    return TopicExamples(compile_phrases(examples), list(anchors.values()))


# --- regular expressions in routing rules ------------------------------------------------------
#
# A rule's pattern runs on text written by strangers. Python's `re` has no time limit, so
# patterns run on the `regex` module with a time budget (routing/rules.py), and the shapes that
# backtrack exponentially are refused when the config is read: a repeat whose body is only
# unbounded repeats and parts that may match nothing ("(a+)+", "(\w+\s*)+", "(x+x+)+") can split
# the same text in exponentially many ways. Other slow shapes are left to the time budget.


def backtracking_shape(pattern: str) -> str | None:
    """The part of ``pattern`` that can backtrack exponentially, or None."""
    try:
        # re's own parser (private, but the only parser of Python's syntax at hand): a pattern
        # it cannot read is reported by re.compile, not here.
        from re import _parser  # type: ignore[attr-defined]

        tree = _parser.parse(pattern)
    except Exception:
        return None
    return _find_nested_repeat(list(tree.data))


def _find_nested_repeat(items: list[Any]) -> str | None:
    from re import _constants as c  # type: ignore[attr-defined]

    for op, av in items:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[1] > 1 and _ambiguous(list(av[2]), c):
            return "a repeated group made only of unbounded repeats, like (a+)+ or (\\w+\\s*)+"
        for child in _children(op, av, c):
            found = _find_nested_repeat(child)
            if found:
                return found
    return None


def _children(op: Any, av: Any, c: Any) -> list[list[Any]]:
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        return [list(av[2])]
    if op is c.SUBPATTERN:
        return [list(av[3])]
    if op is c.BRANCH:
        return [list(branch) for branch in av[1]]
    if op in (c.ASSERT, c.ASSERT_NOT):
        return [list(av[1])]
    if op is c.ATOMIC_GROUP:
        return [list(av)]
    return []


def _ambiguous(body: list[Any], c: Any) -> bool:
    """Only unbounded (non-possessive) repeats and optional parts: each pass of the outer
    repeat can take any share of the text, so a failing match tries every split."""
    while len(body) == 1 and body[0][0] is c.SUBPATTERN:
        body = list(body[0][1][3])
    if len(body) == 1 and body[0][0] is c.BRANCH:
        return any(_ambiguous(list(branch), c) for branch in body[0][1][1])
    unbounded = [op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[1] is c.MAXREPEAT for op, av in body]
    return any(unbounded) and all(
        is_unbounded or _can_be_empty(item, c)
        for item, is_unbounded in zip(body, unbounded, strict=True)
    )


def _can_be_empty(item: Any, c: Any) -> bool:
    op, av = item
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        return bool(av[0] == 0)
    if op is c.SUBPATTERN:
        return all(_can_be_empty(i, c) for i in av[3])
    if op is c.BRANCH:
        return any(all(_can_be_empty(i, c) for i in branch) for branch in av[1])
    return op in (c.AT, c.ASSERT, c.ASSERT_NOT)
