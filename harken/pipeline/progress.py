"""The progress callback every stage reports to: ``(stage, items just finished)``.

The CLI draws progress bars from it (``harken import``, ``harken process``, ``harken demo``);
everything else passes ``no_progress``.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int], None]  # (stage, items just finished)


def no_progress(_stage: str, _n: int) -> None:
    return None
