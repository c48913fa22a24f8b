"""The one list of platforms, and what is read from it.

``PLATFORMS`` holds one line per platform: the ``Platform`` its folder declares
(``harken/platforms/<name>/__init__.py``). From it come ``PARSERS`` (platform -> payload
parser; replay files and live pages share them), ``SOURCES`` (source type -> the live Source
class, imported only when used: the client libraries are slow to import and most commands need
none of them), the reply clients (``reply_client``), the reply length limits and the platform
lines of the ``.env`` template (``env_template``).

A new platform is one folder plus one line in ``PLATFORMS``. A config entry's key is its type
(``sources: {x: ...}``) unless it says ``type:`` (``sources: {rss_reviews: {type: rss}}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from harken.config import Config, mask_secrets
from harken.errors import ConfigError, IngestError
from harken.platforms import bluesky, facebook, instagram, mastodon, reddit, rss, x, youtube
from harken.platforms.base import Parser
from harken.platforms.platform import Platform

if TYPE_CHECKING:  # both load HTTP libraries: imported when a source is built or a reply sent
    from harken.platforms.reply import ReplyClient
    from harken.platforms.source import RetryPolicy, Runtime, Source
    from harken.platforms.stream import Stream

PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        x.PLATFORM,
        reddit.PLATFORM,
        bluesky.PLATFORM,
        mastodon.PLATFORM,
        rss.PLATFORM,
        youtube.PLATFORM,
        facebook.PLATFORM,
        instagram.PLATFORM,
    )
}

PARSERS: dict[str, Parser] = {name: p.parser for name, p in PLATFORMS.items()}
SOURCES: dict[str, str] = {name: p.source for name, p in PLATFORMS.items()}


def platform_names() -> list[str]:
    """Every platform, in the registry's order (x, reddit, bluesky, mastodon, rss, youtube,
    facebook, instagram)."""
    return list(PLATFORMS)


def reply_client(platform: str) -> ReplyClient | None:
    """The client that answers the platform's mentions; None when it has none (or is unknown)."""
    known = PLATFORMS.get(platform)
    return known.reply_client() if known is not None else None


def max_reply_lengths() -> dict[str, int]:
    """platform -> the longest reply it takes, for each platform that can be answered."""
    return {
        name: p.max_reply_length for name, p in PLATFORMS.items() if p.max_reply_length is not None
    }


@dataclass(frozen=True)
class EnvTemplate:
    """The platforms' lines of the ``.env`` that ``harken init`` writes, one ``VAR=`` a line."""

    listening: str  # what polling reads
    replying: str  # what only answering (``harken queue reply --send``) reads


def env_template() -> EnvTemplate:
    listening = [var for p in PLATFORMS.values() for var in p.listen_env]
    # A token that both reads and answers (Meta's) is listed once, with listening.
    replying = [v for p in PLATFORMS.values() for v in p.reply_env if v not in listening]
    return EnvTemplate(
        listening="".join(f"{var}=\n" for var in listening),
        replying="".join(f"{var}=\n" for var in replying),
    )


def parser_for(platform: str) -> Parser:
    try:
        return PARSERS[platform]
    except KeyError:
        raise IngestError(
            f"unknown platform {platform!r}", hint=f"choose one of: {', '.join(sorted(PARSERS))}"
        ) from None


def build_streams(sources: list[Source]) -> list[Stream]:
    """The live streams of the sources whose entry says ``stream: true``; a platform that has
    none is a config error."""
    streams = []
    for source in sources:
        if not source.settings.stream:
            continue
        path = PLATFORMS[source.platform].stream
        if path is None:
            with_one = ", ".join(n for n, p in PLATFORMS.items() if p.stream) or "none"
            raise ConfigError(
                f"sources.{source.name}.stream: {source.platform} has no live stream",
                hint=f"remove it (streams: {with_one}); polling continues at its interval",
            )
        module_name, _, class_name = path.partition(":")
        streams.append(getattr(import_module(module_name), class_name)(source))
    return streams


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
    from harken.platforms.source import Runtime

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
