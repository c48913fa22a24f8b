"""Impostors: authors whose handle or display name imitates the brand or one of its accounts,
and whose post reaches for the reader (a link, a request for a password, a DM, a login, card
details, a refund claim). Phishing on the brand's name is the most dangerous post it receives.

Two tests, both required, keep false positives low:

* **The name imitates.** A handle or display name compared as a *skeleton* (NFKC, case folded,
  common homoglyphs and digits-for-letters mapped to one letter, separators dropped) equals a
  brand handle's or name's skeleton, is within a small edit distance of it (scaled by length),
  or is the brand plus service words ("acme_refunds", "AcmeSupportTeam", "アクメサポート").
* **The text lures.** A link, or a request for credentials, a DM, a login, verification, card
  details or a compensation/refund claim (English and Japanese).

A third case needs no imitating name: a post that **offers money in the brand's name with a
link** ("Acme outage compensation: claim your $50 credit before midnight [link]", "アクメの補償金は
こちらから受け取れます https://...") is a scam on the brand's name whoever posts it: flagged the
same way, its factor says "possible scam in Acme's name".

A configured account (any role in ``accounts:``, or a handle in ``brands[].handles``) is never
an impostor. A fan named "acme_fan_1987" is not one either: "fan" is no service word.

No maintained confusables library is installed (``confusable-homoglyphs`` is on PyPI, not in
the environment), so the common Latin lookalikes of Cyrillic and Greek are listed here; NFKC
already folds full-width and mathematical letters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from harken.authors.roles import role_of
from harken.config import Config

FLAG = "impersonation"

# Cyrillic and Greek letters drawn like Latin ones, and digits read as letters. "i", "l" and
# "1" (and "|") all become "l", "0" becomes "o": a skeleton, not a spelling.
_LOOKALIKE = str.maketrans(
    {
        **dict.fromkeys("аɑα", "a"),
        **dict.fromkeys("еεё", "e"),
        **dict.fromkeys("оο0ө", "o"),
        **dict.fromkeys("рρ", "p"),
        **dict.fromkeys("сϲ", "c"),
        **dict.fromkeys("уγ", "y"),
        **dict.fromkeys("хχ", "x"),
        **dict.fromkeys("іιїı1i|", "l"),
        **dict.fromkeys("ј", "j"),
        **dict.fromkeys("ѕ5$", "s"),
        **dict.fromkeys("кκ", "k"),
        **dict.fromkeys("нη", "n"),
        **dict.fromkeys("тτ7", "t"),
        **dict.fromkeys("ԁ", "d"),
        **dict.fromkeys("ԝω", "w"),
        **dict.fromkeys("νѵ", "v"),
        **dict.fromkeys("3з", "e"),
        **dict.fromkeys("4@", "a"),
        **dict.fromkeys("8в", "b"),
        **dict.fromkeys("9", "g"),
        **dict.fromkeys("_.-·・ 　'’", ""),
    }
)
# Words an impostor adds to the brand's name to look like its service desk. The weak ones
# are also what fans and regional accounts call themselves (@acme_japan, @realacme): a name
# made of the brand and weak words only is suspect when the post asks for credentials or a
# DM, not for a link alone.
STRONG_SERVICE_WORDS = (
    "support", "help", "helpdesk", "care", "refund", "refunds", "official", "service",
    "services", "desk", "cs", "billing", "security", "assist",
    "サポート", "公式", "ヘルプ", "窓口", "カスタマー", "返金", "事務局", "センター", "お客様",
)  # fmt: skip
WEAK_SERVICE_WORDS = (
    "team", "hq", "customer", "customers", "info", "real", "global", "us", "jp", "japan",
    "the", "app", "account", "accounts",
)  # fmt: skip
SERVICE_WORDS = STRONG_SERVICE_WORDS + WEAK_SERVICE_WORDS
LINK_LURE = "has a link"
# A domain starts where no word, dot or dash precedes it: with a plain word boundary the
# pattern retried every position of "a.a.a.a..." (35 s on 40,000 characters).
_LINK = re.compile(
    r"https?://[^\s/?#]+|\bwww\.[^\s/?#]+|"
    r"(?<![\w.-])(?:[\w-]+\.)+(?:com|net|org|io|co|ly|me|info|xyz|site|app|jp|example)\b",
    re.IGNORECASE,
)
_SCHEME = re.compile(r"^(?:https?://)?(?:www\.)?")
_ASKS = re.compile(
    r"\bdms?\b|direct message|message us|inbox us|\bpass(?:word|code)s?\b|\blog ?in\b|"
    r"\bsign ?in\b|\bverif(?:y|ication)\b|credentials?|\bcard (?:number|details)\b|\bcvv\b|"
    r"\bpin\b|\botp\b|one[- ]time code|security code|account details|\bcompensation\b|"
    r"\bclaim (?:your|a|the)? ?refund|\brefund (?:form|claim|link)|whatsapp|telegram|"
    r"パスワード|ログイン|こちらから|返金|認証|暗証番号|カード番号|補償|ダイレクトメッセージ|"
    r"ＤＭ|\bURL\b|ＵＲＬ",
    re.IGNORECASE,
)
# Before or after an ask, words that make it the writer's own trouble, not a request to the
# reader: "I can't log in", "my password reset fails", "ログインできない".
_OWN_TROUBLE_BEFORE = re.compile(
    r"\b(?:my|can['’]?t|cannot|can not|couldn['’]?t|could not|unable to|not able to"
    r"|won['’]?t let me)\s+$",
    re.IGNORECASE,
)
_OWN_TROUBLE_AFTER = re.compile(r"(?:が|は)?(?:できな|出来な|でき(?:ません|ず))")


class AuthorLike(Protocol):
    platform: str
    handle: str
    name: str | None


@dataclass(frozen=True)
class Impersonation:
    imitated: str  # what it imitates, as people know it: "@acmesupport", or "Acme"
    why: str  # in plain words: how the name imitates, and the lure
    scam: bool = False  # no imitating name: the post offers money in the brand's name

    @property
    def factor(self) -> str:
        if self.scam:
            return f"possible scam in {self.imitated}'s name"
        return f"possible impostor of {self.imitated}"


@dataclass(frozen=True)
class _Target:
    shown: str  # "@acmesupport" or "Acme"
    skeleton: str
    kind: str  # "handle" (brands[].handles), "account" (own/staff accounts:), "brand" (name)

    @property
    def brand(self) -> bool:  # a brand name or keyword: service words may follow or precede it
        return self.kind == "brand"


def skeleton(text: str) -> str:
    """What a name looks like, whatever characters spell it."""
    folded = unicodedata.normalize("NFKC", text).casefold().strip().lstrip("@")
    return unicodedata.normalize("NFKC", folded.translate(_LOOKALIKE))


def impostor_of(config: Config, author: AuthorLike, text: str) -> Impersonation | None:
    """The brand or account the author imitates while luring readers, or None."""
    if not config.brands or role_of(config, author.platform, author.handle) is not None:
        return None
    lure = lure_in(text, own_domain=_own_domain(author))
    if lure is None:
        return None
    targets = _targets(config)
    for label, name in (("handle", author.handle), ("display name", author.name or "")):
        found = _imitation(targets, name) if name.strip() else None
        if found is not None:
            target, how, strong = found
            if not strong and lure == LINK_LURE:
                continue  # a fan's name ("Acme", @acme_japan) sharing a link is no impostor
            shown = f"@{name.strip().lstrip('@')}" if label == "handle" else f"'{name.strip()}'"
            why = f"{label} {shown} {how} {target.shown}, and the post {lure}"
            return Impersonation(target.shown, why)
    return _scam_offer(config, text) if lure == LINK_LURE else None


# Money offered to the reader: "claim your $50 credit", "get your free refund", "補償金を受け取".
_MONEY = (
    r"refunds?|credits?|compensation|rewards?|prizes?|gift ?cards?|vouchers?|payouts?|cash"
    r"|reimbursements?"
)
_AMOUNT = r"(?:[$€£¥] ?\d[\d,.]*|\d[\d,.]* ?(?:usd|dollars?|yen|円)) ?"
# Offered to the reader, not asked for by a customer: "your", "free" or an amount, never "my"
# ("how do I claim a refund?" is a customer's question). Single spaces between the words, so
# a post of 40,000 spaces costs a linear scan.
_OFFER = re.compile(
    rf"\b(?:claim|collect|redeem|receive|grab) (?:(?:your|free) (?:{_AMOUNT})?|(?:(?:a|the) )?"
    rf"{_AMOUNT})(?:free )?(?:[\w-]+ )?(?:{_MONEY})\b(?![^.!\n]*\?)"
    r"|(?:補償金?|返金|賠償金?|ギフト(?:券|カード)?|ポイント|賞金|お詫び(?:金|の品)?)"
    r"(?:を|が|は)?(?:こちら(?:から|で))?(?:受け取|受取|申請)(?:れ|り|る|って(?:ください|下さい)|でき|は)",
    re.IGNORECASE,
)
# A customer writes about their own money or trouble; a scam addresses the reader (and may say
# "we" and "us", as the brand would).
_CUSTOMER = re.compile(
    r"\b(?:i|i['’]m|i['’]ve|my|me)\b|\b(?:but|broken|doesn['’]?t)\b"
    r"|私|僕|俺|うち|けど|のに|できない|届かない|(?:でき|届き|もらえ)ません",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")


def _scam_offer(config: Config, text: str) -> Impersonation | None:
    """A post with a link that offers money in a brand's name, whoever posts it."""
    folded = _SPACES.sub(" ", unicodedata.normalize("NFKC", text))
    offer = _OFFER.search(folded)
    if offer is None or _CUSTOMER.search(folded):
        return None
    lowered = folded.casefold()
    for brand in config.brands:
        names = [brand.name, *brand.keywords]
        if any(n and unicodedata.normalize("NFKC", n).casefold() in lowered for n in names):
            offered = offer.group(0)
            why = f"the post offers money in {brand.name}'s name ('{offered}') and has a link"
            return Impersonation(brand.name, why, scam=True)
    return None


