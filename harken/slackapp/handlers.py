"""The alert's controls: each is acknowledged at once (Slack waits 3 s at most), then the
queue action runs as the Slack user, with the app's permission hook; the item's alerts are
updated in place, and a refusal is told only to the person who clicked (nothing changed).

A click is acted on once: Slack's retries and a Socket Mode envelope sent again carry the
same click. ``Seen`` drops those this process saw; the click's ``request_key``, written with
its queue event, makes the queue action a no-op for those a restarted process or another
replica gets (answered as the first was: the alert brought up to date if it is behind). A
second click on the same control finds the item already changed and the queue action refuses
it (a claim of an item one holds already is answered here, since the queue would record it
again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from harken.config import Config
from harken.errors import HarkenError
from harken.queue import actions
from harken.queue.actors import Actor, Permission, QueuePermissionError
from harken.queue.items import Change, done_before
from harken.slackapp import home, identity
from harken.slackapp.clicks import (
    ACTION_IDS,
    BadClick,
    Click,
    ItemLocks,
    Seen,
    behind,
    holds,
    part,
    read_click,
    refusal,
)
from harken.slackapp.updates import deliver_alerts, refresh_alerts, tell
from harken.store import Store

log = logging.getLogger(__name__)

LINK = "open_post"  # the alert's button to the post (notify/slack/format.py)


def register(app: App, config: Config, store: Store) -> None:
    """Answer each control of harken's alerts in ``app``."""
    handler = ClickHandler(config, store)

    def on_click(
        ack: Callable[..., Any],
        body: dict[str, Any],
        action: dict[str, Any],
        client: WebClient,
    ) -> None:
        ack()  # first: the work below may take longer than Slack waits
        handler.handle(client, body, action)
        home.after_click(client, body, config, store)  # a click on the Home tab: show it now

    def on_link(ack: Callable[..., Any]) -> None:
        ack()  # Slack tells the app about link buttons too; unanswered, it shows an error

    for action_id in ACTION_IDS:
        app.action(action_id)(on_click)
    app.action(LINK)(on_link)


class ClickHandler:
    def __init__(self, config: Config, store: Store) -> None:
        self.config, self.store = config, store
        self.seen = Seen()
        self._lock = ItemLocks()

    def handle(self, client: WebClient, body: Mapping[str, Any], action: Mapping[str, Any]) -> None:
        try:
            click = read_click(body, action)
        except BadClick as error:
            user, where = part(body, "user").get("id"), part(body, "container").get("channel_id")
            if user:
                tell(client, where, str(user), f"harken: {error}.")
            return
        if not self.seen.first(click.key):
            log.info("click %s delivered again: already handled", click.key)
            return
        with self._lock(click.item_id):  # two clicks on one item: one after the other
            answer = self.act(client, click)
        if answer:
            tell(client, click.channel_id, click.user_id, answer)

    def act(self, client: WebClient, click: Click) -> str | None:
        """Do what was clicked; returns what to tell the person, None when the updated alert
        says it all."""
        try:
            actor = identity.actor_for(self.store, self.config, click.user_id, click.profile)
            may = identity.slack_permission(self.config, self.store)
            # Held first, then the key: a claim seen held was committed, so if it was this
            # request's (another replica's delivery of it), its key is seen too.
            held = click.action_id == "harken:claim" and holds(self.store, actor, click.item_id)
            change = done_before(self.store, click.request_key)  # a first, cheap look
            if change is None and held:
                return f"You already hold item #{click.item_id}."
            change = change or self._run(click, actor, may)
        except QueuePermissionError as error:
            return f"Not allowed: {refusal(error)}"
        except HarkenError as error:
            return f"Nothing changed: {error}"
        except Exception:
            log.exception("item %s: %s failed", click.item_id, click.verb)
            return f"harken could not {click.verb} item #{click.item_id}: see the app's log."
        log.info("slack: %s", change.message)
        if click.action_id == "harken:transfer":
            deliver_alerts(self.store, self.config)  # the outbox sends each alert once
        if not change.repeated or behind(self.store, click.item_id):
            refresh_alerts(client, self.store, self.config, click.item_id)
        return None

    def _run(self, click: Click, actor: Actor, may: Permission) -> Change:
        store, item, key = self.store, click.item_id, click.request_key
        if click.action_id == "harken:claim":
            return actions.claim(store, item, actor, may=may, request_key=key, config=self.config)
        if click.action_id == "harken:resolve":
            return actions.resolve(store, item, actor, may=may, request_key=key, config=self.config)
        if click.action_id == "harken:dismiss":
            return actions.dismiss(
                store,
                item,
                actor,
                reason=click.choice,
                may=may,
                request_key=key,
                config=self.config,
            )
        if click.action_id == "harken:reopen":
            return actions.reopen(store, item, actor, may=may, request_key=key)
        assert click.action_id == "harken:transfer" and click.choice is not None
        return actions.transfer(
            store, self.config, item, actor, click.choice, may=may, request_key=key
        )
