"""Low-rank adapters: harken's own BERT forward, folding A·B into the weights, two views.

The reference for every adapted embedding is ``transformers``' own BertModel with the same
update added to its weights by hand, mean-pooled as sentence-transformers does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from harken.classify import bert as B
from harken.classify.adapter import load_adapter
from harken.classify.classifier import Classifier
from harken.classify.encoder import Encoder, bundled_model_path
from harken.classify.heads import bundled_heads_dir, load_heads
from harken.errors import ClassifierError

from .conftest import TEST_TOPICS

TEXTS = [
    "@user the app is down again and I can't log in",
    "love the new update, support sorted it in minutes",
    "ok",
    "why was I charged twice?? refund please " * 6,
]
FIRST_LAYER = 4  # adapt the top 2 of MiniLM's 6 layers


def reference(texts: list[str], factors: dict[str, tuple[np.ndarray, np.ndarray]], scale: float):  # type: ignore[no-untyped-def]
    """Embeddings from transformers' BertModel, its top layers' weights updated in place."""
    from transformers import AutoModel, AutoTokenizer

    path = str(bundled_model_path())
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    with torch.no_grad():
        for key, (a, b) in factors.items():
            index, target = key.split(".", 1)
            layer = model.encoder.layer[FIRST_LAYER + int(index)]
            B.submodule(layer, target).weight += scale * torch.from_numpy(b @ a)
        batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
    return B.mean_pool(hidden, batch["attention_mask"]).numpy()


def random_factors(seed: int = 0, rank: int = 4) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    shapes = {
        "query": (384, 384),
        "value": (384, 384),
        "ffn_in": (1536, 384),
        "ffn_out": (384, 1536),
    }
    return {
        f"{i}.{target}": (
            rng.normal(0, 0.05, (rank, fan_in)).astype(np.float32),
            rng.normal(0, 0.05, (fan_out, rank)).astype(np.float32),
        )
        for i in range(6 - FIRST_LAYER)
        for target, (fan_out, fan_in) in shapes.items()
    }


def write_adapter(directory: Path, factors: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """The bundled minilm heads plus an adapter, as ``classify.training.finetune`` writes them."""
    shutil.copytree(bundled_heads_dir("minilm"), directory, dirs_exist_ok=True)
    (directory / "adapter.npz").unlink(missing_ok=True)
    arrays = {f"{k}.{part}": m for k, (a, b) in factors.items() for part, m in (("A", a), ("B", b))}
    np.savez(directory / "adapter.npz", **arrays)
    meta = json.loads((directory / "heads.json").read_text(encoding="utf-8"))
    meta["adapter"] = {
        "file": "adapter.npz",
        "base": "minilm",
        "first_layer": FIRST_LAYER,
        "rank": 4,
        "alpha": 8.0,
        "sha256": hashlib.sha256((directory / "adapter.npz").read_bytes()).hexdigest(),
    }
    (directory / "heads.json").write_text(json.dumps(meta), encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def adapted_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_adapter(tmp_path_factory.mktemp("adapted"), random_factors())


def test_harkens_bert_forward_matches_transformers() -> None:
    base = Encoder(backend="torch", cache_size=0).embed(TEXTS)
    assert np.allclose(base, reference(TEXTS, {}, 1.0), atol=1e-5)


def test_an_adapter_gives_two_views_semantic_is_the_base_and_features_the_merged_model(
    adapted_dir: Path,
) -> None:
    adapter = load_adapter(adapted_dir, load_heads(adapted_dir).meta)
    assert adapter is not None and adapter.first_layer == FIRST_LAYER and adapter.layers == 2
    encoder = Encoder(backend="torch", cache_size=0, adapter=adapter)
    views = encoder.encode(TEXTS, batch_size=3)
    expected = reference(TEXTS, random_factors(), scale=2.0)
    base = Encoder(backend="torch", cache_size=0)
    assert np.allclose(views.semantic, base.embed(TEXTS), atol=1e-5)
    assert np.allclose(views.features, expected, atol=1e-5)
    assert not np.allclose(views.features, views.semantic, atol=1e-2)  # the update matters
    assert np.array_equal(encoder.embed(TEXTS), views.features)  # heads read the features


def test_the_classifier_reads_heads_on_features_and_topics_on_semantic(
    adapted_dir: Path, classifier: Classifier
) -> None:
    adapted = Classifier(topics=TEST_TOPICS, topic_threshold=0.45, heads_dir=adapted_dir)
    heads = load_heads(adapted_dir)
    text = "the app is down again and I cannot log in, fix it"
    [mine], [plain] = adapted.classify([text]), classifier.classify([text])
    features = reference([text], random_factors(), scale=2.0)
    expected = heads["sentiment"].predict(features)[0]
    assert [mine.sentiment_scores[k] for k in ("negative", "neutral", "positive")] == pytest.approx(
        expected.tolist(), abs=1e-3
    )
    assert mine.sentiment_scores != plain.sentiment_scores
    assert mine.topic_scores == pytest.approx(plain.topic_scores, abs=1e-4)  # base view


def test_onnx_runs_the_two_view_graph_with_the_same_numbers(
    adapted_dir: Path, tmp_path: Path
) -> None:
    adapter = load_adapter(adapted_dir, load_heads(adapted_dir).meta)
    torch_views = Encoder(backend="torch", cache_size=0, adapter=adapter).encode(TEXTS)
    onnx = Encoder(backend="onnx", cache_size=0, adapter=adapter, cache_dir=tmp_path)
    views = onnx.encode(TEXTS)
    assert np.allclose(views.semantic, torch_views.semantic, atol=1e-4)
    assert np.allclose(views.features, torch_views.features, atol=1e-4)
    plain = Encoder(backend="onnx", cache_size=0, cache_dir=tmp_path)
    assert plain._onnx_path(tmp_path) != onnx._onnx_path(tmp_path)  # exported apart


def test_a_changed_or_missing_adapter_file_is_a_clear_error(tmp_path: Path) -> None:
    directory = write_adapter(tmp_path / "h", random_factors())
    meta = load_heads(directory).meta
    np.savez(directory / "adapter.npz", **{"0.query.A": np.zeros((4, 384), np.float32)})
    with pytest.raises(ClassifierError, match="checksum"):
        load_adapter(directory, meta)
    (directory / "adapter.npz").unlink()
    with pytest.raises(ClassifierError, match=r"adapter\.npz is missing"):
        Classifier(heads_dir=directory)


def test_an_adapter_for_other_layers_is_refused(tmp_path: Path) -> None:
    factors = {f"{i}.query": f for i, f in enumerate(random_factors()[k] for k in ("0.query",) * 3)}
    directory = write_adapter(tmp_path / "h", factors)
    adapter = load_adapter(directory, load_heads(directory).meta)
    with pytest.raises(ClassifierError, match=r"adapts layers 4\.\.6"):
        Encoder(backend="torch", cache_size=0, adapter=adapter)


def test_training_from_cached_lower_layers_matches_the_full_forward() -> None:
    """finetune trains the top layers on cached lower-layer states: same numbers as one pass."""
    from transformers import AutoModel

    from harken.classify.training import finetune

    model = AutoModel.from_pretrained(str(bundled_model_path()), local_files_only=True).eval()
    ids = finetune.tokenize(TEXTS)
    states = finetune.lower_states(model, ids, FIRST_LAYER, batch_size=2)
    top = B.merged_layers(model.encoder.layer[FIRST_LAYER:], random_factors(), 2.0)
    adapted = finetune.top_embeddings(top, states, np.arange(len(TEXTS)))
    # float16 storage of the cached states costs a little precision, nothing more
    assert np.allclose(adapted, reference(TEXTS, random_factors(), 2.0), atol=2e-3)
    base = Encoder(backend="torch", cache_size=0)
    assert np.allclose(states.baseline, base.embed(TEXTS), atol=1e-5)


def test_the_training_forward_and_the_merged_runtime_layers_agree() -> None:
    """What finetune trains (W x + s·B A x) is what the runtime runs (W + s·B A) x."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(bundled_model_path()), local_files_only=True).eval()
    factors = random_factors(seed=3)
    wrapped = B.merged_layers(model.encoder.layer[FIRST_LAYER:], {}, 1.0)
    modules = B.attach_low_rank(wrapped, ["query", "value", "ffn_in", "ffn_out"], 4, 8.0, 0.0)
    with torch.no_grad():
        for key, module in modules.items():
            module.A.copy_(torch.from_numpy(factors[key][0]))
            module.B.copy_(torch.from_numpy(factors[key][1]))
    merged = B.merged_layers(model.encoder.layer[FIRST_LAYER:], factors, 2.0)
    hidden = torch.randn(3, 7, 384)
    mask = B.additive_mask(torch.ones(3, 7, dtype=torch.long), hidden.dtype)
    with torch.no_grad():
        assert torch.allclose(
            B.run_layers(wrapped.eval(), hidden, mask),
            B.run_layers(merged, hidden, mask),
            atol=1e-4,
        )


