"""Which configured brand a post is about (keywords, handles, hashtags, minus exclusions)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from harken.config import BrandConfig, Config
from harken.matching import Phrase, compile_phrases, first_hit
from harken.text import normalize

# Platforms whose author "handle" is a display name anyone can take (a Facebook Page's or
# person's name, a feed entry's author): a handle in the config (accounts: without a platform)
# never names an author there; only ids (sources.facebook.pages) or a platform-scoped entry.
DISPLAY_NAMES = frozenset({"facebook", "rss", "news"})
# Where brands[].handles name the brand's own accounts: the platforms they are searched on
# (@acme on X; acme.bsky.social on Bluesky), and Mastodon's full user@instance addresses. On
# Reddit, YouTube or Instagram the same name may be anyone's: name the brand's accounts there
# with accounts: (platform:, role: own) or the sources' ids.
HANDLE_PLATFORMS = frozenset({"x", "bluesky", "mastodon"})


def global_handle(platform: str, handle: str | None) -> bool:
    """Whether a handle given without a platform (brands[].handles, an accounts: entry with no
    ``platform:``) can name an author on ``platform``: on X and Bluesky, and on Mastodon as a
    full user@instance address; a pattern only on X and Bluesky."""
    if platform not in HANDLE_PLATFORMS:
        return False
    if platform == "mastodon":
        return handle is not None and "@" in bare(handle)  # a local name: whose, where?
    return True


def own_handle(platform: str, handle: str, handles: set[str]) -> bool:
    """Whether ``handle`` (bare) on ``platform`` is one of the brand's ``handles`` (bare)."""
    return bool(handle) and global_handle(platform, handle) and handle in handles


# Where a source's config names the brand's own accounts by id: its key, per source type.
OWN_ID_KEYS = {"facebook": "pages", "instagram": "accounts", "youtube": "channels"}


def bare(handle: str) -> str:
    """A handle as compared: no leading ``@``, no surrounding space, lower case. Nothing
    else is folded: "ＡＣＭＥ" is not "acme" (folding is for finding impostors)."""
    return handle.strip().lstrip("@").strip().casefold()


def own_ids(config: Config) -> dict[tuple[str, str], str]:
    """(platform, author id) -> brand: the accounts the sources' config names as the brand's
    own (Facebook Pages, Instagram accounts, YouTube channels), enabled or not."""
    found: dict[tuple[str, str], str] = {}
    for name, entry in config.sources.items():
        extra = entry.model_extra or {}
        platform = str(extra.get("type") or name)
        owned = extra.get(OWN_ID_KEYS.get(platform, ""))
        if not isinstance(owned, dict):
            continue
        for brand, ids in owned.items():
            for account in ids if isinstance(ids, list) else [ids]:
                found[(platform, str(account))] = str(brand)
    return found


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

    def __init__(
        self,
        brands: list[BrandConfig],
        owned: Mapping[tuple[str, str], str] | None = None,
        speaks_for: Callable[[str, str, str], bool] | None = None,
    ) -> None:
        self.matchers = [BrandMatcher.from_config(b) for b in brands]
        self.handles = {b.name: {bare(h) for h in b.handles} for b in brands}
        self.owned = dict(owned or {})  # own_ids(config)
        # (platform, author id, handle) -> an accounts: entry says role own (its brand unknown)
        self.speaks_for = speaks_for

    @property
    def active(self) -> bool:
        return bool(self.matchers)

    def own_account(self, platform: str, author_id: str, handle: str) -> str | None:
        """The brand whose own account this is: by id (own_ids), or by its exact handle
        (brands[].handles) where those name it (HANDLE_PLATFORMS)."""
        if (brand := self.owned.get((platform, author_id))) is not None:
            return brand
        name = bare(handle)
        return next(
            (b for b, handles in self.handles.items() if own_handle(platform, name, handles)),
            None,
        )

    def listed_own(self, platform: str, author_id: str, handle: str) -> bool:
        """Whether an ``accounts:`` entry names the author the brand's own (role own)."""
        return self.speaks_for is not None and self.speaks_for(platform, author_id, handle)

    def known(self, name: str | None) -> str | None:
        """``name`` if it is a configured brand (a source's ``about``), else None."""
        return name if name is not None and name in self.handles else None

    def brand_of(self, text: str) -> str | None:
        folded = normalize(text)
        return next((m.name for m in self.matchers if m.matches(folded)), None)
