"""Phrase matching shared by brand detection, topic keywords and routing rules.

Text and phrases are compared after ``normalize`` (width, case, accents). A phrase made of
Latin letters and digits must match whole words ("sue" does not match "issue"); a phrase in a
script without word spaces (Japanese, Chinese) matches anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
