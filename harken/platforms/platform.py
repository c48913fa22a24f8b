"""What a platform folder declares: one ``Platform`` record, the registry's unit.

Each ``harken/platforms/<name>/__init__.py`` builds its ``Platform`` from the modules beside it
(``parse.py``, ``source.py``, ``reply.py``), and ``harken/platforms/registry.py`` lists those
records, one line each. Everything that needs platform names (parsers, live sources, reply
clients and their length limits, the ``.env`` template, the demo) reads that list.
"""

from __future__ import annotations

from dataclasses import dataclass

from harken.platforms.base import Parser
from harken.platforms.reply import ReplyClient


@dataclass(frozen=True)
class Platform:
    name: str  # as mentions store it, and the ``sources:`` key (or ``type:``) that polls it
    parser: Parser  # one payload in the platform's JSON -> records (replay files and live pages)
    # The live Source as "module:Class", imported only when polled: the client libraries are
    # slow to import and most commands need none of them.
    source: str
    reply: ReplyClient | None = None  # None: its mentions cannot be answered from harken
    no_reply: str = ""  # why not, in words, when ``reply`` is None
    # The variables its polling credentials usually come from (the ``.env`` template); the
    # reply ones are the reply client's ``credentials``.
    listen_env: tuple[str, ...] = ()

    @property
    def reply_env(self) -> tuple[str, ...]:
        """The variables its reply credentials usually come from, in the client's order."""
        if self.reply is None:
            return ()
        return tuple(var for var in self.reply.credentials.values() if var)

    @property
    def max_reply_length(self) -> int | None:
        return self.reply.max_length if self.reply is not None else None
