"""The classifier: encoder + trained heads + topic examples -> Classification per text.

Pure: texts and features in, scores out; it never touches the database.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from harken.classify.encoder import BUNDLED, load_encoder
from harken.classify.heads import HeadSet, bundled_heads_dir, load_heads
from harken.classify.language import detect_language
from harken.classify.preprocess import clean_text, strip_retweet_prefix
from harken.classify.risk import escalation_risk
from harken.classify.types import Classification, Signals
from harken.errors import ClassifierError
from harken.matching import compile_phrases
from harken.text import normalize

log = logging.getLogger(__name__)

SENTIMENT_LABELS = ("negative", "neutral", "positive")
# Languages each bundled encoder was trained on; a model not listed is trusted with any.
ENCODER_LANGUAGES: dict[str, frozenset[str]] = {BUNDLED: frozenset({"en"})}


class Classifier:
    def __init__(
        self,
        model: str = BUNDLED,
        topics: Mapping[str, Sequence[str]] | None = None,
        topic_threshold: float = 0.45,
        batch_size: int = 32,
        heads_dir: Path | None = None,
    ) -> None:
        if model != BUNDLED and heads_dir is None:
            raise ClassifierError(
                f"classifier.model {model!r} has no trained heads",
                hint="only the bundled 'minilm' encoder has heads in this version",
            )
        self.heads: HeadSet = load_heads(heads_dir or bundled_heads_dir(model))
        self.encoder = load_encoder(model)
        if self.heads["sentiment"].labels != SENTIMENT_LABELS:
            raise ClassifierError(f"sentiment head labels must be {SENTIMENT_LABELS}")
        if self.encoder.dim != self.heads.dim:
            raise ClassifierError(
                f"heads expect {self.heads.dim}-d embeddings, encoder {model!r} gives "
                f"{self.encoder.dim}"
            )
        self.batch_size = batch_size
        self.topic_threshold = topic_threshold
        self.name = f"{model}+heads:{self.heads.meta.get('trained', {}).get('date', 'unknown')}"
        self._topics = {name: list(examples) for name, examples in (topics or {}).items()}
        self._topic_keywords = {n: compile_phrases(ex) for n, ex in self._topics.items()}
        self._topic_names, self._topic_vectors = self._embed_topic_examples()

    def understands(self, language: str) -> bool:
        """Whether the encoder's embeddings mean something in this language."""
        languages = ENCODER_LANGUAGES.get(self.encoder.name)
        return languages is None or language in languages

    def _embed_topic_examples(self) -> tuple[list[str], np.ndarray]:
        # Examples in a language the encoder does not know would match everything in that
        # script; they still work as literal phrases (see _topic_scores).
        pairs = [
            (name, phrase)
            for name, examples in self._topics.items()
            for phrase in examples
            if self.understands(detect_language(phrase))
        ]
        vectors = self.encoder.embed([phrase for _, phrase in pairs], self.batch_size)
        return [name for name, _ in pairs], vectors

    def classify(
        self,
        texts: Sequence[str],
        languages: Sequence[str | None] | None = None,
        signals: Sequence[Signals] | None = None,
    ) -> list[Classification]:
        # Topics and language read the post as written (minus "RT @x:"); the heads read it
        # normalised the way they were trained.
        cleaned = [strip_retweet_prefix(t) for t in texts]
        model_input = [clean_text(t) for t in cleaned]
        # Retweets and copies share one embedding: identical texts are encoded once.
        unique = list(dict.fromkeys(model_input))
        vectors = self.encoder.embed(unique, self.batch_size)
        row = {text: i for i, text in enumerate(unique)}
        embeddings = vectors[[row[t] for t in model_input]] if model_input else vectors
        sentiment = self.heads["sentiment"].predict(embeddings)
        complaint = self.heads["complaint"].predict(embeddings)
        abuse = self.heads["abuse"].predict(embeddings)
        topic_sims = embeddings @ self._topic_vectors.T if self._topic_names else None
        results = []
        for i, text in enumerate(texts):
            reported = languages[i] if languages else None
            language = detect_language(cleaned[i], reported)
            similar = topic_sims is not None and self.understands(language)
            results.append(
                self._one(
                    text,
                    cleaned[i],
                    sentiment[i],
                    float(complaint[i]),
                    float(abuse[i]),
                    topic_sims[i] if similar and topic_sims is not None else None,
                    language,
                    signals[i] if signals else Signals(),
                )
            )
        return results

    def _one(
        self,
        text: str,
        cleaned: str,
        sentiment: np.ndarray,
        complaint: float,
        abuse: float,
        topic_sims: np.ndarray | None,
        language: str,
        signals: Signals,
    ) -> Classification:
        labels = self.heads["sentiment"].labels
        scores = {label: round(float(p), 4) for label, p in zip(labels, sentiment, strict=True)}
        risk, factors = escalation_risk(complaint, scores["negative"], abuse, signals)
        topic_scores = self._topic_scores(cleaned, topic_sims)
        return Classification(
            text=text,
            sentiment=max(scores, key=lambda k: scores[k]),
            sentiment_scores=scores,
            complaint=round(complaint, 4),
            abuse=round(abuse, 4),
            risk=risk,
            risk_factors=factors,
            topics=tuple(t for t, s in topic_scores.items() if s >= self.topic_threshold),
            language=language,
            model=self.name,
            topic_scores=topic_scores,
        )

    def _topic_scores(self, text: str, sims: np.ndarray | None) -> dict[str, float]:
        """Best similarity to each topic's examples; a literal example phrase scores 1."""
        scores: dict[str, float] = {}
        if sims is not None:
            for name, sim in zip(self._topic_names, sims, strict=True):
                scores[name] = max(scores.get(name, -1.0), round(float(sim), 4))
        folded = normalize(text)
        for name, phrases in self._topic_keywords.items():
            if any(p.found_in(folded) for p in phrases):
                scores[name] = 1.0
        return dict(sorted(scores.items(), key=lambda kv: -kv[1]))