def lure_in(text: str, own_domain: str | None = None) -> str | None:
    """What in the text reaches for the reader, in words ("has a link"), or None. A link
    into ``own_domain`` (the author's own, proven domain) is no bait."""
    for link in _LINK.finditer(text):
        host = _SCHEME.sub("", link.group(0).casefold()).split(":")[0]
        if own_domain is None or (host != own_domain and not host.endswith("." + own_domain)):
            return LINK_LURE
    folded = unicodedata.normalize("NFKC", text)
    for asked in _ASKS.finditer(folded):
        before = folded[max(0, asked.start() - 20) : asked.start()]
        if _OWN_TROUBLE_BEFORE.search(before) or _OWN_TROUBLE_AFTER.match(folded, asked.end()):
            continue
        return f"asks for '{asked.group(0).strip()}'"
    return None


def _own_domain(author: AuthorLike) -> str | None:
    """A Bluesky handle that is a domain of its own is proven by DNS (``acme.example.com``);
    one under a host's domain (``x.bsky.social``) proves nothing."""
    handle = author.handle.strip().lstrip("@").casefold()
    if author.platform != "bluesky" or "." not in handle or handle.endswith(".bsky.social"):
        return None
    return handle


# Longer than any platform's handle or display name (X 50, Bluesky 64): a hostile value, not
# a name a reader would take for the brand's, and not worth comparing letter by letter.
_LONGEST_NAME = 100


