"""Re-fitting one head on the shipped encoder (``python -m harken.classify.training.refit``) on a
tiny stand-in for ../shared/data (tests never read the real one): the other heads and the
adapter stay byte for byte, heads.json records the refit, the model's name takes its date, and
the developers' contrastive rows come in balanced pairs in both languages and weigh a share of
a real cell."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from harken.classify.heads import bundled_heads_dir, load_heads
from harken.classify.training import refit
from harken.classify.training.contrast import contrast_rows
from harken.classify.training.fit import STYLE_SHARE, cell_weights

YES = ["my order never came and nobody answers", "charged twice so refund me now", "app is down"]
NO = ["lovely day at the park", "the new album is great", "what a goal that was"]


def words(base: list[str], n: int) -> list[str]:
    return [f"{text} {i}" for i in range(n) for text in base]


def tiny_data(root: Path) -> Path:
    """Every file the complaint rows read, a few rows each, in the shared folder's formats."""
    (root / "brand_tweets").mkdir(parents=True)
    (root / "intents/bitext").mkdir(parents=True)
    (root / "intents/banking77").mkdir(parents=True)
    (root / "intents/clinc150").mkdir(parents=True)
    (root / "sentiment").mkdir(parents=True)
    (root / "reddit/goemotions/group").mkdir(parents=True)

    def table(path: str, header: str, rows: list[str]) -> None:
        (root / path).write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")

    yes, no = words(YES, 4), words(NO, 4)
    table(
        "brand_tweets/sanders_brand_tweets.csv",
        "TweetText,Sentiment",
        [f"{t},negative" for t in yes] + [f"{t},positive" for t in no],
    )
    table(
        "brand_tweets/crowdflower_apple_sentiment.csv",
        "text,sentiment",
        [f"apple {t},1" for t in yes] + [f"apple {t},5" for t in no],
    )
    table(
        "brand_tweets/crowdflower_brand_product_emotions.tsv",
        "text\temotion",
        [f"sxsw {t}\tNegative emotion" for t in yes] + [f"sxsw {t}\tPositive emotion" for t in no],
    )
    table("brand_tweets/ibm_customer_care_first_messages.tsv", "text", [f"@x {t}" for t in yes])
    table(
        "brand_tweets/smile_museum_tweets.csv",
        "1,thanks museum,happy",
        [f"{i},lovely visit to the gallery {i},happy" for i in range(8)],
    )
    table(
        "intents/bitext/bitext_union_text_intent_category.tsv",
        "text\tintent",
        [f"I want a refund for order {i}\tget_refund" for i in range(8)],
    )
    table(
        "intents/banking77/train.csv",
        "text,category",
        [f"my card was charged twice {i},card_payment_not_recognised" for i in range(8)],
    )
    table(
        "sentiment/semeval2013-2016_taskA_en.tsv",
        "source_file\ttweet_id\tlabel\tin_tweeteval_val\ttext",
        [f"f\t{i}\tpositive\t0\tsunny {t}" for i, t in enumerate(no)],
    )
    table("reddit/goemotions/group/labels.txt", "positive", ["negative", "ambiguous", "neutral"])
    for split in ("train", "dev"):
        table(
            f"reddit/goemotions/group/{split}.tsv",
            f"so happy for you\t0\t{split}0",
            [f"great news {split} {i}\t0\t{split}{i + 1}" for i in range(6)],
        )
    clinc = {key: [[f"how tall is mount fuji {key} {i}", "travel_fact"] for i in range(8)]
             for key in ("train", "val", "oos_train", "oos_val")}  # fmt: skip
    (root / "intents/clinc150/data_full.json").write_text(json.dumps(clinc), encoding="utf-8")
    (root / "intents/clinc150/domains.json").write_text(
        json.dumps({"travel": ["travel_fact"]}), encoding="utf-8"
    )
    return root


@pytest.mark.slow
def test_refit_replaces_one_head_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "minilm"
    shutil.copytree(bundled_heads_dir("minilm"), out)
    adapter_before = (out / "adapter.npz").read_bytes()
    old = load_heads(out)
    data = tiny_data(tmp_path / "data")
    argv = ["--model", "minilm", "--head", "complaint", "--data", str(data), "--out", str(out),
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    assert refit.main(argv) == 0
    new = load_heads(out)
    assert (out / "adapter.npz").read_bytes() == adapter_before
    for name in ("sentiment", "abuse"):
        assert np.array_equal(new[name].weights, old[name].weights)
        assert new[name].temperature == old[name].temperature
    assert not np.array_equal(new["complaint"].weights, old["complaint"].weights)
    (record,) = new.meta["refits"][len(old.meta.get("refits", [])) :]
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert record["head"] == "complaint" and record["date"] == today
    assert record["rows"]["train/contrast/no"] > 0 and record["rows"]["train/smile/no"] > 0
    assert "own text" in record["licenses"]["contrast"]
    assert new.meta["adapter"] == old.meta["adapter"]
    assert new.meta["trained"] == old.meta["trained"]
    assert "val_contrast" in new.meta["validation"]["complaint"]
    # A second run reads every embedding from the cache (no encoder is loaded) and fits the
    # same head.
    import harken.classify.encoder as encoder

    def no_encoder(*_: object, **__: object) -> None:
        raise AssertionError("the cache should have every embedding")

    fitted = new["complaint"].weights.copy()
    with monkeypatch.context() as patched:
        patched.setattr(encoder, "load_encoder", no_encoder)
        assert refit.main(argv) == 0
    assert np.allclose(load_heads(out)["complaint"].weights, fitted, atol=1e-6)

    from harken.classify.classifier import Classifier

    classifier = Classifier(heads_dir=out)
    (scored,) = classifier.classify(["Acme charged me twice, refund me"])
    assert scored.model == f"minilm+adapter+heads:{today}"


def test_contrast_rows_come_in_pairs_in_both_languages() -> None:
    rows = contrast_rows(seed=0)
    labels = [label for _, label in rows]
    assert 0.4 <= labels.count("yes") / len(rows) <= 0.6
    japanese = [text for text, _ in rows if any("\u3040" <= c <= "\u30ff" for c in text)]
    assert len(japanese) >= 150
    # Same problems, both labels, in Japanese too: the encoder cannot learn "Japanese = no".
    ja_labels = {label for text, label in rows if text in japanese}
    assert ja_labels == {"yes", "no"}
    gold = Path(__file__).parent.parent / "bench/data/gold/config.yaml"
    for brand in ("Acme", "Skylark", "Hinata", "アクメ", "スカイラーク", "ひなた"):
        assert brand in gold.read_text(encoding="utf-8")
        assert not any(brand in text for text, _ in rows), brand
    assert contrast_rows(seed=0) == rows  # deterministic


def test_contrast_cells_weigh_a_share_of_a_real_cell() -> None:
    styles = ["social"] * 4 + ["contrast"] * 4
    labels = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    weights = cell_weights(styles, labels)
    assert weights.mean() == pytest.approx(1.0)
    assert weights[4] / weights[0] == pytest.approx(STYLE_SHARE["contrast"])
