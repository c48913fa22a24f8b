"""YouTube: comments on the brand's own channels and on its recent videos, through the YouTube
Data API v3 (``source.py``), their JSON (``parse.py``), and replies as the brand's channel
(``reply.py``, OAuth)."""

from harken.platforms.platform import Platform
from harken.platforms.youtube import parse

PLATFORM = Platform(
    name=parse.PLATFORM,
    parser=parse.parse,
    source="harken.platforms.youtube.source:YouTubeSource",
    reply="harken.platforms.youtube.reply:YouTubeReply",
    listen_env=("YOUTUBE_API_KEY",),
)
