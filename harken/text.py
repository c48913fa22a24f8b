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
from urllib.parse import quote, urlsplit

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


def safe_link(url: str | None, limit: int = 3000) -> str | None:
    """A stranger's URL fit to be a link: http(s) with a host, percent-encoded, at most
    ``limit`` characters; None otherwise (then it is never shown as a link)."""
    if not url:
        return None
    candidate = strip_controls(url).strip()
    try:
        parts = urlsplit(candidate)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    encoded = quote(candidate, safe="!#$%&'()*+,-./:;=?@[]_~")
    return encoded if len(encoded) <= limit else None


def one_line(text: str, limit: int | None = None) -> str:
    """Text from strangers as one line of plain characters: no control or escape sequences,
    whitespace runs as one space, cut with an ellipsis past ``limit`` characters."""
    return clip(" ".join(strip_controls(text).split()), limit)


def clip(text: str, limit: int | None = None) -> str:
    """Text from strangers without control or escape sequences (its lines kept), cut with an
    ellipsis past ``limit`` characters."""
    clean = strip_controls(text)
    return clean if limit is None or len(clean) <= limit else clean[: limit - 1] + "…"


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


# --- the words a reader sees --------------------------------------------------------------
# Markup that a post can carry and a reader never sees as words: it must not decide how a post
# is scored or routed (a complaint that opens with "<script>" is still a complaint). Each
# pattern is linear: no nested repeats, and a tag stops at the next "<" (see _TAG above).
_SLACK_LINK = re.compile(r"<((?:https?|mailto|ftp):[^<>|\s]*)(?:\|([^<>]*))?>", re.IGNORECASE)
_SLACK_PING = re.compile(r"<!(?:channel|here|everyone)(?:\|[^<>]*)?>")
_SLACK_GROUP = re.compile(r"<!subteam\^[^<>|]*(?:\|([^<>]*))?>")
_SLACK_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^<>]*))?>")
_SLACK_CHANNEL = re.compile(r"<#[CG][A-Z0-9]+(?:\|([^<>]*))?>")
_HIDDEN_OPEN = re.compile(r"<(script|style)\b[^<>]*>", re.IGNORECASE)
_MARKUP_TAG = re.compile(r"</?([A-Za-z][\w:.-]*)(\s[^<>]*)?/?>|<![A-Za-z][^<>]*>")
# Element names of HTML (living standard, with the obsolete ones posts still carry), SVG and
# MathML: only these are markup. Any other word in angle brackets ("my account <was hacked>",
# "<Acme Support>") is something the author wrote for a reader to see.
_ELEMENT_NAMES = """a abbr acronym address applet area article aside audio b base basefont bdi bdo
    big blink blockquote body br button canvas caption center cite code col
    colgroup data datalist dd del details dfn dialog dir div dl dt em embed
    fieldset figcaption figure font footer form frame frameset h1 h2 h3 h4 h5 h6
    head header hgroup hr html i iframe img input ins kbd label legend li link
    main map mark marquee menu meta meter nav nobr noframes noscript object ol
    optgroup option output p param picture pre progress q rp rt ruby s samp script
    search section select slot small source span strike strong style sub summary
    sup table tbody td template textarea tfoot th thead time title tr track tt u
    ul var video wbr svg g path rect circle ellipse line polyline polygon text
    tspan textpath defs use symbol image lineargradient radialgradient stop
    clippath mask pattern filter foreignobject animate animatetransform desc
    metadata marker math mi mn mo ms mtext mrow mfrac msqrt mroot msub msup
    msubsup mtable mtr mtd semantics annotation"""
_ELEMENTS = frozenset(_ELEMENT_NAMES.split())
# Tags inside a word or a phrase ("<b>Acme</b>'s") leave nothing; any other tag ends a word.
_INLINE = frozenset(
    {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "em", "font", "i", "kbd", "mark", "q", "s"}
    | {"samp", "small", "span", "strong", "sub", "sup", "u", "var"}
)
_MD_LINK = re.compile(r"!?\[([^\[\]\n]*)\]\(\s*[^()\s]*(?:\s+\"[^\"\n]*\")?\s*\)")
_FENCE = re.compile(r"(?:```|~~~)[\w+.-]*")
# A code span's backticks (not one standing for an apostrophe, as in "don`t").
_CODE_SPAN = re.compile(r"(?<![\w`])(`+)([^`\n]+?)\1(?![\w`])")
# "@" starts a formula only before a capitalised function ("@SUM("): "@acme(" is a handle.
_FORMULA = re.compile(r"(?:[=+\-]\s*[A-Za-z_][\w.]*|@[A-Z][A-Z0-9_.]*)\s*\(")
_STRING = re.compile(r'"((?:[^"]|"")*)"')
_URLISH = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|www\.)\S*\s*$", re.IGNORECASE)
_LINE_SPACES = re.compile(r"[ \t\u3000]{2,}")