def _imitation(targets: tuple[_Target, ...], name: str) -> tuple[_Target, str, bool] | None:
    """The target the name imitates, how (in words), and whether strongly: a lookalike of a
    handle or account, or the brand with a service desk's words, is strong; the bare brand
    name or the brand with weak words only (what fans call themselves) is not."""
    if len(name) > _LONGEST_NAME:
        return None
    raw = unicodedata.normalize("NFKC", name).casefold().strip().lstrip("@")
    shapes = {skeleton(name), skeleton(name.rstrip("0123456789_ "))} - {""}
    bare = {t.skeleton for t in targets if t.brand}  # the brand's name, as @acme spells it too
    for target in targets:
        if raw == target.shown.lstrip("@").casefold():
            return target, "copies", target.skeleton not in bare
        if target.skeleton in shapes:
            return target, "looks like", not target.brand
    for target in (t for t in targets if not t.brand):
        steps = min(_distance(shape, target.skeleton) for shape in shapes)
        if 0 < steps <= _allowed(target.skeleton):
            return target, f"is {'one letter' if steps == 1 else 'two letters'} from", True
    for target in (t for t in targets if t.brand):
        words = [_with_service_words(shape, target.skeleton) for shape in shapes]
        if any(words):
            how = f"is the brand name {target.shown} plus service words, like"
            return _closest(targets, target), how, "strong" in words
    return None


