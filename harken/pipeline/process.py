"""``harken process``: one pass over the pipeline's stages, everything pending.

The stages and their order are the table in ``harken/pipeline/stages.py``; ingest
(``harken/pipeline/ingest.py``) stores what the next pass picks up. Every stage reads its work
from the store and writes its result back in the same transaction as its bookmark, batch by
batch: a process that dies mid-stage leaves finished batches done and the rest pending, and
the next pass picks up exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping

from harken.classify.classifier import Classifier
from harken.config import Config
from harken.notify.contract import Sink
from harken.pipeline.progress import Progress, no_progress
from harken.pipeline.stages import PassResult, Pipeline, run_stages
from harken.store import Store


def run_pass(
    store: Store,
    config: Config,
    sinks: Mapping[str, Sink],
    classifier: Classifier | None = None,
    on_progress: Progress = no_progress,
) -> PassResult:
    """Classify, route and notify everything pending; what ingest stored is picked up here.

    The classifier is loaded only when something needs classifying (it takes seconds).
    """
    return run_stages(Pipeline(store, config, sinks, classifier), on_progress)