def visible_text(text: str) -> str:
    """The words a reader sees in a post, for scoring and matching (the stored text stays as
    posted): entities decoded; no HTML, SVG or MathML tags (other words in angle brackets
    stay, without the brackets), script or style contents, comments; Slack
    ``<http://x|label>`` as its label, ``<!channel>`` as nothing, ``<@U123>`` as ``@U123``;
    markdown ``[label](url)`` as its label; no code fences, nor backticks around code (its
    words stay); no ANSI escapes or control characters; a leading spreadsheet formula
    (``=HYPERLINK("http://x","click") ...``) as the text strings it shows."""
    text = strip_controls(html.unescape(text))
    text = _formula_shown(text)
    text = _without_hidden_blocks(_without_comments(text))
    text = _SLACK_LINK.sub(lambda m: m.group(2) if m.group(2) else m.group(1), text)
    text = _SLACK_GROUP.sub(lambda m: m.group(1) or "", _SLACK_PING.sub("", text))
    text = _SLACK_USER.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
    text = _SLACK_CHANNEL.sub(lambda m: "#" + m.group(1) if m.group(1) else "", text)
    text = _MARKUP_TAG.sub(_tag_gap, text)
    text = _MD_LINK.sub(r"\1", text)
    text = _CODE_SPAN.sub(r"\2", _FENCE.sub(" ", text))
    return "\n".join(_LINE_SPACES.sub(" ", line).strip() for line in text.split("\n")).strip()


def _tag_gap(match: re.Match[str]) -> str:
    name, attributes = match.group(1), match.group(2)
    if name is None:  # <!DOCTYPE ...> and the like
        return " "
    if not _is_markup(name.lower(), attributes):
        return " " + match.group(0)[1:-1].strip("/ ") + " "  # the words stay, not the brackets
    return "" if name.lower() in _INLINE else " "


def _is_markup(name: str, attributes: str | None) -> bool:
    """A known element's tag: bare, or with attributes that set a value (``<a href=...>``).
    Only bare words after the name read as a phrase: "<I hate acme>" is not an <i> tag."""
    if name not in _ELEMENTS:
        return False
    return attributes is None or not attributes.strip(" \t\n/") or "=" in attributes


def _without_comments(text: str) -> str:
    """HTML comments without their contents; an unclosed "<!--" loses itself only (in a
    plain-text post the words after it are what the reader sees)."""
    out, pos = [], 0
    while (start := text.find("<!--", pos)) >= 0:
        close = text.find("-->", start + 4)
        out.append(text[pos:start] + " ")
        if close < 0:  # none after this one either: linear time on "<!--" * 10,000
            out.append(text[start + 4 :].replace("<!--", " "))
            return "".join(out)
        pos = close + 3
    out.append(text[pos:])
    return "".join(out)


def _without_hidden_blocks(text: str) -> str:
    """Script and style elements without their contents; an unclosed one loses its opening
    tag only (a stray "<script>" must not swallow the complaint after it)."""
    out, pos = [], 0
    lowered = text.lower()
    unclosed: set[str] = set()  # no closing tag after here: never search again (linear time)
    while (found := _HIDDEN_OPEN.search(text, pos)) is not None:
        name = found.group(1).lower()
        closing = -1 if name in unclosed else lowered.find(f"</{name}", found.end())
        if closing < 0:
            unclosed.add(name)
        out.append(text[pos : found.start()] + " ")
        if closing < 0:
            pos = found.end()
            continue
        after = text.find(">", closing)
        pos = len(text) if after < 0 else after + 1
    out.append(text[pos:])
    return "".join(out)


def _formula_shown(text: str) -> str:
    """A post that opens with a spreadsheet function call, as the strings the call shows
    (``=HYPERLINK("http://x","click") me`` -> ``click me``); link targets are left out."""
    stripped = text.lstrip()
    if not _FORMULA.match(stripped):
        return text
    depth, end, quoted = 0, len(stripped), False
    for i, ch in enumerate(stripped):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth == 0:
                end = i + 1
                break
    call = stripped[:end]
    shown = [s.replace('""', '"') for s in _STRING.findall(call) if not _URLISH.match(s)]
    return " ".join([*shown, stripped[end:].strip()]).strip()


_BARE_LINK = re.compile(r"(?:https?://|www\.)\S+")


def without_links(text: str) -> str:
    """The text with its bare links blanked out: a link's "?" or "!" says nothing about the
    words around it."""
    return _BARE_LINK.sub(" ", text)
