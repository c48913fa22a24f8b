"""What every harken chart shares: fonts (a CJK font when one is installed), colours, style
settings, and PNG bytes that are the same for the same drawing. The digest's charts
(charts.py) and the reports' (harken/reports/report_charts.py) are drawn with it.

Brand names (in titles) may be Japanese, so a CJK font is chosen when one is installed, with
DejaVu Sans as the fallback for everything else.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

CJK_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "IPAexGothic",
    "IPAGothic",
    "TakaoGothic",
    "VL Gothic",
    "Hiragino Sans",
    "Yu Gothic",
    "Meiryo",
    "Noto Sans CJK SC",
)
COLORS = {
    "negative": "#c0392b",
    "neutral": "#a6acaf",
    "positive": "#2e8b57",
    "unclassified": "#d5d8dc",
}
VOLUME = "#5b7fa6"
DPI = 150  # a 7-inch chart is 1050 px, shown at 700: sharp on HiDPI screens


@cache
def font_family() -> tuple[str, ...]:
    """The first installed CJK font (if any), then DejaVu Sans (bundled with matplotlib)."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    cjk = next((name for name in CJK_FONTS if name in installed), None)
    return (cjk, "DejaVu Sans") if cjk else ("DejaVu Sans",)


# rc_context and catch_warnings change process-wide state: one chart is drawn at a time (the
# web workspace asks for a dashboard's five charts at once, from five threads).
_drawing = threading.RLock()


@contextmanager
def chart_style() -> Iterator[None]:
    """Fonts, sizes and spines of every harken chart, for the drawing only (rc_context); one
    drawing at a time."""
    settings: Any = {
        "font.family": list(font_family()),
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 10,
        "axes.titleweight": "bold",
        "axes.titlelocation": "left",
        "svg.fonttype": "none",
    }
    with _drawing, rc_context(settings), warnings.catch_warnings():
        # A glyph no installed font has (an emoji in a brand name) is drawn as a box; the
        # warning about it must not reach callers that treat warnings as errors.
        warnings.filterwarnings("ignore", message=r".*[Gg]lyph .* missing from")
        warnings.filterwarnings("ignore", message=r".*not found in font")
        yield


def legend_above(axes: Any, ncols: int, handles: tuple[list, list] | None = None) -> None:
    """The legend in a row above the axes, on the right (titles are on the left). Never
    ``loc="best"``: that placement is searched against every drawn point, and on a slow machine
    a long chart took over a second and matplotlib warned about it."""
    args = handles if handles is not None else ()
    axes.legend(
        *args,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=ncols,
        frameon=False,
        fontsize=8,
        borderaxespad=0.2,
    )


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG, drawn on the Agg canvas (no pyplot)."""
    out = io.BytesIO()
    FigureCanvasAgg(figure)
    # No timestamp or software tag: the same digest always gives the same bytes.
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()
