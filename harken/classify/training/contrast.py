"""Contrastive complaint rows written by the harken developers (English and Japanese).

The complaint head learns "someone at the company must act" from proxies: negative brand tweets
and support requests are ``yes``, everything else ``no``. No public set has the posts that fool
that proxy, so it called a thank-you for a fixed problem a complaint ("support fixed my login
in 10 minutes, thanks": 0.59; "二重決済、すぐ返金された": 0.95) and read sarcasm as praise
("thanks for deleting three hours of my work": 0.04).

These rows teach the difference with pairs: every problem is written as a report (``yes``), as
sarcasm about it (``yes``), as solved and thanked for (``no``) and as never having happened
(``no``), in the same words, so only the resolution, the irony or the negation tells the labels
apart. Japanese rows come in the same pairs (the encoder must not learn "Japanese means no").
Brands are invented and none of the gold set's (``bench/data/gold``); the text is the project's
own (same license as harken). A hash of the text holds 20% out like every other source.
"""

from __future__ import annotations

import random

# --------------------------------------------------------------------------- English

EN_BRANDS = (
    ("Northwind", "northwind"), ("Contoso", "contoso_help"), ("Fabrikam", "fabrikam"),
    ("Tailspin Air", "tailspinair"), ("Litware", "litware_support"), ("Wingtip", "wingtip"),
    ("Proseware", "proseware"), ("Adatum Bank", "adatumbank"), ("Lamna Foods", "lamnafoods"),
    ("Woodgrove", "woodgrove_care"), ("Coho Mobile", "cohomobile"), ("Trey Rail", "treyrail"),
)  # fmt: skip

# (what is broken, the problem as a noun, what works again, the problem as a sarcastic gerund)
EN_PROBLEMS = (
    ("I can't log in to my account", "the login problem", "I can log in again",
     "locking me out of my own account"),
    ("the app crashes every time I open it", "the crash on startup", "the app opens fine now",
     "crashing every single time I open the app"),
    ("I was charged twice for one order", "the double charge", "the double charge was refunded",
     "charging me twice for one order"),
    ("my refund still hasn't arrived", "my refund", "my refund arrived",
     "taking six weeks to send a refund"),
    ("my bag didn't arrive", "my lost bag", "my bag was delivered to my hotel",
     "losing my bag on a direct flight"),
    ("my flight was cancelled with no rebooking", "the cancelled flight",
     "they rebooked me on the next flight", "cancelling my flight and rebooking me two days later"),
    ("sync stopped working and my files are out of date", "the sync bug",
     "sync works again", "breaking sync right before my deadline"),
    ("uploads fail with an error", "the upload error", "uploads work again",
     "failing every upload since the update"),
    ("my order never came", "my missing order", "my order showed up",
     "delivering my order to the wrong city"),
    ("my order was wrong and half of it was missing", "the wrong order",
     "they replaced my order", "forgetting half of my order again"),
    ("the website won't let me check in", "the check-in problem", "online check-in works now",
     "making online check-in impossible"),
    ("my card keeps getting declined", "the declined card", "my card works again",
     "declining my card at the checkout"),
    ("the internet has been down all day", "the outage", "the connection is back",
     "dropping my connection every hour"),
    ("I've been on hold for two hours", "the support wait", "someone called me back",
     "keeping me on hold for two hours"),
    ("my invoice shows the wrong amount", "the wrong invoice", "the invoice was corrected",
     "billing me for a plan I never chose"),
    ("the password reset email never comes", "the password reset problem",
     "the reset email finally came", "never sending the password reset email"),
    ("my delivery is a week late", "the late delivery", "my delivery arrived",
     "delivering a week late with no update"),
    ("my train was delayed and I missed my connection", "the delay",
     "they refunded my ticket for the delay", "delaying every train this week"),
    ("I got overcharged on my phone bill", "the overcharge", "the overcharge was credited back",
     "overcharging me every month"),
    ("my account was locked for no reason", "the locked account", "my account was unlocked",
     "locking my account for no reason"),
    ("the app logs me out every few minutes", "the logout bug", "I stay logged in now",
     "logging me out every five minutes"),
    ("my points disappeared from my account", "my missing points", "my points are back",
     "wiping my points without a word"),
    ("the food was cold and the fries were missing", "the cold order",
     "they sent a fresh meal", "serving cold food with no fries"),
    ("my subscription can't be cancelled", "the cancellation problem",
     "my subscription was cancelled", "making it impossible to cancel"),
)  # fmt: skip

EN_REPORTS = (
    "@{handle} {broken}. Please help",
    "{brand}, {broken} since this morning. What is going on?",
    "Still waiting on {brand} to do anything about {issue}. Nobody answers.",
    "{broken_cap} again with {brand}. This is ridiculous",
    "Hey {brand}, {broken} and support won't reply. Fix it please",
)
EN_SARCASM = (
    "Thanks {brand} for {gerund}. Really appreciate it.",
    "Love how {brand} keeps {gerund}",
    "Wow {brand}, {gerund}, so helpful",
    "Great job {brand}, {gerund} on a Monday morning",
)
EN_SOLVED = (
    "{brand} fixed {issue} in minutes. Thank you!",
    "Update: {fixed}. Thanks {brand} support",
    "Shoutout to {brand} for sorting out {issue} so fast",
    "Contacted {brand} about {issue} and it was sorted the same day. Impressed",
    "{issue_cap} got resolved quickly, great job {brand}",
)
EN_NEVER = (
    "Five years with {brand} and never had {issue_a}. Solid",
    "People ask about {issue} with {brand}, never happened to me, all good here",
)

