"""Models exported to ONNX once per machine, kept in the cache directory, loaded from there.

Both encoders (MiniLM, harken.classify.encoder; e5, harken.classify.e5_onnx) export their graph
on first use and load it afterwards. An export is written to a temporary file beside its place
and moved there only when complete, so a process killed mid-export, or two processes exporting
at once, never leave a partial file where a later start would load it. A cached file that does
not load all the same (a disk that filled up, a copied cache) is exported again, once, instead
of sending every later start to the slower fallback.

Each export lives in a folder named for its model and a digest of what it was made from
(``minilm-<16 hex>``): another install, an upgrade or a changed adapter gets a new folder, of
80-110 MB. So that they do not pile up, a load marks its folder as used, and a new export
removes the same model's folders beyond the ``KEEP`` most recently loaded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Exports of one model name kept (the new one included): its plain and adapted graphs, or a few
# installs side by side on one machine, keep theirs; one more only costs a re-export (~15 s).
KEEP = 3
_FOLDER = re.compile(r"^(?P<model>.+)-[0-9a-f]{16}$")


def load_session(path: Path, export: Callable[[], None], threads: int | None, what: str) -> Any:
    """An ONNX Runtime session on ``path``; ``export()`` writes it first when it is missing or
    does not load."""
    if path.is_file():
        try:
            session = _session(path, threads)
            _mark_used(path)
            return session
        except Exception as err:  # ONNX Runtime's load errors share no useful base class
            log.warning("the cached ONNX export of %s at %s does not load (%s); exporting it "
                        "again", what, path, err)  # fmt: skip
            shutil.rmtree(path.parent, ignore_errors=True)
    log.info("exporting %s to ONNX at %s (once)", what, path)
    export()
    session = _session(path, threads)
    try:
        prune_exports(path.parent)
    except OSError as err:  # an unreadable cache folder: the export itself is fine
        log.warning("could not remove older ONNX exports beside %s: %s", path.parent, err)
    return session


def prune_exports(folder: Path, keep: int = KEEP) -> list[Path]:
    """Remove the exports of ``folder``'s model beyond the ``keep`` most recently used (its
    own counted); returns what was removed. Best effort: a folder that cannot be removed
    stays, and a process still loading a removed one exports it again (``load_session``)."""
    match = _FOLDER.match(folder.name)
    if match is None or not folder.parent.is_dir():
        return []
    siblings = []
    for other in folder.parent.iterdir():
        found = _FOLDER.match(other.name)
        if other != folder and found and found["model"] == match["model"] and other.is_dir():
            siblings.append((_last_used(other), other))
    removed = []
    for _, other in sorted(siblings, reverse=True)[max(0, keep - 1) :]:
        shutil.rmtree(other, ignore_errors=True)
        if not other.exists():
            removed.append(other)
    if removed:
        log.info("removed %d older ONNX export(s) of %s from %s", len(removed), match["model"],
                 folder.parent)  # fmt: skip
    return removed


def _mark_used(path: Path) -> None:
    """The export's time of last use is its folder's modification time."""
    with contextlib.suppress(OSError):  # a read-only cache still loads
        os.utime(path.parent)


def _last_used(folder: Path) -> float:
    try:
        return max([folder.stat().st_mtime] + [f.stat().st_mtime for f in folder.iterdir()])
    except OSError:
        return 0.0


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
