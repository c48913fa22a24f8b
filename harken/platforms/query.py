"""The brand config as search terms; each source writes them in its platform's syntax."""

from __future__ import annotations

from dataclasses import dataclass

from harken.config import BrandConfig


@dataclass(frozen=True)
class BrandQuery:
    brand: str
    keywords: tuple[str, ...]
    handles: tuple[str, ...]  # without the leading @
    hashtags: tuple[str, ...]  # without the leading #
    exclude: tuple[str, ...]
    languages: tuple[str, ...]

    @property
    def terms(self) -> list[str]:
        """Everything that makes a post about the brand, as people would type it."""
        return [
            *self.keywords,
            *(f"@{h}" for h in self.handles),
            *(f"#{t}" for t in self.hashtags),
        ]


def brand_queries(brands: list[BrandConfig]) -> list[BrandQuery]:
    return [
        BrandQuery(
            brand=b.name,
            keywords=tuple(k for k in b.keywords if k.strip()),
            handles=tuple(h.lstrip("@") for h in b.handles if h.strip("@ ")),
            hashtags=tuple(t.lstrip("#") for t in b.hashtags if t.strip("# ")),
            exclude=tuple(e for e in b.exclude if e.strip()),
            languages=tuple(b.languages),
        )
        for b in brands
    ]


def quoted(term: str) -> str:
    """A phrase as most search syntaxes want it: bare when one word, in double quotes if not."""
    clean = term.replace('"', " ").strip()
    return f'"{clean}"' if any(c.isspace() for c in clean) else clean
