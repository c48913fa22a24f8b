"""What a platform folder declares: one ``Platform`` record, the registry's unit.

Each ``harken/platforms/<name>/__init__.py`` builds its ``Platform`` from the modules beside it
(``parse.py``, ``source.py``, ``reply.py``), and ``harken/platforms/registry.py`` lists those
records, one line each. Everything that needs platform names (parsers, live sources, reply
clients and their length limits, the ``.env`` template, the demo) reads that list.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

from harken.platforms.base import Parser

if TYPE_CHECKING:
    from harken.platforms.reply import ReplyClient


@dataclass(frozen=True)
class Platform:
    name: str  # as mentions store it, and the ``sources:`` key (or ``type:``) that polls it
    parser: Parser  # one payload in the platform's JSON -> records (replay files and live pages)
    # The live Source as "module:Class", imported only when polled: the client libraries are
    # slow to import and most commands need none of them.
    source: str
    # The reply client as "module:Class", imported only when a reply is planned or sent (it
    # loads HTTP libraries that ``harken --help`` should not wait for). None: its mentions
    # cannot be answered from harken.
    reply: str | None = None
    no_reply: str = ""  # why not, in words, when ``reply`` is None
    # The variables its polling credentials usually come from (the ``.env`` template); the
    # reply ones are the reply client's ``credentials``.
    listen_env: tuple[str, ...] = ()
    # Its live stream as "module:Class" (harken/platforms/stream.py), imported only when one is
    # run; None: polls only.
    stream: str | None = None

    def reply_client(self) -> ReplyClient | None:
        return _client(self.reply) if self.reply is not None else None

    @property
    def reply_env(self) -> tuple[str, ...]:
        """The variables its reply credentials usually come from, in the client's order."""
        client = self.reply_client()
        return tuple(var for var in client.credentials.values() if var) if client else ()

    @property
    def max_reply_length(self) -> int | None:
        client = self.reply_client()
        return client.max_length if client is not None else None


@cache
def _client(path: str) -> ReplyClient:
    """One instance per reply client class ("module:Class"), made on first use."""
    module_name, _, class_name = path.partition(":")
    client: ReplyClient = getattr(import_module(module_name), class_name)()
    return client
