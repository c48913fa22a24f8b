"""Deliver the outbox: in order per channel, exactly once, within the noise budget.

Alerts are written to the store in the same transaction as what they are about; this module
delivers them later, from any process (the daemon every minute, ``harken alerts flush``):

* **In order per lane** (a sink's channel): alerts are taken by id; once one of a lane is not
  delivered (backing off, rate limited), the later ones of that lane wait behind it. Lanes of
  a sink that allows it (Slack's ``channels_at_once``) go side by side, each in one thread
  (``_page``); a 429 in one holds the others before their next call.
* **Exactly once**: an alert is claimed (pending -> sending) in its own transaction before the
  call, so two senders never both send it. Each claim names its holder, the delivery run's
  lease (store/lock.py SenderLease: a lock that dies with the process); a run starts by
  taking back the claims whose holder is gone, at once, and never those of a live one.
  Such a claim, or a call that timed out after the request left, is *in doubt*: before
  sending again, the sink checks whether it arrived (Slack: the alert's idempotency key is in
  the message's metadata, read back with conversations.history). Sinks that cannot check
  (webhooks, the console) send again; that is the one at-least-once window, the length of
  one HTTP call, and it is counted in the result.
* **Retries**: a 429's Retry-After holds the whole sink (no request to it before then, from any
  process; a short one is waited out in place). 5xx, timeouts and refused connections back
  off per alert (30 s doubling to 5 min) for ``alerts.give_up_after`` (24 h), so an hour of
  Slack downtime delays alerts and loses none. A permanent error (bad token, unknown channel)
  fails the alert at once with the reason; ``harken alerts retry`` puts it back.
* **Noise budget** (budget.py): a ping the department's budget does not allow is held for
  the digest, decided when it reaches the head of its lane.
* **Nothing waits silently**: after a run, what is left undelivered is counted by what the
  head of its lane waits on (a live sender's claim, a backoff, a Retry-After...): ``waiting``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from harken.config import Config
from harken.notify.budget import PINGS, budget_for, hold_reason
from harken.notify.contract import Delivered, DeliveryError, ReadsStore, Sink, Skip, Thread
from harken.notify.outbox_statements import (
    claim_statement,
    hold_statement,
    payload_statement,
    thread_root,
)
from harken.store import Store
from harken.store.lock import SenderLease, holder_name, is_lease_holder, live_holders
from harken.store.repo import (
    AlertView,
    alert_view,
    claim_holders,
    pending_alerts,
    take_back_claims,
    undelivered,
)
from harken.store.statistics import NOTIFY_TABLES, analyze_if_stale
from harken.store.tables import Alert, SinkHold, utcnow
from harken.text import strip_controls

log = logging.getLogger(__name__)

# A claim with no lease to check (made by a harken from before leases) is taken back when it
# is older than this.
LEASE = timedelta(minutes=2)
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=5)
MAX_WAIT = 10.0  # seconds of Retry-After waited out in place rather than deferred
RATE_LIMIT_TRIES = 3  # in-place waits per alert and run


@dataclass
class NotifyResult:
    sent: int = 0
    failed: int = 0  # permanent error, or transient ones for longer than give_up_after
    retry_later: int = 0  # backing off or rate limited; delivered by a later run
    held: int = 0  # by the noise budget, for the digest
    skipped: int = 0  # nothing left to do (a thread update whose thread never started)
    recovered: int = 0  # an interrupted delivery found delivered: not sent again
    resent: int = 0  # an interrupted delivery the sink cannot check: sent again
    waiting_until: datetime | None = None  # a sink's Retry-After beyond this run
    errors: list[str] = field(default_factory=list)
    # What is left undelivered after the run, by what it waits on (a snapshot, not a sum).
    waiting: list[Waiting] = field(default_factory=list)

    def wait_until(self, until: datetime) -> None:
        """A sink waits until then: the latest wait is the one the run reports."""
        self.waiting_until = max(until, self.waiting_until or until)

    def add(self, other: NotifyResult) -> None:
        for name in ("sent", "failed", "retry_later", "held", "skipped", "recovered", "resent"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors
        if other.waiting_until is not None:
            self.wait_until(other.waiting_until)
        self.waiting = other.waiting or self.waiting


@dataclass(frozen=True)
class Waiting:
    """Undelivered alerts that wait on one thing: what the first of their lane waits on."""

    count: int
    why: str  # "claimed by 4711@host (alive, since 14:03:10 UTC)", "retrying after ..."


def describe_waiting(waiting: list[Waiting]) -> str:
    """ "15 waiting: 12 claimed by 4711@host (alive, since ...), 3 retrying after ..." """
    if not waiting:
        return ""
    total = sum(w.count for w in waiting)
    if len(waiting) == 1:
        return f"{total} waiting: {waiting[0].why}"
    return f"{total} waiting: " + ", ".join(f"{w.count} {w.why}" for w in waiting)


def _at_once(sink: Sink | None) -> int:
    """How many of the sink's lanes may be delivered side by side (1: one alert at a time)."""
    return max(1, int(getattr(sink, "parallel_lanes", 1) or 1))


