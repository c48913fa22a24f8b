"""An incident's thread roots as the Slack sink posts its alerts, with or without the Slack
app: a new root shows every department's item of its incident from the start (the incident
section, harken.notify.slack.format ``incident_section``), and when a department's item
joins the incident, the roots posted before it are updated (chat.update) to list it too.

Both are information, best effort: the alert is posted and kept once whatever happens to the
other roots; a root left behind is brought up to date by the Slack app's next start
(harken.slackapp.catchup), or by the next alert of its incident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harken.config import Config
from harken.notify.contract import DeliveryError
from harken.notify.slack.format import Block
from harken.notify.slack.refresh import PostedAlert, incident_shown, roots_behind
from harken.notify.slack.rendered import KEY, SECTION_KEY, STATEFUL_KINDS, mark_rendered
from harken.store import Store
from harken.store.repo import AlertView


@dataclass(frozen=True)
class RootShows:
    """What a new thread root shows of its incident, and as of which queue event."""

    event_id: int | None
    section: Block

    def payload(self) -> dict[str, Any]:
        """Kept in the alert's payload with its delivery (rendered.py)."""
        return {SECTION_KEY: self.section} | ({KEY: self.event_id} if self.event_id else {})


def shown_on_root(store: Store, config: Config, view: AlertView) -> RootShows | None:
    """The section a new root for this alert shows: None for an alert of no incident, or of
    one with a single item (its alert says it all)."""
    alert = view.alert
    if alert.kind not in STATEFUL_KINDS or alert.incident_id is None:
        return None
    with store.session() as session:
        event_id, section = incident_shown(session, config, alert.incident_id)
    return None if section is None else RootShows(event_id, section)


def update_roots(
    store: Store,
    config: Config,
    view: AlertView,
    update: Callable[[PostedAlert], None],
    shown: RootShows | None = None,
) -> list[str]:
    """``update`` (chat.update) every delivered root of the alert's incident whose section is
    not the incident's as it is now, and keep what each shows; returns what could not be
    updated (each is left as it was, for a later alert or the app's start). ``shown``: the
    incident's section as the alert's own new root was just posted with (not read again)."""
    alert = view.alert
    if alert.kind not in STATEFUL_KINDS or alert.incident_id is None:
        return []
    read = (shown.event_id, shown.section) if shown is not None else None
    with store.session() as session:
        behind = roots_behind(session, config, alert.incident_id, shown=read)
    failed = []
    for root in behind:
        try:
            update(root)
        except DeliveryError as err:
            failed.append(f"alert {root.alert_id}: {err}")
            continue
        with store.session() as session:
            mark_rendered(session, root.alert_id, root.event_id, root.section)
    return failed
