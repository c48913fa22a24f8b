#!/usr/bin/env python3
"""Generate harken's bundled demo data set: social posts about the fictional brand Acme.

Writes five JSONL files to ``harken/data/demo/``. Each line is in the platform's own API
JSON shape, so the demo goes through the same parsers as live data:

    x.jsonl         one X API v2 recent-search response page per line
    reddit.jsonl    one Reddit thing per line (t3 submission or t1 comment)
    bluesky.jsonl   one app.bsky.feed.defs#postView per line (as in searchPosts results)
    mastodon.jsonl  one Mastodon Status entity per line (as served by mastodon.social)
    rss.jsonl       one feed entry per line (the JSON-serialisable part of feedparser's)

The story covers the 72 hours before 2026-11-23T09:00:00Z. Acme (a consumer and business
cloud service, "Acme Cloud", "アクメ") announces a price increase and double-charges some
customers. An Android update breaks sync, and a phishing wave goes round. Then on Sunday
2026-11-22, from 05:02 to about 07:05 UTC, nobody can sign in: the outage storm. Globex is
the competitor. There are also a few "Acme anvil" cartoon posts that the demo config's
exclusion drops, a few posts that mention only Globex, and a few hostile texts (Slack
mrkdwn, rich markup, ANSI escapes, a CSV formula, HTML) that later stages must treat as
plain data.

Every post text is written by hand in the tables below. Everything else (ids, the seconds
of timestamps, follower and engagement counts) comes from per-item seeded
``random.Random`` instances, so the output is byte-identical on every run, and editing
one post does not shift any other.

Run from the repository root (stdlib only):

    .venv/bin/python scripts/make_demo_data.py
"""

# The post tables keep one post text per line, however long, so they read like the data they are.
# ruff: noqa: E501

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

SEED = "harken-demo-acme-2026"
ANCHOR = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # "now" for the demo: newest post before it
WINDOW_START = ANCHOR - timedelta(hours=72)
JST = timezone(timedelta(hours=9))
REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "harken" / "data" / "demo"


# ---------------------------------------------------------------------------------------------
# Determinism helpers
# ---------------------------------------------------------------------------------------------


