"""Normalise a post the way the heads were trained on it (training and runtime share this)."""

from __future__ import annotations

import re

from harken.text import visible_text

_RETWEET_PREFIX = re.compile(r"^RT @\w{1,30}:\s*")
_MENTION = re.compile(r"(?<![\w@])@\w+")
_URL = re.compile(r"(?:https?://|www\.)\S+|\{link\}|(?<!\w)URL(?!\w)", re.IGNORECASE)
_REPEATED_USER = re.compile(r"@user(?:\s+@user)+")
_SPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """The words a reader sees; ``@user`` for handles, ``http`` for links, one space.

    Markup a reader never sees as words goes first (``harken.text.visible_text``: tags,
    script contents, Slack and markdown link syntax, control characters, a leading
    spreadsheet formula), so that a complaint opening with ``<script>`` reads as the complaint;
    HTML entities are decoded, every @handle and mention placeholder becomes ``@user`` (a run
    of them becomes one), every link or link placeholder becomes ``http``, and a pair of quotes
    wrapping the whole text is removed: the heads learn content, not each source's habits.
    """
    text = visible_text(text)
    text = _URL.sub("http", text)
    text = _MENTION.sub("@user", text)
    text = _REPEATED_USER.sub("@user", text)
    text = _SPACE.sub(" ", text).strip()
    if len(text) > 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1].strip()
    return text


def strip_retweet_prefix(text: str) -> str:
    """A retweet reads as its original: "RT @someone: " says nothing about the content."""
    return _RETWEET_PREFIX.sub("", text)


def shown_text(post: str) -> str:
    """The words a reader sees of a post as posted: its markup and a retweet's "RT @x:" gone.
    Topics, language and sarcasm read these; the heads read them ``clean_text``-ed."""
    return visible_text(strip_retweet_prefix(post))
