"""RSS and Atom feeds through feedparser (``source.py``) and their entries (``parse.py``).
A feed has no reply, so there is no reply client."""

from harken.platforms.platform import Platform
from harken.platforms.rss import parse

PLATFORM = Platform(
    name=parse.PLATFORM,
    parser=parse.parse,
    source="harken.platforms.rss.source:RSSSource",
    no_reply="a feed has no reply (answer on the site itself)",
)
