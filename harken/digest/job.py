"""The daily digest job: make the due digest, render it once per sink, put it in the outbox."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from harken.config import Config
from harken.digest.build import Digest, build_digest, digest_window
from harken.notify.sinks import digest_sinks
from harken.store import Store, repo
from harken.store.tables import utcnow

DIGEST_LATE = timedelta(hours=12)  # a digest missed by longer (harken was down) is skipped


@dataclass
class DigestQueued:
    date: str
    added: list[str] = field(default_factory=list)  # sinks it was queued for
    already: list[str] = field(default_factory=list)  # sinks that had it already


def make_digest(
    store: Store, config: Config, day: date | None = None, now: datetime | None = None
) -> Digest:
    with store.session() as session:
        return build_digest(session, config, day, now or utcnow())


def queue_digest(store: Store, config: Config, digest: Digest, force: bool = False) -> DigestQueued:
    """Render the digest once, as it is now (a snapshot of its day), and put it in the outbox
    for each sink: Slack (PR channel), e-mail, the console. Once per date and sink, unless
    ``force`` (then once more)."""
    from harken.digest.render import digest_message, digest_text, render_email, render_html

    day = digest.day.isoformat()
    queued = DigestQueued(day)
    summary = _plain(digest_text(digest))
    link = config.digest.link.replace("{date}", day) if config.digest.link else None
    with store.session() as session:
        for sink in digest_sinks(config):
            key = f"{sink}:digest-{day}"
            if repo.alert_exists(session, key):
                if not force:
                    queued.already.append(sink)
                    continue
                key = f"{key}:again-{utcnow():%Y%m%dT%H%M%S}"
            payload: dict[str, Any] = {"date": day, "summary": summary}
            if sink == "slack":
                message = digest_message(digest, link)
                payload["slack"] = {"text": message.text, "blocks": message.blocks}
                if config.digest.upload:
                    payload["html"] = render_html(digest)
            elif sink == "email":
                assert config.digest.email is not None
                payload["email"] = render_email(digest, config.digest.email).as_string()
            repo.add_alert(
                session,
                key,
                kind="digest",
                sink=sink,
                channel=config.digest.department,
                payload=payload,
            )
            queued.added.append(sink)
    return queued


def digest_due(store: Store, config: Config, now: datetime) -> date | None:
    """The date whose digest should go out now: the latest digest time has passed, no sink
    has it yet, and it is not stale (harken was down for longer than DIGEST_LATE)."""
    day, _start, end = digest_window(config, None, now)
    if now - end > DIGEST_LATE:
        return None
    with store.session() as session:
        keys = [f"{sink}:digest-{day.isoformat()}" for sink in digest_sinks(config)]
        if not keys or all(repo.alert_exists(session, key) for key in keys):
            return None
    return day


def run_digest(store: Store, config: Config, now: datetime | None = None) -> DigestQueued | None:
    """The daemon's digest job: make and queue the due digest, and write its page to
    ``digest.out_dir`` if set."""
    now = now or utcnow()
    day = digest_due(store, config, now)
    if day is None:
        return None
    digest = make_digest(store, config, day, now)
    if config.digest.out_dir:
        from harken.digest.render import render_html
        from harken.reports.output import output_target, write_output

        folder = Path(config.digest.out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        page = output_target(folder / f"digest-{day.isoformat()}.html")  # never via a symlink
        write_output(page, render_html(digest))
    return queue_digest(store, config, digest)


def _plain(renderable: Any) -> str:
    """A rich renderable as plain text (the console sink prints it later, without markup)."""
    from rich.console import Console

    console = Console(width=100, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()
