"""The pipeline's stages, in order, in one table that every runner reads.

``harken process`` (and every pass of ``harken run``, ``harken import``, ``harken listen`` and
the demo) runs each stage of ``STAGES`` in turn until it has nothing left (``run_stages``);
``harken worker`` runs one batch of each of its stages per round (``harken/pipeline/worker.py``);
the scheduler's passes are ``run_stages`` over one ``Pipeline`` kept for the process, so its
classifier is loaded once. A new stage is one ``Stage`` line here.

=========  ==========================================  =========================================
stage      a pass                                      one batch (a worker's round)
=========  ==========================================  =========================================
classify   batches until none is left, with progress;  one batch; the classifier is loaded once
           skipped when nothing waits                  something waits
route      batches until none is left, with progress   one batch
escalate   overdue queue items escalated               (not a worker stage: the scheduler's
                                                       queue job escalates every minute)
notify     the outbox delivered                        the same
=========  ==========================================  =========================================

Every batch reads its work from the store and commits its result with its bookmark, so a
runner killed mid-stage leaves the rest pending for whichever runner comes next.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from harken.classify.classifier import Classifier
from harken.config import Config
from harken.notify.contract import Sink
from harken.notify.outbox import NotifyResult, deliver_pending
from harken.pipeline.classify import build_classifier, classify_batch, classify_pending
from harken.pipeline.progress import Progress, no_progress
from harken.pipeline.route import route_batch, route_pending
from harken.queue.escalation import EscalationResult, escalate_overdue
from harken.routing.items import AlertPlan, RouteResult
from harken.routing.rules import Router
from harken.store import Store
from harken.store.repo import count_pending


@dataclass
class PassResult:
    classified: int = 0
    route: RouteResult = field(default_factory=RouteResult)
    escalation: EscalationResult = field(default_factory=EscalationResult)
    notify: NotifyResult = field(default_factory=NotifyResult)


class Pipeline:
    """What the stages share across the batches and passes of one runner: the store, the
    config, the sinks, and what is slow to build (the classifier takes seconds to load and is
    loaded only once something waits to be classified; the router compiles its rules)."""

    def __init__(
        self,
        store: Store,
        config: Config,
        sinks: Mapping[str, Sink],
        classifier: Classifier | None = None,
        classify_batch_size: int | None = None,
        route_batch_size: int = 200,
    ) -> None:
        self.store, self.config, self.sinks = store, config, sinks
        self.classifier = classifier
        # A classify batch is what one transaction claims: the encoders sort its texts by length
        # before their own batches of classifier.batch_size, and e5 gets its share (the
        # Japanese posts) in one call. Eight encoder batches a claim: 1,000 posts classified
        # in 7.7-8.2 s against 9.7-10.4 s for two. Workers claim less (pipeline/worker.py).
        self.classify_batch_size = classify_batch_size or config.classifier.batch_size * 8
        self.route_batch_size = route_batch_size

    @cached_property
    def router(self) -> Router:
        return Router(self.config.routing, self.config.topics)

    @cached_property
    def plan(self) -> AlertPlan:
        return AlertPlan.of(self.config)

    def unclassified(self) -> int:
        with self.store.session() as session:
            return count_pending(session)["unclassified"]

    def loaded_classifier(self) -> Classifier:
        if self.classifier is None:
            self.classifier = build_classifier(self.config)  # seconds: only when needed
        return self.classifier


Batch = Callable[[Pipeline, PassResult], int]  # one batch, counted in; how much it did
Drain = Callable[[Pipeline, PassResult, Progress], None]  # all that is pending, counted in


@dataclass(frozen=True)
class Stage:
    name: str
    drain: Drain  # in a pass
    batch: Batch | None  # in a worker's round; None: not a worker stage


def _classify_all(pipeline: Pipeline, done: PassResult, on_progress: Progress) -> None:
    if pipeline.unclassified():
        done.classified += classify_pending(
            pipeline.store,
            pipeline.loaded_classifier(),
            batch_size=pipeline.classify_batch_size,
            on_progress=on_progress,
        )


def _classify_batch(pipeline: Pipeline, done: PassResult) -> int:
    if pipeline.classifier is None and not pipeline.unclassified():
        return 0
    n = classify_batch(pipeline.store, pipeline.loaded_classifier(), pipeline.classify_batch_size)
    done.classified += n
    return n


# A pass routes in bigger batches than a worker's round: a pass delivers alerts only once
# everything is routed, so a bigger transaction delays none, and each batch's reads (incident
# keys, centroids, open items) serve more posts (bench/routing.py, 3,000 posts: 233 mentions/s
# at 200 a batch, 272 at 500, 293 at 1,000, with the same items and alerts). A batch still
# commits after PASS_ROUTE_SECONDS, so that no transaction holds SQLite's write lock longer
# than a batch of 200 did on a large store (route.py, route_batch).
PASS_ROUTE_BATCH = 1000
PASS_ROUTE_SECONDS = 2.0


def _route_all(pipeline: Pipeline, done: PassResult, on_progress: Progress) -> None:
    done.route = route_pending(
        pipeline.store,
        pipeline.config,
        max(pipeline.route_batch_size, PASS_ROUTE_BATCH),
        on_progress=on_progress,
        router=pipeline.router,
        plan=pipeline.plan,
        seconds=PASS_ROUTE_SECONDS,
    )


def _route_batch(pipeline: Pipeline, done: PassResult) -> int:
    p = pipeline
    return route_batch(p.store, p.config, p.router, p.plan, done.route, p.route_batch_size)


def _escalate_all(pipeline: Pipeline, done: PassResult, _on_progress: Progress) -> None:
    done.escalation = escalate_overdue(pipeline.store, pipeline.config)


def _notify_batch(pipeline: Pipeline, done: PassResult) -> int:
    result = deliver_pending(pipeline.store, pipeline.config, pipeline.sinks)
    done.notify.add(result)
    return result.sent + result.failed + result.held + result.skipped


def _notify_all(pipeline: Pipeline, done: PassResult, _on_progress: Progress) -> None:
    _notify_batch(pipeline, done)


STAGES: tuple[Stage, ...] = (
    Stage("classify", _classify_all, _classify_batch),
    Stage("route", _route_all, _route_batch),
    Stage("escalate", _escalate_all, None),
    Stage("notify", _notify_all, _notify_batch),
)
WORKER_STAGES: tuple[str, ...] = tuple(s.name for s in STAGES if s.batch is not None)


def stage(name: str) -> Stage:
    return next(s for s in STAGES if s.name == name)


def run_stages(pipeline: Pipeline, on_progress: Progress = no_progress) -> PassResult:
    """One pass: every stage in order, each until it has nothing left."""
    done = PassResult()
    for each in STAGES:
        each.drain(pipeline, done, on_progress)
    return done
