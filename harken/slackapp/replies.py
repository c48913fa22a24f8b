"""Replies from Slack: the alert's Reply button opens a modal pre-filled from the reply
templates (the same choice as ``harken queue reply``); on submit the text is checked as the dry
run checks it (a field error, nothing done) and, once accepted, sent through the same queue
action as ``harken queue reply --send`` (one attempt in flight, never retried blindly).

With ``replies.approval`` on, the submitted text is kept as a draft (``draft_reply``) and posted
to ``replies.approver_channel``; someone other than its author approves it there
(``approve_reply``) and it is sent in the author's name with ``require_approval=True``, or edits
it first (the modal again, for the approver). Every step runs as the Slack user, through the
app's permission hook, and records its queue event.

A submission is acted on once: Slack's retries carry the same view (``Seen``, in this
process; the submission's ``request_key``, written with its queue event, for a restarted
process or another replica: the reply sent or drafted already is answered as the first time,
nothing sent again); a second modal with the same text meets the queue's own refusal (the
exact reply already sent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from harken.config import Config
from harken.errors import HarkenError, QueueError
from harken.notify.slack.controls import REPLY
from harken.queue import actions
from harken.queue.actors import Actor, QueuePermissionError
from harken.queue.replies import Draft, ReplyPlan, draft_of, may_reply, plan_reply
from harken.queue.views import show_item
from harken.slackapp import identity
from harken.slackapp.approvals import post_draft
from harken.slackapp.clicks import (
    BadClick,
    Click,
    ItemLocks,
    Seen,
    part,
    read_click,
    refusal,
    request_key,
    slack_profile,
)
from harken.slackapp.reply_views import (
    APPROVE,
    EDIT,
    INPUT_BLOCK,
    MODAL,
    ModalState,
    draft_id_of,
    load_state,
    reply_modal,
    settled_message,
    submitted_text,
)
from harken.slackapp.updates import refresh_alerts, tell, why_failed
from harken.store import Store

log = logging.getLogger(__name__)

ERROR_MAX = 300  # a field error Slack shows under the input


def register(app: App, config: Config, store: Store) -> None:
    """Answer the Reply button, the reply modal and the approver's buttons in ``app``."""
    flow = ReplyFlow(config, store)

    def on_reply(
        ack: Callable[..., Any], body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        flow.open_for_author(client, body, action)

    def on_approver(
        ack: Callable[..., Any], body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        flow.approver_click(client, body, action)

    def on_submit(
        ack: Callable[..., Any], body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        checked = flow.check(body, view)
        if isinstance(checked, str):
            ack(response_action="errors", errors={INPUT_BLOCK: checked[:ERROR_MAX]})
            return
        ack()  # the modal closes; the sending below may take longer than Slack waits
        if checked is not None:
            flow.submit(client, checked)

    app.action(REPLY)(on_reply)
    app.action(APPROVE)(on_approver)
    app.action(EDIT)(on_approver)
    app.view(MODAL)(on_submit)


@dataclass(frozen=True)
class Submission:
    """An accepted modal: who sent what, for which item, and where to tell them."""

    user_id: str
    actor: Actor
    plan: ReplyPlan
    state: ModalState
    request_key: str | None = None  # the same for Slack's retry of this submission


class ReplyFlow:
    def __init__(self, config: Config, store: Store) -> None:
        self.config, self.store = config, store
        self.may = identity.slack_permission(config, store)
        self.seen = Seen()
        self._lock = ItemLocks()

    # -- the modal -------------------------------------------------------------------------

    def open_for_author(
        self, client: WebClient, body: Mapping[str, Any], action: Mapping[str, Any]
    ) -> None:
        click = self._click(client, body, action, (REPLY,))
        if click is None:
            return
        state = ModalState(click.item_id, click.channel_id)
        self._answer(client, click, lambda: self._open(client, body, click, state, None))

    def _open(
        self,
        client: WebClient,
        body: Mapping[str, Any],
        click: Click,
        state: ModalState,
        text: str | None,
    ) -> None:
        actor = identity.actor_for(self.store, self.config, click.user_id, click.profile)
        may_reply(self.store, click.item_id, actor, self.may)
        plan = self._plan(click.item_id, text)
        post = show_item(self.store, click.item_id, history_limit=0)["mention"]
        trigger = body.get("trigger_id")
        if not isinstance(trigger, str) or not trigger:
            raise QueueError("this click came without a trigger to open a form with")
        view = reply_modal(plan, post, state, approval=self.config.replies.approval)
        client.views_open(trigger_id=trigger, view=view)

    def _plan(self, item_id: int, text: str | None) -> ReplyPlan:
        """The reply to start from: ``text``, else the template ``harken queue reply``
        would use, else an empty one (no template fits: the person writes it)."""
        try:
            return plan_reply(self.store, self.config, item_id, text, None)
        except QueueError:
            if text is not None:
                raise
            return plan_reply(self.store, self.config, item_id, "", None)

    # -- submit ------------------------------------------------------------------------------

    def check(self, body: Mapping[str, Any], view: Mapping[str, Any]) -> Submission | str | None:
        """Before the ack: the accepted submission, a field error to show (nothing done), or
        None for a submission already accepted (Slack's retry)."""
        state = load_state(view.get("private_metadata"))
        user = part(body, "user")
        user_id = str(user.get("id") or "")
        if state is None or not user_id:
            return "harken cannot read this form: open it again from the alert"
        try:
            actor = identity.actor_for(self.store, self.config, user_id, slack_profile(user))
            plan = plan_reply(self.store, self.config, state.item_id, submitted_text(view), None)
        except HarkenError as error:
            return str(error)
        if plan.problems:
            return "; ".join(plan.problems)
        if self._drafting(state) and not self.config.replies.approver_channel:
            return (
                "replies need approval (replies.approval) but no approver channel is set: "
                "an admin sets replies.approver_channel in harken's config"
            )
        if not self.seen.first(f"view/{view.get('id')}/{user_id}"):
            return None
        key = request_key("view", view.get("id"), view.get("hash"), user_id)
        return Submission(user_id, actor, plan, state, key if view.get("id") else None)

    def submit(self, client: WebClient, done: Submission) -> None:
        where = done.state.channel
        with self._lock(done.plan.item_id):
            said = self._guarded(lambda: self._submitted(client, done), done.plan.item_id)
        if said:
            tell(client, where, done.user_id, said)

    def _submitted(self, client: WebClient, done: Submission) -> str:
        draft = draft_of(self.store, done.state.draft_id) if done.state.draft_id else None
        if done.state.draft_id is not None and (
            draft is None or draft.item_id != done.plan.item_id
        ):
            raise QueueError("that draft is not known any more: write the reply again")
        if draft is not None and draft.author.name != done.actor.name:
            # An approver's edit: they approve their text, sent in the author's name.
            edited = Draft(draft.event_id, draft.item_id, done.plan.text, draft.author)
            return self._approve_and_send(client, edited, done.actor, done.state, done.request_key)
        if self._drafting(done.state):
            return self._draft(client, done)
        outcome = actions.send_planned_reply(
            self.store,
            self.config,
            done.plan,
            done.actor,
            may=self.may,
            request_key=done.request_key,
        )
        refresh_alerts(client, self.store, self.config, done.plan.item_id)
        return f"Reply to item #{done.plan.item_id} sent: {outcome.url or outcome.external_id}"

    def _drafting(self, state: ModalState) -> bool:
        return self.config.replies.approval or state.draft_id is not None

    def _draft(self, client: WebClient, done: Submission) -> str:
        channel = self.config.replies.approver_channel
        assert channel is not None  # check() refused the form otherwise
        draft = actions.draft_reply(
            self.store, done.plan, done.actor, may=self.may, request_key=done.request_key
        )
        if not draft.repeated:  # posted for approval by the first delivery of this form
            # (a process stopped before posting it: the next start posts it, approvals.py)
            try:
                post_draft(client, self.store, channel, draft)
            except Exception as error:  # the draft is kept: its author must not write it again
                log.warning("draft %s not posted: %s", draft.event_id, why_failed(error))
                return (
                    f"Your reply to item #{draft.item_id} is kept, but could not be posted to "
                    f"{channel} for approval yet: the harken app posts it when it next starts."
                )
        return f"Your reply to item #{draft.item_id} is waiting for approval in {channel}."

    # -- the approver ------------------------------------------------------------------------

    def approver_click(
        self, client: WebClient, body: Mapping[str, Any], action: Mapping[str, Any]
    ) -> None:
        click = self._click(client, body, action, (APPROVE, EDIT))
        if click is None:
            return
        message_ts = part(body, "container").get("message_ts")
        state = ModalState(
            click.item_id,
            click.channel_id,
            draft_id_of(action.get("block_id")),
            message_ts if isinstance(message_ts, str) else None,
        )
        self._answer(client, click, lambda: self._approver(client, body, click, state))

    def _approver(
        self, client: WebClient, body: Mapping[str, Any], click: Click, state: ModalState
    ) -> str | None:
        draft = draft_of(self.store, state.draft_id) if state.draft_id else None
        if draft is None or draft.item_id != click.item_id:
            raise QueueError("that draft is not known")
        approver = identity.actor_for(self.store, self.config, click.user_id, click.profile)
        if click.action_id == EDIT:
            self._open(client, body, click, state, draft.text)
            return None
        if approver.name == draft.author.name:
            return "You wrote this reply: someone else approves it."
        return self._approve_and_send(client, draft, approver, state, click.request_key)

    def _approve_and_send(
        self,
        client: WebClient,
        draft: Draft,
        approver: Actor,
        state: ModalState,
        key: str | None,
    ) -> str:
        """``approver`` approves the draft's text, then it is sent as its author's reply;
        ``key`` names the request (its approval's event, and ``key/send`` the reply's)."""
        plan = plan_reply(self.store, self.config, draft.item_id, draft.text, None)
        if approver.name not in actions.approved_by(self.store, draft.item_id, draft.text):
            actions.approve_reply(self.store, plan, approver, may=self.may, request_key=key)
        outcome = actions.send_planned_reply(
            self.store,
            self.config,
            plan,
            draft.author,
            require_approval=True,
            may=self.may,
            request_key=f"{key}/send" if key else None,
        )
        where = outcome.url or outcome.external_id or ""
        said = f"sent {where}, written by {draft.author.name}, approved by {approver.name}"
        if state.channel and state.message_ts:
            text, blocks = settled_message(draft, said)
            try:
                client.chat_update(
                    channel=state.channel, ts=state.message_ts, text=text, blocks=blocks
                )
            except Exception as error:  # the reply is out: the message is only a record of it
                log.warning("draft message not updated: %s", type(error).__name__)
        refresh_alerts(client, self.store, self.config, draft.item_id)
        return f"Reply to item #{draft.item_id} {said}"

    # -- shared ------------------------------------------------------------------------------

    def _click(
        self,
        client: WebClient,
        body: Mapping[str, Any],
        action: Mapping[str, Any],
        known: tuple[str, ...],
    ) -> Click | None:
        try:
            click = read_click(body, action, known)
        except BadClick as error:
            user, where = part(body, "user").get("id"), part(body, "container").get("channel_id")
            if user:
                tell(client, where, str(user), f"harken: {error}.")
            return None
        return click if self.seen.first(click.key) else None

    def _answer(self, client: WebClient, click: Click, work: Callable[[], str | None]) -> None:
        with self._lock(click.item_id):
            said = self._guarded(work, click.item_id)
        if said:
            tell(client, click.channel_id, click.user_id, said)

    def _guarded(self, work: Callable[[], str | None], item_id: int) -> str | None:
        """What ``work`` says, or what went wrong in words for the person (nothing sent)."""
        try:
            return work()
        except QueuePermissionError as error:
            return f"Not allowed: {refusal(error)}"
        except HarkenError as error:
            return f"Not sent: {error}"
        except Exception:
            log.exception("item %s: the reply flow failed", item_id)
            return f"harken could not go on with the reply to item #{item_id}: see the app's log."
