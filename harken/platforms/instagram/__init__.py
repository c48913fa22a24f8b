"""Instagram: a brand's professional accounts through the Graph API (``source.py``; the shared
Graph code is in harken/platforms/meta), their JSON and webhooks (``parse.py``), and replies to
comments as the account (``reply.py``)."""

from harken.platforms.instagram import parse
from harken.platforms.platform import Platform

PLATFORM = Platform(
    name=parse.PLATFORM,
    parser=parse.parse,
    source="harken.platforms.instagram.source:InstagramSource",
    reply="harken.platforms.instagram.reply:InstagramReply",
    listen_env=("INSTAGRAM_ACCESS_TOKEN",),
)
