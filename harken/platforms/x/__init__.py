"""X (Twitter): recent search through the API v2 (``source.py``), the filtered stream on the
plans that have it (``stream.py``), its tweet payloads (``parse.py``) and replies in OAuth 1.0a
user context (``reply.py``)."""

from harken.platforms.platform import Platform
from harken.platforms.x import parse

PLATFORM = Platform(
    name=parse.PLATFORM,
    parser=parse.parse,
    source="harken.platforms.x.source:XSource",
    reply="harken.platforms.x.reply:XReply",
    stream="harken.platforms.x.stream:XStream",
    listen_env=("X_BEARER_TOKEN",),
)
