"""The ONNX export cache (harken/classify/onnx_cache.py): exports of older installs are removed,
the recently used ones stay, and nothing else in the cache is touched."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from harken.classify.onnx_cache import KEEP, load_session, prune_exports, written_atomically

DAY = 86_400.0


def _folder(root: Path, name: str, used_days_ago: float) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"an export")
    when = 1_700_000_000.0 - used_days_ago * DAY
    os.utime(folder / "model.onnx", (when, when))
    os.utime(folder, (when, when))
    return folder


def _tiny_model(path: Path) -> None:
    """A real ONNX graph (y = x), written as an encoder's export is."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "tiny", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with written_atomically(path) as tmp:
        onnx.save(model, str(tmp))


def test_a_new_export_removes_the_models_least_recently_used_exports(tmp_path: Path) -> None:
    onnx_root = tmp_path / "onnx"
    old = [_folder(onnx_root, f"minilm-{i:016x}", used_days_ago=10 + i) for i in range(4)]
    recent = _folder(onnx_root, "minilm-00000000000000aa", used_days_ago=1)
    other_model = _folder(onnx_root, "e5-00000000000000bb", used_days_ago=100)
    not_ours = _folder(onnx_root, "minilm-notes", used_days_ago=100)
    new = onnx_root / "minilm-00000000000000cc" / "model.onnx"

    session = load_session(new, lambda: _tiny_model(new), 1, "tiny")

    out = session.run(None, {"x": np.array([2.5], dtype=np.float32)})[0]
    assert out.tolist() == [2.5]
    kept = sorted(p.name for p in onnx_root.iterdir())
    # The new one, the one used yesterday and the most recent of the old ones: KEEP in all.
    assert KEEP == 3
    assert kept == sorted([new.parent.name, recent.name, old[0].name,
                           other_model.name, not_ours.name])  # fmt: skip
    assert not any(p.exists() for p in old[1:])


def test_a_load_marks_its_export_used_so_a_later_prune_keeps_it(tmp_path: Path) -> None:
    onnx_root = tmp_path / "onnx"
    path = onnx_root / "minilm-0000000000000001" / "model.onnx"
    _tiny_model(path)
    os.utime(path.parent, (1_000.0, 1_000.0))
    os.utime(path, (1_000.0, 1_000.0))  # exported long ago
    names = ["minilm-00000000000000f0", "minilm-00000000000000f1"]
    newer = [_folder(onnx_root, name, used_days_ago=5 - i) for i, name in enumerate(names)]

    load_session(path, lambda: None, 1, "tiny")  # loaded from the cache: used now
    removed = prune_exports(onnx_root / "minilm-00000000000000ff")

    assert path.is_file()
    assert removed == [newer[0]]  # of the two used after the export but before the load


def test_pruning_leaves_a_folder_it_does_not_recognise(tmp_path: Path) -> None:
    folder = tmp_path / "my-own-models"
    folder.mkdir()
    assert prune_exports(folder, keep=1) == []
    assert folder.is_dir()
