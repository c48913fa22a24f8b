"""Phrase matching shared by brand detection, topic keywords and routing rules.

Text and phrases are compared after ``normalize`` (width, case, accents). A phrase made of
Latin letters and digits must match whole words ("sue" does not match "issue"); a phrase in a
script without word spaces (Japanese, Chinese) matches anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harken.text import normalize

_WORDISH = re.compile(r"^[\w\s'’&.@#+-]+$", re.ASCII)


@dataclass(frozen=True)
class Phrase:
    text: str  # as configured, for explanations
    pattern: re.Pattern[str]

    def found_in(self, normalized_text: str) -> bool:
        return self.pattern.search(normalized_text) is not None


def compile_phrase(phrase: str) -> Phrase:
    folded = normalize(phrase).strip()
    escaped = re.escape(folded)
    if _WORDISH.match(folded):
        escaped = rf"(?<![a-z0-9_]){escaped}(?![a-z0-9_])"
    return Phrase(phrase, re.compile(escaped))


def compile_phrases(phrases: list[str]) -> list[Phrase]:
    return [compile_phrase(p) for p in phrases if p.strip()]


def first_hit(phrases: list[Phrase], normalized_text: str) -> Phrase | None:
    return next((p for p in phrases if p.found_in(normalized_text)), None)


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
