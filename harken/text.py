"""Text helpers shared by every layer: matching-normalization and escaping of untrusted text.

Posts are written by strangers. Anything that shows post text goes through one of the escapers
here: ``for_terminal`` (no rich markup, no ANSI or control sequences) and ``for_csv`` (no
spreadsheet formulas).
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from datetime import timedelta

from rich.markup import escape as _rich_escape

# C0/C1 control characters (ESC, BEL, CSI...) except tab and newline; also bidi overrides,
# which can make a terminal line read differently from its bytes.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A tag ends at the next ">" or gives way to the next "<": "<" * 40,000 with no ">" in it
# would otherwise be scanned to its end from every "<" (quadratic: seconds per post).
_TAG = re.compile(r"<[^<>]+>")
_BREAK_TAG = re.compile(r"<\s*(br|/p|/div|/li)\s*/?>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\u3000]+")


def normalize(text: str) -> str:
    """Fold text for matching: width (NFKC), case, and accents (é -> e).

    Japanese stays intact: NFKC maps half-width katakana to full width and never strips
    the dakuten that changes a kana's sound, because only Latin-script marks are dropped.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFD", folded)
    kept = [
        ch
        for i, ch in enumerate(decomposed)
        if not (unicodedata.combining(ch) and i > 0 and decomposed[i - 1].isascii())
    ]
    return unicodedata.normalize("NFC", "".join(kept))


def strip_controls(text: str) -> str:
    """Remove ANSI escape sequences and control characters (keeps newlines and tabs)."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def one_line(text: str, limit: int | None = None) -> str:
    """Text from strangers as one line of plain characters: no control or escape sequences,
    whitespace runs as one space, cut with an ellipsis past ``limit`` characters."""
    flat = " ".join(strip_controls(text).split())
    return flat if limit is None or len(flat) <= limit else flat[: limit - 1] + "…"


def for_terminal(text: str, limit: int | None = None) -> str:
    """Post text made safe to print through rich: no markup, no escapes, one line."""
    return _rich_escape(one_line(text, limit))


def for_slack(text: str, limit: int | None = None, one_line: bool = False) -> str:
    """Untrusted text for Slack mrkdwn: ``&``, ``<`` and ``>`` escaped (what Slack asks for),
    so ``<!channel>``, ``<@U123>`` and ``<http://evil|Bank>`` arrive as text, never as a
    ping or a disguised link; control characters dropped. harken never sets ``link_names``,
    so a bare "@channel" stays text too."""
    clean = strip_controls(text)
    if one_line:
        clean = " ".join(clean.split())
    if limit is not None and len(clean) > limit:
        clean = clean[: limit - 1] + "…"  # cut before escaping: never inside an entity
    return clean.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def for_csv(value: object) -> object:
    """Neutralise a spreadsheet cell that would start a formula (CSV/formula injection)."""
    if isinstance(value, str):
        # Judged before and after stripping: a leading tab or CR is itself a formula start,
        # and "\x1b=1" becomes "=1" once the escape is gone.
        cleaned = strip_controls(value)
        if value.startswith(_FORMULA_START) or cleaned.startswith(_FORMULA_START):
            return "'" + cleaned
        return cleaned
    return value


def html_to_text(markup: str) -> str:
    """Plain text of a small HTML fragment (Mastodon statuses, RSS summaries)."""
    text = _BREAK_TAG.sub("\n", markup)
    text = html.unescape(_TAG.sub("", text))
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def to_json(data: object, **options: object) -> str:
    """JSON text that a terminal shows as it is: post text keeps every character, but control
    characters and bidi overrides are written as ``\\uXXXX`` escapes (still the same string to
    any JSON reader), so printed output cannot reorder or recolour a line."""
    text = json.dumps(data, ensure_ascii=False, **options)  # type: ignore[arg-type]
    # They can only occur inside JSON strings, where an escape means the same character.
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def human_duration(delta: timedelta) -> str:
    """A lateness or an age as people say it: ``45 min``, ``3.5 h``, ``2.1 days``."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 90:
        return f"{minutes} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"
