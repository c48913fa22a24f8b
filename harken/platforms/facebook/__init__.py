"""Facebook: a brand's Pages through the Graph API (``source.py``; the shared Graph code is in
harken/platforms/meta), their JSON and webhooks (``parse.py``), and comments as the Page
(``reply.py``)."""

from harken.platforms.facebook import parse
from harken.platforms.platform import Platform

PLATFORM = Platform(
    name=parse.PLATFORM,
    parser=parse.parse,
    source="harken.platforms.facebook.source:FacebookSource",
    reply="harken.platforms.facebook.reply:FacebookReply",
    listen_env=("FACEBOOK_PAGE_TOKEN",),
)
