"""The one place sources are registered: platform name -> payload parser.

A new source is one module with ``PLATFORM`` and ``parse`` plus one line here.
"""

from __future__ import annotations

from harken.errors import IngestError
from harken.listeners import bluesky, mastodon, reddit, rss, x
from harken.listeners.base import Parser

PARSERS: dict[str, Parser] = {
    module.PLATFORM: module.parse for module in (x, reddit, bluesky, mastodon, rss)
}


def parser_for(platform: str) -> Parser:
    try:
        return PARSERS[platform]
    except KeyError:
        raise IngestError(
            f"unknown platform {platform!r}", hint=f"choose one of: {', '.join(sorted(PARSERS))}"
        ) from None
