"""Which configured brand a post is about (keywords, handles, hashtags, minus exclusions)."""

from __future__ import annotations

from dataclasses import dataclass

from harken.config import BrandConfig
from harken.matching import Phrase, compile_phrases, first_hit
from harken.text import normalize


@dataclass(frozen=True)
class BrandMatcher:
    name: str
    terms: list[Phrase]
    exclusions: list[Phrase]

    @classmethod
    def from_config(cls, brand: BrandConfig) -> BrandMatcher:
        terms = compile_phrases([*brand.keywords, *brand.handles, *brand.hashtags])
        return cls(brand.name, terms, compile_phrases(brand.exclude))

    def matches(self, normalized_text: str) -> bool:
        if first_hit(self.exclusions, normalized_text):
            # An excluded phrase ("acme anvil") only disqualifies the text if no other
            # mention of the brand remains once it is removed.
            for phrase in self.exclusions:
                normalized_text = phrase.pattern.sub(" ", normalized_text)
        return first_hit(self.terms, normalized_text) is not None


class BrandDetector:
    """With no brands configured every post is kept (brand ``None``)."""

    def __init__(self, brands: list[BrandConfig]) -> None:
        self.matchers = [BrandMatcher.from_config(b) for b in brands]
        self.handles = {b.name: {normalize(h).lstrip("@") for h in b.handles} for b in brands}

    @property
    def active(self) -> bool:
        return bool(self.matchers)

    def own_account(self, handle: str) -> str | None:
        """The brand whose own account this is (its posts are answers, not mentions)."""
        folded = normalize(handle).lstrip("@")
        return next((b for b, handles in self.handles.items() if folded in handles), None)

    def known(self, name: str | None) -> str | None:
        """``name`` if it is a configured brand (a source's ``about``), else None."""
        return name if name is not None and name in self.handles else None

    def brand_of(self, text: str) -> str | None:
        folded = normalize(text)
        return next((m.name for m in self.matchers if m.matches(folded)), None)