def test_finetune_trains_the_adapter_and_heads_on_tiny_data() -> None:
    """The training loop's wiring: rows in, adapter factors and per-epoch dev scores out."""
    import argparse

    from transformers import AutoModel

    from harken.classify.training import finetune

    good = [f"i love it, {w} work, thank you" for w in ("great", "lovely", "superb", "fine")]
    bad = [f"this is {w}, broken again, i hate it" for w in ("awful", "terrible", "bad", "worse")]
    plain = [f"the {w} store opens at nine on monday" for w in ("new", "old", "big", "small")]
    texts = good + bad + plain
    model = AutoModel.from_pretrained(str(bundled_model_path()), local_files_only=True).eval()
    states = finetune.lower_states(model, finetune.tokenize(texts), FIRST_LAYER, batch_size=4)
    y = np.array([2] * len(good) + [0] * len(bad) + [1] * len(plain))
    task = finetune.Task(
        "sentiment",
        "softmax",
        ("negative", "neutral", "positive"),
        np.arange(len(texts)),
        y,
        np.ones(len(texts), dtype=np.float32),
    )
    args = argparse.Namespace(
        seed=0, targets=["query", "ffn_out"], rank=2, alpha=4.0, dropout=0.0,
        lr=5e-3, head_lr=1e-3, batch_size=4, epochs=2,
    )  # fmt: skip
    factors, history = finetune.finetune(
        model.encoder.layer[FIRST_LAYER:], states, {"sentiment": task}, {"sentiment": task}, args
    )
    assert sorted(factors) == ["0.ffn_out", "0.query", "1.ffn_out", "1.query"]
    a, b = factors["0.query"]
    assert a.shape == (2, 384) and b.shape == (384, 2)
    assert np.abs(b).max() > 0  # B starts at zero: training moved it
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[-1]["dev"]["sentiment"] == 1.0  # separable at a glance, and still so
    with pytest.raises(SystemExit, match="no training rows labelled neutral"):
        finetune.initial_head(
            finetune.Task(
                "sentiment", "softmax", task.labels, task.index[:8], y[:8], task.weight[:8]
            ),
            states.baseline[:8],
            0,
        )


def test_the_onnx_backend_runs_the_bundled_adapter_without_importing_torch(
    tmp_path: Path,
) -> None:
    """Reading an adapter and running its exported graph need neither torch nor transformers."""
    import subprocess
    import sys

    directory = bundled_heads_dir("minilm")
    adapter = load_adapter(directory, load_heads(directory).meta)
    Encoder(backend="onnx", cache_size=0, adapter=adapter, cache_dir=tmp_path)  # export once
    script = (
        "import sys\n"
        "from harken.classify.adapter import load_adapter\n"
        "from harken.classify.encoder import Encoder\n"
        "from harken.classify.heads import bundled_heads_dir, load_heads\n"
        "d = bundled_heads_dir('minilm')\n"
        "from pathlib import Path\n"
        "a = load_adapter(d, load_heads(d).meta)\n"
        f"e = Encoder(backend='onnx', adapter=a, cache_dir=Path({str(tmp_path)!r}))\n"
        "v = e.encode(['the app is down'])\n"
        "loaded = [m in sys.modules for m in ('torch', 'transformers')]\n"
        "print(v.features.shape, v.semantic.shape, *loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split("\n")[0] == "(1, 384) (1, 384) False False"
