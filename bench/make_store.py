"""A realistic harken store of N mentions, for timing reports and exports at scale.

    .venv/bin/python bench/make_store.py --db sqlite:///bench/data/store-1m.db --mentions 1000000
        [--days 30] [--seed 7] [--end 2026-12-01T00:00Z] [--config-out PATH] [--replace]

Fills a store (SQLite or PostgreSQL; harken's own ``Store`` creates the schema) with what a
month of listening to three brands leaves behind, and writes the matching config next to it
(``<db>.config.yaml``) so that ``harken --config ... report summary --since 7d``, the digest
and the exports run on it as they would in production:

* ``authors`` : about N/5, on X, Reddit, Bluesky, Mastodon and RSS feeds; followers lognormal
  (a few with millions), a few verified; activity Zipf-like (a few accounts post a lot).
* ``mentions``: over ``--days`` days ending at the generation hour (or ``--end``), more by day
  (Japanese posts follow Japan's day), platforms x 45% / reddit 20% / bluesky 15% /
  mastodon 10% / rss 10%, brands Acme 60% / Globex 25% / Initech 15%, 15% Japanese; text from
  English and Japanese templates carrying the brand and the configured topics' phrases;
  engagement per platform as harken's parsers store it; 3-5 spike hours (two outage events,
  one in the last week) with ten times Acme's usual volume.
* ``classifications``: one per mention; sentiment by topic (outages, billing: mostly
  negative; spike hours more so), complaint, abuse, topics with their similarity scores, and
  the risk and risk factors from harken's own formula (``classify.risk``).
* ``incidents``: one per post and its followers, as ``routing.incidents`` groups them; every
  mention has one. ~40% of mentions are in incidents of two posts or more (a post and its
  retweets, quotes, copies, replies, shared links or near-duplicates), of heavy-tailed size
  (a few thousand in a spike hour); the rest are incidents of one post.
* ``queue_items``: ~15% of mentions (complaints) routed by harken's own ``Router`` with the
  written config to 1-2 departments; due at created + the department's SLA; claimed,
  responded, resolved or dismissed by when generation ends (recent ones mostly open, some
  answered late or escalated); later posts of the incident fold into the open item.
* ``queue_events``, ``alerts`` (item alerts within the noise budget or held, escalations,
  spikes) and ``spikes`` (judged by ``routing.spikes.judge`` on the stored hourly counts).

Ids are assigned here and inserted explicitly with SQLAlchemy Core bulk inserts (no ORM object
per row, no round trip per row); on PostgreSQL the id sequences are moved past them. The same
``--seed`` and ``--end`` give the same store. Vectors and raw payloads are left empty, and
``incident_keys`` unfilled: harken finds an incident by its key when its key rows are missing.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harken.classify.risk import RiskWeights, escalation_risk
from harken.classify.types import Signals
from harken.config import Config, Priority, load_config
from harken.errors import HarkenError
from harken.routing.rules import Router, Subject
from harken.spikes.method import HourlyCounts, judge
from harken.store import Store
from harken.store.tables import (
    Alert,
    Author,
    Classification,
    Incident,
    Mention,
    QueueEvent,
    QueueItem,
    Spike,
)

HOUR, DAY = 3600, 86400
CHUNK = 25_000

PLATFORMS = ("x", "reddit", "bluesky", "mastodon", "rss")
PLATFORM_MIX = (0.45, 0.20, 0.15, 0.10, 0.10)
# Of the posts that start incidents: a news story's followers are partly on social platforms,
# so feeds start a little more than their share.
ROOT_PLATFORM_MIX = (0.435, 0.20, 0.15, 0.10, 0.115)
X, REDDIT, BLUESKY, MASTODON, RSS = range(5)
POLL_LAG = np.array([120, 300, 120, 300, 900])  # seconds: each source's poll interval

BRANDS = ("Acme", "Globex", "Initech")
BRAND_MIX = (0.60, 0.25, 0.15)
ACME = 0
COMPETITORS = {"Acme": "Globex", "Globex": "Acme", "Initech": "Acme"}
BRAND_FORMS = {
    ("Acme", "en"): ["Acme", "Acme", "Acme", "@acme", "Acme Cloud", "acme", "@acmesupport"],
    ("Acme", "ja"): ["Acme", "アクメ", "アクメ"],
    ("Globex", "en"): ["Globex", "Globex", "@globex", "globex"],
    ("Globex", "ja"): ["Globex", "グローベックス"],
    ("Initech", "en"): ["Initech", "Initech", "@initech", "initech"],
    ("Initech", "ja"): ["Initech"],
}
HASHTAGS = {"Acme": "#acme", "Globex": "#globex", "Initech": "#initech"}
JA_SHARE = 0.15
CASCADE_SHARE = 0.40  # of mentions in incidents of two posts or more
QUEUED_SHARE = 0.15  # of mentions that open queue items

# Topic examples in both languages: the written config's ``topics:``, and the phrases the
# templates below use (so rules explain themselves with "topic outage (phrase ...)").
TOPICS: dict[str, list[str]] = {
    "outage": ["the app is down", "is it down for everyone", "502 bad gateway", "service outage",
               "not loading", "落ちてる", "障害", "繋がらない", "つながらない"],
    "login": ["can't log in", "login failed", "password reset", "locked out of my account",
              "2fa code", "ログインできない", "パスワード", "ロックされた"],
    "billing": ["charged twice", "refund", "my invoice is wrong", "price increase",
                "cancel my subscription", "二重請求", "返金", "請求がおかしい", "解約できない"],
    "shipping": ["where is my order", "package never arrived", "tracking number",
                 "delivery delayed", "wrong item", "届かない", "配送", "発送", "注文した商品"],
    "bug": ["the app crashes", "sync is broken", "upload fails", "error message",
            "アプリが落ちる", "バグ", "同期されない"],
    "security": ["my data was leaked", "my account was hacked", "data breach", "phishing",
                 "情報漏洩", "乗っ取り", "流出"],
    "praise": ["thank you", "love it", "great support", "best app", "ありがとう", "最高",
               "助かりました", "神対応"],
}  # fmt: skip
TOPIC_NAMES = tuple(TOPICS)
NO_TOPIC = len(TOPIC_NAMES)
OUTAGE, LOGIN, BILLING, SHIPPING, BUG, SECURITY, PRAISE = range(len(TOPIC_NAMES))
UNIT_TOPIC_MIX = (0.08, 0.07, 0.11, 0.10, 0.08, 0.03, 0.15, 0.38)  # the last: no topic
NEG, NEU, POS = range(3)
SENTIMENTS = ("negative", "neutral", "positive")
SENTIMENT_BY_TOPIC = np.array(
    [
        [0.85, 0.12, 0.03],  # outage
        [0.75, 0.20, 0.05],  # login
        [0.75, 0.20, 0.05],  # billing
        [0.60, 0.30, 0.10],  # shipping
        [0.65, 0.28, 0.07],  # bug
        [0.80, 0.17, 0.03],  # security
        [0.03, 0.12, 0.85],  # praise
        [0.22, 0.55, 0.23],  # no topic
    ]
)
SPIKE_SENTIMENT = (0.92, 0.07, 0.01)

# Post text: {b} the brand as written, {o} a competitor. Negative ones, then the others.
EN_NEG: dict[int, list[str]] = {
    OUTAGE: ["{b} is down again, 502 bad gateway on every page",
             "is it down for everyone? {b} won't load at all",
             "{b} service outage for over an hour now and no status update",
             "the app is down. {b} what is going on",
             "{b} dashboard not loading, our whole team is blocked"],
    LOGIN: ["can't log in to {b} since this morning",
            "{b} login failed three times, now I'm locked out of my account",
            "the {b} password reset email never arrives",
            "{b} 2fa code never comes, can't log in"],
    BILLING: ["{b} charged twice for the same month",
              "still waiting on my refund from {b}",
              "my invoice is wrong again, {b} billing is a mess",
              "{b} price increase with zero notice. cancel my subscription",
              "trying to cancel my subscription with {b} and it's impossible"],
    SHIPPING: ["where is my order {b}? ordered two weeks ago",
               "{b} package never arrived and the tracking number doesn't work",
               "delivery delayed again by {b}, third time",
               "{b} sent the wrong item and wants me to pay return shipping"],
    BUG: ["the app crashes every time I open settings, thanks {b}",
          "{b} sync is broken since the update",
          "upload fails with an error message on {b}, tried three browsers",
          "{b} keeps showing an error message when I save"],
    SECURITY: ["got an email saying my data was leaked. {b} is this real?",
               "my account was hacked and {b} support won't help",
               "{b} data breach? my password showed up in a dump",
               "phishing emails pretending to be {b} all week"],
    NO_TOPIC: ["{b} support never answers, waited 3 days",
               "honestly {b} has gotten worse with every update",
               "{b} is so slow today",
               "why is {b} like this",
               "thinking about switching from {b} to {o}"],
}  # fmt: skip
EN_OTHER: dict[int, list[str]] = {
    OUTAGE: ["{b} is back up, thanks for the quick fix",
             "status page says the {b} service outage is resolved"],
    LOGIN: ["{b} support helped me after I was locked out of my account",
            "anyone know how the {b} password reset works now?"],
    BILLING: ["got my refund from {b} in two days, nice",
              "does {b} do annual invoices? asking for my team"],
    SHIPPING: ["{b} order arrived a day early",
               "how long does {b} delivery usually take?"],
    BUG: ["{b} fixed the sync bug from last week, works now",
          "is there a known issue with {b} uploads or is it just me"],
    SECURITY: ["{b} published their security report, worth a read",
               "turned on 2fa for {b} after the phishing news"],
    PRAISE: ["thank you {b}, great support as always",
             "love it. {b} just works",
             "{b} is the best app I use every day",
             "shoutout to {b} for the fast reply, thank you"],
    NO_TOPIC: ["trying out {b} this week",
               "{b} vs {o}: which one do you use?",
               "{b} announced new pricing tiers today",
               "anyone using {b} for a team of 50?",
               "just switched from {o} to {b}"],
}  # fmt: skip
JA_NEG: dict[int, list[str]] = {
    OUTAGE: ["{b}落ちてる？全然繋がらない", "{b}また障害？仕事にならない",
             "{b}のサービスが落ちてる、つながらない", "{b}の障害いつ直るの"],
    LOGIN: ["{b}にログインできない", "{b}のパスワードを再設定してもログインできない",
            "{b}のアカウントがロックされた"],
    BILLING: ["{b}から二重請求されてる", "{b}の返金まだですか", "{b}の請求がおかしい",
              "{b}解約できないんだけど"],
    SHIPPING: ["{b}で注文した商品が届かない", "{b}の配送が遅すぎる",
               "{b}、発送から一週間経っても届かない"],
    BUG: ["{b}のアプリが落ちる", "{b}同期されない、バグ？", "アップデート後{b}のバグがひどい"],
    SECURITY: ["{b}で情報漏洩？メールが来た", "{b}のアカウントが乗っ取りにあった",
               "{b}のパスワードが流出したらしい"],
    NO_TOPIC: ["{b}のサポート全然返事来ない", "{b}最近使いにくい", "{b}重すぎる"],
}  # fmt: skip
JA_OTHER: dict[int, list[str]] = {
    OUTAGE: ["{b}復旧したみたい", "{b}の障害、直りました"],
    LOGIN: ["{b}ログインできるようになった", "{b}のパスワード変更ってどこ？"],
    BILLING: ["{b}の返金処理早かった", "{b}の請求書ってどこでダウンロードできる？"],
    SHIPPING: ["{b}の配送早かった", "{b}の発送って何日くらい？"],
    BUG: ["{b}のバグ直ってた", "{b}の新しいアップデートどう？"],
    SECURITY: ["{b}のセキュリティ設定見直した", "{b}、二段階認証を有効にした"],
    PRAISE: ["{b}のサポート神対応、ありがとう", "{b}最高", "{b}に助かりました"],
    NO_TOPIC: ["{b}使ってみた", "{b}と{o}どっちがいい？", "{b}の新機能が出たらしい"],
}  # fmt: skip
HEADLINES = {
    "en": {
        OUTAGE: "{b} hit by service outage, users report 502 bad gateway errors",
        LOGIN: "{b} users say they can't log in after update",
        BILLING: "{b} customers charged twice, company promises refund",
        SHIPPING: "{b} delivery delayed for thousands of orders",
        BUG: "{b} update breaks sync for some users",
        SECURITY: "{b} investigating possible data breach",
        PRAISE: "{b} tops customer support survey",
        NO_TOPIC: "{b} and {o} battle for enterprise customers",
    },
    "ja": {
        OUTAGE: "{b}で大規模障害、サービスにつながらない状態続く",
        LOGIN: "{b}、一部ユーザーがログインできない不具合",
        BILLING: "{b}で二重請求、返金へ",
        SHIPPING: "{b}の配送に遅れ",
        BUG: "{b}のアプリにバグ、同期されない問題",
        SECURITY: "{b}で情報漏洩の可能性",
        PRAISE: "{b}、顧客満足度調査で最高評価",
        NO_TOPIC: "{b}と{o}、法人向けで競争激化",
    },
}
SUMMARIES = {
    (NEG, "en"): ["Users on social media reported problems with {b} on {day}.",
                  "The company said it was looking into the reports.",
                  "{b} has not yet commented."],
    (NEG, "ja"): ["{day}、SNS上で{b}に関する報告が相次いだ。", "同社は調査中としている。"],
    (NEU, "en"): ["{b} was in the news on {day}.", "Analysts and users weighed in.",
                  "The company shared more details in a blog post."],
    (NEU, "ja"): ["{day}、{b}が発表した。", "詳細は同社のブログで公開されている。"],
}  # fmt: skip
OPENERS = {"en": ["", "", "", "", "ugh, ", "PSA: ", "ok so ", "honestly "], "ja": [""]}
CLOSERS = {
    (NEG, "en"): ["", "", "", " {tag}", " 😡", " any ETA?", " smh", " day {n} of this", "!!"],
    (NEU, "en"): ["", "", " {tag}", "?"],
    (POS, "en"): ["", "", " 🙌", " 💙", "!", " {tag}"],
    (NEG, "ja"): ["", "。", "…", "（泣）", " {tag}"],
    (NEU, "ja"): ["", "。", " {tag}"],
    (POS, "ja"): ["", "！", "。", " {tag}"],
}
LEGAL = {"en": [" my lawyer will hear about this", " considering a class action"],
         "ja": [" 弁護士に相談します", " 消費者センターに連絡します"]}  # fmt: skip
QUOTES = {
    (NEG, "en"): ["same here", "+1, exactly this", "this. fix it {b}",
                  "same problem since this morning", "can't believe this is still happening"],
    (NEU, "en"): ["interesting", "hm", "good question"],
    (POS, "en"): ["so true", "agreed!", "this 💯"],
    (NEG, "ja"): ["同じく", "うちもです", "これ", "まじで困る"],
    (NEU, "ja"): ["なるほど", "気になる"],
    (POS, "ja"): ["わかる", "ほんとそれ"],
}  # fmt: skip
LINK_COMMENTS = {"en": ["ouch", "not surprised tbh", "this again", "wow", "{b} needs to fix this"],
                 "ja": ["まじか", "やっぱり", "これはひどい"]}  # fmt: skip

NAME_STEMS = ["hannah", "marcus", "priya", "leo", "aiko", "kenji", "yuki", "maria", "tom", "sara",
              "dev", "anya", "jwalsh", "rin", "sam", "noor", "lars", "mika", "chen", "omar",
              "emma", "ravi", "sota", "haru", "lena", "cloudfan", "techmom", "opsguy",
              "datanerd", "coffeecoder"]  # fmt: skip
FIRST = ["Hannah", "Marcus", "Priya", "Leo", "Aiko", "Kenji", "Yuki", "Maria", "Tom", "Sara",
         "Anya", "Rin", "Sam", "Noor", "Lars", "Mika", "Chen", "Omar", "Emma", "Ravi"]  # fmt: skip
LAST = ["Lee", "Hale", "Shah", "Brown", "Tanaka", "Sato", "Suzuki", "Garcia", "Walsh", "Kim",
        "Novak", "Ito", "Khan", "Berg", "Weber", "Rossi", "Lopez", "Mori"]  # fmt: skip
INSTANCES = ["mastodon.social", "fosstodon.org", "hachyderm.io", "mstdn.jp", "infosec.exchange"]
SUBREDDITS = ["sysadmin", "SaaS", "techsupport", "webdev", "smallbusiness", "japan", "devops"]
SITES = ["technews", "dailycloud", "saasweekly", "itmedia-jp", "bizwire", "devdigest",
         "startupbeat", "reviewhub", "cloudforum", "appwatch"]  # fmt: skip
STAFF = {
    "support": ["aiko", "ken", "maria", "tom", "yuki"],
    "engineering": ["oncall", "priya", "lars"],
    "billing": ["sam", "noor"],
    "pr": ["jo", "hana"],
    "legal": ["counsel"],
}
RESOLVE_NOTES = ["sorted out in DM", "refunded", "fixed with the incident", "explained, thanked us",
                 "sent a replacement", "reset their account", None]  # fmt: skip
DISMISS_NOTES = ["not actionable", "spam", "not our customer", "duplicate", None]
SPIKE_TERMS = ["down", "502", "bad", "gateway", "outage", "everyone", "落ちてる", "障害"]

# Member kinds: how a post joined its incident.
ROOT, RETWEET, QUOTE, COPY, REPLY, SIMILAR, LINK = range(7)


class Refused(Exception):
    """The store cannot be filled as asked (the message says why)."""


# --- the config ----------------------------------------------------------------------------


def config_tree(url: str) -> dict[str, Any]:
    """The harken config that goes with the store (harken.config.Config's shape)."""
    return {
        "database": {"url": url},
        "brands": [
            {
                "name": "Acme",
                "keywords": ["acme", "acme cloud", "アクメ"],
                "handles": ["@acme", "@acmesupport"],
                "hashtags": ["#acme"],
                "exclude": ["acme anvil"],
                "languages": ["en", "ja"],
                "competitors": ["Globex", "Initech"],
            },
            {
                "name": "Globex",
                "keywords": ["globex", "グローベックス"],
                "handles": ["@globex"],
                "hashtags": ["#globex"],
                "languages": ["en", "ja"],
            },
            {
                "name": "Initech",
                "keywords": ["initech"],
                "handles": ["@initech"],
                "hashtags": ["#initech"],
                "languages": ["en"],
            },
        ],
        "departments": [
            {
                "name": "support",
                "sla": {"urgent": "15m", "high": "30m", "default": "1h"},
                "escalate_to": "pr",
            },
            {"name": "engineering", "sla": {"urgent": "15m", "default": "30m"}},
            {"name": "billing", "sla": "4h", "escalate_to": "support"},
            {"name": "pr", "sla": {"urgent": "30m", "default": "2h"}},
            {"name": "legal", "sla": "4h"},
        ],
        "topics": TOPICS,
        "routing": {
            "default": "support",
            "rules": [
                {
                    "name": "legal threats",
                    "to": ["legal", "pr"],
                    "priority": "urgent",
                    "when": {
                        "keywords": [
                            "lawyer",
                            "attorney",
                            "lawsuit",
                            "class action",
                            "GDPR",
                            "訴訟",
                            "弁護士",
                            "消費者センター",
                        ]
                    },
                },
                {
                    "name": "security",
                    "when": {"topics": ["security"]},
                    "to": ["engineering", "legal"],
                    "priority": "urgent",
                },
                {
                    "name": "outages",
                    "when": {"topics": ["outage"]},
                    "to": ["engineering"],
                    "priority": "high",
                },
                {
                    "name": "login",
                    "when": {"topics": ["login"]},
                    "to": ["support"],
                    "priority": "high",
                },
                {"name": "bugs", "when": {"topics": ["bug"]}, "to": ["engineering"]},
                {"name": "billing", "when": {"topics": ["billing"]}, "to": ["billing"]},
                {
                    "name": "order numbers",
                    "when": {"regex": ["\\bACME-\\d{6}\\b"]},
                    "to": ["support"],
                    "priority": "high",
                },
                {"name": "shipping", "when": {"topics": ["shipping"]}, "to": ["support"]},
                {
                    "name": "influential complaint",
                    "to": ["pr"],
                    "priority": "high",
                    "when": {"complaint_gte": 0.5, "followers_gte": 50000},
                },
                {"name": "high risk", "when": {"risk_gte": 0.6}, "to": ["pr"], "priority": "high"},
                {
                    "name": "mild complaint",
                    "when": {"sentiment": "neutral", "complaint_gte": 0.5},
                    "to": ["support"],
                    "priority": "low",
                },
            ],
        },
        "incidents": {"window": "6h", "similarity": 0.9},
        "spikes": {"min_count": 10, "ratio": 3.0, "p_value": 0.001, "weeks": 4},
        "risk": {"topics": {"security": 0.25, "outage": 0.1}},
        "alerts": {"min_priority": "high", "min_risk": 0.6, "max_per_hour": 30},
        "replies": {
            "templates": {
                "outage": "Hi {author}, sorry for the trouble: our engineers are on it.",
                "billing": "Hi {author}, sorry about that. Please DM us and we will sort it out.",
                "default": "Hi {author}, thanks for reaching out. Could you DM us the details?",
            }
        },
        "classifier": {"languages": {"ja": "e5"}},
    }


def write_config(path: Path, db_url: str) -> Config:
    """Write the config YAML (a SQLite path relative to it when beside it) and load it back."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        db = Path(url.database or "").resolve()
        shown = db.name if db.parent == path.resolve().parent else str(db)
        config_url = f"sqlite:///{shown}"
    else:  # never write a password into a file: libpq reads PGPASSWORD or ~/.pgpass
        config_url = url.set(password=None).render_as_string(hide_password=False)
    header = (
        "# harken config for a generated benchmark store (bench/make_store.py).\n"
        "# Brands, departments, topics and rules match what the generator wrote.\n"
    )
    body = yaml.safe_dump(config_tree(config_url), allow_unicode=True, sort_keys=False, width=100)
    path.write_text(header + body, encoding="utf-8")
    return load_config(path, environ={})


# --- the plan: every row's numbers, drawn with numpy ----------------------------------------


@dataclass
class Plan:
    """Per-mention arrays (in id order: mention i has id i + 1), per-unit (incident) arrays,
    per-author arrays, and the spike hours."""

    n: int
    start: int  # epoch seconds, an hour start
    end: int
    spike_hours: list[int]  # hour indices from start
    # units: a post and the posts that followed it (one incident each), in root id order
    u_brand: np.ndarray
    u_lang: np.ndarray  # 0 en, 1 ja
    u_topic: np.ndarray
    u_size: np.ndarray
    u_spike: np.ndarray
    u_root: np.ndarray  # position of the root mention
    # mentions
    unit: np.ndarray
    kind: np.ndarray
    ts: np.ndarray
    collected: np.ndarray
    routed: np.ndarray
    platform: np.ndarray
    author: np.ndarray  # author id (1-based)
    sentiment: np.ndarray
    scores: np.ndarray  # n x 3
    complaint: np.ndarray
    abuse: np.ndarray
    topic_scores: np.ndarray  # n x topics
    topic_hits: np.ndarray  # n x 2 topic indices, -1 none
    likes: np.ndarray  # -1: None
    reposts: np.ndarray
    replies: np.ndarray
    quotes: np.ndarray
    impressions: np.ndarray
    recent: np.ndarray  # other posts of its incident in the hour before
    draws: np.ndarray  # n x 6 random ints for text choices
    # authors (index a: id a + 1)
    a_platform: np.ndarray
    a_seq: np.ndarray  # a number for handles and ids
    a_followers: np.ndarray  # -1: unknown
    a_verified: np.ndarray
    a_first: np.ndarray
    a_last: np.ndarray
    # filled by later stages
    risk: np.ndarray = field(default_factory=lambda: np.zeros(0))
    factors: list[tuple[str, ...]] = field(default_factory=list)


def hour_weights(start: int, hours: int, peak_hour: int) -> np.ndarray:
    """Diurnal volume per hour (peak at ``peak_hour`` UTC), a little less at weekends."""
    stamps = start + HOUR * np.arange(hours)
    hod = (stamps // HOUR) % 24
    weekend = ((stamps // DAY + 3) % 7) >= 5  # 1970-01-01 was a Thursday
    w = (1 + 0.75 * np.cos(2 * np.pi * (hod - peak_hour) / 24)) * np.where(weekend, 0.8, 1.0)
    return w / w.sum()


def pick_spike_hours(rng: np.random.Generator, start: int, hours: int) -> list[list[int]]:
    """3-5 daytime hours in two outage events: one in the last week, one before it."""
    count = int(rng.integers(3, 6))
    first = count // 2 + count % 2
    second = count - first
    hod = ((start // HOUR) + np.arange(hours)) % 24

    def fits(h: int, length: int) -> bool:
        return all(24 <= h + i < hours - 1 and 8 <= hod[h + i] <= 20 for i in range(length))

    recent = [h for h in range(max(24, hours - 7 * 24), hours) if fits(h, first)]
    if not recent:
        recent = [h for h in range(24, hours) if fits(h, first)]
    h1 = int(recent[int(rng.integers(len(recent)))])
    older = [h for h in range(24, h1 - 24) if fits(h, second)]
    if not older:
        apart = [h for h in range(24, hours) if h + second < h1 or h > h1 + first]
        older = [h for h in apart if fits(h, second)]
    if not older:
        return [list(range(h1, h1 + first))]
    h2 = int(older[int(rng.integers(len(older)))])
    return [list(range(h2, h2 + second)), list(range(h1, h1 + first))]


def cascade_sizes(rng: np.random.Generator, target: int, cap: int) -> np.ndarray:
    """Heavy-tailed incident sizes (2 or more) adding up to about ``target`` posts."""
    if target < 2:
        return np.zeros(0, dtype=np.int64)
    sizes = np.minimum(1 + rng.zipf(2.1, size=target // 2 + 16), cap)
    keep = int(np.searchsorted(np.cumsum(sizes), target, side="right"))
    return sizes[:keep].astype(np.int64)


def make_plan(n: int, days: int, seed: int, end: int) -> Plan:
    rng = np.random.default_rng(seed)
    hours = days * 24
    start = end - hours * HOUR
    p_en, p_ja = hour_weights(start, hours, 15), hour_weights(start, hours, 4)
    p_mix = (1 - JA_SHARE) * p_en + JA_SHARE * p_ja
    events = pick_spike_hours(rng, start, hours)
    spike_hours = [h for event in events for h in event]

    # -- units: spike hours first (Acme, outages, a storm of retweets each), then the rest
    spike_units: list[dict[str, Any]] = []
    for h in spike_hours:
        extra = max(10, round(9 * BRAND_MIX[ACME] * n * p_mix[h]))
        big = max(2, round(0.45 * extra))
        mid = round(0.06 * extra)
        mids = [mid] * 3 if mid >= 2 else []
        singles = max(0, extra - big - sum(mids))
        hour_start = start + h * HOUR
        for size, root_window in [(big, 600), *[(m, 1800) for m in mids], *[(1, HOUR)] * singles]:
            spike_units.append(
                {
                    "size": size,
                    "root": hour_start + int(rng.integers(root_window)),
                    "hour_end": hour_start + HOUR,
                }
            )
    n_spike = sum(u["size"] for u in spike_units)
    regular = n - n_spike
    if regular < n // 2:
        raise Refused(f"--mentions {n} is too few for {days} days with spikes: give more of them")
    in_spike_cascades = sum(u["size"] for u in spike_units if u["size"] > 1)
    cap = max(2, min(800, n // 200))
    sizes = cascade_sizes(rng, max(0, round(CASCADE_SHARE * n) - in_spike_cascades), cap)
    singles = regular - int(sizes.sum())
    reg_size = np.concatenate([np.ones(singles, dtype=np.int64), sizes])
    n_reg = len(reg_size)
    n_sp = len(spike_units)

    r_lang = (rng.random(n_reg) < JA_SHARE).astype(np.int64)
    r_hour = np.where(
        r_lang == 1, rng.choice(hours, n_reg, p=p_ja), rng.choice(hours, n_reg, p=p_en)
    )
    r_root = start + r_hour * HOUR + rng.integers(0, HOUR, n_reg)
    s_size = np.array([u["size"] for u in spike_units], dtype=np.int64)
    s_root = np.array([u["root"] for u in spike_units], dtype=np.int64)
    s_hour_end = np.array([u["hour_end"] for u in spike_units], dtype=np.int64)
    s_lang = np.where(s_size > 100, 0, (rng.random(n_sp) < JA_SHARE).astype(np.int64))

    size = np.concatenate([s_size, reg_size])
    root_ts = np.concatenate([s_root, r_root])
    hour_end = np.concatenate([s_hour_end, np.zeros(n_reg, dtype=np.int64)])
    spike = np.concatenate([np.ones(n_sp, dtype=bool), np.zeros(n_reg, dtype=bool)])
    lang = np.concatenate([s_lang, r_lang])
    units = len(size)
    brand = np.where(spike, ACME, rng.choice(3, units, p=BRAND_MIX))
    topic = rng.choice(NO_TOPIC + 1, units, p=UNIT_TOPIC_MIX)
    topic = np.where(spike, np.where(rng.random(units) < 0.85, OUTAGE, LOGIN), topic)
    topic = np.where(spike & (size > 1), OUTAGE, topic)
    u_platform = rng.choice(5, units, p=ROOT_PLATFORM_MIX)
    u_platform = np.where(spike & (size > 100), X, u_platform)
    cum = np.cumsum(SENTIMENT_BY_TOPIC, axis=1)[topic]
    u_sent = (rng.random(units)[:, None] > cum[:, :2]).sum(axis=1)
    spike_sent = rng.choice(3, units, p=SPIKE_SENTIMENT)
    u_sent = np.where(spike, spike_sent, u_sent)

    # -- mentions: roots at their time, followers after them
    m_unit = np.repeat(np.arange(units), size)
    offsets = np.concatenate([[0], np.cumsum(size)[:-1]])
    rank = np.arange(n) - np.repeat(offsets, size)
    member = rank > 0
    ts = root_ts[m_unit].copy()
    mu = m_unit[member]
    within_hour = spike[mu]
    room = np.maximum(1, hour_end[mu] - 1 - root_ts[mu])
    in_hour = root_ts[mu] + 1 + (rng.random(len(mu)) * room).astype(np.int64)
    delay = np.clip(rng.lognormal(math.log(900), 1.3, len(mu)), 5, DAY).astype(np.int64)
    left = np.maximum(1, end - 1 - root_ts[mu])
    later = root_ts[mu] + np.where(delay < left, delay, 1 + delay % left)
    ts[member] = np.minimum(np.where(within_hour, in_hour, later), end - 1)

    order = np.lexsort((rank, ts))
    m_unit, ts, member = m_unit[order], ts[order], member[order]
    u_root = np.empty(units, dtype=np.int64)
    u_root[m_unit[~member]] = np.nonzero(~member)[0]
    # Units renumbered by their root's position: incident ids follow time, as routing makes them.
    renumber = np.empty(units, dtype=np.int64)
    by_root = np.argsort(u_root, kind="stable")
    renumber[by_root] = np.arange(units)
    m_unit = renumber[m_unit]
    u_root, size, spike = u_root[by_root], size[by_root], spike[by_root]
    lang, brand, topic = lang[by_root], brand[by_root], topic[by_root]
    u_platform, u_sent = u_platform[by_root], u_sent[by_root]

    # -- platforms and how each follower joined
    root_pf = u_platform[m_unit]
    same = rng.random(n) < 0.85
    social = np.array(PLATFORM_MIX[:4]) / sum(PLATFORM_MIX[:4])
    cross = rng.choice(4, n, p=social)  # x, reddit, bluesky, mastodon
    shared = rng.choice([X, BLUESKY, MASTODON, REDDIT], n, p=[0.6, 0.2, 0.1, 0.1])
    # A story is covered by other outlets (rss, near-duplicates) or shared with its link.
    shared = np.where(rng.random(n) < 0.55, RSS, shared)
    follower_pf = np.where(root_pf == RSS, shared, np.where(same, root_pf, cross))
    platform = np.where(member, follower_pf, root_pf)
    u = rng.random(n)
    kind = np.full(n, SIMILAR)
    same_pf = platform == root_pf
    kind[same_pf & (platform == X)] = np.select([u < 0.7, u < 0.9], [RETWEET, QUOTE], COPY)[
        same_pf & (platform == X)
    ]
    kind[same_pf & (platform == MASTODON)] = np.where(u < 0.75, RETWEET, COPY)[
        same_pf & (platform == MASTODON)
    ]
    kind[same_pf & (platform == BLUESKY)] = np.where(u < 0.6, QUOTE, SIMILAR)[
        same_pf & (platform == BLUESKY)
    ]
    kind[same_pf & (platform == REDDIT)] = np.where(u < 0.85, REPLY, COPY)[
        same_pf & (platform == REDDIT)
    ]
    kind[~same_pf] = np.where(u < 0.6, COPY, SIMILAR)[~same_pf]
    kind[(root_pf == RSS) & (platform != RSS)] = LINK
    kind[~member] = ROOT

    collected = np.minimum(ts + 5 + (rng.random(n) * POLL_LAG[platform]).astype(np.int64), end)
    routed = np.minimum(collected + rng.integers(5, 120, n), end)

    # -- authors: Zipf-like activity within each platform; only those who posted are kept
    total_authors = max(100, n // 5)
    rss_authors = max(5, min(1500, total_authors // 200))
    per_platform = [*(np.round(social * (total_authors - rss_authors)).astype(int)), rss_authors]
    author_index = np.empty(n, dtype=np.int64)
    base = 0
    for p, count in enumerate(per_platform):
        weights = 1.0 / (1 + rng.permutation(count)) ** 0.8
        cumulative = np.cumsum(weights)
        mine = np.nonzero(platform == p)[0]
        picks = np.searchsorted(cumulative, rng.random(len(mine)) * cumulative[-1])
        author_index[mine] = base + np.minimum(picks, count - 1)
        base += count
    a_platform_all = np.repeat(np.arange(5), per_platform)
    first_pos = np.full(base, n, dtype=np.int64)
    np.minimum.at(first_pos, author_index, np.arange(n))
    used = np.nonzero(first_pos < n)[0]
    used = used[np.argsort(first_pos[used], kind="stable")]  # ids in order of first post
    new_id = np.zeros(base, dtype=np.int64)
    new_id[used] = np.arange(1, len(used) + 1)
    author = new_id[author_index]
    a_platform = a_platform_all[used]
    n_authors = len(used)
    followers = np.full(n_authors, -1, dtype=np.int64)
    on_x, on_mastodon = a_platform == X, a_platform == MASTODON
    followers[on_x] = rng.lognormal(math.log(250), 1.9, int(on_x.sum())).astype(np.int64)
    famous = on_x & (rng.random(n_authors) < 2e-4)
    followers[famous] = rng.integers(1_000_000, 20_000_000, int(famous.sum()))
    followers[on_mastodon] = rng.lognormal(math.log(80), 1.6, int(on_mastodon.sum())).astype(
        np.int64
    )
    logf = np.log10(np.maximum(followers, 1))
    p_verified = np.where(followers >= 10_000, np.clip(0.05 + 0.25 * (logf - 4), 0, 0.9), 0.002)
    verified = on_x & (rng.random(n_authors) < p_verified)
    a_first = np.full(n_authors, end, dtype=np.int64)
    a_last = np.zeros(n_authors, dtype=np.int64)
    np.minimum.at(a_first, author - 1, ts)
    np.maximum.at(a_last, author - 1, ts)

    # -- classification numbers
    resample = member & (rng.random(n) < 0.1)
    cum = np.cumsum(SENTIMENT_BY_TOPIC, axis=1)[topic[m_unit]]
    fresh = (rng.random(n)[:, None] > cum[:, :2]).sum(axis=1)
    sentiment = np.where(resample, fresh, u_sent[m_unit])
    # The label's own score on top; of the rest, neutral takes more (a neutral post's rest
    # splits between negative and positive at random).
    top = 0.45 + 0.55 * rng.beta(4, 2, n)
    middle = (1 - top) * rng.beta(3, 1.5, n)
    low = 1 - top - middle
    split = (1 - top) * rng.random(n)
    scores = np.empty((n, 3))
    scores[:, NEG] = np.select([sentiment == NEG, sentiment == NEU], [top, split], low)
    scores[:, NEU] = np.where(sentiment == NEU, top, middle)
    scores[:, POS] = np.select([sentiment == POS, sentiment == NEU], [top, 1 - top - split], low)
    scores = np.round(scores, 4)
    complaint = np.select(
        [sentiment == NEG, sentiment == NEU],
        [rng.beta(5, 1.8, n), rng.beta(1.5, 4, n)],
        rng.beta(1, 10, n),
    )
    complaint = np.round(complaint, 4)
    abuse = np.where(
        (sentiment == NEG) & (rng.random(n) < 0.03), rng.beta(6, 2, n), rng.beta(1.2, 14, n)
    ).round(4)
    n_topics = len(TOPIC_NAMES)
    topic_scores = rng.uniform(0.05, 0.4, (n, n_topics))
    hits = np.full((n, 2), -1, dtype=np.int64)
    primary = topic[m_unit]
    has = (primary != NO_TOPIC) & (rng.random(n) < 0.9)
    hits[has, 0] = primary[has]
    second = rng.integers(0, SECURITY + 1, n)  # never praise
    extra = (rng.random(n) < 0.08) & (second != primary) & (sentiment != POS)
    hits[extra, 1] = second[extra]
    for col in (0, 1):
        rows = np.nonzero(hits[:, col] >= 0)[0]
        topic_scores[rows, hits[rows, col]] = rng.uniform(0.46, 0.95, len(rows))
    topic_scores = np.round(topic_scores, 4)

    # -- engagement, as each platform's parser stores it (-1: the platform reports none)
    known = followers[author - 1]
    reach = np.where(known >= 0, known, rng.lognormal(math.log(150), 1.2, n)).astype(float)
    likes_f = 0.02 * reach**0.8 * rng.lognormal(0, 1.2, n) * np.where(member, 0.3, 1.0)
    likes = np.floor(likes_f).astype(np.int64)
    reposts = np.floor(likes * rng.uniform(0.05, 0.3, n)).astype(np.int64)
    reposts += np.where(~member & (platform == X), size[m_unit] - 1, 0)
    replies = np.floor(likes * rng.uniform(0.05, 0.6, n)).astype(np.int64)
    quotes = np.floor(reposts * 0.15).astype(np.int64)
    impressions = np.where(
        platform == X, (likes * rng.uniform(40, 150, n) + reach * rng.uniform(0.02, 0.2, n)), -1
    ).astype(np.int64)
    score = np.floor(rng.lognormal(math.log(8), 1.5, n)).astype(np.int64)
    is_reddit = platform == REDDIT
    likes = np.where(is_reddit, score, likes)
    replies = np.where(is_reddit, np.floor(score * rng.uniform(0, 0.6, n)), replies).astype(
        np.int64
    )
    reposts = np.where(is_reddit | (kind == RETWEET), -1, reposts)
    quotes = np.where(is_reddit | (platform == MASTODON), -1, quotes)
    retweet = kind == RETWEET
    likes[retweet], replies[retweet], quotes[retweet & (platform == X)] = 0, 0, 0
    for column in (likes, reposts, replies, quotes, impressions):
        column[platform == RSS] = -1

    # -- incident growth: posts of the same incident in the hour before each
    key = m_unit * (1 << 33) + (ts - start)
    by_unit = np.argsort(key, kind="stable")
    sorted_keys = key[by_unit]
    recent = np.empty(n, dtype=np.int64)
    recent[by_unit] = np.arange(n) - np.searchsorted(sorted_keys, sorted_keys - HOUR, "left")

    return Plan(
        n=n,
        start=start,
        end=end,
        spike_hours=spike_hours,
        u_brand=brand,
        u_lang=lang,
        u_topic=topic,
        u_size=size,
        u_spike=spike,
        u_root=u_root,
        unit=m_unit,
        kind=kind,
        ts=ts,
        collected=collected,
        routed=routed,
        platform=platform,
        author=author,
        sentiment=sentiment,
        scores=scores,
        complaint=complaint,
        abuse=abuse,
        topic_scores=topic_scores,
        topic_hits=hits,
        likes=likes,
        reposts=reposts,
        replies=replies,
        quotes=quotes,
        impressions=impressions,
        recent=recent,
        draws=rng.integers(0, 1 << 30, (n, 6)),
        a_platform=a_platform,
        a_seq=rng.permutation(n_authors) + 1000,
        a_followers=followers,
        a_verified=verified,
        a_first=a_first,
        a_last=a_last,
    )


# --- rows ----------------------------------------------------------------------------------


def utc(seconds: int | np.integer) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, r = divmod(value, 36)
        out = digits[r] + out
        if not value:
            return out


class Authors:
    """Handles, ids and urls of the plan's authors, as each platform's parser stores them."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def handle(self, a: int) -> str:
        seq = int(self.plan.a_seq[a])
        stem = NAME_STEMS[seq % len(NAME_STEMS)]
        match int(self.plan.a_platform[a]):
            case 0:  # X usernames: 15 characters at most
                return f"{stem[:9]}{seq}"[:15]
            case 1:
                return f"{stem.capitalize()}_{seq}"
            case 2:
                return f"{stem}{seq}.bsky.social"
            case 3:
                return f"{stem}{seq}@{INSTANCES[seq % len(INSTANCES)]}"
            case _:
                return f"{SITES[seq % len(SITES)].capitalize()} {seq}"

    def site(self, a: int) -> str:
        seq = int(self.plan.a_seq[a])
        return f"{SITES[seq % len(SITES)]}{seq}.example.com"

    def row(self, a: int) -> dict[str, Any]:
        p, seq, handle = int(self.plan.a_platform[a]), int(self.plan.a_seq[a]), self.handle(a)
        if p == X:
            external, url = str(1_400_000_000_000 + seq * 7919), f"https://x.com/{handle}"
        elif p == REDDIT:
            external, url = f"t2_{base36(seq * 7919)}", f"https://www.reddit.com/user/{handle}"
        elif p == BLUESKY:
            did = f"did:plc:{(seq * 2654435761) % 16**24:024x}"
            external, url = did, f"https://bsky.app/profile/{handle}"
        elif p == MASTODON:
            user, instance = handle.split("@")
            external = url = f"https://{instance}/@{user}"
        else:
            external = url = f"https://{self.site(a)}/"
        followers = int(self.plan.a_followers[a])
        name = None
        if p != RSS:
            name = f"{FIRST[seq % len(FIRST)]} {LAST[(seq // 7) % len(LAST)]}"
        return {
            "id": a + 1,
            "platform": PLATFORMS[p],
            "external_id": external,
            "handle": handle,
            "name": name,
            "followers": followers if followers >= 0 else None,
            "verified": bool(self.plan.a_verified[a]),
            "url": url,
            "first_seen": utc(self.plan.a_first[a]),
            "updated_at": utc(self.plan.a_last[a]),
        }


class Posts:
    """External ids, urls and text of the plan's mentions (deterministic per position)."""

    def __init__(self, plan: Plan, authors: Authors) -> None:
        self.plan, self.authors = plan, authors
        self.root_text: dict[int, str] = {}  # unit -> its root's text

    def ids(self, i: int) -> tuple[str, str]:
        """(external_id, url) of mention at position ``i``."""
        plan = self.plan
        p, a, mid = int(plan.platform[i]), int(plan.author[i]) - 1, i + 1
        handle = self.authors.handle(a)
        if p == X:
            millis = int(plan.ts[i]) * 1000 + mid % 1000 - 1288834974657
            snowflake = str((millis << 22) | (mid & 0x3FFFFF))
            return snowflake, f"https://x.com/{handle}/status/{snowflake}"
        if p == REDDIT:
            code = base36(mid * 4099 + 10**8)
            sub = SUBREDDITS[mid % len(SUBREDDITS)]
            if plan.kind[i] == REPLY:
                root = int(plan.u_root[plan.unit[i]])
                post = base36((root + 1) * 4099 + 10**8)
                return f"t1_{code}", f"https://www.reddit.com/r/{sub}/comments/{post}/_/{code}/"
            return f"t3_{code}", f"https://www.reddit.com/r/{sub}/comments/{code}/"
        if p == BLUESKY:
            rkey = f"3l{base36(int(plan.ts[i]))}{base36(mid).rjust(5, '0')}"
            did = f"did:plc:{(int(plan.a_seq[a]) * 2654435761) % 16**24:024x}"
            uri = f"at://{did}/app.bsky.feed.post/{rkey}"
            return uri, f"https://bsky.app/profile/{handle}/post/{rkey}"
        if p == MASTODON:
            user, instance = handle.split("@")
            status = str(((int(plan.ts[i]) * 1000 + mid % 1000) << 16) | (mid & 0xFFFF))
            return (
                f"https://{instance}/users/{user}/statuses/{status}",
                f"https://{instance}/@{user}/{status}",
            )
        day = utc(plan.ts[i])
        slug = f"{BRANDS[plan.u_brand[plan.unit[i]]].lower()}-{mid}"
        url = f"https://{self.authors.site(a)}/{day:%Y/%m}/{slug}"
        return url, url

    def text(self, i: int) -> str:
        plan = self.plan
        u = int(plan.unit[i])
        kind = int(plan.kind[i])
        if kind == ROOT:
            made = self._original(i, u)
            self.root_text[u] = made
            return made
        root_text = self.root_text.get(u)
        if root_text is None:  # generated out of order (never in a full run)
            root_text = self.text(int(plan.u_root[u]))
        lang = "ja" if plan.u_lang[u] else "en"
        draw = plan.draws[i]
        brand = self._brand(u, lang, int(draw[1]))
        sentiment = int(plan.sentiment[i])
        if kind == RETWEET:
            if plan.platform[i] == X:
                root = int(plan.u_root[u])
                handle = self.authors.handle(int(plan.author[root]) - 1)
                return f"RT @{handle}: {root_text}"
            return root_text
        if kind == COPY:
            return root_text.split("\n\n")[-1] + ("" if draw[0] % 2 else "!!")
        if kind == QUOTE:
            comment = pick(QUOTES[sentiment, lang], draw[0]).format(b=brand)
            if plan.platform[i] == X:
                return f"{comment} {self.ids(int(plan.u_root[u]))[1]}"
            return comment
        if kind == LINK:
            comment = pick(LINK_COMMENTS[lang], draw[0]).format(b=brand)
            return f"{comment} {self.ids(int(plan.u_root[u]))[1]}"
        return self._original(i, u)  # a reply or another post saying the same thing

    def _brand(self, u: int, lang: str, draw: int) -> str:
        return pick(BRAND_FORMS[BRANDS[self.plan.u_brand[u]], lang], draw)

    def _original(self, i: int, u: int) -> str:
        plan = self.plan
        lang = "ja" if plan.u_lang[u] else "en"
        draw = plan.draws[i]
        brand_name = BRANDS[plan.u_brand[u]]
        brand = self._brand(u, lang, int(draw[1]))
        other = COMPETITORS[brand_name]
        topic, sentiment = int(plan.u_topic[u]), int(plan.sentiment[i])
        if plan.platform[i] == RSS:
            headline = HEADLINES[lang][topic].format(b=brand_name, o=other)
            day = f"{utc(plan.ts[i]):%b %d}" if lang == "en" else f"{utc(plan.ts[i]):%m月%d日}"
            lines = SUMMARIES[NEG if sentiment == NEG else NEU, lang]
            summary = " ".join(s.format(b=brand_name, day=day) for s in lines[: 1 + draw[2] % 3])
            return f"{headline}\n\n{summary}"
        core = self._core(lang, topic, sentiment, int(draw[0])).format(b=brand, o=other)
        close = pick(CLOSERS[sentiment, lang], int(draw[3]))
        close = close.format(tag=HASHTAGS[brand_name], n=2 + int(draw[4]) % 5)
        extra = ""
        if sentiment == NEG and draw[5] % 1000 < 15:
            extra = pick(LEGAL[lang], int(draw[4]))
        elif brand_name == "Acme" and topic in (SHIPPING, BILLING) and draw[5] % 10 < 3:
            number = f"ACME-{100000 + int(draw[5]) % 900000}"
            extra = f" order {number}" if lang == "en" else f"（注文番号 {number}）"
        opener = pick(OPENERS[lang], int(draw[2])) if sentiment == NEG else ""
        body = f"{opener}{core}{extra}{close}"
        if plan.platform[i] == REDDIT and plan.kind[i] == ROOT:
            detail = self._core(lang, topic, sentiment, int(draw[0]) + 1).format(b=brand, o=other)
            title = core[:1].upper() + core[1:]
            return f"{title}\n\n{detail}{extra}{close}"
        return body

    @staticmethod
    def _core(lang: str, topic: int, sentiment: int, draw: int) -> str:
        negative, other = (EN_NEG, EN_OTHER) if lang == "en" else (JA_NEG, JA_OTHER)
        table = negative if sentiment == NEG else other
        return pick(table.get(topic) or table[NO_TOPIC], draw)


def pick(options: Sequence[str], draw: int | np.integer) -> str:
    return options[int(draw) % len(options)]


def topics_of(plan: Plan, i: int) -> list[str]:
    return [TOPIC_NAMES[t] for t in plan.topic_hits[i] if t >= 0]


def score_risk(plan: Plan, weights: RiskWeights) -> None:
    """Risk and its factors for every mention, by harken's own formula."""
    risk = np.empty(plan.n)
    factors: list[tuple[str, ...]] = []
    counts = (plan.likes, plan.reposts, plan.replies, plan.quotes)
    engagement = sum(np.maximum(c, 0) for c in counts)
    followers = plan.a_followers[plan.author - 1]
    verified = plan.a_verified[plan.author - 1]
    for i in range(plan.n):
        f = int(followers[i])
        signals = Signals(
            followers=f if f >= 0 else None,
            verified=bool(verified[i]),
            engagement=int(engagement[i]),
            incident_recent=int(plan.recent[i]),
        )
        risk[i], why = escalation_risk(
            float(plan.complaint[i]),
            float(plan.scores[i, NEG]),
            float(plan.abuse[i]),
            signals,
            topics_of(plan, i),
            weights,
        )
        factors.append(why)
    plan.risk, plan.factors = risk, factors


# --- routing and queues --------------------------------------------------------------------


@dataclass
class Items:
    """Queue item rows (item k has id k + 1), their events and alerts, and the routing JSON
    of every mention routed to one (the item's own post, and the posts that joined it)."""

    rows: list[dict[str, Any]]
    events: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    routing: dict[int, list[dict[str, Any]]]  # mention position -> its routing JSON


def route(plan: Plan, posts: Posts, config: Config, seed: int) -> Items:
    """Pick the complaints that open items, route them with harken's Router, and live
    each item's life up to the end of the generated window."""
    rng = np.random.default_rng(seed + 1)
    roots = plan.u_root
    complaint_roots = roots[plan.complaint[roots] >= 0.5]
    in_spike = plan.u_spike[plan.unit[complaint_roots]]
    wanted = QUEUED_SHARE * plan.n - in_spike.sum()
    share = min(1.0, max(0.0, wanted / max(1, (~in_spike).sum())))
    chosen = complaint_roots[in_spike | (rng.random(len(complaint_roots)) < share)]
    router = Router(config.routing, config.topics)
    planned: list[tuple[int, int, dict[str, Any]]] = []  # (routed at, position, decision)
    routing: dict[int, list[dict[str, Any]]] = {}
    for i in chosen.tolist():
        a = int(plan.author[i]) - 1
        f = int(plan.a_followers[a])
        subject = Subject(
            text=posts.text(i),
            platform=PLATFORMS[plan.platform[i]],
            brand=BRANDS[plan.u_brand[plan.unit[i]]],
            language="ja" if plan.u_lang[plan.unit[i]] else "en",
            followers=f if f >= 0 else None,
            verified=bool(plan.a_verified[a]),
            sentiment=SENTIMENTS[plan.sentiment[i]],
            complaint=float(plan.complaint[i]),
            abuse=float(plan.abuse[i]),
            risk=float(plan.risk[i]),
            topics=tuple(topics_of(plan, i)),
            topic_scores=dict(zip(TOPIC_NAMES, plan.topic_scores[i].tolist(), strict=True)),
        )
        decisions = router.route(subject)[:2]
        routing[i] = [
            {
                "department": d.department,
                "priority": d.priority.value,
                "rule": d.rule,
                "reason": d.reason,
            }
            for d in decisions
        ]
        planned += [(int(plan.routed[i]), i, decision) for decision in routing[i]]
    planned.sort(key=lambda t: (t[0], t[1]))
    posts.root_text.clear()

    end = plan.end
    k = len(planned)
    created = np.array([t[0] for t in planned], dtype=np.int64)
    sla = np.array(
        [
            config.department(d["department"]).sla_for(Priority(d["priority"])).total_seconds()
            for _, _, d in planned
        ],
        dtype=np.int64,
    )
    due = created + sla
    busy = np.array([plan.u_spike[plan.unit[i]] for _, i, _ in planned], dtype=bool)
    slow = np.where(busy, 2.5, 1.0)
    fate = rng.random(k)
    forgotten, dismissed = fate < 0.03, (fate >= 0.03) & (fate < 0.11)
    quiet = rng.random(k) < 0.15  # closed after a DM, no public reply
    never_closed = rng.random(k) < 0.15  # answered, then left open
    claim = created + np.maximum(30, rng.lognormal(0, 0.8, k) * 0.2 * sla * slow).astype(np.int64)
    respond = claim + np.maximum(30, rng.lognormal(0, 0.9, k) * 0.2 * sla * slow).astype(np.int64)
    resolve = np.where(
        quiet,
        claim + np.maximum(60, rng.lognormal(0, 1.0, k) * 0.5 * sla).astype(np.int64),
        respond + np.maximum(60, rng.lognormal(math.log(4 * HOUR), 1.2, k)).astype(np.int64),
    )
    dismiss = created + np.maximum(60, rng.lognormal(0, 1.0, k) * 0.6 * sla).astype(np.int64)
    claimed_first = rng.random(k) < 0.4
    never = np.iinfo(np.int64).max
    claim = np.where(forgotten | (dismissed & ~claimed_first), never, claim)
    claim = np.where(dismissed & (claim >= dismiss), never, claim)
    respond = np.where(forgotten | dismissed | quiet, never, respond)
    kept_open = forgotten | (never_closed & ~quiet)
    close = np.where(dismissed, dismiss, np.where(kept_open, never, resolve))
    # Waiting (new or claimed, no first response) until: what escalation looks at.
    waiting_until = np.minimum(respond, close)
    esc1 = due + rng.integers(0, 300, k)
    esc2 = due + sla + rng.integers(0, 300, k)
    level1 = (esc1 <= end) & (esc1 < waiting_until)
    level2 = level1 & (esc2 <= end) & (esc2 < waiting_until)

    rows: list[dict[str, Any]] = []
    events: list[tuple[int, int, dict[str, Any]]] = []
    item_of_unit: dict[int, list[int]] = {}
    for item, (_, i, _) in enumerate(planned):
        item_of_unit.setdefault(int(plan.unit[i]), []).append(item)
    joined_count = np.ones(k, dtype=np.int64)
    last_join = created.copy()
    members_of = _members_by_unit(plan, item_of_unit)
    for u, items in item_of_unit.items():
        members = members_of.get(u)
        if members is None:
            continue
        for item in items:
            upto = close[item] if close[item] <= end else never
            when = plan.routed[members]
            arrived = members[(when >= created[item]) & (when < upto)]
            if not len(arrived):
                continue
            joined_count[item] += len(arrived)
            last_join[item] = int(plan.routed[arrived].max())
            department, priority = planned[item][2]["department"], planned[item][2]["priority"]
            for j in arrived.tolist():
                routing.setdefault(j, []).append(
                    {
                        "department": department,
                        "priority": priority,
                        "rule": None,
                        "reason": f"joined item #{item + 1} of its incident",
                        "joined": True,
                    }
                )

    for item, (at, i, decision) in enumerate(planned):
        department = decision["department"]
        staff = STAFF.get(department, ["agent"])
        draw = int(rng.integers(1 << 30))
        assignee = pick(staff, draw) if claim[item] <= end else None
        seen = [at]
        status = "new"
        claimed_at = responded_at = closed_at = None
        closed_by = note = None

        def happened(when: int, *what: Any, item: int = item, seen: list[int] = seen) -> None:
            events.append((int(when), item, _event(item, when, *what)))
            seen.append(int(when))

        happened(at, "harken", "created", None, "new")
        if claim[item] <= end:
            claimed_at = utc(claim[item])
            happened(claim[item], assignee, "claimed", status, "claimed")
            status = "claimed"
        for level, reached, at_level in ((1, level1, esc1), (2, level2, esc2)):
            if reached[item]:
                target = department
                escalate_to = config.department(department).escalate_to
                if level == 2 and escalate_to:
                    target = escalate_to
                late = _human(int(at_level[item] - due[item]))
                why = f"level {level}: no first response {late} after due; alerted {target}"
                happened(at_level[item], "harken", "escalated", None, None, why)
        if respond[item] <= end:
            responded_at = utc(respond[item])
            where = f"replied on {PLATFORMS[plan.platform[i]]}"
            happened(respond[item], assignee, "replied", status, "responded", where)
            status = "responded"
        if close[item] <= end:
            closed_at = utc(close[item])
            to = "dismissed" if dismissed[item] else "resolved"
            closed_by = assignee or pick(staff, draw + 1)
            notes = DISMISS_NOTES if to == "dismissed" else RESOLVE_NOTES
            note = notes[(draw >> 3) % len(notes)]
            happened(close[item], closed_by, to, status, to, note)
            status = to
        escalation_level = 2 if level2[item] else 1 if level1[item] else 0
        if responded_at is not None:
            escalation_level = 0  # answered: no longer overdue
        escalated_at = esc2[item] if level2[item] else esc1[item] if level1[item] else None
        rows.append(
            {
                "id": item + 1,
                "mention_id": i + 1,
                "incident_id": int(plan.unit[i]) + 1,
                "department": department,
                "status": status,
                "priority": decision["priority"],
                "rule": decision["rule"],
                "reason": decision["reason"],
                "due_at": utc(due[item]),
                "created_at": utc(at),
                "updated_at": utc(max(*seen, int(last_join[item]))),
                "mentions": int(joined_count[item]),
                "assignee": assignee,
                "claimed_at": claimed_at,
                "responded_at": responded_at,
                "closed_at": closed_at,
                "closed_by": closed_by,
                "note": note,
                "escalated_at": utc(escalated_at) if escalated_at is not None else None,
                "escalation_level": escalation_level,
            }
        )
    events.sort(key=lambda e: (e[0], e[1]))
    event_rows = [{"id": n + 1, **e} for n, (_, _, e) in enumerate(events)]
    alerts = _alerts(plan, config, planned, rows, level1, level2, esc1, esc2)
    return Items(rows, event_rows, alerts, routing)


def _members_by_unit(plan: Plan, units: dict[int, list[int]]) -> dict[int, np.ndarray]:
    wanted = np.zeros(len(plan.u_size), dtype=bool)
    wanted[list(units)] = True
    positions = np.nonzero(wanted[plan.unit] & (plan.kind != ROOT))[0]
    if not len(positions):
        return {}
    by_unit = positions[np.argsort(plan.unit[positions], kind="stable")]
    unit_ids, starts = np.unique(plan.unit[by_unit], return_index=True)
    return dict(zip(unit_ids.tolist(), np.split(by_unit, starts[1:]), strict=True))


def _event(
    item: int,
    at: int | np.integer,
    actor: str | None,
    action: str,
    before: str | None,
    after: str | None,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "queue_item_id": item + 1,
        "at": utc(at),
        "actor": actor or "harken",
        "action": action,
        "from_status": before,
        "to_status": after,
        "note": note,
    }


def _human(seconds: int) -> str:
    if seconds < HOUR:
        return f"{max(1, seconds // 60)}m"
    if seconds < DAY:
        return f"{seconds // HOUR}h{(seconds % HOUR) // 60:02d}m"
    return f"{seconds // DAY}d{(seconds % DAY) // HOUR}h"


def _alerts(
    plan: Plan,
    config: Config,
    planned: list[tuple[int, int, dict[str, Any]]],
    items: list[dict[str, Any]],
    level1: np.ndarray,
    level2: np.ndarray,
    esc1: np.ndarray,
    esc2: np.ndarray,
) -> list[dict[str, Any]]:
    """Console alerts, as the outbox holds them once delivered: one per item worth alerting
    (the hourly cap holds the rest, critical ones excepted), escalations; spikes come later."""
    alerts: list[tuple[int, dict[str, Any]]] = []
    cap = config.alerts.max_per_hour
    critical = config.alerts.critical
    min_rank = config.alerts.min_priority.rank
    recent: dict[str, deque[int]] = {}
    for item, (at, i, decision) in enumerate(planned):
        priority = Priority(decision["priority"])
        risk = float(plan.risk[i])
        if priority.rank < min_rank and risk < config.alerts.min_risk:
            continue
        department = decision["department"]
        sent = recent.setdefault(department, deque())
        while sent and sent[0] <= at - HOUR:
            sent.popleft()
        bypass = priority.rank >= critical.priority.rank or risk >= critical.risk
        held = cap is not None and not bypass and len(sent) >= cap
        if not held:
            sent.append(at)
        incident = items[item]["incident_id"]
        alerts.append(
            (
                at,
                _alert(
                    f"console:incident-{incident}:{department}:item-{item + 1}",
                    "item",
                    at,
                    department,
                    held=held,
                    note=f"hourly cap: {len(sent)} alerts to {department} in the last hour "
                    f"(max {cap})"
                    if held
                    else None,
                    queue_item_id=item + 1,
                    mention_id=i + 1,
                    incident_id=incident,
                ),
            )
        )
        for level, happened, when in ((1, level1, esc1), (2, level2, esc2)):
            if not happened[item]:
                continue
            to = department
            escalate_to = config.department(department).escalate_to
            if level == 2 and escalate_to:
                to = escalate_to
            alerts.append(
                (
                    int(when[item]),
                    _alert(
                        f"console:escalation-{level}:item-{item + 1}",
                        "escalation",
                        int(when[item]),
                        to,
                        queue_item_id=item + 1,
                        mention_id=i + 1,
                        incident_id=incident,
                    ),
                )
            )
    alerts.sort(key=lambda a: a[0])
    return [a for _, a in alerts]


def _alert(
    key: str,
    kind: str,
    at: int,
    channel: str,
    held: bool = False,
    note: str | None = None,
    **ids: Any,
) -> dict[str, Any]:
    sent = None if held else utc(at + 2)
    return {
        "kind": kind,
        "queue_item_id": ids.get("queue_item_id"),
        "mention_id": ids.get("mention_id"),
        "spike_id": ids.get("spike_id"),
        "incident_id": ids.get("incident_id"),
        "payload": {},
        "sink": "console",
        "channel": channel,
        "idempotency_key": key,
        "status": "held" if held else "sent",
        "attempts": 0 if held else 1,
        "last_error": None,
        "note": note,
        "created_at": utc(at),
        "next_attempt_at": None,
        "sending_at": sent,
        "sent_at": sent,
        "remote_channel": None,
        "message_ts": None,
        "thread_ts": None,
    }


# --- incidents and spikes -------------------------------------------------------------------


def incident_rows(plan: Plan, posts: Posts, items: Items) -> list[dict[str, Any]]:
    units = len(plan.u_size)
    by_unit = np.lexsort((np.arange(plan.n), -plan.risk, plan.unit))
    first = np.searchsorted(plan.unit[by_unit], np.arange(units), "left")
    top = by_unit[first]
    last_seen = np.zeros(units, dtype=np.int64)
    np.maximum.at(last_seen, plan.unit, plan.ts)
    open_items = {r["incident_id"] for r in items.rows if r["closed_at"] is None}
    stale = plan.end - 2 * DAY
    rows = []
    for u in range(units):
        root = int(plan.u_root[u])
        platform = PLATFORMS[plan.platform[root]]
        resolved = last_seen[u] < stale and (u + 1) not in open_items and u % 10 != 0
        rows.append(
            {
                "id": u + 1,
                "brand": BRANDS[plan.u_brand[u]],
                "key": f"post:{platform}:{posts.ids(root)[0]}",
                "first_seen": utc(plan.ts[root]),
                "last_seen": utc(last_seen[u]),
                "size": int(plan.u_size[u]),
                "top_mention_id": int(top[u]) + 1,
                "top_risk": float(plan.risk[top[u]]),
                "status": "resolved" if resolved else "open",
            }
        )
    return rows


def spike_rows(plan: Plan, config: Config) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The spike hours, judged the way ``harken spikes`` judges them, and their alerts."""
    hours = (plan.end - plan.start) // HOUR
    acme = plan.u_brand[plan.unit] == ACME
    hour_of = (plan.ts - plan.start) // HOUR
    counts = np.bincount(hour_of[acme], minlength=hours)
    history = HourlyCounts.of({utc(plan.start + h * HOUR): int(c) for h, c in enumerate(counts)})
    s = config.spikes
    channel = s.department or config.digest.department
    spikes, alerts = [], []
    for n, h in enumerate(plan.spike_hours, start=1):
        hour_start = plan.start + h * HOUR
        verdict = judge(history, utc(hour_start), s)
        baseline = verdict.baseline
        if baseline is None:  # the first day: no history yet; what the rest of the days bring
            baseline = float(np.median(counts[h % 24 :: 24]))
        in_hour = np.nonzero(acme & (hour_of == h))[0]
        incidents, posts = np.unique(plan.unit[in_hour], return_counts=True)
        top = incidents[np.argsort(-posts, kind="stable")][:5] + 1
        detected = hour_start + HOUR + 60 + (h * 37) % 240
        spikes.append(
            {
                "id": n,
                "brand": "Acme",
                "series": "volume",
                "hour_start": utc(hour_start),
                "count": int(counts[h]),
                "baseline": float(baseline),
                "ratio": float(counts[h] / max(baseline, s.baseline_floor)),
                "p_value": float(verdict.p_value),
                "top_incidents": [int(t) for t in top],
                "terms": SPIKE_TERMS,
                "detected_at": utc(detected),
            }
        )
        alerts.append(_alert(f"console:spike-{n}", "spike", detected, channel, spike_id=n))
    return spikes, alerts


# --- writing ---------------------------------------------------------------------------------


class Progress:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def say(self, message: str) -> None:
        print(f"[{self.elapsed():6.1f}s] {message}", file=sys.stderr, flush=True)


def chunks(rows: Sequence[dict[str, Any]], size: int = CHUNK) -> Iterator[Sequence[dict[str, Any]]]:
    for k in range(0, len(rows), size):
        yield rows[k : k + size]


@contextmanager
def writing(store: Store) -> Iterator[Session]:
    """A session for one chunk (committed at the end); SQLite gets a cache that holds the
    indexes being filled (256 MB instead of 2), which keeps the last chunks as fast as the first."""
    with store.session() as session:
        if store.dialect == "sqlite":
            session.execute(text("PRAGMA cache_size=-262144"))
        yield session


def core(model: Any) -> Table:
    """The model's Core table: inserting into it is one executemany per chunk (an ORM insert
    groups rows by which of their values are None and runs many statements)."""
    return model.__table__  # type: ignore[no-any-return]


def bulk(
    store: Store, table: Any, rows: Sequence[dict[str, Any]], progress: Progress, name: str
) -> None:
    started = time.perf_counter()
    for part in chunks(rows):
        with writing(store) as session:
            session.execute(insert(core(table)), list(part))
    seconds = time.perf_counter() - started
    progress.say(f"{name}: {len(rows):,} rows, {len(rows) / max(seconds, 1e-9):,.0f} rows/s")


def mention_rows(
    plan: Plan, posts: Posts, items: Items, lo: int, hi: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    mentions, classifications = [], []
    reasons = {RETWEET: "retweet", QUOTE: "quote"}
    for i in range(lo, hi):
        u = int(plan.unit[i])
        root = int(plan.u_root[u])
        kind = int(plan.kind[i])
        platform = PLATFORMS[plan.platform[i]]
        external, url = posts.ids(i)
        ref_kind = ref_id = None
        conversation = external if plan.platform[i] in (X, BLUESKY, REDDIT) else None
        if kind == ROOT:
            reason = "new incident"
        else:
            root_external = posts.ids(root)[0]
            if kind in reasons:
                ref_kind, ref_id = reasons[kind], root_external
                reason = f"{ref_kind} of {platform}:{ref_id}"
                conversation = root_external if plan.platform[i] == X else conversation
            elif kind == REPLY:
                ref_kind, ref_id = "reply", root_external
                reason = f"similar in meaning (0.9{i % 10}) to mention {root + 1}"
                conversation = root_external
            elif kind == COPY:
                reason = f"same text as mention {root + 1}"
            elif kind == LINK:
                link = posts.ids(root)[1].removeprefix("https://")
                reason = f"shares the link {link} with mention {root + 1}"
            else:
                reason = f"similar in meaning (0.9{i % 10}) to mention {root + 1}"
        counts = {
            "likes": int(plan.likes[i]),
            "reposts": int(plan.reposts[i]),
            "replies": int(plan.replies[i]),
            "quotes": int(plan.quotes[i]),
            "impressions": int(plan.impressions[i]),
        }
        metrics = {k: v for k, v in counts.items() if v >= 0}
        lang = "ja" if plan.u_lang[u] else "en"
        created = utc(plan.ts[i])
        routed = utc(plan.routed[i])
        mid = i + 1
        mentions.append(
            {
                "id": mid,
                "platform": platform,
                "external_id": external,
                "brand": BRANDS[plan.u_brand[u]],
                "text": posts.text(i),
                "url": url,
                "language": lang,
                "created_at": created,
                "collected_at": utc(plan.collected[i]),
                "author_id": int(plan.author[i]),
                "likes": metrics.get("likes"),
                "reposts": metrics.get("reposts"),
                "replies": metrics.get("replies"),
                "quotes": metrics.get("quotes"),
                "metrics": metrics,
                "ref_kind": ref_kind,
                "ref_external_id": ref_id,
                "conversation_id": conversation,
                "source": platform,
                "raw": {},
                "routed_at": routed,
                "incident_id": u + 1,
                "incident_reason": reason,
                "routing": items.routing.get(i, []),
            }
        )
        scores = plan.scores[i]
        classified = int(plan.collected[i]) + (int(plan.routed[i]) - int(plan.collected[i])) // 2
        classifications.append(
            {
                "id": mid,
                "mention_id": mid,
                "model": "bench",
                "sentiment": SENTIMENTS[plan.sentiment[i]],
                "sentiment_scores": {
                    "negative": float(scores[NEG]),
                    "neutral": float(scores[NEU]),
                    "positive": float(scores[POS]),
                },
                "complaint": float(plan.complaint[i]),
                "abuse": float(plan.abuse[i]),
                "risk": float(plan.risk[i]),
                "risk_factors": list(plan.factors[i]),
                "topics": topics_of(plan, i),
                "topic_scores": dict(zip(TOPIC_NAMES, plan.topic_scores[i].tolist(), strict=True)),
                "language": lang,
                "created_at": utc(classified),
                "vector": None,
                "vector_model": None,
            }
        )
    return mentions, classifications


TABLES = (Author, Mention, Classification, Incident, Spike, QueueItem, QueueEvent, Alert)


def open_store(url: str, replace: bool) -> Store:
    """A migrated, empty store (emptied first with ``replace``), or Refused."""
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database in (None, "", ":memory:"):
        raise Refused("give a SQLite file (sqlite:///path.db): an in-memory store is lost")
    if sqlite and replace:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
    store = Store(url)
    with store.session() as session:
        held = session.execute(select(func.count()).select_from(Mention)).scalar_one()
        others = {
            t.__tablename__: session.execute(select(func.count()).select_from(t)).scalar_one()
            for t in TABLES
        }
    if (held or any(others.values())) and replace:
        with store.session() as session:  # not SQLite: empty the tables harken made
            names = ", ".join(t.name for t in reversed(Mention.metadata.sorted_tables))
            if store.dialect == "postgresql":
                session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(Mention.metadata.sorted_tables):
                    session.execute(table.delete())
        return store
    if held:
        store.close()
        raise Refused(
            f"the store already holds {held:,} mentions; pass --replace to start over "
            "(a SQLite file is deleted first, other databases are emptied)"
        )
    busy = [name for name, count in others.items() if count]
    if busy:
        store.close()
        raise Refused(f"the store is not empty ({', '.join(busy)}); pass --replace")
    return store


def reset_sequences(store: Store) -> None:
    if store.dialect != "postgresql":
        return
    with store.session() as session:
        for table in TABLES:
            name = table.__tablename__
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT max(id) FROM {name}))"
                    f" WHERE EXISTS (SELECT 1 FROM {name})"
                )
            )


def parse_end(value: str | None) -> int:
    if value is None:
        now = int(time.time())
        return now - now % HOUR
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise Refused("--end needs a time zone, e.g. 2026-12-01T00:00Z")
    seconds = int(moment.timestamp())
    return seconds - seconds % HOUR


def default_config_path(url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(f"{parsed.database}.config.yaml")
    return Path(__file__).resolve().parent / "data" / f"{parsed.database or 'store'}.config.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of the store to fill")
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end", help="last hour of data (ISO, aware); default: this hour")
    parser.add_argument("--config-out", type=Path, help="default: <sqlite db>.config.yaml")
    parser.add_argument("--replace", action="store_true", help="empty a non-empty store first")
    args = parser.parse_args(argv)
    if args.days < 2:
        parser.error("--days must be at least 2 (spikes need a day of history)")
    if args.mentions < 1000:
        parser.error("--mentions must be at least 1000")

    progress = Progress()
    config_path = args.config_out or default_config_path(args.db)
    store = None
    try:
        end = parse_end(args.end)
        store = open_store(args.db, args.replace)
        config = write_config(config_path, args.db)
        progress.say(f"store ready, config {config_path}; planning {args.mentions:,} mentions")
        plan = make_plan(args.mentions, args.days, args.seed, end)
    except (Refused, HarkenError, OSError) as err:
        print(f"make_store: {err}", file=sys.stderr)
        if store is not None:
            store.close()
        return 2
    weights = RiskWeights(**config.risk.model_dump())
    score_risk(plan, weights)
    authors = Authors(plan)
    posts = Posts(plan, authors)
    items = route(plan, posts, config, args.seed)
    progress.say(
        f"planned: {len(plan.a_platform):,} authors, {len(plan.u_size):,} incidents, "
        f"{len(items.rows):,} queue items"
    )

    counts: dict[str, int] = {}
    author_rows = [authors.row(a) for a in range(len(plan.a_platform))]
    bulk(store, Author, author_rows, progress, "authors")
    counts["authors"] = len(author_rows)
    del author_rows

    started = time.perf_counter()
    for lo in range(0, plan.n, CHUNK):
        hi = min(plan.n, lo + CHUNK)
        mentions, classifications = mention_rows(plan, posts, items, lo, hi)
        with writing(store) as session:
            session.execute(insert(core(Mention)), mentions)
            session.execute(insert(core(Classification)), classifications)
        rate = hi / (time.perf_counter() - started)
        progress.say(f"mentions + classifications: {hi:,}/{plan.n:,}, {rate:,.0f} mentions/s")
    counts["mentions"] = counts["classifications"] = plan.n

    incidents = incident_rows(plan, posts, items)
    bulk(store, Incident, incidents, progress, "incidents")
    counts["incidents"] = len(incidents)
    del incidents
    spikes, spike_alerts = spike_rows(plan, config)
    bulk(store, Spike, spikes, progress, "spikes")
    bulk(store, QueueItem, items.rows, progress, "queue_items")
    bulk(store, QueueEvent, items.events, progress, "queue_events")
    alerts = sorted(items.alerts + spike_alerts, key=lambda a: a["created_at"])
    alert_rows = [{"id": n + 1, **a} for n, a in enumerate(alerts)]
    bulk(store, Alert, alert_rows, progress, "alerts")
    counts |= {
        "spikes": len(spikes),
        "queue_items": len(items.rows),
        "queue_events": len(items.events),
        "alerts": len(alert_rows),
    }
    reset_sequences(store)
    if store.dialect == "sqlite":
        with store.session() as session:
            session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    store.close()
    shown = " · ".join(f"{name} {count:,}" for name, count in counts.items())
    print(f"make_store: {shown} · {progress.elapsed():.1f}s · config {config_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
