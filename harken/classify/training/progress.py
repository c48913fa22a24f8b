"""Progress lines of the training commands: one clock and one format for train and finetune."""

from __future__ import annotations

import time


def log(message: str) -> None:
    """Print ``message`` after the seconds since the command started (imported once, so shared)."""
    elapsed = time.monotonic() - _STARTED
    print(f"[{elapsed:7.1f}s] {message}", flush=True)


_STARTED = time.monotonic()
