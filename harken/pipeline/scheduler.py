"""``harken run``: one process polls every source on its interval and keeps the pipeline moving.

Jobs (APScheduler 3.x, in-memory job store, one process per database — see store/lock.py):

* ``poll:<source>`` every ``sources.<name>.interval``, then a pipeline pass (the stage table
  of harken/pipeline/stages.py: classify, route, escalate, notify). A source still rate
  limited is skipped until its reset.
* each live stream (``sources.<name>.stream: true``) in its own thread, with a pass after what
  it stores (harken/pipeline/streams.py).
* ``refresh`` every ``refresh.interval``: engagement snapshots of recent risky mentions.
* ``queues`` every minute: overdue items are escalated (and alerted), pending alerts delivered,
  and a pass runs when posts wait that another process stored (a webhook's, an import's).
* ``spikes`` hourly, five minutes past the hour: the spike check of the last completed hours
  (docs/spikes.md); new spikes are alerted once.
* ``digest`` every five minutes: once ``digest.time`` (in ``digest.timezone``) has passed,
  the day's digest is made once and put in the outbox (a restart does not send it twice; a
  digest missed by more than 12 hours of downtime is skipped, `harken digest --date` makes it).
* whatever ``JOB_HOOKS`` adds.

Scheduling choices, on purpose:

* The first run of a poll is due ``interval`` after the source's last poll as stored in the
  database, so a restart does not hammer the APIs, and a poll that fell due while harken was
  down runs once, right at start.
* ``coalesce=True``: a backlog of missed runs is one run, never a burst.
* ``misfire_grace_time`` = the job's interval: a run that starts late because the workers were
  busy still runs (APScheduler's default of one second would drop it silently).
* ``max_instances=1``: a slow poll is never overlapped by the next one of the same source.
* Pipeline passes are serialised by a lock: polls run in parallel, classification does not.

``--scheduler-only`` (``scheduler_only=True``): the same jobs, minus the work that ``harken
worker`` processes share: polls store what they find, the queue, spike and digest jobs put
their alerts in the outbox, and the workers classify, route and deliver. Only one scheduler
runs per database; a second one waits for the lock and takes over when the first one dies.

SIGINT/SIGTERM set the stop event: waits end at once, pages in flight finish and are committed,
no new job starts, and the process exits once running jobs return.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from harken.classify.classifier import Classifier
from harken.config import Config
from harken.digest.job import run_digest
from harken.notify.contract import Sink
from harken.notify.outbox import NotifyResult, deliver_pending
from harken.pipeline.collect import PollReport, poll_source, rate_limited
from harken.pipeline.engagement import refresh_engagement
from harken.pipeline.stages import PassResult, Pipeline, run_stages
from harken.pipeline.streams import StreamRunner
from harken.platforms.source import Source
from harken.platforms.stream import Stream
from harken.queue.escalation import escalate_overdue
from harken.spikes.job import check_spikes
from harken.store import Store, repo
from harken.store import sources as source_repo
from harken.store.lock import SchedulerLock

log = logging.getLogger(__name__)


class _OverrunsAreExpected(logging.Filter):
    """APScheduler warns every time a run is skipped because the job's previous run is still
    going. With ``max_instances=1`` that is the design (a long first poll just delays the
    next one), not a fault: a 10-minute backlog poll on a 2 s interval wrote 300 warnings.
    Shown with ``-vv`` only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances reached" in record.getMessage():
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


OVERRUNS = _OverrunsAreExpected()

Say = Callable[[str], None]  # one line of daemon output


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[[], Any]
    interval: timedelta
    first_run: datetime


# Later features add jobs here: ``lambda daemon: [JobSpec(...)]``.
JOB_HOOKS: list[Callable[[Daemon], list[JobSpec]]] = []