def rng_for(*parts: object) -> random.Random:
    """A Random seeded from SEED and ``parts``, so every item draws from its own stream."""
    digest = hashlib.sha256("|".join((SEED, *map(str, parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def at(when: str, key: str) -> datetime:
    """'22 05:21' (day of November 2026, HH:MM UTC) -> aware datetime; the seconds come from
    ``key`` unless given ('22 05:21:07')."""
    day_of_month, clock = when.split()
    hms = [int(p) for p in clock.split(":")]
    second = hms[2] if len(hms) == 3 else rng_for("second", key).randrange(60)
    return datetime(2026, 11, int(day_of_month), hms[0], hms[1], second, tzinfo=UTC)


def day(date: str, key: str) -> datetime:
    """'2015-03-01' -> that day at a seeded time of day (account creation dates)."""
    r = rng_for("time-of-day", key)
    base = datetime.fromisoformat(date).replace(tzinfo=UTC)
    return base + timedelta(seconds=r.randrange(86400))


def iso_z(dt: datetime, ms: int = 0) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


def b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def engagement(key: str, followers: int, boost: float = 1.0) -> dict[str, int]:
    """Plausible long-tail engagement for a post by an account with ``followers``."""
    r = rng_for("engagement", key)
    views = int(followers * r.uniform(0.05, 0.45) * boost) + r.randrange(4, 80)
    likes = int(views * r.uniform(0.003, 0.035))
    reposts = int(likes * r.uniform(0.03, 0.3))
    return {
        "views": views,
        "likes": likes,
        "reposts": reposts,
        "replies": int(likes * r.uniform(0.02, 0.35)),
        "quotes": int(reposts * r.uniform(0.0, 0.25)),
        "bookmarks": int(likes * r.uniform(0.0, 0.12)),
    }


BOOST = {"outage": 2.5, "legal": 1.8, "billing": 1.5, "abuse": 1.3, "news": 2.0, "official": 1.5}

URL_RE = re.compile(r"https?://[^\s\]\[<>\"]+")
TRAILING_PUNCT = ".,!?:;)」』】"


def _trim_url(url: str) -> str:
    return url.rstrip(TRAILING_PUNCT)


# ---------------------------------------------------------------------------------------------
# X (Twitter) — API v2 recent-search response pages
# ---------------------------------------------------------------------------------------------

# username: (display name, followers, verified, account created)
X_USERS: dict[str, tuple[str, int, bool, str]] = {
    "acme": ("Acme", 498_200, True, "2009-02-11"),
    "acmesupport": ("Acme Support", 61_240, True, "2011-06-30"),
    "globex": ("Globex", 310_900, True, "2009-08-19"),
    "marcushale": ("Marcus Hale", 85_400, True, "2009-04-17"),
    "priya_writes": ("Priya Natarajan", 212_300, True, "2010-09-03"),
    "outagewatch": ("OutageWatch", 45_870, False, "2014-05-12"),
    "budget_becky": ("Becky | Frugal Living", 27_330, False, "2013-01-14"),
    "ryo_gadget": ("リョウ｜ガジェット好き", 24_510, False, "2014-03-02"),
    "dataprivacyguy": ("Felix | privacy nerd", 18_240, False, "2012-05-27"),
    "adam_sec": ("Adam | AppSec", 13_410, False, "2011-12-08"),
    "cartoonbuff": ("Saturday Morning Cartoons", 12_640, False, "2013-10-05"),
    "shun_dev": ("しゅん｜SRE", 11_820, False, "2012-11-21"),
    "dev_anya": ("Anya Petrova", 9_830, False, "2015-07-19"),
    "startupstephen": ("Stephen | building in public", 7_620, False, "2019-02-03"),
    "hiro_eng": ("ひろ@インフラ屋", 6_110, False, "2011-04-12"),
    "zoe_writes": ("Zoe Kaplan", 5_470, False, "2012-09-25"),
    "ellie_codes": ("Ellie", 4_120, False, "2017-09-09"),
    "yui_photo": ("ゆい📷", 3_920, False, "2016-06-01"),
    "kyle_ships": ("Kyle ships things", 3_340, False, "2017-01-20"),
    "leo_b": ("Leo B", 2_640, False, "2016-04-18"),
    "tanaka_office": ("田中｜小さな会社の情シス", 2_450, False, "2018-04-10"),
    "sam_devops": ("Sam Okafor", 2_310, False, "2016-02-22"),
    "oliviagrace": ("olivia grace", 2_020, False, "2014-08-30"),
    "amira_h": ("Amira H.", 1_890, False, "2018-03-15"),
    "kenji_t": ("けんじ🍜", 1_840, False, "2012-06-14"),
    "hannah_lee": ("Hannah Lee", 1_560, False, "2013-09-17"),
    "takuya_k": ("たくや", 1_230, False, "2013-04-01"),
    "promo_deals_24": ("🔥 Deals & Refunds 🔥", 1_212, False, "2026-11-02"),
    "nora_ux": ("Nora Lindqvist", 1_120, False, "2018-11-05"),
    "gamer_mike": ("mike 🎮", 1_005, False, "2020-03-28"),
    "yamamoto_s": ("山本 聡", 920, False, "2015-10-20"),
    "carlos_r": ("Carlos Rivera", 890, False, "2012-02-29"),
    "jordanb_": ("Jordan B", 760, False, "2014-02-10"),
    "mochi_mama": ("もちママ", 730, False, "2021-01-09"),
    "kate_m": ("Kate Mulligan", 670, False, "2016-12-12"),
    "raj_builds": ("Raj", 640, False, "2021-07-15"),
    "nate_codes": ("nate", 612, False, "2020-06-06"),
    "mxlin": ("Mx Lin", 530, False, "2019-05-23"),
    "lizzie_b": ("Lizzie 🌻", 412, False, "2017-04-04"),
    "mei_chan": ("めい", 410, False, "2022-02-14"),
    "emmaj": ("Emma J", 340, False, "2011-08-08"),
    "pat_it": ("Pat (IT guy)", 318, False, "2015-11-30"),
    "saito_yu": ("斎藤ゆう", 280, False, "2019-09-30"),
    "chris_k": ("chris k", 230, False, "2010-11-11"),
    "fionaw": ("Fiona W", 205, False, "2015-03-03"),
    "ben_t": ("Ben Turner", 150, False, "2018-07-07"),
    "rosie_m": ("Rosie M", 127, False, "2021-10-10"),
    "kaori_m": ("かおり", 96, False, "2023-05-18"),
    "tmoran_": ("Tom Moran", 88, False, "2022-10-30"),
    "wile_fan": ("Coyote Stan", 77, False, "2016-09-13"),
    "haru_0712": ("はる", 58, False, "2023-07-12"),
    "realjoebloggs": ("Joe", 54, False, "2020-12-25"),
    "devon_p": ("Devon", 44, False, "2024-01-02"),
    "angryphil77": ("Phil", 31, False, "2019-06-21"),
    "nekotaro": ("ねこたろう", 15, False, "2024-08-08"),
}


def tweet(key, when, author, lang, cat, text, *, reply_to=None, quote=None, metrics=None):
    return dict(
        key=key,
        when=when,
        author=author,
        lang=lang,
        cat=cat,
        text=text,
        reply_to=reply_to,
        quote=quote,
        retweet=None,
        metrics=metrics,
    )


def retweet(when, author, original):
    key = f"rt:{author}:{original}"
    return dict(
        key=key,
        when=when,
        author=author,
        lang=None,
        cat="retweet",
        text=None,
        reply_to=None,
        quote=None,
        retweet=original,
        metrics=None,
    )


# fmt: off
X_TWEETS = [
    # --- Friday 20 November -------------------------------------------------------------
    tweet("x_anya_migrating", "20 09:14", "dev_anya", "en", "neutral",
          "Migrating our team's docs to Acme Cloud this week. 40 people, 12 years of shared drives. Wish me luck 🫠"),
    tweet("x_kenji_backup", "20 09:40", "kenji_t", "ja", "praise",
          "アクメクラウドの写真自動バックアップ、地味に神。機種変したけど全部そのまま戻ってきた🙏"),
    tweet("x_acme_pricing", "20 10:02", "acme", "en", "official",
          "From Dec 1, Acme Cloud Plus moves to $11.99/mo. It funds 2x faster sync, smarter photo search and more storage options. Members get 30 days' notice by email. Details 👉 https://acme.example.com/blog/plus-pricing-2027 #acme"),
    tweet("x_becky_hike", "20 10:31", "budget_becky", "en", "billing",
          "$7.99 → $11.99 for the exact same 2TB?? A 50% price increase with a straight face. @acme this is not it. Cancelling Plus tonight. #acme #subscriptions"),
    tweet("x_lizzie_family", "20 11:05", "lizzie_b", "en", "question",
          "does acme cloud do shared family folders or do we all need separate plans? asking for my mum who has 9,000 photos of the dog"),
    tweet("x_support_lizzie", "20 11:20", "acmesupport", "en", "official",
          "@lizzie_b Hi Lizzie! Yes – Acme Family lets up to 6 people share 2TB plus a family folder. Setup guide: https://help.acme.example.com/family 🐶",
          reply_to="x_lizzie_family"),
    tweet("x_tmoran_crash", "20 12:48", "tmoran_", "en", "bug",
          "acme app crashes every single time i try to upload a video longer than ~2 min. iphone 16, latest version, reinstalled twice. @acmesupport pls"),
    tweet("x_yui_expiry", "20 13:10", "yui_photo", "ja", "question",
          "アクメのアプリで共有リンクに有効期限つけるのってどうやるの？設定画面どこ探してもない気がする…"),
    tweet("x_chris_desktop", "20 13:55", "chris_k", "en", "praise",
          "ok the new acme cloud desktop app is actually fast now?? who are you and what did you do with the old one"),
    tweet("x_sam_android", "20 15:12", "sam_devops", "en", "bug",
          "Acme sync on Android has been broken since the 6.2 update. Files sit at 'Pending' forever unless the app is open. Pixel 8, Android 17. Anyone else? #acme"),
    tweet("x_carlos_android", "20 15:40", "carlos_r", "en", "bug",
          "@sam_devops same here on a Galaxy S25. clearing acme's app data + logging back in fixed it for like a day",
          reply_to="x_sam_android"),
    tweet("x_nora_selective", "20 16:22", "nora_ux", "en", "feature",
          "Feature request for @acme: let me choose which folders sync on mobile instead of all-or-nothing. Globex has had this for two years now."),
    tweet("x_phil_double", "20 17:05", "angryphil77", "en", "billing",
          "@acmesupport you charged my card TWICE for November. $23.98. five days and not one reply. fix it"),
    tweet("x_mochi_album", "20 19:15", "mochi_mama", "ja", "question",
          "アクメのアプリで子どもの写真だけ自動でアルバムにまとめる機能ってある？手作業つらい〜"),
    tweet("x_cartoon_anvil", "20 20:03", "cartoonbuff", "en", "excluded",
          "Ranking every ACME anvil drop in Road Runner history. The 1952 one still makes me cry laughing. Full list tomorrow 🪨 #LooneyTunes"),
    tweet("x_nekotaro_support", "20 23:45", "nekotaro", "ja", "abuse",
          "アクメのサポートまじで無能すぎ。テンプレ返信しかできねーのかよ。同じ説明するの3回目だぞ"),
    # --- Saturday 21 November -----------------------------------------------------------
    tweet("x_saito_crash", "21 00:30", "saito_yu", "ja", "bug",
          "アクメのアプリ、iOS 27.1にしてから開くたびに落ちる😇 再インストールしてもダメ。写真見れないんだけど"),
    tweet("x_tanaka_double", "21 01:15", "tanaka_office", "ja", "billing",
          "アクメクラウドの法人プラン、今月の請求が二重になってる。経理から問い合わせ来た…サポートに連絡したけどまだ返事なし"),
    tweet("x_ryo_compare", "21 02:40", "ryo_gadget", "ja", "comparison",
          "アクメクラウドとGlobexドライブを1ヶ月使い比べてみた。容量単価はGlobex、同期の速さと写真検索はアクメの圧勝。写真メインならアクメかなぁ https://ryo-gadget.example.jp/acme-vs-globex"),
    tweet("x_felix_gdpr", "21 03:10", "dataprivacyguy", "en", "legal",
          "Acme quietly changed its privacy policy on Nov 18 to allow 'sharing de-identified usage data with partners'. No email, no opt-out. GDPR complaint filed with the Irish DPC this morning. #acme #gdpr"),
    tweet("x_hannah_thanks", "21 04:20", "hannah_lee", "en", "praise",
          "shoutout to @acmesupport – Rin sorted out my account lockout in 10 minutes on a saturday morning 💙"),
    tweet("x_olivia_export", "21 07:10", "oliviagrace", "en", "question",
          "how do I export everything out of acme cloud in one go?? 200GB and the web UI only lets me download 50 files at a time 😩"),
    tweet("x_support_olivia", "21 07:40", "acmesupport", "en", "official",
          "@oliviagrace Hi Olivia – go to Settings → Account → Export my data (Acme Takeout). We'll email you download links, split into 10GB archives.",
          reply_to="x_olivia_export"),
    tweet("x_adam_phish", "21 09:12", "adam_sec", "en", "neutral",
          "Heads up: Acme-branded phishing wave going around. 'Your Acme Cloud storage is full, verify payment' → acme-cloud-verify[.]example. Don't click. @acme please warn your users."),
    tweet("x_kate_breach", "21 10:05", "kate_m", "en", "legal",
          "Got an email saying my Acme password was found in a data breach?? Was Acme hacked or is this the phishing thing? If my data was leaked I'd like to hear it from Acme, not from a random email"),
    tweet("x_mike_bot", "21 11:30", "gamer_mike", "en", "abuse",
          "@acmesupport your support bot is dumber than a bag of rocks. 3rd time explaining the same thing to a useless script. do your damn jobs"),
    tweet("x_raj_vault", "21 12:44", "raj_builds", "en", "feature",
          "@acme please add an end-to-end encrypted vault folder. I'd happily pay extra for it. Globex and literally everyone else has one now"),
    tweet("x_emma_cancel", "21 13:20", "emmaj", "en", "churn",
          "Cancelling Acme after 6 years. The price hike + the Android sync mess = done. Moved to Globex, their import tool pulled everything over in one night."),
    tweet("x_globex_promo", "21 14:02", "globex", "en", "competitor",
          "Moving house? Moving clouds? 🚚 Globex Drive imports your whole library in one click. 3 months free for new members this weekend → https://globex.example.com/switch"),
    tweet("x_fiona_cancel", "21 15:40", "fionaw", "en", "billing",
          "cancelling acme is a nightmare. 'contact us to cancel' → chat → 'are you sure?' x4 → retention offer → 'call this number' which is closed on weekends. pretty sure that's illegal in California @acmesupport"),
    tweet("x_haru_thesis", "21 16:25", "haru_0712", "ja", "praise",
          "アクメのおかげで卒論データ救われた…PCぶっ壊れたけどクラウドに全部残ってた😭 アクメ神"),
    tweet("x_yamamoto_2fa", "21 19:30", "yamamoto_s", "ja", "question",
          "アクメクラウドの2段階認証って、SMS以外に認証アプリ（Google Authenticatorとか）に対応してる？"),
    tweet("x_devon_2fa", "21 20:10", "devon_p", "en", "bug",
          "acme 2FA code never arrives. tried 6 times. locked out of my own files lmao @acmesupport"),
    tweet("x_phil_lawyer", "21 21:45", "angryphil77", "en", "legal",
          "Day 6, no response on the double charge. @acmesupport I'm talking to my lawyer on Monday. You took my money twice in one second, you can give it back. #acme"),
    tweet("x_hiro_cli", "21 22:30", "hiro_eng", "ja", "feature",
          "アクメクラウド、公式CLI出してくれたらサーバーのバックアップ先にするのになぁ。API直叩きはつらい"),
    tweet("x_wile_anvil", "21 23:55", "wile_fan", "en", "excluded",
          "just bought a vintage Acme anvil paperweight off eBay. 10/10 would drop on a roadrunner"),
    # --- Sunday 22 November, before the outage ------------------------------------------
    tweet("x_mxlin_search", "22 01:20", "mxlin", "en", "praise",
          "acme's photo search is unreasonably good. typed 'red bicycle' and it found a pic from 2017 where the bike is like 20px in the corner"),
    tweet("x_nora_onboarding", "22 03:30", "nora_ux", "en", "praise",
          "Designing onboarding for a B2B tool and honestly just studying Acme Cloud's first-run flow. It's very good. It's very annoying that it's very good."),
    # --- the outage storm: Sunday 22 November, 05:02-07:05 UTC --------------------------
    tweet("x_outagewatch", "22 05:04", "outagewatch", "en", "outage",
          "⚠️ Acme Cloud is having problems since 05:02 UTC. Most reported: login (62%), app (28%), file sync (10%). https://outagewatch.example.com/acme-cloud #acmedown"),
    tweet("x_kenji_down", "22 05:06", "kenji_t", "ja", "outage",
          "アクメ落ちてる？ログインできないんだけど"),
    tweet("x_sam_502", "22 05:07", "sam_devops", "en", "outage",
          "acme cloud returning 502 Bad Gateway on every request. status page all green of course 🙃 #acme"),
    tweet("x_chris_down", "22 05:09", "chris_k", "en", "outage",
          "is acme down or is it just me"),
    tweet("x_hiro_502", "22 05:11", "hiro_eng", "ja", "outage",
          "アクメクラウドのAPI全部502返してくるんだが。日曜のバックアップジョブ全滅ｗｗ"),
    tweet("x_yui_down", "22 05:13", "yui_photo", "ja", "outage",
          "アクメ落ちてる！？今日中に撮影データ納品しなきゃいけないのにダウンロードできない😱😱"),
    tweet("x_anya_down", "22 05:18", "dev_anya", "en", "outage",
          "Friday: moved our whole team onto Acme Cloud. Sunday: Acme Cloud is down. Fantastic timing 🔥🐶☕"),
    tweet("x_marcus_chain", "22 05:21", "marcushale", "en", "outage",
          "@acme your whole platform has been down for 20 minutes, nobody can log in, your status page says 'All Systems Operational', AND you charged me twice this month. I pay for 4 business seats. This is embarrassing. #acme #acmedown",
          metrics={"retweet_count": 1243, "reply_count": 312, "like_count": 4870, "quote_count": 96,
                   "bookmark_count": 141, "impression_count": 402311}),
    tweet("x_shun_chain", "22 05:24", "shun_dev", "ja", "outage",
          "アクメクラウド、ログインできないし502出るし、ステータスページは全部緑。連休中の障害で告知もなしはさすがにひどい。仕事のファイル全部アクメに置いてるんだけど…",
          metrics={"retweet_count": 386, "reply_count": 41, "like_count": 1204, "quote_count": 12,
                   "bookmark_count": 55, "impression_count": 98450}),
    tweet("x_support_aware", "22 05:30", "acmesupport", "en", "official",
          "We're aware some users can't sign in to Acme Cloud or are seeing errors. Our engineers are investigating. Updates: https://status.acme.example.com"),
    tweet("x_support_aware_ja", "22 05:33", "acmesupport", "ja", "official",
          "現在、一部のお客様がアクメクラウドにログインできない事象を確認しております。ご迷惑をおかけし申し訳ございません。最新情報はステータスページをご確認ください。"),
    tweet("x_anya_quote", "22 05:36", "dev_anya", "en", "outage",
          "Same. Acme's 'All Systems Operational' banner is honestly the most insulting part.",
          quote="x_marcus_chain"),
    tweet("x_mike_clowns", "22 05:38", "gamer_mike", "en", "abuse",
          "imagine paying $12/mo for a cloud that's down more than my grandma's wifi. acme engineers are actual clowns 🤡🤡"),
    tweet("x_ellie_ci", "22 05:42", "ellie_codes", "en", "outage",
          "acme cloud is down. our CI pulls test fixtures from acme cloud. therefore our CI is down. a short story about single points of failure #acmedown"),
    tweet("x_nekotaro_kusa", "22 05:44", "nekotaro", "ja", "outage",
          "アクメ落ちてて草"),
    tweet("x_priya_outage", "22 05:50", "priya_writes", "en", "news",
          "Acme Cloud appears to be suffering a major outage — login failures and 502 errors reported across the US, EU and Japan since ~05:00 UTC. I've asked Acme for comment. If you're affected, DMs are open."),
    tweet("x_adam_quote", "22 05:52", "adam_sec", "en", "outage",
          "Status pages that are updated by hand are a lie waiting to happen. Acme is learning this the hard way today.",
          quote="x_marcus_chain"),
    tweet("x_joe_und", "22 05:55", "realjoebloggs", "und", "outage",
          "@acmesupport 😡😡😡"),
    tweet("x_stephen_trust", "22 06:02", "startupstephen", "en", "comparison",
          "This is exactly why we moved off Acme. Not the outage itself, everyone has outages. But 'All Systems Operational' for 50 minutes while nobody can log in? Trust is the product."),
    tweet("x_kate_sue", "22 06:05", "kate_m", "en", "legal",
          "Acme goes down the same week my password shows up in a 'breach notice'. If my data was leaked I will sue, I'm not joking. @acme"),
    tweet("x_becky_quote", "22 06:12", "budget_becky", "en", "billing",
          "The double charge part is NOT a one-off. I've had 40+ DMs this month from people Acme billed twice. #acme",
          quote="x_marcus_chain"),
    tweet("x_support_identified", "22 06:40", "acmesupport", "en", "official",
          "Update: we've identified the cause of the Acme Cloud sign-in failures and are rolling out a fix. Your files are safe and no data has been lost. Next update within 30 minutes."),
    tweet("x_kenji_back", "22 06:48", "kenji_t", "ja", "outage",
          "アクメ復活してきた？さっきログインできた"),
    tweet("x_acme_restored", "22 07:20", "acme", "en", "official",
          "Acme Cloud sign-in and sync are restored for all users. We're sorry, today fell well short of what you expect from us. A full incident report will follow within 72 hours. #acme"),
    # --- aftermath ----------------------------------------------------------------------
    tweet("x_mei_double", "22 12:30", "mei_chan", "ja", "billing",
          "アクメの請求、よく見たら二重になってた…返金申請したけど2週間くらいかかるらしい。取るのは一瞬なのになんでｗ"),
    tweet("x_carlos_compare", "22 14:05", "carlos_r", "en", "comparison",
          "Acme vs Globex after today: Globex has had 2 big outages this year, Acme 1. people have short memories lol. still annoying tho"),
    tweet("x_support_phil", "22 15:40", "acmesupport", "en", "official",
          "@angryphil77 We're sorry for the wait, Phil. We've found the duplicate November charge and issued a refund of $11.99 today; it can take 5–10 business days to show. – Acme Support",
          reply_to="x_phil_lawyer"),
    tweet("x_phil_classaction", "22 16:15", "angryphil77", "en", "legal",
          "@acmesupport 5-10 business days to give back money you took in one second. class action lawyers are going to love acme",
          reply_to="x_support_phil"),
    tweet("x_ben_touchgrass", "22 19:20", "ben_t", "en", "abuse",
          "@gamer_mike you're the clown mate. crying on here about a 2 hour outage on a $12 plan like you lost a kidney. touch grass #acme",
          reply_to="x_mike_clowns"),
    tweet("x_tanaka_lawyer", "22 20:40", "tanaka_office", "ja", "legal",
          "アクメの法人プラン、二重請求に加えて今日の障害で業務が半日止まった。SLA違反として弁護士に相談中。返金だけで済ませる気ならこっちは訴訟を検討する"),
    tweet("x_hiro_globex", "22 21:30", "hiro_eng", "ja", "churn",
          "今日のアクメ障害を受けて、バックアップ先をGlobexと二重化することにした。アクメ一本足はもうやめる"),
    tweet("x_raj_sla", "22 22:55", "raj_builds", "en", "question",
          "does acme cloud give SLA credits on consumer plans or only business? asking after today #acme"),
    # --- Monday 23 November -------------------------------------------------------------
    tweet("x_priya_cause", "23 01:40", "priya_writes", "en", "news",
          "NEW: Acme says Sunday's ~2h outage was caused by an expired certificate on an internal auth service, not an attack. Plus and Business customers get a one-month credit. My story: https://theledger.example.com/2026/11/23/acme-outage-cause"),
    tweet("x_olivia_credit", "23 02:30", "oliviagrace", "en", "praise",
          "credit where it's due: acme auto-applied a free month to my account after the outage, no ticket needed. that's how you do it"),
    tweet("x_jordan_bye", "23 03:15", "jordanb_", "en", "churn",
          "finally got everything out of Acme with their Takeout thing and moved it all to Globex. took 3 evenings. goodbye acme 👋"),
    tweet("x_promo_markup", "23 04:40", "promo_deals_24", "en", "hostile",
          "[bold red]URGENT[/bold red] Acme Cloud outage compensation: claim your $50 credit before midnight [link=http://evil.example]click[/link] #acme"),
    tweet("x_kaori_dark", "23 06:30", "kaori_m", "ja", "feature",
          "アクメのアプリ、ダークモードだと文字がグレーすぎて読めない…コントラスト上げてほしい〜"),
    tweet("x_adam_postmortem", "23 07:45", "adam_sec", "en", "neutral",
          "Read Acme's preliminary incident note: expired internal cert, no evidence of data exposure. The 'breach' emails from last week were unrelated phishing. Still a good day to rotate your Acme password and move 2FA to an authenticator app."),
    tweet("x_takuya_stay", "23 08:30", "takuya_k", "ja", "praise",
          "なんだかんだ言ってアクメクラウド使い続けるわ。障害はあったけど乗り換えるほどじゃないし、写真検索が便利すぎる"),
]

X_RETWEETS = [
    # the big chain: Marcus Hale's angry outage + double-charge tweet
    retweet("22 05:23", "jordanb_", "x_marcus_chain"),
    retweet("22 05:25", "kyle_ships", "x_marcus_chain"),
    retweet("22 05:27", "amira_h", "x_marcus_chain"),
    retweet("22 05:31", "nate_codes", "x_marcus_chain"),
    retweet("22 05:34", "ellie_codes", "x_marcus_chain"),
    retweet("22 05:40", "zoe_writes", "x_marcus_chain"),
    retweet("22 05:46", "pat_it", "x_marcus_chain"),
    retweet("22 05:57", "rosie_m", "x_marcus_chain"),
    retweet("22 06:09", "chris_k", "x_marcus_chain"),
    retweet("22 06:15", "tmoran_", "x_marcus_chain"),
    retweet("22 06:21", "leo_b", "x_marcus_chain"),
    retweet("22 06:33", "fionaw", "x_marcus_chain"),
    retweet("22 06:52", "emmaj", "x_marcus_chain"),
    retweet("22 07:38", "startupstephen", "x_marcus_chain"),
    # the smaller Japanese chain
    retweet("22 05:26", "mei_chan", "x_shun_chain"),
    retweet("22 05:39", "haru_0712", "x_shun_chain"),
    retweet("22 05:58", "kaori_m", "x_shun_chain"),
    retweet("22 06:27", "takuya_k", "x_shun_chain"),
]
# fmt: on

TWITTER_EPOCH_MS = 1288834974657
# Pre-snowflake X user ids grew roughly like this by year of sign-up.
_LEGACY_USER_IDS = {
    2009: (20_000_000, 99_000_000),
    2010: (100_000_000, 230_000_000),
    2011: (230_000_000, 460_000_000),
    2012: (460_000_000, 1_100_000_000),
    2013: (1_100_000_000, 2_300_000_000),
    2014: (2_300_000_000, 2_950_000_000),
    2015: (2_950_000_000, 4_700_000_000),
}


def x_snowflake(dt: datetime, key: str) -> str:
    r = rng_for("x-snowflake", key)
    ms = int(dt.timestamp()) * 1000 + r.randrange(1000)
    return str(((ms - TWITTER_EPOCH_MS) << 22) | (r.randrange(1024) << 12) | r.randrange(4096))


def x_user_id(username: str) -> str:
    created = day(X_USERS[username][3], f"x-user:{username}") if username in X_USERS else None
    if created is None or created.year >= 2016:
        return x_snowflake(created or datetime(2017, 1, 1, tzinfo=UTC), f"user:{username}")
    low, high = _LEGACY_USER_IDS[created.year]
    return str(rng_for("x-user-id", username).randrange(low, high))


def x_user(username: str) -> dict[str, Any]:
    name, followers, verified, created = X_USERS[username]
    r = rng_for("x-user", username)
    created_dt = day(created, f"x-user:{username}")
    years = max(0.3, (ANCHOR - created_dt).days / 365.25)
    following = (
        min(int(r.lognormvariate(5.6, 0.9)), 4800) if username not in ("acme", "globex") else 212
    )
    return {
        "id": x_user_id(username),
        "name": name,
        "username": username,
        "verified": verified,
        "created_at": iso_z(created_dt),
        "public_metrics": {
            "followers_count": followers,
            "following_count": following,
            "tweet_count": int(years * r.uniform(150, 2600)) + 12,
            "listed_count": int(followers / r.uniform(40, 160)),
        },
    }


def _tco(url: str) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    r = rng_for("t.co", url)
    return "https://t.co/" + "".join(r.choice(alphabet) for _ in range(10))


def x_text(text: str) -> tuple[str, dict[str, str]]:
    """Links in tweet text become t.co links, as X serves them. Hosts under the reserved
    .example TLD are not linkified (X would not), so hostile texts stay as written."""
    expanded: dict[str, str] = {}

    def shorten(match: re.Match[str]) -> str:
        url = _trim_url(match.group(0))
        host = urlsplit(url).hostname
        if host is None or host.endswith(".example"):
            return match.group(0)
        short = _tco(url)
        expanded[short] = url
        return short + match.group(0)[len(url) :]

    return URL_RE.sub(shorten, text), expanded


def x_entities(text: str, expanded: dict[str, str]) -> dict[str, Any]:
    entities: dict[str, Any] = {}
    mentions = [
        {"start": m.start(), "end": m.end(), "username": m.group(1), "id": x_user_id(m.group(1))}
        for m in re.finditer(r"(?<![\w@])@([A-Za-z0-9_]{1,15})", text)
    ]
    hashtags = [
        {"start": m.start(), "end": m.end(), "tag": m.group(1)}
        for m in re.finditer(r"(?<![\w&])#(?!\d+\b)(\w+)", text)
    ]
    urls = []
    for m in re.finditer(r"https://t\.co/[A-Za-z0-9]{10}", text):
        if m.group(0) in expanded:
            full = expanded[m.group(0)]
            display = re.sub(r"^https?://(www\.)?", "", full)
            urls.append(
                {
                    "start": m.start(),
                    "end": m.end(),
                    "url": m.group(0),
                    "expanded_url": full,
                    "display_url": display if len(display) <= 26 else display[:25] + "…",
                }
            )
    if hashtags:
        entities["hashtags"] = hashtags
    if mentions:
        entities["mentions"] = mentions
    if urls:
        entities["urls"] = urls
    return entities


def build_x() -> list[dict[str, Any]]:
    specs = sorted(X_TWEETS + X_RETWEETS, key=lambda s: at(s["when"], s["key"]))
    by_key = {s["key"]: s for s in specs}
    ids = {s["key"]: x_snowflake(at(s["when"], s["key"]), s["key"]) for s in specs}
    counts: dict[str, dict[str, int]] = {k: {"retweet": 0, "reply": 0, "quote": 0} for k in ids}
    for s in specs:
        for kind, target in (
            ("retweet", s["retweet"]),
            ("reply", s["reply_to"]),
            ("quote", s["quote"]),
        ):
            if target:
                counts[target][kind] += 1

    tweets: dict[str, dict[str, Any]] = {}
    for s in specs:  # chronological, so a referenced tweet is always built first
        key, created = s["key"], at(s["when"], s["key"])
        if s["retweet"]:
            original = tweets[s["retweet"]]
            orig_user = by_key[s["retweet"]]["author"]
            text = f"RT @{orig_user}: {original['text']}"
            if len(text) > 140:
                text = text[:139] + "…"
            expanded: dict[str, str] = {}
            lang = original["lang"]
            metrics = {
                "retweet_count": original["public_metrics"]["retweet_count"],
                "reply_count": 0,
                "like_count": 0,
                "quote_count": 0,
                "bookmark_count": 0,
                "impression_count": 0,
            }
        else:
            text, expanded = x_text(s["text"])
            lang = s["lang"]
            if s["metrics"]:
                metrics = dict(s["metrics"])
            else:
                e = engagement(key, X_USERS[s["author"]][1], BOOST.get(s["cat"], 1.0))
                metrics = {
                    "retweet_count": e["reposts"],
                    "reply_count": e["replies"],
                    "like_count": e["likes"],
                    "quote_count": e["quotes"],
                    "bookmark_count": e["bookmarks"],
                    "impression_count": e["views"],
                }
            c = counts[key]
            metrics["retweet_count"] = max(metrics["retweet_count"], c["retweet"])
            metrics["reply_count"] = max(metrics["reply_count"], c["reply"])
            metrics["quote_count"] = max(metrics["quote_count"], c["quote"])
        t: dict[str, Any] = {
            "id": ids[key],
            "text": text,
            "author_id": x_user_id(s["author"]),
            "created_at": iso_z(created),
            "lang": lang,
            "conversation_id": tweets[s["reply_to"]]["conversation_id"]
            if s["reply_to"]
            else ids[key],
            "public_metrics": metrics,
        }
        for kind, target in (
            ("retweeted", s["retweet"]),
            ("quoted", s["quote"]),
            ("replied_to", s["reply_to"]),
        ):
            if target:
                t["referenced_tweets"] = [{"type": kind, "id": ids[target]}]
        entities = x_entities(text, expanded)
        if entities:
            t["entities"] = entities
        tweets[key] = t

    # Cut the timeline into search pages of 5-15 tweets, oldest page first.
    r = rng_for("x-pages")
    keys = [s["key"] for s in specs]
    pages, start = [], 0
    while start < len(keys):
        size = r.randint(5, 15)
        if len(keys) - (start + size) < 5:  # never leave a runt page at the end
            size = len(keys) - start
        pages.append(keys[start : start + size])
        start += size

    out = []
    for page_keys in pages:
        data = [tweets[k] for k in page_keys]
        referenced: list[str] = []
        for k in page_keys:
            for target in (by_key[k]["retweet"], by_key[k]["quote"], by_key[k]["reply_to"]):
                if target and target not in referenced:
                    referenced.append(target)
        authors: list[str] = []
        for k in page_keys + referenced:
            if by_key[k]["author"] not in authors:
                authors.append(by_key[k]["author"])
        includes: dict[str, Any] = {"users": [x_user(u) for u in authors]}
        if referenced:
            includes["tweets"] = [tweets[k] for k in referenced]
        ids_in_page = [t["id"] for t in data]
        out.append(
            {
                "data": data,
                "includes": includes,
                "meta": {
                    "newest_id": max(ids_in_page, key=int),
                    "oldest_id": min(ids_in_page, key=int),
                    "result_count": len(data),
                },
            }
        )
    return out


# ---------------------------------------------------------------------------------------------
# Reddit — things (t3 submissions, t1 comments), as returned with raw_json=1
# ---------------------------------------------------------------------------------------------


def sub(
    key,
    when,
    subreddit,
    author,
    cat,
    title,
    selftext="",
    *,
    url=None,
    score,
    num_comments,
    lang="en",
):
    return dict(
        kind="t3",
        key=key,
        when=when,
        subreddit=subreddit,
        author=author,
        cat=cat,
        title=title,
        selftext=selftext,
        url=url,
        score=score,
        num_comments=num_comments,
        lang=lang,
    )


def com(key, when, parent, author, cat, body, *, score=None, lang="en"):
    return dict(
        kind="t1",
        key=key,
        when=when,
        parent=parent,
        author=author,
        cat=cat,
        body=body,
        score=score,
        lang=lang,
    )


# fmt: off
REDDIT_THINGS = [
    sub("r_price", "20 11:40", "acme", "plusdrama_22", "billing",
        "Plus price increase to $11.99 – is Acme Cloud still worth it?",
        "Got the email this morning. $7.99 → $11.99 starting Dec 1. I use maybe 600GB of the 2TB.\n\n"
        "Family plan is going to $17.99 too. Is anyone actually staying? What are you moving to?",
        score=412, num_comments=231),
    com("r_price_c1", "20 12:05", "r_price", "happy_hoarder", "praise",
        "Staying. Family plan split 5 ways is still about $3.60 each, and Acme's photo search is the best out there. "
        "Price hikes suck but the math still works for us."),
    com("r_price_c2", "20 12:40", "r_price_c1", "nope_not_paying", "abuse",
        "\"the math still works\" lol. enjoy paying 50% more for the exact same product. "
        "people like you are the reason Acme keeps doing this. absolute sheep.", score=-14),
    com("r_price_c3", "20 14:30", "r_price", "quietgeek", "feature",
        "I'd stay if Acme added selective sync on mobile and E2EE folders. Globex has both for $9.99. "
        "That's the comparison that matters, not last year's price."),
    sub("r_android", "20 16:05", "Android", "pixel_pusher_", "bug",
        "Acme Cloud 6.2 broke background sync on Android 17",
        "Since the Acme app updated to 6.2, files just sit at \"Pending\" unless the app is open in the foreground. "
        "Pixel 8 Pro, Android 17, battery optimization is off for the app.\n\nAnyone found a fix?",
        score=287, num_comments=64),
    com("r_android_c1", "20 16:40", "r_android", "samsung_sam", "bug",
        "Same on an S25. Clearing Acme's app data and logging in again fixed it for a day, then back to pending."),
    com("r_android_c2", "20 18:20", "r_android", "AcmeSupport_Rin", "official",
        "Hi all, Rin from Acme Support here. We've reproduced the 6.2 background sync issue on Android 17 and the fix "
        "is in 6.2.1, rolling out over the next 48 hours. Sorry about this!", score=96),
    com("r_android_c3", "21 09:00", "r_android_c2", "droidgrump", "abuse",
        "\"rolling out over 48 hours\" my ass. do you people test anything before you ship it? "
        "acme QA must be one intern and a hamster", score=41),
    sub("r_albums", "21 02:10", "acme", "scrapbook_sue", "question",
        "How do I export shared albums WITH the comments?",
        "My family has a shared album in Acme with ~3k photos and years of comments on them. "
        "Acme Takeout gives me the photos but none of the comments. Is there any way to get those out?",
        score=23, num_comments=6),
    com("r_albums_c1", "21 03:40", "r_albums", "kintsugi_dev", "question",
        "The Acme API has an /albums/{id}/comments endpoint. I wrote a small script for exactly this last year, "
        "happy to share. No idea why Takeout leaves them out."),
    sub("r_pf", "21 08:20", "personalfinance", "ledger_lady", "billing",
        "Cloud storage company charged me twice and won't refund – chargeback now or wait?",
        "Acme Cloud charged my card $11.99 twice on Nov 14. Support said I'd get a refund \"within 5-10 business days\" "
        "on Nov 15. Nothing yet.\n\nIs it too early for a chargeback? I don't want them to lock my account, "
        "it has 15 years of photos.", score=158, num_comments=47),
    com("r_pf_c1", "21 09:10", "r_pf", "budget_becky", "billing",
        "Call your card issuer and ask about a dispute. Also file a CFPB complaint – Acme answers those way faster "
        "than its own support queue, ask me how I know."),
    com("r_pf_c2", "21 11:45", "r_pf", "ex_acme_csr", "billing",
        "Former Acme support here. The double charges come from a payment-retry bug and refunds get batched weekly. "
        "If it's been more than 10 business days, dispute it. They won't lock you out over a legit chargeback."),
    sub("r_selfhosted", "21 18:30", "selfhosted", "homelab_hank", "churn",
        "Finally left Acme Cloud: Nextcloud + Backblaze B2 migration notes",
        "After 7 years on Acme and the new $11.99 price I moved 1.4TB to a Nextcloud box in my closet.\n\n"
        "1. Request Acme Takeout (took 9 hours to get the links)\n"
        "2. Download the 10GB zips with aria2c, 4 at a time\n"
        "3. Restore dates with exiftool, because the zips lose the original mtimes\n"
        "4. rclone to B2 for the offsite copy\n\n"
        "Total cost: ~$6/month for B2. Happy to answer questions.", score=634, num_comments=112),
    com("r_selfhosted_c1", "21 20:00", "r_selfhosted", "rack_rat", "neutral",
        "Nice writeup. One more tip for anyone doing this: Acme Takeout puts shared albums in a separate archive, "
        "check for it or you'll miss half your family photos."),
    sub("r_sysadmin_down", "22 05:16", "sysadmin", "throwaway_dev", "outage",
        "Acme Cloud down again? 502s on login and API",
        "Getting 502 Bad Gateway from auth.acme.example.com and the API for the last 10 minutes. Status page is green. "
        "All our Sunday backup jobs are failing. Anyone else?", score=1520, num_comments=388),
    com("r_sysadmin_c1", "22 05:19", "r_sysadmin_down", "pager_duty_pete", "outage",
        "Yep. EU and US-East both. Can't log into the Acme admin console either. Status page useless as usual.",
        score=402),
    com("r_sysadmin_c2", "22 05:24", "r_sysadmin_down", "grumpy_greybeard", "hostile",
        "Our synthetic check output, for the record:\n\n"
        "    \u001b[31mRED\u001b[0m acme-cloud auth: HTTP 502 (3/3 regions)\u0007\n\n"
        "Yes, the bell rang. Yes, I'm awake now.", score=311),
    com("r_sysadmin_c3", "22 05:41", "r_sysadmin_down", "jp_netadmin", "outage",
        "Tokyo too. Japanese Twitter is full of 「アクメ落ちてる」. Looks global.", score=188),
    com("r_sysadmin_c4", "22 06:03", "r_sysadmin_c1", "throwaway_dev", "outage",
        "The Acme status page finally flipped to \"Investigating\" at 05:52. Fifty minutes after it started.",
        score=260),
    com("r_sysadmin_c5", "22 07:35", "r_sysadmin_down", "sre_sandra", "outage",
        "Recovered for us at ~07:00. I'm going to push for a second provider in Q1. Acme has been solid for years "
        "but this was ugly.", score=97),
    sub("r_japanlife", "22 05:40", "japanlife", "gaijin_in_gunma", "outage",
        "Acme Cloud (アクメ) down for anyone else? My docs for immigration on Tuesday are in there",
        "Can't log in to the Acme app or the website since about 2pm. The Japanese support line just plays a "
        "recorded message. My residence card scan and all my tax papers are in there 😩", score=74, num_comments=19),
    com("r_japanlife_c1", "22 05:55", "r_japanlife", "osaka_otter", "outage",
        "Same here, it's down everywhere. Japanese news is already reporting it. Give it an hour, "
        "Acme usually fixes things fast."),
    com("r_japanlife_c2", "22 06:20", "r_japanlife", "mikan_jp", "outage",
        "日本でもアクメ全滅です。自分もログインできない。スマホにキャッシュが残ってればオフラインで見れるかも",
        lang="ja"),
    sub("r_newsokur", "22 07:10", "newsokur", "sokuho_bot_jp", "news",
        "アクメクラウドで大規模障害、復旧のめど立たず",
        url="https://itnews.example.jp/news/2026/11/22/acme-cloud-outage", score=96, num_comments=58, lang="ja"),
    com("r_newsokur_c1", "22 07:25", "r_newsokur", "nanashi_gombe", "neutral",
        "アクメ使ってるけど全然気づかなかったｗ 日曜だしな", lang="ja"),
    com("r_newsokur_c2", "22 08:05", "r_newsokur", "tsukemen_lover", "outage",
        "連休中に落ちるのほんと勘弁。アクメの法人プランで仕事回してる会社は地獄だったろうな", lang="ja"),
    sub("r_technology", "22 08:10", "technology", "Lukas_Brenner", "news",
        "Acme Cloud suffers two-hour global outage; users report failed logins and 502 errors",
        url="https://technews.example.com/2026/11/22/acme-cloud-outage", score=3890, num_comments=612),
    sub("r_megathread", "22 09:00", "acme", "r_acme_mods", "official",
        "Megathread: Nov 22 outage, double charges, refunds & credits",
        "Please keep all outage and billing posts in this thread.\n\n"
        "* Acme says affected Plus and Business customers will get a credit.\n"
        "* If you were charged twice, use the billing form at help.acme.example.com/billing.\n"
        "* Be civil. Abuse toward Acme staff or other users gets removed.", score=845, num_comments=1043),
    com("r_mega_c1", "22 09:20", "r_megathread", "fairweather_fan", "legal",
        "Charged twice in November, refund never arrived, and now down for 2 hours. Someone on Twitter said a class "
        "action is being put together for everyone Acme double billed. Does anyone have details?", score=188),
    com("r_mega_c2", "22 09:55", "r_megathread", "sheets_wizard", "hostile",
        "=HYPERLINK(\"http://evil.example\",\"refund\") ← paste that into the shared \"Acme refund tracker\" "
        "sheet and it takes you straight to the claim form", score=-3),
    com("r_mega_c3", "22 11:10", "r_megathread", "burned_by_acme", "abuse",
        "Whoever at Acme decided the status page should stay green for an hour should be fired. "
        "Incompetent idiots from top to bottom.", score=77),
    com("r_mega_c4", "22 12:30", "r_mega_c3", "r_acme_mods", "official",
        "Removed a few replies here. Criticize Acme as much as you like, but personal attacks on staff aren't allowed.",
        score=12),
    com("r_mega_c5", "22 14:00", "r_megathread", "dana_dee", "question",
        "Does the Acme outage credit apply automatically or do we have to request it? I'm on annual Plus.",
        score=45),
    com("r_pf_c3", "22 10:30", "r_pf", "ledger_lady", "legal",
        "Update: still no refund, and a THIRD charge went through after the outage this morning. Dispute filed. "
        "I also emailed Acme that I'm talking to a lawyer about the repeated charges.", score=212),
    com("r_selfhosted_c2", "22 07:30", "r_selfhosted", "homelab_hank", "outage",
        "And Acme was down for two hours this morning. Glad I finished the migration yesterday lol", score=301),
    sub("r_legaladvice", "22 19:00", "legaladvice", "smallbiz_owner_tx", "legal",
        "[TX] Our cloud provider double-billed us and a 2-hour outage cost us a day of sales. Can we sue?",
        "We're a 6-person shop on Acme Cloud Business. Nov 14 they double charged us ($239.94 twice), still not "
        "refunded. Today's outage took our order files offline for 2 hours on our busiest day.\n\n"
        "Acme's terms have an arbitration clause. Is small claims an option?", score=64, num_comments=23),
    com("r_legaladvice_c1", "22 19:40", "r_legaladvice", "not_your_lawyer_jd", "legal",
        "Not your attorney, but: read the SLA section of the Acme Business terms first; usually the only remedy for downtime is service "
        "credits. The double charge is different, that's just money they owe you. Send a demand letter, then small "
        "claims (arbitration clauses usually carve it out)."),
    com("r_legaladvice_c2", "22 20:15", "r_legaladvice_c1", "smallbiz_owner_tx", "legal",
        "Thanks. Sent a demand letter to Acme's registered agent tonight."),
    sub("r_postmortem", "23 02:00", "sysadmin", "sre_sandra", "news",
        "Acme postmortem: expired internal certificate on the auth service caused Sunday's outage",
        url="https://acme.example.com/blog/2026-11-22-incident-report", score=921, num_comments=204),
    com("r_postmortem_c1", "23 03:10", "r_postmortem", "grumpy_greybeard", "abuse",
        "An expired cert. In 2026. At a company that size. Every Acme engineer should get cert-manager "
        "tattooed on their forearm, the useless clowns.", score=540),
]
# fmt: on


def _slug(title: str) -> str:
    words = re.findall(r"[a-z0-9]+", title.lower())
    slug = ""
    for w in words:
        if len(slug) + len(w) + 1 > 50:
            break
        slug = f"{slug}_{w}" if slug else w
    return slug or "_"


def build_reddit() -> list[dict[str, Any]]:
    things = sorted(REDDIT_THINGS, key=lambda t: at(t["when"], t["key"]))
    by_key = {t["key"]: t for t in things}
    t0 = WINDOW_START.timestamp()
    ids: dict[str, str] = {}
    for t in things:
        r = rng_for("reddit-id", t["key"])
        elapsed = at(t["when"], t["key"]).timestamp() - t0
        if t["kind"] == "t3":  # ~15 submissions a second site-wide
            ids[t["key"]] = b36(int("1zd4k00", 36) + int(elapsed * 15) + r.randrange(15))
        else:  # ~100 comments a second
            ids[t["key"]] = b36(int("o3m9000", 36) + int(elapsed * 100) + r.randrange(100))

    def submission_of(key: str) -> str:
        while by_key[key]["kind"] == "t1":
            key = by_key[key]["parent"]
        return key

    out = []
    for t in things:
        created = at(t["when"], t["key"])
        r = rng_for("reddit", t["key"])
        author_fullname = "t2_" + b36(rng_for("reddit-author", t["author"]).randrange(36**5, 36**8))
        if t["kind"] == "t3":
            slug = _slug(t["title"])
            permalink = f"/r/{t['subreddit']}/comments/{ids[t['key']]}/{slug}/"
            is_self = t["url"] is None
            data = {
                "id": ids[t["key"]],
                "name": f"t3_{ids[t['key']]}",
                "title": t["title"],
                "selftext": t["selftext"],
                "author": t["author"],
                "author_fullname": author_fullname,
                "subreddit": t["subreddit"],
                "subreddit_name_prefixed": f"r/{t['subreddit']}",
                "permalink": permalink,
                "url": f"https://www.reddit.com{permalink}" if is_self else t["url"],
                "created_utc": float(int(created.timestamp())),
                "score": t["score"],
                "ups": t["score"],
                "num_comments": t["num_comments"],
                "over_18": False,
                "is_self": is_self,
            }
        else:
            root = by_key[submission_of(t["key"])]
            parent = by_key[t["parent"]]
            score = t["score"] if t["score"] is not None else int(r.lognormvariate(2.2, 1.1))
            data = {
                "id": ids[t["key"]],
                "name": f"t1_{ids[t['key']]}",
                "body": t["body"],
                "author": t["author"],
                "author_fullname": author_fullname,
                "link_id": f"t3_{ids[root['key']]}",
                "parent_id": f"{parent['kind']}_{ids[parent['key']]}",
                "subreddit": root["subreddit"],
                "permalink": (
                    f"/r/{root['subreddit']}/comments/{ids[root['key']]}/"
                    f"{_slug(root['title'])}/{ids[t['key']]}/"
                ),
                "created_utc": float(int(created.timestamp())),
                "score": score,
                "ups": score,
            }
        out.append({"kind": t["kind"], "data": data})
    return out


# ---------------------------------------------------------------------------------------------
# Bluesky — app.bsky.feed.defs#postView
# ---------------------------------------------------------------------------------------------

# handle: (display name, account created, rough follower count — only used to size engagement)
BSKY_AUTHORS: dict[str, tuple[str, str, int]] = {
    "acme.example.com": ("Acme", "2023-04-20", 38_000),
    "priyan.bsky.social": ("Priya Natarajan", "2023-05-09", 64_000),
    "thefrugalist.bsky.social": ("The Frugalist", "2023-12-01", 15_600),
    "elena-r.bsky.social": ("Elena R. | Wedding Photography", "2024-03-03", 8_900),
    "saltyadmin.bsky.social": ("salty sysadmin", "2023-07-27", 4_300),
    "dev-anya.bsky.social": ("Anya Petrova", "2023-09-18", 3_100),
    "quietcoder.bsky.social": ("quiet coder", "2023-11-02", 2_750),
    "hiro-infra.bsky.social": ("ひろ@インフラ屋", "2024-02-07", 2_200),
    "jwalsh.bsky.social": ("Jamie Walsh", "2024-11-12", 1_480),
    "miku-design.bsky.social": ("みく｜デザイナー", "2023-08-22", 1_050),
    "mxlin.bsky.social": ("Mx Lin", "2024-11-13", 890),
    "bex.bsky.social": ("Bex", "2023-06-14", 720),
    "kenjit.bsky.social": ("けんじ🍜", "2023-07-03", 620),
    "ken-ito.bsky.social": ("伊藤 健", "2023-10-30", 560),
    "moss.bsky.social": ("moss 🌱", "2024-09-01", 390),
    "yoshi-pc.bsky.social": ("よし＠PC修理", "2024-11-20", 330),
    "htmlgremlin.bsky.social": ("html gremlin", "2025-04-01", 270),
    "rinrin.bsky.social": ("りんりん🍎", "2024-11-18", 210),
    "pdxpaul.bsky.social": ("Paul in PDX", "2024-11-19", 160),
    "sorano.bsky.social": ("そらの", "2024-11-15", 140),
    "tomo.bsky.social": ("とも", "2024-02-09", 75),
    "natsuki.bsky.social": ("なつき", "2025-01-11", 48),
    "acme-security-alerts.bsky.social": ("Acme Security Team", "2026-11-19", 3),
}


def bpost(key, when, handle, lang, cat, text, *, reply_to=None, quote=None):
    return dict(
        key=key,
        when=when,
        handle=handle,
        lang=lang,
        cat=cat,
        text=text,
        reply_to=reply_to,
        quote=quote,
    )


# fmt: off
BSKY_POSTS = [
    bpost("b_frugal_hike", "20 10:40", "thefrugalist.bsky.social", "en", "billing",
          "Acme Cloud Plus is going up to $11.99/mo. That's $144 a year to store photos I never look at. Subscription audit time 🧾"),
    bpost("b_kenji_backup", "20 12:15", "kenjit.bsky.social", "ja", "praise",
          "アクメクラウドの自動バックアップ、こっちでも布教しとく。機種変が一瞬で終わった"),
    bpost("b_quiet_resumable", "20 14:00", "quietcoder.bsky.social", "en", "question",
          "Does the Acme Cloud API support resumable uploads? My chunked uploads keep timing out around 4GB and the docs don't say"),
    bpost("b_sorano_folder", "20 17:30", "sorano.bsky.social", "ja", "question",
          "アクメのアプリでフォルダごと共有するのってどうやるんだっけ〜？リンク共有しか出てこない"),
    bpost("b_miku_webui", "20 19:45", "miku-design.bsky.social", "ja", "praise",
          "アクメクラウドのWeb版、リニューアルしてめちゃくちゃ見やすくなった。余白の取り方が上手い。デザイナー的に好き"),
    bpost("b_bex_anvil", "20 22:20", "bex.bsky.social", "en", "excluded",
          "Watching old Road Runner cartoons with my kid and she asked why the Acme anvil company never got sued. Honestly a great question"),
    bpost("b_hiro_android", "21 02:05", "hiro-infra.bsky.social", "ja", "bug",
          "アクメクラウドのAndroidアプリ、6.2から同期されないバグあるっぽい。Pixelで再現した。アプリを前面に出してる間だけ動く"),
    bpost("b_salty_support", "21 06:30", "saltyadmin.bsky.social", "en", "abuse",
          "acme support told me to 'try turning it off and on again' for a BILLING error. are you people serious. absolute muppets, the lot of you"),
    bpost("b_jwalsh_breach", "21 09:50", "jwalsh.bsky.social", "en", "legal",
          "Anyone else get a 'your Acme password was exposed' email? If Acme leaked our data they need to say so publicly, not let us find out from sketchy emails. #acme"),
    bpost("b_scam_slack", "21 10:20", "acme-security-alerts.bsky.social", "en", "hostile",
          "Security notice for all Acme Cloud customers <!channel> <!here> <@U024BE7LH> <http://evil.example|Acme Bank login> re-verify your account today or lose access to your files"),
    bpost("b_elena_guest", "21 13:00", "elena-r.bsky.social", "en", "feature",
          "Acme, please: shared albums where guests can upload without making an account. Every wedding I shoot, same request from the couple. Globex already does it."),
    bpost("b_tomo_price", "21 16:40", "tomo.bsky.social", "ja", "billing",
          "アクメの値上げ、年払いだと実質月1,480円→2,180円か…地味にきつい"),
    bpost("b_paul_normies", "21 20:15", "pdxpaul.bsky.social", "en", "praise",
          "Unpopular opinion: Acme Cloud is still the best photo backup for normal people. My parents set it up without calling me once."),
    bpost("b_yoshi_family", "21 23:30", "yoshi-pc.bsky.social", "ja", "question",
          "アクメクラウドの容量を家族で分けるのって、ファミリープランじゃないとできない？お客さんに聞かれて答えられなかった"),
    bpost("b_anya_floor", "22 05:08", "dev-anya.bsky.social", "en", "outage",
          "acme cloud is down and I moved my whole team onto it on Friday. I'm going to go lie on the floor for a bit"),
    bpost("b_kenji_down", "22 05:10", "kenjit.bsky.social", "ja", "outage",
          "アクメ落ちてる、Xでもみんな言ってる。ログインできない"),
    bpost("b_moss_502", "22 05:14", "moss.bsky.social", "en", "outage",
          "Acme app logged me out and now login just spins. 502 on the website. love that for me"),
    bpost("b_natsuki_down", "22 05:20", "natsuki.bsky.social", "ja", "outage",
          "アクメ開かないんだけど！？障害？"),
    bpost("b_rinrin_loop", "22 05:25", "rinrin.bsky.social", "ja", "outage",
          "アクメクラウド死んでる〜 ログイン画面で無限ループしてる"),
    bpost("b_salty_sso", "22 05:31", "saltyadmin.bsky.social", "en", "outage",
          "@moss.bsky.social same. the whole Acme auth layer is toast, our SSO into it is failing too",
          reply_to="b_moss_502"),
    bpost("b_priya_callout", "22 05:45", "priyan.bsky.social", "en", "news",
          "Looking into reports of a widespread Acme Cloud outage: sign-in failures and 502s since about 05:00 UTC. If you're affected (especially businesses), reply or DM me."),
    bpost("b_mxlin_berlin", "22 05:49", "mxlin.bsky.social", "en", "outage",
          "@priyan.bsky.social can't sign in from Berlin since 05:03. app and web both give 502. acme status page still all green as of now",
          reply_to="b_priya_callout"),
    bpost("b_kenito_status", "22 05:55", "ken-ito.bsky.social", "ja", "outage",
          "アクメ、障害っぽい。ステータスページ見ても何も書いてない。ログインできないのに"),
    bpost("b_acme_investigating", "22 06:08", "acme.example.com", "en", "official",
          "We're investigating sign-in failures affecting Acme Cloud. Your files are safe. Follow status.acme.example.com for updates."),
    bpost("b_hiro_auth", "22 06:15", "hiro-infra.bsky.social", "ja", "outage",
          "アクメの障害、認証まわりっぽいな。API はトークン持ってれば通るときがある"),
    bpost("b_jwalsh_quote", "22 06:22", "jwalsh.bsky.social", "en", "legal",
          "'Your files are safe', the same week people got breach notices. Acme, if there was a breach you have a legal duty to disclose it. My lawyer will be reading this thread.",
          quote="b_acme_investigating"),
    bpost("b_sorano_back", "22 06:50", "sorano.bsky.social", "ja", "outage",
          "アクメ直った？ログインできた！"),
    bpost("b_frugal_twice", "22 09:30", "thefrugalist.bsky.social", "en", "billing",
          "Update: Acme charged me twice for Plus this month AND was down for 2 hours. Refund request #2 sent. If it's not back by Friday it's a chargeback."),
    bpost("b_quiet_benchmark", "22 11:00", "quietcoder.bsky.social", "en", "comparison",
          "Ran the same 50GB upload on Acme and Globex after the outage. Acme: 14 min. Globex: 22 min. Acme's still faster when it's, you know, up."),
    bpost("b_miku_globex", "22 14:30", "miku-design.bsky.social", "ja", "churn",
          "今日のアクメ障害で仕事が止まったので、Globexも契約した。アクメ一本足打法はもうやめる"),
    bpost("b_gremlin_script", "22 18:10", "htmlgremlin.bsky.social", "en", "hostile",
          "testing whether the Acme web app escapes file comments: <script>alert(1)</script> &amp; < > (spoiler: it does. well done acme)"),
    bpost("b_tomo_legal", "22 21:40", "tomo.bsky.social", "ja", "legal",
          "アクメの二重請求、消費者センターに相談した。返金されなかったら訴訟も検討しますって書いたら急に返信きたｗ"),
    bpost("b_priya_cause", "23 02:00", "priyan.bsky.social", "en", "news",
          "Acme confirms Sunday's outage was an expired internal certificate on its auth service. One month's credit for Plus and Business. No evidence of a breach, they say. Story: https://theledger.example.com/2026/11/23/acme-outage-cause"),
    bpost("b_kenji_postmortem", "23 05:10", "kenjit.bsky.social", "ja", "neutral",
          "アクメの障害報告読んだ。証明書の期限切れかー。あるあるだけど、規模がでかいと影響もでかいね"),
    bpost("b_bex_zip", "23 07:30", "bex.bsky.social", "en", "feature",
          "dear acme, now that you've apologised, can we please have a 'download whole album as zip' button on mobile"),
]
# fmt: on

B32_SORT = "234567abcdefghijklmnopqrstuvwxyz"


def bsky_did(handle: str) -> str:
    digest = hashlib.sha256(f"did:{handle}".encode()).digest()
    return "did:plc:" + base64.b32encode(digest).decode().lower()[:24]


def bsky_tid(dt: datetime, ms: int, key: str) -> str:
    """A record key in TID form: 53 bits of microseconds + 10 bits of clock id, base32-sortable."""
    micros = int(dt.timestamp()) * 1_000_000 + ms * 1000 + rng_for("tid", key).randrange(1000)
    value = (micros << 10) | rng_for("clock", key).randrange(1024)
    chars = []
    for _ in range(13):
        chars.append(B32_SORT[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def bsky_cid(*parts: str) -> str:
    """A CIDv1 (dag-cbor, sha2-256) in base32, the form record CIDs take."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return "b" + base64.b32encode(bytes([0x01, 0x71, 0x12, 0x20]) + digest).decode().lower().rstrip(
        "="
    )


def bsky_facets(text: str) -> list[dict[str, Any]]:
    """Rich-text facets, as the official app writes them (UTF-8 byte offsets)."""

    def span(start: int, end: int) -> dict[str, int]:
        return {"byteStart": len(text[:start].encode()), "byteEnd": len(text[:end].encode())}

    facets: list[dict[str, Any]] = []
    for m in re.finditer(r"(?<![\w@])@([a-z0-9-]+(?:\.[a-z0-9-]+)+)", text):
        facets.append(
            {
                "$type": "app.bsky.richtext.facet",
                "index": span(m.start(), m.end()),
                "features": [
                    {"$type": "app.bsky.richtext.facet#mention", "did": bsky_did(m.group(1))}
                ],
            }
        )
    for m in re.finditer(
        r"(?<![\w@/.])(https?://)?((?:[a-z0-9-]+\.)+(?:com|jp|org|net|io|social)(?:/[^\s]*)?)", text
    ):
        # Like the app's linkifier: a scheme, a path, or a host with a subdomain makes a link.
        if m.group(0).startswith("http") or "/" in m.group(2) or m.group(2).count(".") >= 2:
            end = m.start() + len(_trim_url(m.group(0)))
            uri = _trim_url(m.group(0)) if m.group(1) else "https://" + _trim_url(m.group(2))
            facets.append(
                {
                    "$type": "app.bsky.richtext.facet",
                    "index": span(m.start(), end),
                    "features": [{"$type": "app.bsky.richtext.facet#link", "uri": uri}],
                }
            )
    for m in re.finditer(r"(?<![\w&])#(?!\d+\b)(\w+)", text):
        facets.append(
            {
                "$type": "app.bsky.richtext.facet",
                "index": span(m.start(), m.end()),
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": m.group(1)}],
            }
        )
    return sorted(facets, key=lambda f: f["index"]["byteStart"])


def build_bluesky() -> list[dict[str, Any]]:
    posts = sorted(BSKY_POSTS, key=lambda p: at(p["when"], p["key"]))
    replies = {p["key"]: 0 for p in posts}
    quotes = dict(replies)
    for p in posts:
        if p["reply_to"]:
            replies[p["reply_to"]] += 1
        if p["quote"]:
            quotes[p["quote"]] += 1
    refs: dict[str, dict[str, str]] = {}
    roots: dict[str, dict[str, str]] = {}
    out = []
    for p in posts:
        created = at(p["when"], p["key"])
        r = rng_for("bsky", p["key"])
        ms = r.randrange(1000)
        did = bsky_did(p["handle"])
        uri = f"at://{did}/app.bsky.feed.post/{bsky_tid(created, ms, p['key'])}"
        cid = bsky_cid(uri, p["text"])
        refs[p["key"]] = {"uri": uri, "cid": cid}
        name, joined, followers = BSKY_AUTHORS[p["handle"]]
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": p["text"],
            "createdAt": iso_z(created, ms),
            "langs": [p["lang"]],
        }
        facets = bsky_facets(p["text"])
        if facets:
            record["facets"] = facets
        if p["reply_to"]:
            parent = refs[p["reply_to"]]
            root = roots.get(p["reply_to"], parent)
            roots[p["key"]] = root
            record["reply"] = {"root": dict(root), "parent": dict(parent)}
        if p["quote"]:
            record["embed"] = {"$type": "app.bsky.embed.record", "record": dict(refs[p["quote"]])}
        e = engagement(p["key"], followers, BOOST.get(p["cat"], 1.0))
        indexed = created + timedelta(milliseconds=ms + r.randrange(80, 1900))
        out.append(
            {
                "uri": uri,
                "cid": cid,
                "author": {
                    "did": did,
                    "handle": p["handle"],
                    "displayName": name,
                    "labels": [],
                    "createdAt": iso_z(day(joined, f"bsky:{p['handle']}")),
                },
                "record": record,
                "replyCount": max(e["replies"], replies[p["key"]]),
                "repostCount": e["reposts"],
                "likeCount": e["likes"],
                "quoteCount": max(e["quotes"], quotes[p["key"]]),
                "indexedAt": iso_z(indexed.replace(microsecond=0), indexed.microsecond // 1000),
                "labels": [],
            }
        )
    return out


# ---------------------------------------------------------------------------------------------
# Mastodon — Status entities, as mastodon.social serves them (remote accounts: user@instance)
# ---------------------------------------------------------------------------------------------

HOME_INSTANCE = "mastodon.social"

# acct as seen from mastodon.social: (display name, followers, account created)
MASTODON_ACCOUNTS: dict[str, tuple[str, int, str]] = {
    "acme": ("Acme", 24_130, "2022-11-08"),
    "felix": ("Felix | privacy nerd", 5_210, "2022-04-28"),
    "tobias": ("Tobias Brandt", 412, "2022-11-03"),
    "ingrid": ("Ingrid S.", 640, "2022-12-19"),
    "clara": ("Clara 🌿", 233, "2023-01-15"),
    "rob": ("Rob", 89, "2023-07-02"),
    "gnu_greg@fosstodon.org": ("Greg 🐧", 3_140, "2020-05-11"),
    "linuxlisa@fosstodon.org": ("Lisa", 1_780, "2022-11-06"),
    "sam@fosstodon.org": ("Sam Okafor", 910, "2022-11-04"),
    "anya@hachyderm.io": ("Anya Petrova", 2_460, "2022-11-07"),
    "ops_olu@hachyderm.io": ("Olu (on call)", 1_320, "2022-11-10"),
    "jen_sre@hachyderm.io": ("Jen 🔥 SRE", 6_870, "2022-11-05"),
    "kei@mstdn.jp": ("けい", 1_460, "2017-04-16"),
    "sato_it@mstdn.jp": ("佐藤＠情シス", 742, "2019-08-30"),
    "tarou@mstdn.jp": ("たろう", 310, "2017-04-14"),
    "hanako_k@mstdn.jp": ("はなこ", 188, "2018-02-03"),
    "nyanko@mstdn.jp": ("にゃんこ🐈", 95, "2017-04-20"),
    "yukiusagi@mstdn.jp": ("ゆきうさぎ", 51, "2023-07-05"),
}


def toot(key, when, acct, lang, cat, text, *, reply_to=None, spoiler=""):
    return dict(
        key=key,
        when=when,
        acct=acct,
        lang=lang,
        cat=cat,
        text=text,
        reply_to=reply_to,
        spoiler=spoiler,
    )


# Texts are plain text: blank line = new paragraph, newline = <br />. Mentions are written
# @user (local to mastodon.social) or @user@instance; the builder renders Mastodon's HTML.
# fmt: off
MASTODON_STATUSES = [
    toot("m_tobias_hike", "20 11:00", "tobias", "en", "billing",
         "Acme just emailed me: Cloud Plus goes from $7.99 to $11.99 on Dec 1. Not a word about why beyond \"investing in you\".\n\nInvesting in me would be not raising the price 50%. #acme #subscriptions"),
    toot("m_greg_vps", "20 13:30", "gnu_greg@fosstodon.org", "en", "comparison",
         "Friendly reminder that you can run Nextcloud on a $5 VPS instead of paying Acme $12/month for the privilege of being data-mined. #selfhosting #acme"),
    toot("m_lisa_linux", "20 15:50", "linuxlisa@fosstodon.org", "en", "question",
         "Does anyone know if the Acme Cloud desktop client works on Linux yet, or is it still Windows & Mac only? #acme #linux"),
    toot("m_sam_fuse", "20 16:20", "sam@fosstodon.org", "en", "question",
         "@linuxlisa@fosstodon.org there's an unofficial client built on the Acme API (acme-fuse on GitHub), works ok on Fedora. Official one still has no Linux build 😔",
         reply_to="m_lisa_linux"),
    toot("m_hanako_memories", "20 20:30", "hanako_k@mstdn.jp", "ja", "praise",
         "アクメのアプリの「思い出」機能で3年前の旅行の写真が出てきてほっこりした☺️ #アクメ"),
    toot("m_sato_hike", "21 01:40", "sato_it@mstdn.jp", "ja", "billing",
         "アクメクラウドの値上げメール来た。月額1,780円はさすがにちょっと…\n会社で使ってる分もあるので乗り換え先を検討中"),
    toot("m_felix_gdpr", "21 04:00", "felix", "en", "legal",
         "Filed a GDPR Art. 77 complaint against Acme over the silent privacy policy change (\"sharing de-identified usage data with partners\", no consent, no notice).\n\nTemplate if you want to do the same: https://privacy-notes.example.org/acme-gdpr-complaint #gdpr #acme"),
    toot("m_clara_2fa", "21 08:45", "clara", "en", "bug",
         "Acme's 2FA text message never arrives for me (UK number). Tried five times today. How am I supposed to get into my own account? #acme"),
    toot("m_nyanko_restore", "21 12:10", "nyanko@mstdn.jp", "ja", "question",
         "アクメクラウドで消したファイルって何日まで復元できるんだっけ？30日？"),
    toot("m_yuki_leak", "21 10:30", "yukiusagi@mstdn.jp", "ja", "legal",
         "アクメから「パスワードが流出した可能性があります」ってメール来たんだけど、これ本物？\n情報漏洩ならちゃんと公式に発表してほしい…"),
    toot("m_rob_rant", "21 14:20", "rob", "en", "abuse",
         "Acme support is a bunch of clowns reading from a script. Six emails, six copy-pasted non-answers. Does anyone there even read what we write?? #acme",
         spoiler="acme rant, swearing-adjacent"),
    toot("m_ingrid_retention", "21 19:00", "ingrid", "en", "feature",
         "@acme feature request: per-folder version retention. I do not need 40 versions of my grocery list, but I'd love 40 of my thesis. #acme"),
    toot("m_olu_502", "22 05:05", "ops_olu@hachyderm.io", "en", "outage",
         "Acme Cloud auth is returning 502 for us across every region. Anyone else seeing this? #acme #outage"),
    toot("m_jen_reply", "22 05:09", "jen_sre@hachyderm.io", "en", "outage",
         "@ops_olu@hachyderm.io yep, since ~05:02 UTC. Acme status page still says operational. classic.",
         reply_to="m_olu_502"),
    toot("m_tarou_down", "22 05:12", "tarou@mstdn.jp", "ja", "outage",
         "アクメ落ちてる？ログインできない #アクメ"),
    toot("m_yuki_down", "22 05:19", "yukiusagi@mstdn.jp", "ja", "outage",
         "アクメクラウドにつながらない…日曜の午後に障害とか勘弁して〜"),
    toot("m_anya_factor", "22 05:26", "anya@hachyderm.io", "en", "outage",
         "Moved my team onto Acme Cloud on Friday. Acme Cloud went down on Sunday.\n\nI am the common factor. #acme"),
    toot("m_kei_502", "22 05:34", "kei@mstdn.jp", "ja", "outage",
         "アクメ、502エラー出てる。ステータスページは緑のまま"),
    toot("m_sam_backups", "22 05:48", "sam@fosstodon.org", "en", "outage",
         "Day ruined: our backups target Acme Cloud and the whole API is 502ing. Writing the \"why we need a second provider\" doc right now. #acme #sre"),
    toot("m_acme_aware", "22 06:05", "acme", "en", "official",
         "We're aware that some people can't sign in to Acme Cloud and are seeing 502 errors. Our engineers are on it. Updates: https://status.acme.example.com #acme"),
    toot("m_hanako_still", "22 06:30", "hanako_k@mstdn.jp", "ja", "outage",
         "アクメ、まだログインできない。ファイル見れないの不便すぎる"),
    toot("m_tarou_back", "22 06:58", "tarou@mstdn.jp", "ja", "outage",
         "アクメ復旧したっぽい？ログインできた"),
    toot("m_jen_synthetic", "22 08:40", "jen_sre@hachyderm.io", "en", "neutral",
         "The Acme outage is a good reminder: status pages should be driven by synthetic checks, not by a human who's busy firefighting. #sre #acme"),
    toot("m_clara_twice", "22 10:15", "clara", "en", "billing",
         "And now Acme has billed me twice for December. In the week they were down. Refund requested, we'll see. #acme"),
    toot("m_sato_sla", "22 12:40", "sato_it@mstdn.jp", "ja", "legal",
         "アクメの法人契約、障害で半日仕事が止まった。SLAの返金条件を確認中。内容次第では弁護士に相談する"),
    toot("m_lisa_globex", "22 16:00", "linuxlisa@fosstodon.org", "en", "competitor",
         "Globex Drive finally shipped a native Linux client! Downloading now, will report back. #linux"),
    toot("m_tobias_cancel", "22 19:30", "tobias", "en", "churn",
         "That's it, cancelled Acme. It took 25 minutes and a phone call. Moving to Globex; at least they have a cancel button. #acme"),
    toot("m_nyanko_fans", "22 22:00", "nyanko@mstdn.jp", "ja", "abuse",
         "アクメ擁護してる人たち、信者すぎて話が通じない。障害起きてるのに「無料期間あるからいいじゃん」とかアホなの？"),
    toot("m_felix_cert", "23 01:15", "felix", "en", "legal",
         "If Acme's \"expired certificate\" explanation holds up, Sunday was an availability incident, not a breach. My GDPR complaint about the privacy policy change stands though. #acme #gdpr"),
    toot("m_kei_report", "23 04:45", "kei@mstdn.jp", "ja", "praise",
         "アクメの障害報告、原因・タイムライン・再発防止策までちゃんと書いてあって好感持てた"),
    toot("m_ingrid_credit", "23 08:10", "ingrid", "en", "praise",
         "Credit where it's due: Acme added a free month to my account after the outage. Didn't have to ask. #acme"),
]
# fmt: on


def masto_id(dt: datetime, key: str) -> str:
    """Mastodon snowflake: milliseconds since the epoch << 16, plus 16 seeded bits."""
    r = rng_for("masto-id", key)
    return str(((int(dt.timestamp()) * 1000 + r.randrange(1000)) << 16) | r.randrange(65536))


def masto_account(acct: str) -> dict[str, Any]:
    name, followers, created = MASTODON_ACCOUNTS[acct]
    username, _, instance = acct.partition("@")
    instance = instance or HOME_INSTANCE
    r = rng_for("masto-account", acct)
    created_dt = day(created, f"masto:{acct}")
    return {
        "id": masto_id(created_dt + timedelta(days=r.randrange(0, 30)), f"account:{acct}"),
        "username": username,
        "acct": acct,
        "display_name": name,
        "url": f"https://{instance}/@{username}",
        "followers_count": followers,
        "following_count": int(r.lognormvariate(5.0, 0.8)),
        "statuses_count": int((ANCHOR - created_dt).days * r.uniform(0.5, 9)) + 7,
        "bot": False,
        "created_at": iso_z(created_dt.replace(hour=0, minute=0, second=0)),
    }


def _esc(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


MASTO_TOKEN = re.compile(
    r"(?P<url>https?://[^\s<>\"]+)"
    r"|(?<![\w/@])@(?P<user>[A-Za-z0-9_]+)(?:@(?P<domain>[a-z0-9.-]+\.[a-z]+))?"
    r"|(?<![\w/&])#(?!\d+\b)(?P<tag>\w+)"
)


def masto_render(text: str, origin: str) -> tuple[str, list[dict[str, Any]], list[dict[str, str]]]:
    """Plain text -> (content HTML, mentions, tags), following Mastodon's own markup."""
    mentions: list[dict[str, Any]] = []
    tags: list[dict[str, str]] = []

    def render(segment: str) -> str:
        html, pos = [], 0
        for m in MASTO_TOKEN.finditer(segment):
            html.append(_esc(segment[pos : m.start()]))
            pos = m.end()
            if m.group("url"):
                url = _trim_url(m.group("url"))
                rest = m.group("url")[len(url) :]
                scheme, _, shown = url.partition("://")
                if len(shown) > 30:
                    visible = (
                        f'<span class="ellipsis">{_esc(shown[:30])}</span>'
                        f'<span class="invisible">{_esc(shown[30:])}</span>'
                    )
                else:
                    visible = f'<span class="">{_esc(shown)}</span><span class="invisible"></span>'
                html.append(
                    f'<a href="{_esc(url)}" target="_blank" rel="nofollow noopener" translate="no">'
                    f'<span class="invisible">{scheme}://</span>{visible}</a>{_esc(rest)}'
                )
            elif m.group("user"):
                user = m.group("user")
                acct = f"{user}@{m.group('domain')}" if m.group("domain") else user
                account = masto_account(acct)
                if not any(x["acct"] == acct for x in mentions):
                    mentions.append(
                        {"id": account["id"], "username": user, "url": account["url"], "acct": acct}
                    )
                html.append(
                    f'<span class="h-card" translate="no"><a href="{account["url"]}" '
                    f'class="u-url mention">@<span>{user}</span></a></span>'
                )
            else:
                tag = m.group("tag")
                html.append(
                    f'<a href="https://{origin}/tags/{quote(tag)}" class="mention hashtag" '
                    f'rel="tag">#<span>{_esc(tag)}</span></a>'
                )
                if not any(t["name"] == tag.lower() for t in tags):
                    tags.append(
                        {
                            "name": tag.lower(),
                            "url": f"https://{HOME_INSTANCE}/tags/{quote(tag.lower())}",
                        }
                    )
        html.append(_esc(segment[pos:]))
        return "".join(html)

    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    content = "".join(
        "<p>" + "<br />".join(render(line) for line in p.split("\n")) + "</p>" for p in paragraphs
    )
    return content, mentions, tags


def build_mastodon() -> list[dict[str, Any]]:
    statuses = sorted(MASTODON_STATUSES, key=lambda s: at(s["when"], s["key"]))
    replies = {s["key"]: 0 for s in statuses}
    for s in statuses:
        if s["reply_to"]:
            replies[s["reply_to"]] += 1
    built: dict[str, dict[str, Any]] = {}
    out = []
    for s in statuses:
        created = at(s["when"], s["key"])
        account = masto_account(s["acct"])
        username, _, instance = s["acct"].partition("@")
        origin = instance or HOME_INSTANCE
        local_id = masto_id(created, f"{HOME_INSTANCE}:{s['key']}")
        origin_id = (
            local_id if origin == HOME_INSTANCE else masto_id(created, f"{origin}:{s['key']}")
        )
        content, mentions, tags = masto_render(s["text"], origin)
        followers = MASTODON_ACCOUNTS[s["acct"]][1]
        e = engagement(s["key"], followers, BOOST.get(s["cat"], 1.0))
        parent = built.get(s["reply_to"]) if s["reply_to"] else None
        status = {
            "id": local_id,
            "uri": f"https://{origin}/users/{username}/statuses/{origin_id}",
            "url": f"https://{origin}/@{username}/{origin_id}",
            "created_at": iso_z(created),
            "content": content,
            "spoiler_text": s["spoiler"],
            "visibility": "public",
            "sensitive": bool(s["spoiler"]),
            "language": s["lang"],
            "in_reply_to_id": parent["id"] if parent else None,
            "in_reply_to_account_id": parent["account"]["id"] if parent else None,
            "reblog": None,
            "replies_count": max(e["replies"], replies[s["key"]]),
            "reblogs_count": e["reposts"],
            "favourites_count": e["likes"],
            "account": account,
            "tags": tags,
            "mentions": mentions,
            "media_attachments": [],
            "emojis": [],
        }
        built[s["key"]] = status
        out.append(status)
    return out


# ---------------------------------------------------------------------------------------------
# RSS / Atom — entries as feedparser exposes them (JSON-serialisable subset)
# ---------------------------------------------------------------------------------------------

FEEDS = {
    "technews": {
        "title": "Tech News Daily",
        "link": "https://technews.example.com/",
        "language": "en",
    },
    "ledger": {
        "title": "The Ledger — Technology",
        "link": "https://theledger.example.com/technology/",
        "language": "en",
    },
    "itnews_jp": {"title": "ITニュースJP", "link": "https://itnews.example.jp/", "language": "ja"},
    "status": {
        "title": "Acme Cloud Status - Incident History",
        "link": "https://status.acme.example.com/",
        "language": "en",
    },
    "appstore_us": {
        "title": "Acme Cloud – Customer Reviews (App Store, US)",
        "link": "https://appreviews.example.com/ios/us/acme-cloud/",
        "language": "en",
    },
    "appstore_jp": {
        "title": "アクメクラウド – カスタマーレビュー（App Store 日本）",
        "link": "https://appreviews.example.com/ios/jp/acme-cloud/",
        "language": "ja",
    },
    "forum": {
        "title": "Acme Community Forum – Latest topics",
        "link": "https://community.acme.example.com/",
        "language": "en",
    },
    "blog": {
        "title": "Notes from a Tired Sysadmin",
        "link": "https://tiredsysadmin.example.net/",
        "language": "en",
    },
}


def entry(key, when, feed, cat, title, summary, author, path, tags=(), *, lang=None):
    return dict(
        key=key,
        when=when,
        feed=feed,
        cat=cat,
        title=title,
        summary=summary,
        author=author,
        path=path,
        tags=list(tags),
        lang=lang or FEEDS[feed]["language"],
    )


_INCIDENT = "incidents/7xk2m9p4q1zz"

# fmt: off
RSS_ENTRIES = [
    entry("rss_technews_price", "20 13:00", "technews", "news",
          "Acme raises Cloud Plus price by 50%, citing 'faster sync'",
          "<p>Acme will raise its Cloud Plus plan from $7.99 to $11.99 a month on December 1, the company said on "
          "Friday. Acme says the increase pays for faster sync and improved photo search; existing members get "
          "30 days&#39; notice by email.</p><p>Rival Globex has kept its 2TB plan at $9.99.</p>",
          "Dana Whitfield", "2026/11/20/acme-cloud-plus-price-increase", ["cloud", "pricing", "Acme"]),
    entry("rss_itnews_price", "21 01:00", "itnews_jp", "news",
          "アクメ、「Cloud Plus」を値上げ　月額1,180円から1,780円に",
          "<p>アクメは20日、個人向けクラウドストレージ「アクメクラウド Plus」の月額料金を12月1日から1,780円に"
          "改定すると発表した。同期速度の向上や写真検索機能の強化に充てるとしている。</p>",
          "山口 恵", "news/2026/11/21/acme-cloud-plus-price", ["クラウド", "料金"]),
    entry("rss_appstore_crash", "21 06:12", "appstore_us", "bug",
          "★☆☆☆☆ Crashes every time",
          "<p>Acme app crashes every time I try to upload a video longer than 2 minutes. iPhone 16, iOS 27.1. "
          "Reinstalled twice. I pay for Plus btw.</p>",
          "tired_of_this_1987", "reviews/11473820155"),
    entry("rss_forum_android", "21 11:30", "forum", "bug",
          "Android sync stuck on \"Pending\" after 6.2 update",
          "<p>Since updating the Acme Cloud app to 6.2 on my Galaxy S24, nothing uploads in the background. "
          "Opening the app makes it sync immediately. Battery saver is off.</p>"
          "<p>Is there an ETA for 6.2.1?</p>",
          "pixelpete", "t/android-sync-stuck-on-pending-after-6-2-update/48213", ["android", "sync"]),
    entry("rss_status_investigating", "22 05:52", "status", "outage",
          "Sign-in failures and elevated error rates",
          "<p><small>Nov <var data-var='date'>22</var>, <var data-var='time'>05:52</var> UTC</small><br>"
          "<strong>Investigating</strong> - We are investigating reports that some users cannot sign in to "
          "Acme Cloud and are receiving 502 errors on the web, mobile apps and API.</p>",
          "Acme Cloud Status", _INCIDENT + "#investigating"),
    entry("rss_itnews_outage", "22 06:15", "itnews_jp", "news",
          "アクメクラウドで大規模障害、復旧のめど立たず",
          "<p>22日午後2時ごろから、アクメのクラウドストレージ「アクメクラウド」にログインできない障害が発生している。"
          "SNSでは「アクメ落ちてる」「ログインできない」といった投稿が相次いでおり、同社は原因を調査中としている。"
          "復旧のめどは立っていない。</p>",
          "木村 拓也", "news/2026/11/22/acme-cloud-outage", ["障害", "クラウド"]),
    entry("rss_status_identified", "22 06:38", "status", "outage",
          "Sign-in failures and elevated error rates",
          "<p><small>Nov <var data-var='date'>22</var>, <var data-var='time'>06:38</var> UTC</small><br>"
          "<strong>Identified</strong> - The issue has been identified in an internal Acme Cloud authentication "
          "service and a fix is being deployed. Files stored in Acme Cloud are not affected.</p>",
          "Acme Cloud Status", _INCIDENT + "#identified"),
    entry("rss_appstore_jp", "22 06:40", "appstore_jp", "outage",
          "★☆☆☆☆ ログインできない",
          "<p>日曜の午後からずっとアクメにログインできない。有料会員なのに写真が1枚も見れません。"
          "せめてオフラインで見れるようにしてほしい。</p>",
          "ぽんた", "reviews/11473955208"),
    entry("rss_status_monitoring", "22 07:05", "status", "outage",
          "Sign-in failures and elevated error rates",
          "<p><small>Nov <var data-var='date'>22</var>, <var data-var='time'>07:05</var> UTC</small><br>"
          "<strong>Monitoring</strong> - A fix has been deployed and Acme Cloud sign-ins are succeeding again. "
          "We are monitoring the results.</p>",
          "Acme Cloud Status", _INCIDENT + "#monitoring"),
    entry("rss_status_resolved", "22 07:45", "status", "outage",
          "Sign-in failures and elevated error rates",
          "<p><small>Nov <var data-var='date'>22</var>, <var data-var='time'>07:45</var> UTC</small><br>"
          "<strong>Resolved</strong> - This incident has been resolved. Acme Cloud sign-in, sync and API "
          "traffic have been normal since 07:05 UTC. A full incident report will follow.</p>",
          "Acme Cloud Status", _INCIDENT + "#resolved"),
    entry("rss_technews_outage", "22 07:50", "technews", "news",
          "Acme Cloud suffers two-hour global outage; users report failed logins and 502 errors",
          "<p>Acme Cloud users across the US, Europe and Japan were unable to sign in for roughly two hours on "
          "Sunday. Outage trackers logged thousands of reports from 05:02 UTC, while Acme&#39;s status page showed "
          "&quot;All Systems Operational&quot; for almost 50 minutes.</p>"
          "<p>Several users also said they had been charged twice this month. Acme did not immediately respond to "
          "a request for comment.</p>",
          "Dana Whitfield", "2026/11/22/acme-cloud-outage", ["cloud", "outage", "Acme"]),
    entry("rss_appstore_love", "22 16:20", "appstore_us", "praise",
          "★★★★★ Still the best photo backup",
          "<p>Yes the Acme outage today sucked, but 6 years and it has never lost a single photo. "
          "Search is magic. Keep it up &amp; please add a dark mode that's actually readable.</p>",
          "photomom_k", "reviews/11474102977"),
    entry("rss_ledger_cause", "23 01:30", "ledger", "news",
          "Acme blames expired certificate for Sunday outage, will credit customers",
          "<p>An expired certificate on an internal authentication service caused Sunday&#39;s two-hour Acme Cloud "
          "outage, the company said, adding that there was no evidence of an attack or a data breach.</p>"
          "<p>Acme will credit Plus and Business customers one month. The company is separately facing a GDPR "
          "complaint over a privacy policy change and user reports of double billing.</p>",
          "Priya Natarajan", "2026/11/23/acme-outage-cause", ["Acme", "outages", "privacy"]),
    entry("rss_itnews_cause", "23 03:00", "itnews_jp", "news",
          "アクメクラウド障害、原因は社内認証サーバーの証明書期限切れ　有料会員に1か月分を補償",
          "<p>アクメは23日、22日に発生した「アクメクラウド」の約2時間にわたる障害について、社内の認証サービスで"
          "使用していた証明書の期限切れが原因だったと発表した。不正アクセスや情報漏洩は確認されていないという。"
          "Plus・Business会員には1か月分の料金を補償する。</p>",
          "山口 恵", "news/2026/11/23/acme-cloud-outage-cause", ["障害", "クラウド"]),
    entry("rss_blog_statuspage", "23 06:00", "blog", "neutral",
          "Your status page is lying to you: lessons from the Acme Cloud outage",
          "<p>For almost fifty minutes on Sunday, thousands of people couldn&#39;t log in to Acme Cloud while its "
          "status page stayed green. Here&#39;s why hand-updated status pages fail exactly when you need them, "
          "and what to wire up instead.</p>",
          "Marta Kowalski", "2026/11/23/your-status-page-is-lying", ["sre", "incident response"]),
]
# fmt: on


def build_rss() -> list[dict[str, Any]]:
    out = []
    for e in sorted(RSS_ENTRIES, key=lambda e: at(e["when"], e["key"])):
        feed = FEEDS[e["feed"]]
        created = at(e["when"], e["key"]).replace(second=0)
        link = feed["link"].rstrip("/") + "/" + e["path"]
        # Status-page updates share the incident link; each update has its own id.
        entry_id, link = link, link.split("#")[0]
        # The Japanese news site dates its feed in JST (+0900); the others in GMT.
        if e["feed"] == "itnews_jp":
            published = format_datetime(created.astimezone(JST))
        else:
            published = format_datetime(created, usegmt=True)
        out.append(
            {
                "id": entry_id,
                "title": e["title"],
                "link": link,
                "summary": e["summary"],
                "published": published,
                "author": e["author"],
                "tags": [{"term": t} for t in e["tags"]],
                "feed": dict(feed),
            }
        )
    return out


# ---------------------------------------------------------------------------------------------


BUILDERS = {
    "x": build_x,
    "reddit": build_reddit,
    "bluesky": build_bluesky,
    "mastodon": build_mastodon,
    "rss": build_rss,
}


def write_jsonl(path: Path, objects: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for obj in objects:
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for platform, build in BUILDERS.items():
        objects = build()
        path = OUT_DIR / f"{platform}.jsonl"
        write_jsonl(path, objects)
        print(f"wrote {len(objects):3d} lines to {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
