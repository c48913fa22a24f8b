"""Mastodon: hashtag timelines and status search through Mastodon.py (``source.py``), the
streaming API's hashtag streams (``stream.py``), its statuses (``parse.py``) and replies on the
first configured instance (``reply.py``)."""

from harken.platforms.mastodon import parse
from harken.platforms.platform import Platform

PLATFORM = Platform(
    name=parse.PLATFORM,
    parser=parse.parse,
    source="harken.platforms.mastodon.source:MastodonSource",
    reply="harken.platforms.mastodon.reply:MastodonReply",
    stream="harken.platforms.mastodon.stream:MastodonStream",
)
