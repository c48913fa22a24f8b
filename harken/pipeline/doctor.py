"""``harken doctor``: check config, credentials, database and model; say what to fix.

Credentials are reported as present or missing, never shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harken.config import Config
from harken.errors import HarkenError


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str | None = None


def run_checks(load: Callable[[], Config], load_model: bool = True) -> list[Check]:
    try:
        config = load()
    except HarkenError as error:
        return [Check("config", "fail", str(error), "fix the file, or run `harken init DIR`")]
    credentials = _credential_checks(config)
    checks = [_config_check(config), _brands_check(config), *credentials]
    # A source whose credential is missing was reported just above; once is enough.
    missing = {
        c.detail.split("sources.")[1].split(".")[0]
        for c in credentials
        if c.status == "fail" and "sources." in c.detail
    }
    checks += _source_checks(config, skip=missing)
    from harken.pipeline.doctor_slack import slack_app_checks  # imports doctor's Check

    checks += slack_app_checks(config)
    checks.append(_database_check(config))
    if load_model:
        checks.append(_model_check(config))
    return checks


def _config_check(config: Config) -> Check:
    if config.path is None:
        return Check(
            "config",
            "warn",
            "no config file found: running on built-in defaults",
            "run `harken init .` or pass --config PATH",
        )
    return Check("config", "ok", f"{config.path} is valid")


def _brands_check(config: Config) -> Check:
    if not config.brands:
        return Check(
            "brands",
            "warn",
            "no brands configured: every imported post is kept",
            "add brands: with keywords, handles and hashtags",
        )
    names = ", ".join(b.name for b in config.brands)
    return Check("brands", "ok", f"{len(config.brands)} brand(s): {names}")


def _credential_checks(config: Config) -> list[Check]:
    checks = []
    enabled = {name for name, source in config.sources.items() if source.enabled}
    for key_path, variable in sorted(config.env_refs.items()):
        value = _lookup(config, key_path)
        section = key_path.split(".")[1] if key_path.startswith("sources.") else None
        needed = section is None or section in enabled
        if value:
            checks.append(Check(f"credential {variable}", "ok", f"set (used by {key_path})"))
        elif needed:
            checks.append(
                Check(
                    f"credential {variable}",
                    "fail",
                    f"not set (needed by {key_path})",
                    f"export {variable}=... or add it to .env beside the config",
                )
            )
        else:
            checks.append(
                Check(
                    f"credential {variable}",
                    "ok",
                    f"not set; {key_path} belongs to a disabled source",
                )
            )
    return checks


def _source_checks(config: Config, skip: set[str]) -> list[Check]:
    """Each enabled source's own settings, checked the way `harken run` will build it."""
    from harken.platforms.registry import build_sources, build_streams

    checks = []
    for name, entry in config.sources.items():
        if not entry.enabled or name in skip:
            continue
        built: list[Any] = []
        try:
            built = build_sources(config, only=name)
            streams = build_streams(built)  # a stream's own settings (a token it needs)
            built += streams
        except HarkenError as error:
            checks.append(Check(f"source {name}", "fail", str(error), "fix sources." + name))
            continue
        finally:
            for made in built:  # connections some clients open when built
                made.close()
        every = int(entry.interval.total_seconds())
        streamed = f"; streamed live ({type(streams[0]).__name__})" if streams else ""
        checks.append(
            Check(f"source {name}", "ok", f"settings valid; polled every {every}s{streamed}")
        )
    if not any(entry.enabled for entry in config.sources.values()):
        checks.append(
            Check(
                "sources",
                "warn",
                "no source is enabled: `harken run` has nothing to poll",
                "set enabled: true under a source, or use `harken import FILE --platform P`",
            )
        )
    return checks


def _lookup(config: Config, key_path: str) -> object:
    node: object = config.model_dump()
    for part in key_path.replace("]", "").replace("[", ".").split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _database_check(config: Config) -> Check:
    from sqlalchemy import func, select

    from harken.store import Store
    from harken.store.db import redact_url
    from harken.store.tables import Mention

    try:
        store = Store(config.database.url)
        with store.session() as session:
            count = session.execute(select(func.count(Mention.id))).scalar_one()
        store.close()
    except HarkenError as error:
        return Check("database", "fail", str(error), "check database.url / HARKEN_DATABASE_URL")
    return Check("database", "ok", f"{redact_url(config.database.url)} ({count} mentions)")


def _model_check(config: Config) -> Check:
    from harken.pipeline.classify import build_classifier

    started = time.perf_counter()
    try:
        classifier = build_classifier(config)
        classifier.classify(["doctor check: is the acme app down?"])
    except HarkenError as error:
        return Check("model", "fail", str(error), "set classifier.model: minilm")
    seconds = time.perf_counter() - started
    return Check("model", "ok", f"{classifier.name} loaded and ran in {seconds:.1f}s")
