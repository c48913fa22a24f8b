"""YouTube: comments on the brand's own channels and on its recent videos, through the YouTube
Data API v3 (``source.py``), and their JSON (``parse.py``). Replies need an OAuth sign-in that
harken does not have yet: answer on YouTube (Studio > Comments)."""

from harken.platforms.platform import Platform
from harken.platforms.youtube import parse

PLATFORM = Platform(
    name=parse.PLATFORM,
    parser=parse.parse,
    source="harken.platforms.youtube.source:YouTubeSource",
    no_reply="YouTube replies need an OAuth sign-in harken does not have yet: answer in "
    "YouTube Studio (Comments)",
    listen_env=("YOUTUBE_API_KEY",),
)
