"""Any Hugging Face sequence-classification model as harken's sentiment (and abuse) scorer.

``classifier.model`` may name a model id (``cardiffnlp/twitter-roberta-base-sentiment-latest``,
from the local Hugging Face cache: harken never downloads at run time) or a local directory with
``config.json`` and weights. Its labels are mapped onto harken's outputs by name:

* negative / neutral / positive (any case, ``neg``/``pos`` too) → sentiment;
* two classes only (``POSITIVE``/``NEGATIVE``) → sentiment with neutral at 0;
* star ratings (``1 star`` … ``5 stars``) → 1–2 negative, 3 neutral, 4–5 positive;
* ``LABEL_0/1/2`` with no names → negative, neutral, positive (the TweetEval convention), with a
  warning;
* offensive / toxic / abusive / hate (vs. not-…) → abuse, when the model is such a classifier.

What the model does not provide (complaint, and abuse for a sentiment model) comes from the
bundled heads, so every output is always there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harken.errors import ClassifierError

log = logging.getLogger(__name__)

SENTIMENT = ("negative", "neutral", "positive")
_ABUSIVE = re.compile(r"offensive|toxic|abus|hate|insult|obscene")
_NOT = re.compile(r"^(not|non)[-_ ]?|^normal$|^neither$|^none$")
_STARS = re.compile(r"^([1-5])\s*stars?$")


@dataclass(frozen=True)
class LabelMap:
    """Which output each of the model's classes feeds (index -> sentiment label or abuse)."""

    sentiment: dict[int, str]  # class index -> negative | neutral | positive
    abuse: list[int]  # class indexes whose probability sums to p(abuse)

    @property
    def gives_sentiment(self) -> bool:
        return bool(self.sentiment)

    @property
    def gives_abuse(self) -> bool:
        return bool(self.abuse)


def map_labels(id2label: Mapping[int, str]) -> LabelMap:
    names = {int(i): str(label).strip().lower() for i, label in id2label.items()}
    sentiment: dict[int, str] = {}
    for i, name in names.items():
        stars = _STARS.match(name)
        if stars:
            count = int(stars.group(1))
            sentiment[i] = "negative" if count <= 2 else "neutral" if count == 3 else "positive"
        elif name in ("negative", "neg") or name.startswith("negative"):
            sentiment[i] = "negative"
        elif name in ("positive", "pos") or name.startswith("positive"):
            sentiment[i] = "positive"
        elif name in ("neutral", "neu"):
            sentiment[i] = "neutral"
    if not sentiment and sorted(names.values()) == ["label_0", "label_1", "label_2"]:
        log.warning("model labels have no names; reading LABEL_0/1/2 as negative/neutral/positive")
        sentiment = {i: SENTIMENT[int(n[-1])] for i, n in names.items()}
    abuse = [i for i, n in names.items() if _ABUSIVE.search(n) and not _NOT.search(n)]
    if not sentiment and not abuse:
        shown = ", ".join(names[i] for i in sorted(names))
        raise ClassifierError(
            f"cannot map the model's labels ({shown}) onto sentiment or abuse",
            hint="use a sentiment or offensive-language classifier",
        )
    return LabelMap(sentiment, abuse)


class HFClassifierModel:
    """A sequence-classification model, loaded offline, scoring texts in batches."""

    def __init__(self, name: str, max_tokens: int = 128) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
            self.model = AutoModelForSequenceClassification.from_pretrained(
                name, local_files_only=True
            )
        except (OSError, ValueError) as err:
            where = "directory" if Path(name).exists() else "model id"
            raise ClassifierError(
                f"cannot load the Hugging Face {where} {name!r}: {str(err).splitlines()[0]}",
                hint="harken never downloads models: put it in the Hugging Face cache "
                "(huggingface-cli download NAME) or give a local path",
            ) from None
        self.model.eval()
        self.name = name
        self.max_tokens = max_tokens
        self.labels = map_labels(self.model.config.id2label)

    def probabilities(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """(n, classes) softmax probabilities."""
        import torch

        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = self.tokenizer(
                    texts[start : start + batch_size],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                )
                logits = self.model(**batch).logits
                rows.append(torch.softmax(logits, dim=-1).numpy())
        width = self.model.config.num_labels
        return np.concatenate(rows) if rows else np.zeros((0, width), dtype=np.float32)

    def sentiment(self, probabilities: np.ndarray) -> np.ndarray:
        """(n, 3) negative/neutral/positive probabilities from the model's classes."""
        out = np.zeros((len(probabilities), 3), dtype=np.float64)
        for index, label in self.labels.sentiment.items():
            out[:, SENTIMENT.index(label)] += probabilities[:, index]
        total = out.sum(axis=1, keepdims=True)
        return np.divide(out, total, out=np.full_like(out, 1 / 3), where=total > 0)

    def abuse(self, probabilities: np.ndarray) -> np.ndarray:
        return probabilities[:, self.labels.abuse].sum(axis=1)
