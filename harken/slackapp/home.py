"""The App Home tab: when a member opens it, the open items of their departments, overdue
first, each with the alert's controls (harken/notify/slack/controls.py), so that they act
from there as from an alert. A member of no department is told how to become one.

A Home tab holds 100 blocks: the list stops at ``MAX_ITEMS`` and says how many more there are.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from harken.config import Config
from harken.notify.slack.controls import item_controls
from harken.slackapp.overview import Item, item_line, member_departments, open_items
from harken.store import Store
from harken.store.tables import QueueItem, utcnow
from harken.text import for_slack

log = logging.getLogger(__name__)

MAX_ITEMS = 40  # two blocks each, under the Home tab's 100 with the header and the tail

Block = dict[str, Any]


def register(app: App, config: Config, store: Store) -> None:
    """Publish the Home tab whenever a member opens it, in ``app``."""

    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab
        publish(client, config, store, str(event.get("user") or ""))

    app.event("app_home_opened")(on_home_opened)


def publish(client: WebClient, config: Config, store: Store, user_id: str) -> None:
    """views.publish the Home tab of ``user_id``; a failure is logged (nothing to undo)."""
    try:
        client.views_publish(user_id=user_id, view=home_view(config, store, user_id))
    except Exception as error:  # SlackApiError, or Slack out of reach
        log.warning("home of %s not published: %s", user_id[:40], type(error).__name__)


def home_view(config: Config, store: Store, user_id: str) -> dict[str, Any]:
    """The Home tab of the Slack user ``user_id``, as views.publish takes it."""
    departments = member_departments(config, store, user_id)
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "harken: open items"}}
    ]
    if not departments:
        blocks.append(
            _section(
                "You are in no department yet, so there is nothing of yours to show. An admin "
                "lists your Slack member id and departments under `users:` in harken's config; "
                "meanwhile `/harken queue DEPARTMENT` shows any department's open items."
            )
        )
        return {"type": "home", "blocks": blocks}
    items = open_items(store, departments)
    where = ", ".join(for_slack(d, one_line=True) for d in departments)
    blocks.append(_context(f"{len(items)} open in {where} · overdue first · as of {_now()}"))
    if not items:
        blocks.append(_section("Nothing open: every item is handled."))
    for item in items[:MAX_ITEMS]:
        blocks.append(_section(item_line(item)))
        blocks += item_controls(_queue_item(item), "item", item["department"], config)
    if len(items) > MAX_ITEMS:
        more = len(items) - MAX_ITEMS
        blocks.append(_section(f"…and {more} more: `/harken queue` or `harken queue list`."))
    return {"type": "home", "blocks": blocks}


def _queue_item(item: Item) -> QueueItem:
    """What the controls read of an item (its id, department and status), unsaved."""
    return QueueItem(id=item["id"], department=item["department"], status=item["status"])


def _now() -> str:
    moment = utcnow()
    return f"<!date^{int(moment.timestamp())}^{{time}}|{moment:%H:%M} UTC>"


def _section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def _context(mrkdwn: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn}]}


def after_click(client: WebClient, body: dict[str, Any], config: Config, store: Store) -> None:
    """A control used on someone's Home tab: publish it again, so that it shows the item as
    the action left it (an alert is updated in place the same way)."""
    view, user = body.get("view"), body.get("user")
    if not (isinstance(view, dict) and view.get("type") == "home" and isinstance(user, dict)):
        return
    publish(client, config, store, str(user.get("id") or ""))