class Daemon:
    def __init__(
        self,
        store: Store,
        config: Config,
        sources: list[Source],
        sinks: Mapping[str, Sink],
        stop: threading.Event,
        say: Say = lambda line: None,
        classifier: Classifier | None = None,
        streams: list[Stream] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.sources = sources
        # Live streams (harken/pipeline/streams.py), each in its thread; a pass follows what
        # they store, run by one thread so that reading never waits for classifying.
        self.streams = {
            s.name: StreamRunner(store, config, s, self._want_pass, self._backfill(s), say)
            for s in streams or []
        }
        self._pass_wanted = threading.Event()
        self.sinks = sinks
        self.stop = stop
        self.say = say
        # One for the process: the classifier is loaded once, by the first pass that needs it.
        self._pipeline = Pipeline(store, config, sinks, classifier)
        self.scheduler_only = False  # set by run(): workers classify, route and deliver
        self._pass_lock = threading.Lock()
        # A source's poll and its engagement refresh never overlap: client objects (praw's,
        # atproto's sessions) are not thread-safe, and they would share one rate window.
        self._source_locks = {s.name: threading.Lock() for s in sources}
        logging.getLogger("apscheduler.scheduler").addFilter(OVERRUNS)  # once: same object
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=max(2, len(sources) + 1))},
            job_defaults={"coalesce": True, "max_instances": 1},
        )

    # -- jobs ---------------------------------------------------------------------------------

    def jobs(self) -> list[JobSpec]:
        now = datetime.now(UTC)
        specs = [
            JobSpec(
                f"poll:{s.name}",
                lambda s=s: self.poll(s),
                s.settings.interval,
                self._first_poll(s, now),
            )
            for s in self.sources
        ]
        if self.config.refresh.enabled and self.sources:
            interval = self.config.refresh.interval
            specs.append(JobSpec("refresh", self.refresh, interval, now + interval))
        minute, hour = timedelta(minutes=1), timedelta(hours=1)
        specs.append(JobSpec("queues", self.watch_queues, minute, now + minute))
        if self.config.spikes.enabled:
            next_hour = now.replace(minute=0, second=0, microsecond=0) + hour
            specs.append(JobSpec("spikes", self.check_spikes, hour, next_hour + 5 * minute))
        if self.config.digest.enabled:
            specs.append(JobSpec("digest", self.daily_digest, 5 * minute, now + minute))
        if self.config.tickets.systems():
            every = self.config.tickets.sync_interval
            specs.append(JobSpec("tickets", self.sync_tickets, every, now + every))
        for hook in JOB_HOOKS:
            specs += hook(self)
        return specs

    def _first_poll(self, source: Source, now: datetime) -> datetime:
        with self.store.session() as session:
            health = source_repo.get_health(session, source.name)
        last = health.last_poll_at if health else None
        due = last + source.settings.interval if last else now
        return max(now, due)

    def poll(self, source: Source, backfill: bool = False) -> PollReport | None:
        """One poll, then a pass over what it stored. ``backfill``: the poll before a stream
        (re)connects, run in the stream's thread."""
        if self.stop.is_set():
            return None
        until = rate_limited(self.store, source)
        if until is not None:
            self.say(f"{source.name}: rate limited until {until:%H:%M:%S} UTC; skipped")
            return None
        with self._source_locks[source.name]:
            report = poll_source(self.store, self.config, source)
        self.say(describe_poll(report))
        if report.stored and backfill:
            self._want_pass()  # the stream's thread goes on connecting; the pass thread runs it
        elif report.stored and not self.stop.is_set() and not self.scheduler_only:
            self.run_pass()
        return report

    def _backfill(self, stream: Stream) -> Callable[[], Any]:
        """Before a stream (re)connects: a poll of its source fills what it missed."""
        source = next(s for s in self.sources if s.name == stream.name)
        return lambda: self.poll(source, backfill=True)

    def _want_pass(self) -> None:
        self._pass_wanted.set()

    def _passes(self) -> None:
        """The pass thread: one pass after whatever the streams stored, until the stop."""
        while not self.stop.is_set():
            if self._pass_wanted.wait(timeout=1.0):
                self._pass_wanted.clear()
                if not self.scheduler_only:
                    self.run_pass()

    def run_pass(self, quiet: bool = False) -> PassResult | None:
        """One pass of the stages; ``quiet``: said only when it did something."""
        with self._pass_lock:
            if self.stop.is_set():
                return None
            try:
                result = run_stages(self._pipeline)
            except Exception as err:  # the next poll retries; the daemon must not die
                log.exception("pipeline pass failed")
                self.say(f"pipeline: failed ({err}); pending work is retried after the next poll")
                return None
        if quiet and not (result.classified or result.route.mentions or result.notify.sent):
            return result
        self.say(
            f"pipeline: classified {result.classified} · {result.route.queue_items} queue items"
            f" · {result.notify.sent} alerts sent"
            + (f" · {result.notify.failed} failed" if result.notify.failed else "")
        )
        return result

    def watch_queues(self) -> None:
        """Escalate what is overdue and deliver what is pending, even when nothing new comes
        in (a pass only runs after a poll stored something)."""
        with self._pass_lock:
            if self.stop.is_set():
                return
            escalation = escalate_overdue(self.store, self.config)
            sent = self._deliver()
        if escalation.escalated or escalation.sent_up:
            self.say(
                f"queues: {escalation.escalated} items overdue, {escalation.sent_up} sent up"
                f" · {sent.sent} alerts sent"
            )
        if not self.scheduler_only and self._stored_elsewhere():
            self.run_pass(quiet=True)

    def _stored_elsewhere(self) -> bool:
        """Whether posts wait that no poll of this process stored: a webhook's (harken web,
        /hooks/meta), an import without --process. One indexed look a minute."""
        with self.store.session() as session:
            return repo.any_unrouted(session)

    def check_spikes(self) -> None:
        with self._pass_lock:
            if self.stop.is_set():
                return
            found = check_spikes(self.store, self.config)
            self._deliver()
        for spike in found:
            self.say(
                f"spike: {spike.brand} {spike.series} {spike.count} posts in the hour from "
                f"{spike.hour_start:%H:00} UTC ({spike.ratio:.1f}x the usual {spike.baseline:.1f})"
            )

    def daily_digest(self) -> None:
        with self._pass_lock:
            if self.stop.is_set():
                return
            queued = run_digest(self.store, self.config)
            if queued is None:
                return
            sent = self._deliver()
        self.say(
            f"digest {queued.date}: queued for {', '.join(queued.added) or 'no sink'}"
            f" · {sent.sent} alerts sent"
        )

    def _deliver(self) -> NotifyResult:
        if self.scheduler_only:
            return NotifyResult()  # the workers' notify stage delivers it
        return deliver_pending(self.store, self.config, self.sinks)

    def sync_tickets(self) -> None:
        from harken.queue.tickets import sync_tickets

        result = sync_tickets(self.store, self.config)
        if result.done or result.errors:
            problems = "".join(f"; {e}" for e in result.errors)
            self.say(f"tickets: {result.done} done, {result.resolved} item(s) resolved{problems}")

    def refresh(self) -> None:
        for source in self.sources:
            if self.stop.is_set():
                return
            with self._source_locks[source.name]:
                report = refresh_engagement(self.store, self.config, [source])
            if report.checked or report.errors:
                problem = "".join(f"; {e}" for e in report.errors.values())
                self.say(
                    f"refresh {source.name}: {report.updated}/{report.checked} mentions "
                    f"updated{problem}"
                )

    # -- lifecycle ----------------------------------------------------------------------------

    def run(self, scheduler_only: bool = False, on_lock: Callable[[], None] | None = None) -> None:
        """Hold the lock, schedule, and block until the stop event is set. A scheduler-only
        daemon waits for the lock while another holds it (a standby). ``on_lock`` runs once
        the lock is taken (what runs beside the scheduler: the Slack app)."""
        self.scheduler_only = scheduler_only
        lock = SchedulerLock(self.store)
        if not lock.acquire(wait=scheduler_only, stop=self.stop, on_wait=self.say):
            self.say("stopped before taking the scheduler lock")
            return
        try:
            if on_lock is not None:
                on_lock()
            if scheduler_only:
                self.say("took the scheduler lock")
            else:
                self.run_pass()  # work left pending by a previous run (or a crash) goes first
            self._schedule()
        finally:
            lock.release()

    def _schedule(self) -> None:
        for spec in self.jobs():
            seconds = max(1, int(spec.interval.total_seconds()))
            self.scheduler.add_job(
                _guarded(spec.id, spec.func),
                "interval",
                seconds=seconds,
                id=spec.id,
                next_run_time=spec.first_run,
                misfire_grace_time=seconds,
            )
            self.say(f"scheduled {spec.id} every {_human(spec.interval)}")
        self.scheduler.start()
        passes = threading.Thread(target=self._passes, name="stream passes", daemon=True)
        if self.streams:
            passes.start()
        for runner in self.streams.values():
            runner.start()
            self.say(f"streaming {runner.name} (polls go on at its interval and fill its gaps)")
        try:
            self.stop.wait()
        finally:
            self.say("stopping: finishing the pages in flight")
            self.scheduler.shutdown(wait=True)
            deadline = time.monotonic() + 30  # one for all the streams, not 30 s each
            for runner in self.streams.values():
                runner.join(timeout=max(0.0, deadline - time.monotonic()))
            if passes.is_alive():
                passes.join(timeout=60)
            for source in self.sources:
                source.close()
            self.say("stopped")


def _guarded(job_id: str, func: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        try:
            func()
        except Exception:  # logged; the scheduler keeps the job for its next run
            log.exception("job %s failed", job_id)

    return run


def describe_poll(report: PollReport) -> str:
    """One line per poll; errors were already stripped of escapes and secrets by collect."""
    head = f"{report.source}: {report.stored} new"
    detail = f" ({report.pages} page{'s' if report.pages != 1 else ''}"
    if report.duplicates:
        detail += f", {report.duplicates} already stored"
    if report.skipped:
        detail += f", {report.skipped} off-brand or own"
    if report.rejected:
        detail += f", {report.rejected} unreadable"
    if report.cut:
        detail += f", {report.cut} cut to fit"
    detail += ")"
    if report.stopped:
        return head + detail + "; interrupted by shutdown"
    if report.rate_limited_until is not None:
        when = f"{report.rate_limited_until:%Y-%m-%d %H:%M:%S} UTC"
        return head + detail + f"; rate limited until {when}, polled again after that"
    if report.error:
        return head + detail + f"; failed: {report.error}"
    return head + detail


def _human(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
