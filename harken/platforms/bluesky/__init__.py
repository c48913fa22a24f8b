"""Bluesky: post search through atproto (``source.py``), the Jetstream firehose as its live
stream (``stream.py``), its post views (``parse.py``) and replies as an account with an app
password (``reply.py``)."""

from harken.platforms.bluesky import parse
from harken.platforms.platform import Platform

PLATFORM = Platform(
    name=parse.PLATFORM,
    parser=parse.parse,
    source="harken.platforms.bluesky.source:BlueskySource",
    reply="harken.platforms.bluesky.reply:BlueskyReply",
    stream="harken.platforms.bluesky.stream:Jetstream",
)
