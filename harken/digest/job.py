"""The daily digest job: make the due digest, render it once per sink, put it in the outbox."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from harken.config import Config
from harken.digest.build import build_digest, digest_window
from harken.digest.model import Digest
from harken.notify.registry import digest_plugins, digest_sinks
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


def _slack_form(digest: Digest, config: Config) -> dict[str, Any]:
    """The Block Kit post (text and blocks), linking to the published page if there is one."""
    from harken.digest.render import digest_message

    day = digest.day.isoformat()
    link = config.digest.link.replace("{date}", day) if config.digest.link else None
    message = digest_message(digest, link)
    return {"text": message.text, "blocks": message.blocks}


def _html_form(digest: Digest, config: Config) -> str:
    """The HTML page (charts inline)."""
    from harken.digest.render import render_html

    return render_html(digest)


def _email_form(digest: Digest, config: Config) -> str:
    """The whole e-mail (RFC 5322 text, with its Message-ID), for digest.email."""
    from harken.digest.render import render_email

    assert config.digest.email is not None
    return render_email(digest, config.digest.email).as_string()


# The renderings of a digest a sink can ask its payload to carry (SinkPlugin.digest_forms),
# by payload key. The renderers are imported when used: matplotlib and jinja2 are slow to load.
FORMS: dict[str, Callable[[Digest, Config], Any]] = {
    "slack": _slack_form,
    "html": _html_form,
    "email": _email_form,
}


def queue_digest(store: Store, config: Config, digest: Digest, force: bool = False) -> DigestQueued:
    """Render the digest once, as it is now (a snapshot of its day), and put it in the outbox
    for each sink it is written for (registry.digest_plugins), with the renderings that sink
    asks for (FORMS). Once per date and sink, unless ``force`` (then once more)."""
    from harken.digest.render import digest_text

    day = digest.day.isoformat()
    queued = DigestQueued(day)
    summary = _plain(digest_text(digest))
    with store.session() as session:
        for plugin in digest_plugins(config):
            sink = plugin.name
            key = f"{sink}:digest-{day}"
            if repo.alert_exists(session, key):
                if not force:
                    queued.already.append(sink)
                    continue
                key = f"{key}:again-{utcnow():%Y%m%dT%H%M%S}"
            payload: dict[str, Any] = {"date": day, "summary": summary}
            for form in plugin.digest_forms(config):
                payload[form] = FORMS[form](digest, config)
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