def deliver_pending(
    store: Store,
    config: Config,
    sinks: Mapping[str, Sink],
    *,
    force: bool = False,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
    batch_size: int = 100,
) -> NotifyResult:
    """Deliver what is due. ``force``: ignore per-alert backoff (never a sink's Retry-After)."""
    return Outbox(store, config, sinks, clock=clock, sleep=sleep).run(force, batch_size)


class Outbox:
    def __init__(
        self,
        store: Store,
        config: Config,
        sinks: Mapping[str, Sink],
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store, self.config, self.sinks = store, config, sinks
        self.clock, self.sleep = clock, sleep
        self.lease = SenderLease(store)  # taken at the first claim, let go at the end
        self._lease_lock = threading.Lock()
        self._holds_lock = threading.Lock()
        self._hold_rows = threading.Lock()  # one writer of sink_holds rows in this run
        self._held: dict[str, datetime] = {}  # sink -> until: this run's holds (429s)
        self._stopping = threading.Event()  # set when a lane fails or the run is interrupted
        for sink in sinks.values():
            if isinstance(sink, ReadsStore):
                sink.use_store(store)

    def run(self, force: bool = False, batch_size: int = 100) -> NotifyResult:
        result = NotifyResult()
        analyze_if_stale(self.store, NOTIFY_TABLES)  # PostgreSQL (store/statistics.py)
        try:
            self._take_back_claims()
            self._deliver(force, batch_size, result)
        finally:
            self.lease.release()
        result.waiting = self._waiting()
        return result

    def _deliver(self, force: bool, batch_size: int, result: NotifyResult) -> None:
        # Lanes with an undelivered alert this run: to begin with, those whose alert another
        # sender is delivering right now (a live claim): what follows it must wait.
        blocked = self._lanes_in_flight()
        stopped: set[str] = set()  # sinks that failed or asked us to wait this run
        after = 0
        while True:
            with self.store.session() as session:
                views = pending_alerts(session, batch_size, after_id=after)
            if not views:
                return
            # Read after the page: an earlier alert that another sender claimed before the
            # page was read is not in it, and is in flight now or done. Without this, its
            # lane's next alert (a thread reply whose root is being posted) would go first.
            blocked |= self._lanes_in_flight()
            after = views[-1].alert.id or after
            self._page(views, force, blocked, stopped, result)

    def _page(
        self,
        views: list[AlertView],
        force: bool,
        blocked: set[tuple[str, str]],
        stopped: set[str],
        result: NotifyResult,
    ) -> None:
        """A page of alerts, each lane's in id order. A sink that takes calls side by side
        (Slack, ``channels_at_once``) has several of its lanes delivered at once: a call to
        Slack takes a tenth of a second or more, and a storm's alerts to five departments would
        otherwise each wait for all the others. A lane is only ever in one thread, so its
        alerts keep their order; other sinks' lanes go first, one alert at a time, as before."""
        lanes: dict[tuple[str, str], list[AlertView]] = {}
        for view in views:
            sink = self.sinks.get(view.alert.sink)
            lane = (view.alert.sink, sink.lane(view.alert) if sink else "")
            lanes.setdefault(lane, []).append(view)
        side_by_side: dict[str, list[tuple[str, str]]] = {}  # sink -> its lanes in this page
        for lane in lanes:
            if _at_once(self.sinks.get(lane[0])) > 1:
                side_by_side.setdefault(lane[0], []).append(lane)
        for lane, queued in lanes.items():
            if lane[0] not in side_by_side:
                for view in queued:
                    self._one(view, force, blocked, stopped, result)
        for sink, own_lanes in side_by_side.items():
            self._side_by_side(
                [lanes[lane] for lane in own_lanes], _at_once(self.sinks[sink]), force,
                blocked, stopped, result,
            )  # fmt: skip

    def _side_by_side(
        self,
        lanes: list[list[AlertView]],
        at_once: int,
        force: bool,
        blocked: set[tuple[str, str]],
        stopped: set[str],
        result: NotifyResult,
    ) -> None:
        """Lanes of one sink, ``at_once`` threads at a time. Each has its own result, merged
        after. When one thread fails, or the run is interrupted (Ctrl-C), the others stop
        before their next alert, and the run ends only once every call in flight is done (its
        claim finished or left in doubt), never while one is still in the air."""

        def deliver_lane(queued: list[AlertView]) -> NotifyResult:
            own = NotifyResult()  # counters are not shared between threads
            try:
                for view in queued:
                    if self._stopping.is_set():
                        break
                    self._one(view, force, blocked, stopped, own)
            except BaseException:
                self._stopping.set()  # the other lanes stop before their next alert
                raise
            return own

        pool = ThreadPoolExecutor(min(at_once, len(lanes)), thread_name_prefix="harken-lane")
        try:
            for done in pool.map(deliver_lane, lanes):
                result.add(done)
        except BaseException:
            self._stopping.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _lanes_in_flight(self) -> set[tuple[str, str]]:
        with self.store.session() as session:
            claimed = session.execute(select(Alert).where(Alert.status == "sending")).scalars()
            return {(a.sink, self.sinks[a.sink].lane(a)) for a in claimed if a.sink in self.sinks}

    # -- one alert ------------------------------------------------------------------------------

    def _one(
        self,
        view: AlertView,
        force: bool,
        blocked: set[tuple[str, str]],
        stopped: set[str],
        result: NotifyResult,
    ) -> None:
        alert = view.alert
        sink = self.sinks.get(alert.sink)
        if sink is None or alert.sink in stopped:
            return  # not configured in this process, or stopped for this run: stays pending
        lane = (alert.sink, sink.lane(alert))
        if lane in blocked:
            return
        for _ in range(RATE_LIMIT_TRIES):
            if self._stopping.is_set():  # a lane beside this one failed, or Ctrl-C
                return
            if not self._sink_open(alert.sink, result):
                stopped.add(alert.sink)
                result.retry_later += 1
                return
            now = self.clock()
            if not force and alert.next_attempt_at is not None and alert.next_attempt_at > now:
                blocked.add(lane)
                result.retry_later += 1
                return
            outcome = self._attempt(sink, view, now, result)
            if outcome == "done":
                return
            if outcome == "lane":
                blocked.add(lane)
                return
            if outcome == "sink":
                blocked.add(lane)
                stopped.add(alert.sink)
                return
            # "again": rate limited briefly; the hold is waited out at the top of the loop
            with self.store.session() as session:
                fresh = alert_view(session, alert.id)  # type: ignore[arg-type]
            if fresh is None or fresh.alert.status != "pending":
                return
            view, alert = fresh, fresh.alert
        blocked.add(lane)
        stopped.add(alert.sink)

    def _attempt(self, sink: Sink, view: AlertView, now: datetime, result: NotifyResult) -> str:
        """Try one alert; say what the caller must do next: "done", "lane" (block its lane),
        "sink" (stop the sink this run) or "again" (retry it after a short hold)."""
        alert = view.alert
        assert alert.id is not None
        # People's channels, not machines' (a sink from before budgeted existed: people's).
        if alert.kind in PINGS and getattr(sink, "budgeted", True):
            with self.store.session() as session:
                reason = hold_reason(session, view, budget_for(self.config, alert.channel), now)
            if reason is not None:
                self._finish(alert.id, "held", note=reason)
                result.held += 1
                return "done"
        thread = self._thread(view)
        if alert.sending_at is not None:  # an earlier attempt may have arrived
            if sink.verifiable:
                try:
                    found = sink.verify(view, thread)
                except DeliveryError as err:
                    return self._failed(view, err, now, result, claimed=False)
                if found is not None:
                    note = "found delivered after an interrupted attempt: not sent again"
                    self._finish(alert.id, "sent", delivered=found, note=note, at=now)
                    result.recovered += 1
                    return "done"
            else:
                result.resent += 1
                log.warning(
                    "alert %s: an earlier attempt was interrupted and %s cannot check whether "
                    "it arrived; sending again",
                    alert.id,
                    alert.sink,
                )
        if not self._claim(alert.id, now):
            return "lane"  # another sender has it
        if alert.kind == "update":
            # A router may have folded more posts into the reply between our read and the
            # claim; what is sent is what was claimed.
            with self.store.session() as session:
                view = alert_view(session, alert.id) or view
        try:
            delivered = sink.deliver(view, thread)
        except Skip as skip:
            self._finish(alert.id, "skipped", note=str(skip))
            result.skipped += 1
            return "done"
        except DeliveryError as err:
            return self._failed(view, err, now, result, claimed=True)
        except Exception as err:  # a sink's bug must not stop the others; retried later
            log.exception("alert %s: %s sink raised", alert.id, alert.sink)
            wrapped = DeliveryError(f"{type(err).__name__}: {err}", transient=True)
            return self._failed(view, wrapped, now, result, claimed=True)
        self._finish(alert.id, "sent", delivered=delivered, note=delivered.note, at=self.clock())
        result.sent += 1
        return "done"

    def _failed(
        self,
        view: AlertView,
        err: DeliveryError,
        now: datetime,
        result: NotifyResult,
        claimed: bool,
    ) -> str:
        alert = view.alert
        assert alert.id is not None
        message = str(err)
        result.errors.append(f"alert {alert.id} ({alert.sink} {alert.channel}): {message}")
        log.warning("alert %s not delivered: %s", alert.id, message)
        since = alert.created_at
        if alert.payload.get("retry_from"):  # requeued by a person: a fresh allowance
            since = datetime.fromisoformat(alert.payload["retry_from"])
        give_up = since + self.config.alerts.give_up_after < now
        if not err.transient or give_up:
            why = message if not err.transient else f"{message}; gave up after retrying since "
            if err.transient:
                why += f"{since:%Y-%m-%d %H:%M} UTC (alerts.give_up_after)"
            self._finish(alert.id, "failed", error=why, clear_claim=not err.in_doubt)
            result.failed += 1
            return "done"
        attempts = alert.attempts + (1 if claimed else 0)
        # A check that failed leaves the earlier attempt in doubt: check again next time.
        in_doubt = err.in_doubt or not claimed
        if err.retry_after is not None:
            until = now + timedelta(seconds=max(err.retry_after, 1.0))
            self._hold_sink(alert.sink, until, message)
            self._retry_at(alert.id, until, message, in_doubt=in_doubt)
            if err.retry_after <= MAX_WAIT:
                return "again"
            result.retry_later += 1
            result.wait_until(until)
            return "sink"
        backoff = min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)
        self._retry_at(alert.id, now + backoff, message, in_doubt=in_doubt)
        result.retry_later += 1
        return "sink"

    # -- threads ---------------------------------------------------------------------------------

    def _thread(self, view: AlertView) -> Thread | None:
        """The incident's thread in this alert's channel: the first alert of the same sink,
        incident and channel that was delivered with a message id."""
        alert = view.alert
        if alert.incident_id is None or alert.kind not in ("item", "escalation", "update"):
            return None
        with self.store.session() as session:
            root_view = thread_root(session, alert)
        if root_view is None:
            return None
        root = root_view.alert
        assert root.remote_channel is not None and root.message_ts is not None
        return Thread(root.remote_channel, root.thread_ts or root.message_ts, root_view)

    # -- store updates (each its own transaction) ---------------------------------------------

    def _take_back_claims(self) -> None:
        """The claims of senders that are gone (their lease went with them) back to pending
        at once, in doubt; a live sender's stay. Only here, before the first page: taken back
        later, an alert would be behind the page and its lane's next alert would go first."""
        with self.store.session() as session:
            holders = claim_holders(session)
        alive = live_holders(self.store, [h for h, _ in holders if h is not None])
        for holder, _since in holders:
            if holder in alive:
                continue
            if is_lease_holder(holder):
                assert holder is not None
                who, before = holder_name(holder), None
            else:  # no lease to ask: the claim's age decides, as before there were leases
                who, before = "an older harken", self.clock() - LEASE
            note = f"interrupted: its sender ({who}) stopped mid-call"
            with self.store.session() as session:
                taken = take_back_claims(session, holder, note, claimed_before=before)
            if taken:
                log.warning(
                    "took back %d alert(s) claimed by %s, which stopped mid-call: each is "
                    "checked for before it is sent again",
                    taken,
                    who,
                )

    def _claim(self, alert_id: int, now: datetime) -> bool:
        with self._lease_lock:  # lanes side by side share the run's one lease
            holder = self.lease.take()  # before the claim: no one may see a claim without it
        with self.store.session() as session:
            claimed = session.connection().execute(
                claim_statement(), {"alert_id": alert_id, "now": now, "holder": holder}
            )
            return bool(claimed.rowcount)

    def _finish(
        self,
        alert_id: int,
        status: str,
        *,
        delivered: Delivered | None = None,
        note: str | None = None,
        error: str | None = None,
        at: datetime | None = None,
        clear_claim: bool = True,
    ) -> None:
        values: dict[str, Any] = {"status": status, "claimed_by": None}
        if note is not None:
            values["note"] = note[:2000]
        if error is not None:
            values["last_error"] = error[:2000]
        if status == "sent":
            values |= {"sent_at": at or self.clock(), "next_attempt_at": None}
        if delivered is not None:
            values |= {
                "remote_channel": delivered.remote_channel,
                "message_ts": delivered.message_ts,
                "thread_ts": delivered.thread_ts,
            }
        if status != "sent" and clear_claim:
            values["sending_at"] = None
        # Statements, not the ORM: this runs for every alert, and loading the row to set a few
        # columns cost more than the update.
        with self.store.session() as session:
            connection = session.connection()
            if delivered is not None and delivered.shown:
                # In the delivery's transaction: kept with what shows it. Read here, not from
                # the view: a router may have folded more posts into the payload since.
                payload = connection.execute(payload_statement(), {"alert_id": alert_id}).scalar()
                values["payload"] = {**(payload or {}), **delivered.shown}
            table = Alert.__table__  # type: ignore[attr-defined]
            done = connection.execute(table.update().where(table.c.id == alert_id), values)
            assert done.rowcount == 1, f"alert {alert_id} is gone"

    def _retry_at(self, alert_id: int, when: datetime, error: str, in_doubt: bool) -> None:
        with self.store.session() as session:
            alert = session.get(Alert, alert_id)
            assert alert is not None
            alert.status, alert.claimed_by = "pending", None
            alert.next_attempt_at = when
            alert.last_error = error[:2000]
            if not in_doubt:
                alert.sending_at = None
            session.add(alert)

    def _hold_sink(self, sink: str, until: datetime, reason: str) -> None:
        # Lanes side by side: the others see the hold before their next call (in memory at
        # once, in the store for other processes), and two 429s at once write one row.
        with self._holds_lock:
            self._held[sink] = max(until, self._held.get(sink, until))
        with self._hold_rows, self.store.session() as session:
            hold = session.get(SinkHold, sink) or SinkHold(sink=sink, until=until)
            hold.until, hold.reason = max(until, hold.until), reason[:2000]
            session.add(hold)

    def _sink_open(self, sink: str, result: NotifyResult) -> bool:
        """False while the sink's Retry-After runs past a short wait (which is waited out)."""
        with self.store.session() as session:
            stored = session.execute(hold_statement(), {"sink": sink}).scalar()
        with self._holds_lock:
            holds = [t for t in (self._held.get(sink), stored) if t]
        if not holds:
            return True
        until = max(holds)
        remaining = (until - self.clock()).total_seconds()
        if remaining <= 0:
            return True
        if remaining <= MAX_WAIT:
            self.sleep(remaining)
            return True
        result.wait_until(until)
        return False

    # -- what is left ---------------------------------------------------------------------------

    def _waiting(self) -> list[Waiting]:
        """What is left undelivered, counted by what the first alert of its lane waits on."""
        now = self.clock()
        with self.store.session() as session:
            firsts = undelivered(session)
            holds = {h.sink: h.until for h in session.execute(select(SinkHold)).scalars()}
        lanes: dict[tuple[str, str], tuple[Alert, int]] = {}
        for alert, count in firsts:
            sink = self.sinks.get(alert.sink)
            lane = (alert.sink, sink.lane(alert) if sink else "")
            head, total = lanes.get(lane, (alert, 0))
            lanes[lane] = (min(head, alert, key=lambda a: a.id or 0), total + count)
        holders = [h.claimed_by for h, _ in lanes.values() if h.status == "sending"]
        alive = live_holders(self.store, [h for h in holders if h is not None])
        groups: dict[tuple[str, str], list[Any]] = {}
        for head, count in lanes.values():
            kind, who, at, detail = self._waits_on(head, now, holds, alive)
            group = groups.setdefault((kind, who), [0, at, detail])
            group[0] += count
            if at is not None and (group[1] is None or at < group[1]):
                group[1:] = [at, detail]  # the soonest, and why
        order = sorted(groups, key=lambda k: (WAITS.index(k[0]), k[1]))
        return [Waiting(groups[k][0], _why(*k, *groups[k][1:], now=now)) for k in order]

    def _waits_on(
        self, head: Alert, now: datetime, holds: dict[str, datetime], alive: set[str]
    ) -> tuple[str, str, datetime | None, str]:
        """(what, whose, until or since when, detail) for the first alert of a lane."""
        if head.status == "sending":
            holder = head.claimed_by
            if not is_lease_holder(holder):
                return "older", "", (head.sending_at or now) + LEASE, ""
            assert holder is not None
            kind = "claimed" if holder in alive else "gone"
            return kind, holder_name(holder), head.sending_at, ""
        if head.sink not in self.sinks:
            return "absent", head.sink, None, ""
        if head.sink in holds and holds[head.sink] > now:
            return "limited", head.sink, holds[head.sink], ""
        if head.next_attempt_at is not None and head.next_attempt_at > now:
            reason = " ".join(strip_controls(head.last_error or "").split())
            reason = reason if len(reason) <= 80 else reason[:79] + "…"
            return "retrying", "", head.next_attempt_at, reason
        return "due", "", None, ""


