"""The classifier: encoder + trained heads + topic examples -> Classification per text.

Pure: texts and features in, scores out; it never touches the database.

One model (an encoder and the heads trained on its embeddings) scores every post in a language
its encoder reads. A post in a language it does not read (Japanese, for the English MiniLM) goes to
the bundled multilingual model (e5) when e5 reads it, without any configuration; ``languages``
overrides that per language (``{"ja": "minilm"}`` keeps Japanese on MiniLM, ``{"es": "e5"}`` is
the default anyway). Posts are batched per model, and each Classification names the model that
scored it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harken.classify.adapter import load_adapter
from harken.classify.encoder import BUNDLED, MULTILINGUAL, load_encoder
from harken.classify.heads import HeadSet, bundled_heads_dir, load_heads
from harken.classify.hf import HFClassifierModel
from harken.classify.language import detect_language
from harken.classify.preprocess import clean_text, shown_text, strip_retweet_prefix
from harken.classify.risk import DEFAULT_WEIGHTS, RiskWeights, escalation_risk
from harken.classify.sarcasm import read_as_meant, sarcasm
from harken.classify.types import Classification, Signals
from harken.errors import ClassifierError
from harken.matching import compile_topic, first_affirmed
from harken.text import normalize

log = logging.getLogger(__name__)

SENTIMENT_LABELS = ("negative", "neutral", "positive")
# multilingual-e5-small was pre-trained (as XLM-RoBERTa) on these 100 languages (ISO 639-1),
# plus the older codes some platforms still send (iw, in, ji, nb/nn, fil).
_E5_CODES = (
    "af am ar as az be bg bn br bs ca cs cy da de el en eo es et eu fa fi fr fy ga gd gl gu ha "
    "he hi hr hu hy id is it ja jv ka kk km kn ko ku ky la lo lt lv mg mk ml mn mr ms my ne nl "
    "no om or pa pl ps pt ro ru sa sd si sk sl so sq sr su sv sw ta te th tl tr ug uk ur uz vi "
    "xh yi zh iw in ji nb nn fil"
)
E5_LANGUAGES = frozenset(_E5_CODES.split())
# Languages each bundled encoder was trained on; a model not listed is trusted with any.
ENCODER_LANGUAGES: dict[str, frozenset[str]] = {
    BUNDLED: frozenset({"en"}),
    MULTILINGUAL: E5_LANGUAGES,
}


class _Model:
    """One encoder with the heads trained on its embeddings, and its topic example vectors."""

    def __init__(self, model: str, heads_dir: Path | None) -> None:
        # A name that is not a bundled model is a Hugging Face classifier (id or path): it
        # scores sentiment (or abuse), the bundled English model everything else.
        self.hf: HFClassifierModel | None = None
        if heads_dir is None and model not in (BUNDLED, MULTILINGUAL):
            self.hf = HFClassifierModel(model)
            model = BUNDLED
        if heads_dir is None and not (bundled_heads_dir(model) / "heads.json").is_file():
            raise ClassifierError(
                f"classifier model {model!r} has no trained heads",
                hint=f"models with bundled heads: {', '.join(bundled_models())}",
            )
        self.key = model
        directory = heads_dir or bundled_heads_dir(model)
        self.heads: HeadSet = load_heads(directory)
        # Heads fine-tuned with an adapter read the adapted encoder (classify.training.finetune).
        self.adapter = load_adapter(directory, self.heads.meta)
        self.encoder: Any = load_encoder(model, self.adapter)
        if self.heads["sentiment"].labels != SENTIMENT_LABELS:
            raise ClassifierError(f"sentiment head labels must be {SENTIMENT_LABELS}")
        if self.encoder.dim != self.heads.dim:
            raise ClassifierError(
                f"heads expect {self.heads.dim}-d embeddings, encoder {model!r} gives "
                f"{self.encoder.dim}"
            )
        if hasattr(self.encoder, "load"):
            self.encoder.load()  # fail now, not at the first post in this language
        # A head re-fitted since (classify.training.refit) dates the set: stored
        # classifications say which heads scored them.
        refits = self.heads.meta.get("refits") or [self.heads.meta.get("trained", {})]
        date = refits[-1].get("date", "unknown")
        self.name = f"{model}{'+adapter' if self.adapter else ''}+heads:{date}"
        if self.hf is not None:
            self.name = f"{self.hf.name}+{self.name}"
        self._topic_names: list[str] | None = None
        self._topic_vectors = np.zeros((0, self.heads.dim), dtype=np.float32)

    def override(
        self, texts: list[str], sentiment: np.ndarray, abuse: np.ndarray, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The Hugging Face model's sentiment and/or abuse in place of the heads' (if any)."""
        if self.hf is None:
            return sentiment, abuse
        probabilities = self.hf.probabilities(texts, batch_size)
        if self.hf.labels.gives_sentiment:
            sentiment = self.hf.sentiment(probabilities)
        if self.hf.labels.gives_abuse:
            abuse = self.hf.abuse(probabilities)
        return sentiment, abuse

    def understands(self, language: str) -> bool:
        """Whether the encoder's embeddings mean something in this language."""
        languages = ENCODER_LANGUAGES.get(self.key)
        return languages is None or language in languages

    def topic_vectors(
        self, topics: Mapping[str, Sequence[str]], batch_size: int
    ) -> tuple[list[str], np.ndarray]:
        """Each example phrase this encoder understands, embedded once, on first need.

        Examples in a language the encoder does not know would match everything in that
        script; they still work as literal phrases (see ``Classifier._topic_scores``).
        """
        if self._topic_names is None:
            pairs = [
                (name, phrase)
                for name, examples in topics.items()
                for phrase in examples
                if self.understands(detect_language(phrase))
            ]
            # Topics compare meanings: the base encoder's view, not the fine-tuned one.
            phrases = [p for _, p in pairs]
            self._topic_vectors = self.encoder.encode(phrases, batch_size).semantic
            self._topic_names = [name for name, _ in pairs]
        return self._topic_names, self._topic_vectors

    def similarities(self, embeddings: np.ndarray, topic_vectors: np.ndarray) -> np.ndarray:
        """Cosine similarity to each example, on the encoder's topic scale (see e5.py)."""
        sims = embeddings @ topic_vectors.T
        rescale = getattr(self.encoder, "topic_similarity", None)
        return rescale(sims) if rescale is not None else sims


