"""Escalation signals that need no configuration: legal threats, safety, press attention.

A post that threatens court, reports a fire or an injury, or comes from a journalist asking for
comment needs more than routine care whoever wrote it. Each kind has a built-in lexicon, read in
the words a reader sees (``harken.text.visible_text``) folded for matching: English phrases match
whole words ("sue" is not in "issue"), Japanese ones anywhere. An occurrence inside a denial ("we
will not sue", "訴えるつもりはない") does not count (``harken.negation``). What each kind adds to
the risk is in ``risk.signals`` (``harken.classify.risk``); 0 switches a kind off.
"""

from __future__ import annotations

from dataclasses import dataclass

from harken.matching import Phrase, compile_phrases
from harken.text import normalize, visible_text

# How each kind is named in a risk factor ("legal threat: 'take you to court'").
KINDS = {"legal": "legal threat", "safety": "safety", "press": "press attention"}

# Longer phrases first: the factor names the most telling one found. Bare words that are
# mostly figurative ("fire", "burn", "recall") are only listed inside phrases; what remains
# ambiguous ("this deal is fire") is held down by the risk, which weights a signal by how
# unhappy the post is.
_LEXICON: dict[str, list[str]] = {
    "legal": [
        "take you to court", "taking you to court", "see you in court", "class action",
        "class-action", "small claims", "legal action", "attorney general", "trading standards",
        "better business bureau", "consumer protection", "report you to the", "lawsuit",
        "lawsuits", "sue", "sues", "suing", "sued", "lawyer", "lawyers", "attorney",
        "attorneys", "solicitor", "solicitors", "court", "litigation", "ftc", "cfpb", "fca",
        "ombudsman", "regulator", "regulators",
        "少額訴訟", "集団訴訟", "訴訟", "訴え", "弁護士", "裁判", "法的措置", "法的手段",
        "消費者センター", "国民生活センター", "消費者庁", "景表法", "景品表示法",
    ],
    "safety": [
        "food poisoning", "allergic reaction", "caught fire", "catching fire", "catch fire",
        "burst into flames", "fire hazard", "started a fire", "set on fire", "electric shock",
        "product recall", "safety recall", "emergency room", "went to hospital",
        "went to the hospital", "in the hospital", "in hospital", "injury", "injuries",
        "injured", "burned", "burnt", "burns", "smoke", "smoking battery", "exploded",
        "explosion", "choking", "choked", "overheated", "melted", "recalled", "hospitalized",
        "hospitalised", "poisoned", "poisoning", "ambulance",
        "食中毒", "異物混入", "アレルギー", "ケガ", "けが", "怪我", "火事", "発火", "発煙", "火傷",
        "やけど", "爆発", "救急", "リコール", "感電",
    ],
    "press": [
        "going to the media", "go to the media", "going to the press", "go to the press",
        "contact the press", "news desk", "newsdesk", "press inquiry", "press enquiry",
        "media inquiry", "media enquiry", "request for comment", "for comment", "journalist",
        "journalists", "reporter", "reporters", "editor at", "writing a story",
        "記者", "取材", "報道", "マスコミ", "メディアに", "週刊誌",
    ],
}  # fmt: skip

_PHRASES: dict[str, list[Phrase]] = {
    kind: sorted(compile_phrases(words), key=lambda p: -len(p.text))
    for kind, words in _LEXICON.items()
}


@dataclass(frozen=True)
class Found:
    kind: str  # legal, safety or press
    phrase: str  # the lexicon phrase, as listed (never the post's own characters)

    @property
    def label(self) -> str:
        return f"{KINDS[self.kind]}: {self.phrase!r}"


def find_signals(text: str) -> tuple[Found, ...]:
    """The escalation signals a post states (not only denies), at most one per kind."""
    folded = normalize(visible_text(text))
    found = []
    for kind, phrases in _PHRASES.items():
        hit = next((p for p in phrases if _affirmed(p, folded)), None)
        if hit is not None:
            found.append(Found(kind, hit.text))
    return tuple(found)


def _affirmed(phrase: Phrase, folded: str) -> bool:
    # As keyword rules read it: bounded reads of denials, the same verdict as routing.
    return phrase.affirmed_in(folded)[0]
