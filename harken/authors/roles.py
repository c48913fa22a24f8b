"""The role of an author, from ``accounts:`` in config.

An exact handle wins over a pattern, and both over the brand's own accounts (role ``own``: the
ids its sources' config lists, then ``brands[].handles`` on the platforms they name it on,
harken.brands.HANDLE_PLATFORMS). On platforms where an author's name is a display name anyone
can take (Facebook, feeds), only ``accounts:`` entries for that platform apply; posts of
RSS/news sources are ``press`` unless an account says otherwise. Handles compare without ``@``
and case-insensitively.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from harken.brands import bare, global_handle, own_handle, own_ids
from harken.config import AccountConfig, BrandConfig, Config
from harken.config.schema import ROLES

# Source kinds whose posts are articles by the press, not by customers.
NEWS_SOURCES = frozenset({"rss", "news"})


@dataclass(frozen=True)
class AuthorRole:
    role: str
    # Where the role came from, in words for explain: "accounts:", "brands[].handles", ...
    source: str


def role_of(
    config: Config,
    platform: str,
    handle: str,
    *,
    source_kind: str | None = None,
    brand: str | None = None,
    author_id: str | None = None,
) -> str | None:
    """The author's role (own, staff, partner, moderator, press, competitor), or None."""
    found = author_role(
        config, platform, handle, source_kind=source_kind, brand=brand, author_id=author_id
    )
    return found.role if found is not None else None


def author_role(
    config: Config,
    platform: str,
    handle: str,
    *,
    source_kind: str | None = None,
    brand: str | None = None,
    author_id: str | None = None,
) -> AuthorRole | None:
    """``role_of`` with where the role came from. ``author_id``: the author's id on the
    platform, which the sources' config may name as the brand's own (own_ids)."""
    name = bare(handle)
    accounts = [a for a in config.accounts if _applies(a, platform, brand)]
    exact = next((a for a in accounts if a.handle is not None and bare(a.handle) == name), None)
    if exact is not None:
        return AuthorRole(exact.role, "accounts:")
    for account in accounts:
        if account.pattern is not None and fnmatchcase(name, bare(account.pattern)):
            return AuthorRole(account.role, f"accounts: pattern {account.pattern!r}")
    if author_id is not None and (platform, author_id) in own_ids(config):
        return AuthorRole("own", f"sources.{platform} (the brand's own account)")
    handles = {bare(h) for b in _brands(config, brand) for h in b.handles}
    if own_handle(platform, name, handles):
        return AuthorRole("own", "brands[].handles")
    if platform in NEWS_SOURCES or source_kind in NEWS_SOURCES:
        return AuthorRole("press", "an RSS/news source")
    return None


def _applies(account: AccountConfig, platform: str, brand: str | None) -> bool:
    if account.platform is not None and account.platform != platform:
        return False
    if account.platform is None and not global_handle(platform, account.handle):
        # The same name may be anyone's elsewhere: only an entry for that platform names it.
        return False
    return account.brand is None or brand is None or account.brand == brand


def _brands(config: Config, brand: str | None) -> list[BrandConfig]:
    return [b for b in config.brands if brand is None or b.name == brand]


__all__ = ["NEWS_SOURCES", "ROLES", "AuthorRole", "author_role", "bare", "role_of"]