@functools.cache
def bundled_models() -> tuple[str, ...]:
    """Model names whose heads ship with harken (``harken/data/models/<name>``)."""
    return tuple(
        m for m in (BUNDLED, MULTILINGUAL) if (bundled_heads_dir(m) / "heads.json").is_file()
    )


class Classifier:
    def __init__(
        self,
        model: str = BUNDLED,
        topics: Mapping[str, Sequence[str]] | None = None,
        topic_threshold: float = 0.45,
        topic_margin: float = 0.1,
        batch_size: int = 32,
        heads_dir: Path | None = None,
        risk_weights: RiskWeights = DEFAULT_WEIGHTS,
        languages: Mapping[str, str] | None = None,
    ) -> None:
        """``languages`` maps a language code to the model that scores its posts
        (``{"ja": "e5"}``); posts in any other language are scored by ``model``."""
        self.risk_weights = risk_weights
        self.model = model
        self._models = {model: _Model(model, heads_dir)}
        self.languages = {lang.lower(): name for lang, name in (languages or {}).items()}
        for name in self.languages.values():
            if name not in self._models:
                self._models[name] = _Model(name, None)
        default = self._models[model]
        # The default model's parts, as before per-language models existed.
        self.heads: HeadSet = default.heads
        self.encoder = default.encoder
        self.name = default.name
        self.batch_size = batch_size
        self.topic_threshold = topic_threshold
        self.topic_margin = topic_margin
        self._topics = {name: list(examples) for name, examples in (topics or {}).items()}
        self._topic_examples = {n: compile_topic(ex) for n, ex in self._topics.items()}
        # The default model's topic vectors now, as before (the others' on first need).
        if self._topics:
            default.topic_vectors(self._topics, self.batch_size)

    def model_for(self, language: str) -> str:
        """The name of the model that scores posts in this language: the configured one, else
        the default model when its encoder reads the language, else the bundled multilingual
        model when that one does (a newcomer's Japanese posts must not be read by an English
        encoder as "neutral, complaint 0.00")."""
        if language in self.languages:
            return self.languages[language]
        if (
            not self._models[self.model].understands(language)
            and language in ENCODER_LANGUAGES[MULTILINGUAL]
            and MULTILINGUAL in bundled_models()
        ):
            return MULTILINGUAL
        return self.model

    def understands(self, language: str) -> bool:
        """Whether the encoder that scores this language's posts understands it."""
        return self._model(self.model_for(language)).understands(language)

    def _model(self, key: str) -> _Model:
        """The loaded model ``key``; a bundled one not loaded yet is loaded on first need."""
        if key not in self._models:
            self._models[key] = _Model(key, None)
        return self._models[key]

    def classify(
        self,
        texts: Sequence[str],
        languages: Sequence[str | None] | None = None,
        signals: Sequence[Signals] | None = None,
    ) -> list[Classification]:
        # Topics and language read the words a reader sees (minus "RT @x:"); the heads read
        # them normalised the way they were trained.
        cleaned = [shown_text(t) for t in texts]
        model_input = [clean_text(strip_retweet_prefix(t)) for t in texts]
        detected = [
            detect_language(text, languages[i] if languages else None)
            for i, text in enumerate(cleaned)
        ]
        routed = [self.model_for(language) for language in detected]
        results: list[Classification | None] = [None] * len(texts)
        for key in dict.fromkeys(routed):
            model = self._model(key)
            rows = [i for i, k in enumerate(routed) if k == key]
            # Retweets and copies share one embedding: identical texts are encoded once.
            unique = list(dict.fromkeys(model_input[i] for i in rows))
            views = model.encoder.encode(unique, self.batch_size)
            index = {text: j for j, text in enumerate(unique)}
            position = [index[model_input[i]] for i in rows]
            features, semantic = views.features[position], views.semantic[position]
            sentiment = model.heads["sentiment"].predict(features)
            complaint = model.heads["complaint"].predict(features)
            abuse = model.heads["abuse"].predict(features)
            sentiment, abuse = model.override(
                [model_input[i] for i in rows], sentiment, abuse, self.batch_size
            )
            topic_names: list[str] = []
            topic_sims = None
            if self._topics and any(model.understands(detected[i]) for i in rows):
                topic_names, topic_vectors = model.topic_vectors(self._topics, self.batch_size)
                if topic_names:
                    topic_sims = model.similarities(semantic, topic_vectors)
            for j, i in enumerate(rows):
                similar = topic_sims is not None and model.understands(detected[i])
                results[i] = self._one(
                    texts[i],
                    cleaned[i],
                    sentiment[j],
                    float(complaint[j]),
                    float(abuse[j]),
                    topic_sims[j] if similar and topic_sims is not None else None,
                    topic_names,
                    detected[i],
                    signals[i] if signals else Signals(),
                    model,
                    semantic[j] if model.understands(detected[i]) else None,
                )
        return [r for r in results if r is not None]

    def topic_scores_from(
        self,
        texts: Sequence[str],
        vectors: Sequence[np.ndarray | None],
        vector_models: Sequence[str | None],
    ) -> list[dict[str, float]]:
        """Topic scores of stored posts from their stored vectors, with this classifier's
        topics: what ``harken rules test`` uses to replay a changed ``topics:`` section
        without re-encoding every post. A vector from an encoder not loaded here (or none)
        leaves only the literal example phrases."""
        out = []
        for text, vector, key in zip(texts, vectors, vector_models, strict=True):
            model = self._model(key) if key in (*self._models, *bundled_models()) else None
            sims, names = None, []
            if model is not None and vector is not None and self._topics:
                names, topic_vectors = model.topic_vectors(self._topics, self.batch_size)
                if names:
                    sims = model.similarities(vector[None, :].astype(np.float32), topic_vectors)[0]
            out.append(self._topic_scores(self.reader_words(text), sims, names))
        return out

    def has_topic(self, name: str) -> bool:
        """Whether ``topics:`` (as this classifier was given it) names this topic."""
        return name in self._topic_examples

    @staticmethod
    def reader_words(text: str) -> str:
        """The words a reader sees in a stored post, normalized, as topics are matched on."""
        return normalize(shown_text(text))

    def topics_of(self, scores: Mapping[str, float], folded: str) -> tuple[str, ...]:
        """The topics a post gets from its topic scores (``_topic_scores``); ``folded``: the
        words a reader sees, normalized. A topic needs the threshold; named only inside
        denials ("my account was not hacked"), it is not the post's. Of the rest, a topic must
        come within ``topic_margin`` of the post's best one: e5 puts any short Japanese
        complaint near every short example ("ログインできない" is 0.55 from billing's
        "解約できない"), so similarity alone gave outage posts billing and bug too. A literal
        example phrase scores 1, so a post naming one topic's example gets another only by
        naming that one's too (or coming within the margin of 1)."""
        found = [
            (t, s)
            for t, s in scores.items()
            if s >= self.topic_threshold
            and (t not in self._topic_examples or self._topic_examples[t].denial(folded)[1] is None)
        ]
        best = max((s for _, s in found), default=0.0)
        # Scores are rounded to 4 places: "within 0.1" must hold for 0.6504 and 0.5504 too.
        return tuple(t for t, s in found if best - s <= self.topic_margin + 1e-9)

    def _one(
        self,
        text: str,
        cleaned: str,
        sentiment: np.ndarray,
        complaint: float,
        abuse: float,
        topic_sims: np.ndarray | None,
        topic_names: list[str],
        language: str,
        signals: Signals,
        model: _Model,
        vector: np.ndarray | None,
    ) -> Classification:
        labels = model.heads["sentiment"].labels
        scores = {label: round(float(p), 4) for label, p in zip(labels, sentiment, strict=True)}
        sarcastic = sarcasm(cleaned)
        scores, complaint = read_as_meant(scores, complaint, sarcastic)
        folded = normalize(cleaned)
        topic_scores = self._topic_scores(folded, topic_sims, topic_names)
        topics = self.topics_of(topic_scores, folded)  # a denied topic is not its risk either
        risk, factors = escalation_risk(
            complaint, scores["negative"], abuse, signals, topics, self.risk_weights, text=text,
            sarcastic=sarcastic,
        )  # fmt: skip
        return Classification(
            text=text,
            sentiment=max(scores, key=lambda k: scores[k]),
            sentiment_scores=scores,
            complaint=round(complaint, 4),
            abuse=round(abuse, 4),
            risk=risk,
            risk_factors=factors,
            topics=topics,
            language=language,
            model=model.name,
            topic_scores=topic_scores,
            vector=vector,
            vector_model=model.key if vector is not None else None,
        )

    def _topic_scores(
        self, folded: str, sims: np.ndarray | None, names: Sequence[str]
    ) -> dict[str, float]:
        """Best similarity to each topic's examples; a literal example phrase scores 1.
        ``folded``: the words a reader sees, normalized."""
        scores: dict[str, float] = {}
        if sims is not None:
            for name, sim in zip(names, sims, strict=True):
                scores[name] = max(scores.get(name, -1.0), round(float(sim), 4))
        for name, examples in self._topic_examples.items():
            if first_affirmed(examples.phrases, folded)[0] is not None:  # not only denied
                scores[name] = 1.0
        return dict(sorted(scores.items(), key=lambda kv: -kv[1]))
