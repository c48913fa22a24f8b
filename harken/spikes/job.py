"""The hourly spike job: detect spikes in stored counts, store each once with its alerts."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from harken.config import Config
from harken.notify.registry import alert_sinks
from harken.spikes import detection as spikes
from harken.store import Store, repo
from harken.store.tables import Spike, utcnow


def brand_keywords(config: Config) -> dict[str, list[str]]:
    return {b.name: [*b.keywords, *b.hashtags, *b.handles] for b in config.brands}


def check_spikes(store: Store, config: Config, now: datetime | None = None) -> list[Spike]:
    """The hourly job: detect spikes in the last completed hours, store each once, and, in
    the same transaction, put one alert per new spike in the outbox for the spike
    department's channel (a spike is never stored without its alert)."""
    channel = config.spikes.department or config.digest.department
    sinks = alert_sinks(config, channel)

    def alert(session: Session, new: list[Spike]) -> None:
        for spike in new:
            for sink in sinks:
                repo.add_alert(
                    session,
                    f"{sink}:spike-{spike.id}",
                    kind="spike",
                    spike_id=spike.id,
                    sink=sink,
                    channel=channel,
                )

    keywords = brand_keywords(config)
    return spikes.check_due(store, config.spikes, now or utcnow(), keywords=keywords, on_new=alert)
