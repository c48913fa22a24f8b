"""The one place sources are registered.

``PARSERS``: platform -> payload parser (replay files and live pages share them).
``SOURCES``: source type -> the live Source class, imported only when used (the client
libraries are slow to import and most commands need none of them).

A new source is one module plus one line in each table. A config entry's key is its type
(``sources: {x: ...}``) unless it says ``type:`` (``sources: {rss_reviews: {type: rss}}``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from pydantic import ValidationError

from harken.config import Config, mask_secrets
from harken.errors import ConfigError, IngestError
from harken.platforms.base import Parser
from harken.platforms.bluesky import parse as bluesky
from harken.platforms.mastodon import parse as mastodon
from harken.platforms.reddit import parse as reddit
from harken.platforms.rss import parse as rss
from harken.platforms.source import RetryPolicy, Runtime, Source
from harken.platforms.x import parse as x

PARSERS: dict[str, Parser] = {
    module.PLATFORM: module.parse for module in (x, reddit, bluesky, mastodon, rss)
}

SOURCES: dict[str, str] = {
    "x": "harken.platforms.x.source:XSource",
    "reddit": "harken.platforms.reddit.source:RedditSource",
    "bluesky": "harken.platforms.bluesky.source:BlueskySource",
    "mastodon": "harken.platforms.mastodon.source:MastodonSource",
    "rss": "harken.platforms.rss.source:RSSSource",
}


def parser_for(platform: str) -> Parser:
    try:
        return PARSERS[platform]
    except KeyError:
        raise IngestError(
            f"unknown platform {platform!r}", hint=f"choose one of: {', '.join(sorted(PARSERS))}"
        ) from None


def source_class(kind: str) -> type[Source]:
    module_name, _, class_name = SOURCES[kind].partition(":")
    cls: type[Source] = getattr(import_module(module_name), class_name)
    return cls


def build_sources(
    config: Config,
    only: str | None = None,
    runtime: Runtime | None = None,
    policy: RetryPolicy | None = None,
) -> list[Source]:
    """The enabled sources (or just ``only``, enabled or not), settings checked per source."""
    if only is not None and only not in config.sources:
        known = ", ".join(sorted(config.sources)) or "none configured"
        raise ConfigError(f"no source named {only!r} in sources (known: {known})")
    runtime = runtime or Runtime()
    chosen = []
    for name, entry in config.sources.items():
        if (only is None and not entry.enabled) or (only is not None and name != only):
            continue
        chosen.append(_build_one(name, entry.model_dump(), config, runtime, policy))
    return chosen


def _build_one(
    name: str, values: dict[str, Any], config: Config, runtime: Runtime, policy: RetryPolicy | None
) -> Source:
    kind = values.pop("type", None) or name
    if kind not in SOURCES:
        raise ConfigError(
            f"sources.{name}: unknown source type {kind!r}",
            hint=f"use one of {', '.join(sorted(SOURCES))}, or say `type:`",
        )
    cls = source_class(kind)
    try:
        settings = cls.Settings.model_validate(values)
    except ValidationError as err:
        problem, var = settings_problem(config, name, err)
        hint = f"set {var} in the environment or in .env beside the config" if var else None
        raise ConfigError(problem, hint=hint) from None
    return cls(name, settings, config.brands, runtime=runtime, policy=policy)


def settings_problem(config: Config, source: str, err: ValidationError) -> tuple[str, str | None]:
    """A source's bad setting as ``sources.<name>.<key>: <what is wrong>``, and the
    environment variable that key is read from, if any."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key for this source (check its spelling)"
    key = f"sources.{source}.{where}"
    # A library's message can quote the value, and the value can come from a secret.
    masks = {value: "***" for value in config.secret_values if len(value) >= 4}
    return f"{key}: {mask_secrets(message, masks)}", config.env_refs.get(key)