# --------------------------------------------------------------------------- Japanese

JA_BRANDS = (
    "ノースウィンド", "さくら銀行", "みなと航空", "こだまフーズ", "はやぶさモバイル",
    "あおば電機", "つばめ鉄道", "かえでストア",
)  # fmt: skip

# (what is broken, the problem as a noun, what works again)
JA_PROBLEMS = (
    ("ログインできない", "ログインの不具合", "ログインできるようになった"),
    ("アプリが起動してすぐ落ちる", "アプリが落ちる問題", "アプリが普通に開けるようになった"),
    ("同じ注文で二重に請求された", "二重請求", "二重請求の分が返金された"),
    ("返金がまだ届かない", "返金の件", "返金が届いた"),
    ("預けた荷物が届かない", "ロストバゲージ", "荷物がホテルまで届いた"),
    ("欠航になったのに振替便の案内がない", "欠航の件", "次の便に振り替えてもらえた"),
    ("同期が止まってファイルが古いまま", "同期の不具合", "同期が直った"),
    ("注文した商品が届かない", "未着の件", "商品が届いた"),
    ("注文と違う商品が来た", "注文違い", "正しい商品に交換してもらえた"),
    ("オンラインチェックインができない", "チェックインの不具合", "チェックインできるようになった"),
    ("カードが何度も拒否される", "カードのエラー", "カードが使えるようになった"),
    ("ネットが朝からつながらない", "回線障害", "回線が復旧した"),
    ("電話が2時間つながらない", "問い合わせの件", "折り返しの電話をもらえた"),
    ("請求書の金額が間違っている", "請求書の誤り", "請求書を訂正してもらえた"),
    ("パスワード再設定のメールが来ない", "再設定メールの件", "再設定メールが届いた"),
    ("ポイントが勝手に消えた", "ポイントが消えた件", "ポイントが戻ってきた"),
    ("解約の手続きができない", "解約できない件", "無事に解約できた"),
    ("何度もログアウトされる", "ログアウトされる不具合", "ログアウトされなくなった"),
)  # fmt: skip

JA_REPORTS = (
    "{brand}、{broken}。早く直してほしい",
    "{brand}の{issue}、まだ解決しない。問い合わせても返事がない",
    "また{brand}で{broken}…いい加減にして",
    "{brand}で{broken}のですが、どうすればいいですか？",
)
JA_SARCASM = (
    "さすが{brand}、今日も{broken}。期待を裏切らない",
    "{brand}の{issue}、毎回楽しませてくれる親切設計",
)
JA_SOLVED = (
    "{brand}の{issue}、問い合わせたらすぐ直った。ありがとう",
    "{brand}の{issue}、もう解決してた。対応早い",
    "{brand}のサポートに{issue}を相談したら30分で解決。感謝",
    "{fixed}。{brand}さん、ありがとうございます",
)
JA_NEVER = ("{brand}は{issue}が一度もなくて助かる",)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _article(noun_phrase: str) -> str:
    """'the login problem' -> 'a login problem' (for "never had ...")."""
    rest = noun_phrase.removeprefix("the ").removeprefix("my ")
    return ("an " if rest[:1] in "aeiou" else "a ") + rest


def english_rows(rng: random.Random) -> list[tuple[str, str]]:
    rows = []
    for broken, issue, fixed, gerund in EN_PROBLEMS:
        for frames, label in (
            (EN_REPORTS, "yes"), (EN_SARCASM, "yes"), (EN_SOLVED, "no"), (EN_NEVER, "no"),
        ):  # fmt: skip
            for template in frames:
                brand, handle = rng.choice(EN_BRANDS)
                text = template.format(
                    brand=brand, handle=handle, broken=broken, broken_cap=_cap(broken),
                    issue=issue, issue_cap=_cap(issue), issue_a=_article(issue), fixed=fixed,
                    gerund=gerund,
                )  # fmt: skip
                rows.append((text, label))
    return rows


def japanese_rows(rng: random.Random) -> list[tuple[str, str]]:
    rows = []
    for broken, issue, fixed in JA_PROBLEMS:
        for frames, label in (
            (JA_REPORTS, "yes"), (JA_SARCASM, "yes"), (JA_SOLVED, "no"), (JA_NEVER, "no"),
        ):  # fmt: skip
            for template in frames:
                text = template.format(
                    brand=rng.choice(JA_BRANDS), broken=broken, issue=issue, fixed=fixed
                )
                rows.append((text, label))
    return rows


def contrast_rows(seed: int = 0) -> list[tuple[str, str]]:
    """Every contrastive row as (text, yes|no); brands drawn with ``seed``."""
    rng = random.Random(seed)
    return english_rows(rng) + japanese_rows(rng)