# What a lane can wait on, in the order they are told.
WAITS = ("claimed", "gone", "older", "limited", "retrying", "absent", "due")


def _why(kind: str, who: str, at: datetime | None, detail: str, *, now: datetime) -> str:
    when = _clock(at, now) if at is not None else ""
    return {
        "claimed": f"claimed by {who} (alive, since {when})",
        "gone": f"claimed by {who}, which is gone (taken back at the next run)",
        "older": f"claimed by an older harken until {when}",
        "limited": f"rate limited by {who} until {when}",
        "retrying": f"retrying after {when}" + (f" ({detail})" if detail else ""),
        "absent": f"for {who}, which is not configured here",
        "due": "due at the next run",
    }[kind]


def _clock(at: datetime, now: datetime) -> str:
    """The time of day, with the date when it is not within a few hours of now."""
    if abs(at - now) < timedelta(hours=12):
        return f"{at:%H:%M:%S} UTC"
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


def requeue(store: Store, ids: list[int], statuses: list[str]) -> list[int]:
    """Put failed, held or skipped alerts back in the outbox (after fixing the config, or to
    send what the noise budget held). A released alert is not held again."""
    chosen = select(Alert).where(Alert.status.in_(("failed", "held", "skipped")))  # type: ignore[attr-defined]
    if ids:
        chosen = chosen.where(Alert.id.in_(ids))  # type: ignore[union-attr]
    if statuses:
        chosen = chosen.where(Alert.status.in_(statuses))  # type: ignore[attr-defined]
    with store.session() as session:
        alerts = list(session.execute(chosen.order_by(Alert.id)).scalars())  # type: ignore[arg-type]
        for alert in alerts:
            alert.note = f"requeued from {alert.status}"
            alert.status, alert.next_attempt_at = "pending", None
            retry_from = utcnow().isoformat()
            alert.payload = {**alert.payload, "released": True, "retry_from": retry_from}
            session.add(alert)
        return [a.id for a in alerts if a.id is not None]


def sink_holds(store: Store) -> list[SinkHold]:
    with store.session() as session:
        return list(session.execute(select(SinkHold)).scalars())
