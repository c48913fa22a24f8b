"""Models exported to ONNX once per machine, kept in the cache directory, loaded from there.

Both encoders (MiniLM, harken.classify.encoder; e5, harken.classify.e5_onnx) export their graph
on first use and load it afterwards. An export is written to a temporary file beside its place
and moved there only when complete, so a process killed mid-export, or two processes exporting
at once, never leave a partial file where a later start would load it. A cached file that does
not load all the same (a disk that filled up, a copied cache) is exported again, once, instead
of sending every later start to the slower fallback.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def load_session(path: Path, export: Callable[[], None], threads: int | None, what: str) -> Any:
    """An ONNX Runtime session on ``path``; ``export()`` writes it first when it is missing or
    does not load."""
    if path.is_file():
        try:
            return _session(path, threads)
        except Exception as err:  # ONNX Runtime's load errors share no useful base class
            log.warning("the cached ONNX export of %s at %s does not load (%s); exporting it "
                        "again", what, path, err)  # fmt: skip
            shutil.rmtree(path.parent, ignore_errors=True)
    log.info("exporting %s to ONNX at %s (once)", what, path)
    export()
    return _session(path, threads)


def _session(path: Path, threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    # Waiting threads sleep instead of spinning: on a busy machine, spinning threads steal the
    # cores the others need (bench/classify.py: threads).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@contextmanager
def written_atomically(path: Path) -> Iterator[Path]:
    """A new temporary file beside ``path`` for the block to write; moved onto ``path`` (after
    an fsync) when the block succeeds, removed when it fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f"{path.stem}.", suffix=".tmp")
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
