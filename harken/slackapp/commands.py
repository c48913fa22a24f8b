"""``/harken``: the queue from any channel, answered so that only the caller sees it.

    /harken queue [department]   open items (default: the caller's departments), overdue first
    /harken show ID              one item as `harken queue show` has it
    /harken claim ID             take the item, as the Slack user, if they may act on it
    /harken help

Each command is acknowledged at once (Slack waits 3 s at most); the answer follows through
the command's ``response_url`` as an ephemeral message. Reads go through
``harken.queue.views``, the claim through ``harken.queue.actions`` with the app's permission
hook; what a post or a person wrote is escaped (``for_slack``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from harken.config import Config
from harken.errors import HarkenError
from harken.queue import actions
from harken.queue.actors import QueuePermissionError
from harken.queue.items import done_before
from harken.queue.views import show_item
from harken.slackapp import identity
from harken.slackapp.clicks import MAX_ID_DIGITS, behind, holds, request_key
from harken.slackapp.overview import (
    department_names,
    item_line,
    member_departments,
    open_items,
)
from harken.slackapp.updates import refresh_alerts
from harken.store import Store
from harken.text import for_slack

log = logging.getLogger(__name__)

COMMAND = "/harken"
MAX_LISTED = 20  # items in one answer (a message holds 50 blocks)
HISTORY = 10  # events shown by `show`
SECTION_MAX = 3000  # Block Kit: a section's text
USAGE = (
    "`/harken queue [department]` open items, overdue first (default: your departments) · "
    "`/harken show ID` one item in full · `/harken claim ID` take an item · `/harken help`"
)

Block = dict[str, Any]


@dataclass
class Answer:
    text: str  # mrkdwn, escaped: the notification and the fallback
    blocks: list[Block] = field(default_factory=list)


def register(app: App, config: Config, store: Store) -> None:
    """Answer ``/harken`` in ``app``."""
    commands = Commands(config, store)

    def on_harken(
        ack: Callable[..., Any],
        command: dict[str, Any],
        respond: Callable[..., Any],
        client: WebClient,
    ) -> None:
        ack()  # first: the answer below may take longer than Slack waits
        answer = commands.answer(client, command)
        try:
            respond(text=answer.text, blocks=answer.blocks or None, response_type="ephemeral")
        except Exception as error:  # the response URL expired, or Slack out of reach
            log.warning("/harken answer not delivered: %s", type(error).__name__)

    app.command(COMMAND)(on_harken)


class Commands:
    def __init__(self, config: Config, store: Store) -> None:
        self.config, self.store = config, store
        self._claiming = threading.Lock()  # one claim at a time: a resent command acts once

    def answer(self, client: WebClient, command: Mapping[str, Any]) -> Answer:
        """What to tell the caller; never raises (a failure is told, and logged)."""
        words = str(command.get("text") or "").split()
        verb, args = (words[0].lower(), words[1:]) if words else ("help", [])
        user_id = str(command.get("user_id") or "")
        try:
            if verb == "help":
                return Answer(f"*harken* · {USAGE}")
            if verb == "queue":
                return self.queue(user_id, args)
            if verb == "show":
                return self.show(_item_id(args, "show"))
            if verb == "claim":
                return self.claim(client, command, _item_id(args, "claim"))
            return _error(f"no subcommand `{for_slack(verb, limit=40)}`. {USAGE}")
        except QueuePermissionError as error:
            said = str(error).removeprefix("not allowed").lstrip(": ")
            return _error(f"not allowed: {for_slack(said)}. Nothing changed.")
        except HarkenError as error:
            return _error(for_slack(str(error)))
        except Exception:
            log.exception("/harken %s failed", verb)
            return _error(f"harken could not do `{verb}`: see the app's log.")

    def queue(self, user_id: str, args: list[str]) -> Answer:
        if len(args) > 1:
            return _error(f"`/harken queue` takes one department at most. {USAGE}")
        if args:
            if self.config.find_department(args[0]) is None:
                return _error(
                    f"no department `{for_slack(args[0], limit=60)}` "
                    f"(one of: {department_names(self.config)})."
                )
            departments: tuple[str, ...] = (args[0],)
        else:
            departments = member_departments(self.config, self.store, user_id)
            if not departments:
                return _error(
                    "you are in no department yet: name one, `/harken queue DEPARTMENT` "
                    f"(one of: {department_names(self.config)}); an admin lists yours under "
                    "users: in harken's config."
                )
        items = open_items(self.store, departments)
        where = ", ".join(for_slack(d, one_line=True) for d in departments)
        head = f"*{len(items)} open item(s)* in {where}: overdue first"
        blocks = [_section(head)] + [_section(item_line(i)) for i in items[:MAX_LISTED]]
        if len(items) > MAX_LISTED:
            blocks.append(_section(f"…and {len(items) - MAX_LISTED} more (`harken queue list`)."))
        return Answer(head, blocks)

    def show(self, item_id: int) -> Answer:
        data = show_item(self.store, item_id, history_limit=0)
        lines = [item_line(data)]
        post = data["mention"]["url"] or data["mention"]["external_id"]
        lines.append(f"post: {for_slack(str(post), limit=300, one_line=True)}")
        if data["tags"]:
            lines.append(f"tags: {for_slack(', '.join(data['tags']), limit=200)}")
        if data["closed_at"]:
            closer = for_slack(data["closed_by"] or "", limit=80)
            lines.append(f"{data['status']} {data['closed_at'][:16]} UTC by {closer}")
        history = [_event(e) for e in data["events"][-HISTORY:]]
        blocks = [_section("\n".join(lines)), _section("*history*\n" + "\n".join(history))]
        return Answer(f"Item #{item_id}", blocks)

    def claim(self, client: WebClient, command: Mapping[str, Any], item_id: int) -> Answer:
        user_id = str(command.get("user_id") or "")
        profile = {"display_name": command.get("user_name")}
        actor = identity.actor_for(self.store, self.config, user_id, profile)
        may = identity.slack_permission(self.config, self.store)
        key = _request_key(command)
        with self._claiming:
            # Held first, then the key (sent again, to this process or another): a claim seen
            # held was committed, so if it was this request's, its key is seen too.
            held = holds(self.store, actor, item_id)
            change = done_before(self.store, key)
            if change is None and held:
                return Answer(f"You already hold item #{item_id}.")
            if change is None:
                change = actions.claim(
                    self.store, item_id, actor, may=may, request_key=key, config=self.config
                )
        log.info("slack: %s", change.message)
        if not change.repeated or behind(self.store, item_id):
            refresh_alerts(client, self.store, self.config, item_id)
        return Answer(f"Claimed item #{item_id}: it is yours ({for_slack(actor.name)}).")


def _request_key(command: Mapping[str, Any]) -> str | None:
    """The command's key for its queue event: each use of a command has a trigger and a
    response URL of its own, and a retry carries them again."""
    trigger, url = command.get("trigger_id"), command.get("response_url")
    if not trigger and not url:
        return None
    return request_key("command", command.get("user_id"), trigger, url, command.get("text"))


def _item_id(args: list[str], verb: str) -> int:
    if len(args) != 1 or not args[0].lstrip("#").isdigit() or len(args[0]) > MAX_ID_DIGITS:
        raise HarkenError(
            f"`/harken {verb}` takes one item id",
            hint=f"e.g. `/harken {verb} 42`; `/harken queue` lists them",
        )
    return int(args[0].lstrip("#"))


def _event(event: Mapping[str, Any]) -> str:
    who = for_slack(event["actor"] or "", limit=40, one_line=True)
    face = " ".join(
        for_slack(p, limit=64, one_line=True) for p in (event["via"], event["actor_ref"]) if p
    )
    if face and event["via"] != "cli":
        who = f"{who} ({face})"
    move = f" → {event['to']}" if event["to"] else ""
    if event["from"] and event["to"]:
        move = f" {event['from']} → {event['to']}"
    note = f": {for_slack(event['note'], limit=120, one_line=True)}" if event["note"] else ""
    return f"{event['at'][:16]} {who} {for_slack(event['action'])}{for_slack(move)}{note}"


def _error(text: str) -> Answer:
    return Answer(f"Error: {text}")


def _section(mrkdwn: str) -> Block:
    if len(mrkdwn) > SECTION_MAX:  # cut between lines: never inside an entity or a date token
        mrkdwn = mrkdwn[: mrkdwn.rfind("\n", 0, SECTION_MAX - 1)] + "\n…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}
