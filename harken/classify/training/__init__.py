"""Offline training of the classifier: nothing here runs when harken scores posts.

The runtime (:mod:`harken.classify`) only loads what these commands wrote into
``harken/data/models/<model>/`` (``heads.json``, ``heads.npz``, ``adapter.npz``).

- :mod:`~harken.classify.training.data`: the data-set loaders, their normalisation and the
  train/validation splits of each head (reads ``../shared/data``; the data choices and why).
- :mod:`~harken.classify.training.embeddings`: the on-disk embedding cache of the training texts.
- :mod:`~harken.classify.training.fit`: logistic-regression heads, C grid, temperature, scores.
- :mod:`~harken.classify.training.report`: the validation table and the ``trained`` record.
- :mod:`~harken.classify.training.progress`: the timestamped progress lines.
- :mod:`~harken.classify.training.train`: ``python -m harken.classify.training.train``, heads on
  a frozen encoder (the ``e5`` heads, and MiniLM's before fine-tuning).
- :mod:`~harken.classify.training.finetune`: ``python -m harken.classify.training.finetune``, a
  low-rank adapter on MiniLM's top layers plus heads on the adapted embeddings (what ships).
- :mod:`~harken.classify.training.tune`: re-fitting heads on people's corrections, which
  ``harken retrain`` (:mod:`harken.pipeline.feedback`) calls; it needs no training data.

Rebuilding the committed heads (each model card has the full command, its data, and timings):

    make heads      # minilm: adapter + heads   harken/data/models/minilm/MODEL_CARD.md
    make heads-e5   # e5: heads                 harken/data/models/e5/MODEL_CARD.md
"""
