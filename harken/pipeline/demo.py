"""``harken demo``: the whole job, offline, on bundled data, into a fresh local database."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from harken.config import Config, example_config_text, load_config
from harken.errors import HarkenError
from harken.notify.contract import Sink
from harken.pipeline.ingest import IngestResult, ingest
from harken.pipeline.process import run_pass
from harken.pipeline.progress import Progress
from harken.pipeline.stages import PassResult
from harken.platforms.registry import platform_names
from harken.platforms.replay import LineRejection, read_jsonl
from harken.queue.accounts import add_user, new_password
from harken.records import MentionRecord
from harken.reports.output import output_target, write_output
from harken.routing.storms import MERGED
from harken.spikes.detection import SpikeFinding, check_due
from harken.spikes.job import brand_keywords
from harken.store import Store
from harken.store.tables import Incident, utcnow

DEMO_PLATFORMS = tuple(platform_names())
DB_FILES = ("harken.db", "harken.db-wal", "harken.db-shm")

SinksFactory = Callable[[Config], Mapping[str, Sink]]


@dataclass
class DemoResult:
    directory: Path
    config: Config
    store: Store
    ingested: dict[str, IngestResult] = field(default_factory=dict)
    processed: PassResult | None = None
    span: timedelta = timedelta(0)  # from the oldest demo post to the newest
    digest_path: Path | None = None  # the next morning's digest, as it stands now
    digest_day: date | None = None
    incidents: int = 0
    largest_incident: tuple[int, int] | None = None  # (id, posts)
    spikes: list[SpikeFinding] = field(default_factory=list)  # detected over the demo's span
    web_login: tuple[str, str] | None = None  # the demo admin's (name, password) for harken web


DEMO_ADMIN = "demo"


def demo_file(platform: str) -> Path:
    return Path(str(resources.files("harken").joinpath(f"data/demo/{platform}.jsonl")))


def prepare(directory: Path) -> tuple[Config, Store]:
    """A fresh demo directory: the example config and an empty, migrated database."""
    _refuse_foreign_files(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name in DB_FILES:
        (directory / name).unlink(missing_ok=True)
    write_output(output_target(directory / "config.yaml"), example_config_text())
    # The demo ignores HARKEN_DATABASE_URL and friends: it must never touch a real database.
    config = load_config(directory / "config.yaml", environ={})
    return config, Store(config.database.url)


def _refuse_foreign_files(directory: Path) -> None:
    """Never wipe a real database: only a directory the demo made itself is reset."""
    config = directory / "config.yaml"
    ours = config.is_file() and config.read_text(encoding="utf-8") == example_config_text()
    if (config.exists() or (directory / "harken.db").exists()) and not ours:
        raise HarkenError(
            f"{directory} holds a config.yaml or harken.db that the demo did not write",
            hint="choose another --dir; the demo resets its directory's database",
        )


def load_demo_records() -> dict[str, list[MentionRecord | LineRejection]]:
    return {p: list(read_jsonl(demo_file(p), p)) for p in DEMO_PLATFORMS}


def ingest_demo(
    store: Store, config: Config, on_progress: Progress
) -> tuple[dict[str, IngestResult], timedelta]:
    """The bundled posts of every platform into ``store`` (what each stored), and the span
    from the oldest to the newest. Also the Slack app's walkthrough's data
    (tests/test_slack_walkthrough.py, scripts/slack_walkthrough.py)."""
    records = load_demo_records()
    times = [r.created_at for rs in records.values() for r in rs if isinstance(r, MentionRecord)]
    # Move the bundled posts so the newest is a few minutes old: time-windowed reports
    # (report summary --since 24h) then show them, whenever the demo is run.
    shift = (utcnow() - timedelta(minutes=5)) - max(times)
    ingested = {
        platform: ingest(
            store,
            config,
            platform_records,
            source=f"demo:{platform}",
            shift=shift,
            on_progress=on_progress,
        )
        for platform, platform_records in records.items()
    }
    return ingested, max(times) - min(times)


def run_demo(
    directory: Path,
    sinks_for: SinksFactory,
    on_progress: Progress,
) -> DemoResult:
    config, store = prepare(directory)
    ingested, span = ingest_demo(store, config, on_progress)
    result = DemoResult(directory, config, store, ingested=ingested, span=span)
    result.processed = run_pass(store, config, sinks_for(config), on_progress=on_progress)
    with store.session() as session:
        result.incidents = session.execute(
            select(func.count(Incident.id)).where(Incident.status != MERGED)  # type: ignore[arg-type]
        ).scalar_one()
        top = session.execute(
            select(Incident.id, Incident.size).order_by(Incident.size.desc()).limit(1)  # type: ignore[attr-defined]
        ).first()
        result.largest_incident = (top[0], top[1]) if top else None
    now = utcnow()
    # What the daemon's hourly check would have stored over the demo's history (without
    # alerting: the demo's alerts are the items above), so reports and the digest show spikes.
    hours = int((result.span + timedelta(hours=2)) / timedelta(hours=1)) + 1
    stored = check_due(store, config.spikes, now, keywords=brand_keywords(config), hours=hours)
    result.spikes = [SpikeFinding.of(spike) for spike in stored]
    write_next_digest(result, now)
    result.web_login = add_demo_admin(store, config)
    return result


def add_demo_admin(store: Store, config: Config) -> tuple[str, str]:
    """An admin for the web workspace, with a new random password (the demo's database is
    new each time, and only on this machine)."""
    password = new_password()
    add_user(store, config, DEMO_ADMIN, "admin", (), password)
    return DEMO_ADMIN, password


def write_next_digest(result: DemoResult, now: datetime) -> None:
    """The digest PR will get at the next digest time, as it stands now (the demo's posts
    are minutes old, so the last digest time has none of them yet)."""
    from harken.digest.build import digest_time
    from harken.digest.job import make_digest
    from harken.digest.render import render_html

    zone = ZoneInfo(result.config.digest.timezone)
    day = now.astimezone(zone).date()
    if digest_time(result.config, day) <= now:
        day += timedelta(days=1)
    digest = make_digest(result.store, result.config, day, now)
    result.digest_path = result.directory / f"digest-{day.isoformat()}.html"
    write_output(output_target(result.digest_path), render_html(digest))
    result.digest_day = day
