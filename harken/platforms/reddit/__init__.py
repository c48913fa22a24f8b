"""Reddit: brand search and watched subreddits through praw (``source.py``), its things
(``parse.py``) and replies as a script app's account (``reply.py``)."""

from harken.platforms.platform import Platform
from harken.platforms.reddit import parse

PLATFORM = Platform(
    name=parse.PLATFORM,
    parser=parse.parse,
    source="harken.platforms.reddit.source:RedditSource",
    reply="harken.platforms.reddit.reply:RedditReply",
    listen_env=("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET"),
)
