"""Language of a post: the platform's own tag when it gives one, else the script it is in."""

from __future__ import annotations

import unicodedata

# Beyond script detection a model is needed; "und" (undetermined) is the honest answer.
UNDETERMINED = "und"


def detect_language(text: str, reported: str | None = None) -> str:
    if reported and reported.strip() and reported.lower() not in ("und", "zxx"):
        return reported.split("-")[0].split("_")[0].lower()
    kana = han = hangul = latin = 0
    for ch in text:
        if not ch.isalpha():
            continue
        name = unicodedata.name(ch, "")
        if name.startswith(("HIRAGANA", "KATAKANA", "HALFWIDTH KATAKANA")):
            kana += 1
        elif name.startswith("CJK"):
            han += 1
        elif name.startswith("HANGUL"):
            hangul += 1
        elif name.startswith("LATIN") and ch.isascii():
            latin += 1
    if kana:
        return "ja"  # kana only occur in Japanese
    if hangul > max(han, latin):
        return "ko"
    if han > latin:
        return "zh"
    return "en" if latin else UNDETERMINED
