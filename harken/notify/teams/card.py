"""An alert as an Adaptive Card (version 1.4, which Teams renders) in the message a Teams
Workflows webhook takes.

Strangers' text (the post, its author, the reason and risk factors that quote it) goes in
``TextRun``s of a ``RichTextBlock``: Teams reads Markdown in a ``TextBlock`` and in facts
(``[pay here](https://evil)``, ``**``) and no escaping works alike on every Teams client,
but a ``TextRun`` is shown as it is. ``TextBlock``s carry only harken's own words and the
config's names. Links are http(s) only, percent-encoded (harken.text.safe_link).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from harken.config import Config
from harken.notify.events import IMPERSONATION_RULE
from harken.store.repo import AlertView
from harken.text import clip, safe_link, strip_controls

POST_MAX = 1500  # characters of a post shown, at scale 1
LINE_MAX = 300
SUMMARY_MAX = 6000

Element = dict[str, Any]


def teams_message(view: AlertView, config: Config, scale: float = 1.0) -> dict[str, Any]:
    """The webhook's body: one Adaptive Card attachment; ``scale`` shortens strangers' text
    (Teams refuses a message over 28 KB: the sink tries smaller until it fits)."""
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        **_card(view, config, scale),
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _card(view: AlertView, config: Config, scale: float) -> dict[str, Any]:
    alert = view.alert
    post, line = max(int(POST_MAX * scale), 80), max(int(LINE_MAX * scale), 60)
    if alert.kind == "digest":
        date = strip_controls(str(alert.payload.get("date", "")))[:32]
        summary = [
            _heading(f"Daily escalation digest {date}"),
            _text(alert.payload.get("summary", ""), max(int(SUMMARY_MAX * scale), 200)),
        ]
        link = safe_link(config.digest.link.replace("{date}", date)) if config.digest.link else None
        return {"body": summary, **_open((link, "Open the digest"))}
    if alert.kind == "spike" and view.spike is not None:
        spike = view.spike
        heading = (
            f"Volume spike · {spike.count} posts in the hour from {_utc(spike.hour_start)}, "
            f"{spike.ratio:.1f}× the usual {spike.baseline:.1f}"
        )
        about = f"{spike.brand or 'all brands'} · {spike.series}"
        terms = ", ".join(spike.terms[:6]) or "no single term"
        incidents = ", ".join(f"#{i}" for i in spike.top_incidents[:5]) or "none"
        return {
            "body": [
                _heading(heading),
                _text(f"{about} · terms: {terms} · incidents {incidents}", line),
            ]
        }
    item, mention, author, c = view.item, view.mention, view.author, view.classification
    if item is None or mention is None:
        return {"body": [_heading(f"harken alert #{alert.id}")]}
    if item.rule == IMPERSONATION_RULE:
        title = (
            f"⚠️ Possible impostor · {item.priority.upper()} · {item.department} · item #{item.id}"
        )
    elif alert.kind == "escalation":
        title = f"⏰ Overdue · {item.department} · item #{item.id} was due {_utc(item.due_at)}"
    else:
        title = f"{item.priority.upper()} · {item.department} · item #{item.id}"
    who = author.handle if author else "unknown author"
    if author and author.name and author.name != author.handle:
        who += f" ({author.name})"
    reach = f"{author.followers:,} followers" if author and author.followers is not None else ""
    body: list[Element] = [
        _heading(title),
        _runs((f"{who} on {mention.platform}", True), (f"  {reach}" if reach else "", False)),
        _text(mention.text or "(no text)", post),
    ]
    if c is not None:
        scores = f"{c.sentiment} · complaint {c.complaint:.2f} · risk {c.risk:.2f}"
        factors = "; ".join(c.risk_factors[:6])
        body.append(_text(scores + (f" · {factors}" if factors else ""), line * 2, subtle=True))
    body.append(_text(f"Why here: {item.reason}", line, subtle=True))
    body.append(_subtle(f"Respond by {_utc(item.due_at)} · `harken queue show {item.id}`"))
    # Cards posted through a Workflows webhook take links only (no Action.Submit: no bot
    # answers them): the post, and the item in the web workspace, where one click claims it.
    workspace = config.web.public_url
    return {
        "body": body,
        **_open(
            (safe_link(mention.url), "Open the post"),
            (safe_link(f"{workspace}/items/{item.id}") if workspace else None, "Claim in harken"),
        ),
    }


def _heading(text: str) -> Element:
    # harken's words and the config's names only (never a stranger's): may be Markdown.
    return {"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Medium", "wrap": True}


def _subtle(text: str) -> Element:
    return {"type": "TextBlock", "text": text, "isSubtle": True, "size": "Small", "wrap": True}


def _text(text: str, limit: int, subtle: bool = False) -> Element:
    """A stranger's text, shown as written (a TextRun reads no Markdown)."""
    run: Element = {"type": "TextRun", "text": clip(text, limit)}
    if subtle:
        run |= {"isSubtle": True, "size": "Small"}
    return {"type": "RichTextBlock", "inlines": [run]}


def _runs(*parts: tuple[str, bool]) -> Element:
    inlines = [
        {"type": "TextRun", "text": clip(text, LINE_MAX), **({"weight": "Bolder"} if bold else {})}
        for text, bold in parts
        if text
    ]
    return {"type": "RichTextBlock", "inlines": inlines}


def _open(*links: tuple[str | None, str]) -> dict[str, Any]:
    """Buttons that open links (url, title); those without a url left out."""
    actions = [{"type": "Action.OpenUrl", "title": t, "url": url} for url, t in links if url]
    return {"actions": actions} if actions else {}


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