def _allowed(target: str) -> int:
    """Edits a lookalike may differ by: none for short names (too many real words are one
    letter from "acme"), one up to 8 letters, two beyond."""
    return 0 if len(target) < 5 else 1 if len(target) < 9 else 2


def _with_service_words(shape: str, core: str) -> str | None:
    """ "strong" or "weak" when ``shape`` is ``core`` with service words before or after it
    (weak: made of weak words only), else None."""
    if len(core) < 3 or shape == core:
        return None
    if shape.startswith(core):
        rest = shape[len(core) :]
    elif shape.endswith(core):
        rest = shape[: -len(core)]
    else:
        return None
    if not _made_of(rest, _service_skeletons()):
        return None
    return "weak" if _made_of(rest, _weak_skeletons()) else "strong"


def _made_of(rest: str, words: tuple[str, ...]) -> bool:
    ok = [True] + [False] * len(rest)  # ok[i]: rest[:i] is made of these words
    for end in range(1, len(rest) + 1):
        ok[end] = any(ok[end - len(w)] and rest.endswith(w, 0, end) for w in words if len(w) <= end)
    return ok[-1]


def _closest(targets: tuple[_Target, ...], brand: _Target) -> _Target:
    """For "acme_refunds": the brand's own service account ("@acmesupport", itself the brand
    plus service words) if it has one, else its handle that is the bare name ("@acme"), so the
    alert names the account people would confuse it with."""
    handles = [t for t in targets if t.kind == "handle"]
    service = [t for t in handles if _with_service_words(t.skeleton, brand.skeleton)]
    bare = [t for t in handles if t.skeleton == brand.skeleton]
    return (service or bare or [brand])[0]


@lru_cache(maxsize=1)
def _service_skeletons() -> tuple[str, ...]:
    return tuple(sorted({skeleton(w) for w in SERVICE_WORDS}, key=len, reverse=True))


@lru_cache(maxsize=1)
def _weak_skeletons() -> tuple[str, ...]:
    return tuple(sorted({skeleton(w) for w in WEAK_SERVICE_WORDS}, key=len, reverse=True))


def _targets(config: Config) -> tuple[_Target, ...]:
    """The names an impostor may imitate: built once per set of brands and accounts (the key
    is cheap to take; the skeletons are not), not once per post."""
    brands = tuple((b.name, tuple(b.keywords), tuple(b.handles)) for b in config.brands)
    accounts = tuple(a.handle for a in config.accounts if a.handle and a.role in ("own", "staff"))
    return _targets_of(brands, accounts)


@lru_cache(maxsize=8)
def _targets_of(
    brands: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...], accounts: tuple[str, ...]
) -> tuple[_Target, ...]:
    found: dict[str, _Target] = {}
    for kind, handles in (
        ("handle", [h for _, _, hs in brands for h in hs]),
        ("account", accounts),
    ):
        for h in handles:
            found.setdefault(skeleton(h), _Target(f"@{h.strip().lstrip('@')}", skeleton(h), kind))
    cores: dict[str, _Target] = {}
    for name, keywords, _ in brands:
        # Single-word keywords name the brand too ("アクメ" for Acme); phrases are products.
        for word in [name, *[k for k in keywords if " " not in k.strip()]]:
            core = skeleton(word)
            if len(core) >= 3:
                cores.setdefault(core, _Target(name, core, "brand"))
    return (*found.values(), *cores.values())


def _distance(a: str, b: str) -> int:
    """Levenshtein distance (names are short: at most a few dozen characters)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


__all__ = [
    "FLAG",
    "LINK_LURE",
    "SERVICE_WORDS",
    "STRONG_SERVICE_WORDS",
    "WEAK_SERVICE_WORDS",
    "AuthorLike",
    "Impersonation",
    "impostor_of",
    "lure_in",
]
