"""Group posts into incidents, one per brand, without comparing a post with every other.

A post brings keys; an incident is found by looking the keys up (a route batch reads its posts'
keys in a few indexed statements: ``harken.routing.key_index``), never by scanning posts:

* ``post:<platform>:<id>`` — the post a retweet or quote points at, else the post itself. A
  retweet storm is one incident, whenever its retweets arrive.
* ``copy:<hash>`` — the text with links, handles, "RT @x:" and punctuation set aside: copy-paste
  campaigns and bots posting the same words.
* ``url:<link>`` — a link the post shares (a news story, a status page), minus tracking
  parameters; links to the platforms themselves and to ``incidents.ignore_domains`` never group.
* ``sim:<encoder>:<band>:<hash>`` — locality-sensitive hashing of the post's meaning vector
  (random hyperplanes, 20 bands of 12 bits). Two MiniLM posts with cosine similarity 0.9 share
  a band with probability 0.97, two at 0.5 with 0.14; e5's vectors are not centred (unrelated
  texts score ~0.77), so its bands have 24 bits: 0.94 at e5's 0.967 (0.9 on MiniLM's scale),
  0.05 at 0.77. Every candidate is then checked with the real cosine, so the hash only
  decides which few posts are compared.

Copy, URL and similarity keys only join posts within ``incidents.window`` of each other.
A complaint no key joins may still join a recent incident about the same problem in other
words (``harken.routing.storms``: meaning and topic against a few incident centroids).
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
from sqlalchemy import bindparam, select
from sqlmodel import Session

from harken import vectors
from harken.config import IncidentsConfig
from harken.routing import storm_merge
from harken.routing import storms as storm_lookup
from harken.routing.key_index import KeyIndex, KeyRow, Wanted
from harken.store.complaints import is_own
from harken.store.db import written_at_commit
from harken.store.repo import insert_attached
from harken.store.tables import Classification, Incident, Mention
from harken.text import normalize

BANDS, BITS = 20, 12
# e5's vectors are not centred (unrelated texts have cosine ~0.77): twice the bits per band
# keep its candidate sets as small as MiniLM's (unrelated posts share a band ~5% of the time).
BITS_BY_MODEL = {"e5": 24}
MAX_CANDIDATES = 20  # posts compared by real cosine, most shared bands first
MAX_URL_KEY = 300  # incident_keys.key holds 600 characters
MIN_COPY_LENGTH = 15  # shorter texts ("acme down") are too common to mean "the same post"

_RT = re.compile(r"^rt @[\w.]+:\s*")
_URL = re.compile(r"https?://[^\s<>\"'）)」]+")
_HANDLE = re.compile(r"@[\w.]+")
_NOT_WORD = re.compile(r"[\W_]+")
_TRACKING = re.compile(r"^(utm_|fbclid$|gclid$|ref$|ref_src$|s$|t$|si$)")
PLATFORM_HOSTS = frozenset(
    [
        "t.co",
        "twitter.com",
        "x.com",
        "mobile.twitter.com",
        "bsky.app",
        "reddit.com",
        "old.reddit.com",
        "redd.it",
        "np.reddit.com",
    ]
)


@dataclass(frozen=True)
class PostKeys:
    post: str  # the post a retweet/quote points at, else the post itself
    own: str  # the post itself: what later retweets of a quote look up
    copy: str | None = None
    urls: tuple[str, ...] = ()
    similar: tuple[str, ...] = ()
    vector: np.ndarray | None = field(default=None, compare=False)
    vector_model: str | None = None

    @property
    def windowed(self) -> tuple[str, ...]:
        """The keys that join posts only within ``incidents.window`` of each other."""
        return (*([self.copy] if self.copy else []), *self.urls, *self.similar)


@dataclass(frozen=True)
class Assignment:
    incident: Incident
    reason: str
    created: bool
    merged: storm_merge.Merged | None = None  # incidents this post showed to be one


def own_answer(mention: Mention) -> bool:
    """The brand's own reply to a post (harken.pipeline.ingest): it joins that post's incident."""
    return mention.ref_kind == "reply" and is_own(mention.flags)


def post_keys(mention: Mention, c: Classification, config: IncidentsConfig) -> PostKeys:
    repeats = mention.ref_kind in ("retweet", "quote") or own_answer(mention)
    referenced = repeats and mention.ref_external_id
    own = f"post:{mention.platform}:{mention.external_id}"
    post = f"post:{mention.platform}:{mention.ref_external_id}" if referenced else own
    if own_answer(mention):  # its boilerplate ("DM us") must not join customers' posts
        return PostKeys(post, own)
    folded = normalize(mention.text)
    copy = None
    if config.copies:
        words = _NOT_WORD.sub(" ", _HANDLE.sub(" ", _URL.sub(" ", _RT.sub("", folded)))).split()
        fingerprint = " ".join(words)
        if len(fingerprint) >= MIN_COPY_LENGTH:
            copy = "copy:" + hashlib.sha1(fingerprint.encode()).hexdigest()[:20]
    urls: tuple[str, ...] = ()
    if config.urls:
        ignored = PLATFORM_HOSTS | {d.lower().removeprefix("www.") for d in config.ignore_domains}
        found = shared_links(mention)
        urls = tuple(dict.fromkeys(_url_key(u) for u in found if _host(u) not in ignored))
    vector = vectors.unpack(c.vector)
    similar: tuple[str, ...] = ()
    if vector is not None and c.vector_model:
        similar = _bands(vector, c.vector_model)
    return PostKeys(post, own, copy, urls, similar, vector, c.vector_model)


def assign(
    session: Session,
    mention: Mention,
    c: Classification,
    config: IncidentsConfig,
    *,
    storms: bool = True,
) -> Assignment:
    """Join the mention to its incident (creating one on first sight) and record its keys.
    ``storms=False``: by its keys only, and its meaning joins no storm's centroid."""
    brand = mention.brand or ""
    storms = storms and not own_answer(mention)  # "sorry, fixed now" is no customer's report
    prepared: dict[int | None, PostKeys] = session.info.get("post_keys", {})
    keys = prepared.pop(mention.id, None) or post_keys(mention, c, config)
    found = _find(session, brand, mention, keys, config)
    merged = None
    misses: list[str] = []  # why no storm took it, when the brand has recent incidents
    if found is None and storms:
        storm = storm_lookup.find(
            session, brand, mention.created_at, c, keys.vector, config.storms, misses
        )
        if storm is not None:
            target, reason = storm.incident_id, storm.reason
            if storm.merge and mention.id is not None:
                incident_ids = (storm.incident_id, *storm.merge)
                merged = storm_merge.merge(
                    session, incident_ids, mention.id, config.storms, _index(session)
                )
                if merged is not None:
                    target = merged.into
                    also = ", ".join(f"#{i}" for i in (merged.into, *merged.merged))
                    reason += f"; as like {also}: merged into incident #{target}"
            found = _get(session, target), "storm", reason
    created = found is None
    if found is None:
        incident = _incident_for(session, brand, keys.post, mention)
        how, reason = "new", "; ".join(["new incident", *misses])
    else:
        incident, how, reason = found
    _grow(incident, mention, c.risk)
    session.add(incident)
    _record_keys(session, brand, incident, mention, keys, how)
    if storms and how != "copy" and not (how == "post" and mention.ref_kind == "retweet"):
        # A retweet or a copy repeats its original's meaning: it would only weigh the mean.
        storm_lookup.remember(
            session, brand, incident, mention.created_at, c, keys.vector, config.storms
        )
    mention.incident_id, mention.incident_reason = incident.id, reason
    session.add(mention)
    return Assignment(incident, reason, created, merged)


def prepare(
    session: Session, posts: Sequence[tuple[Mention, Classification]], config: IncidentsConfig
) -> None:
    """Read the incident keys a batch of posts will look up, in a few statements (``assign``
    then answers each post from memory and adds what it brings)."""
    prepared: dict[int | None, PostKeys] = session.info.setdefault("post_keys", {})
    wanted = []
    for mention, c in posts:
        keys = prepared[mention.id] = post_keys(mention, c, config)
        if c.vector_model:  # what a later post of the batch compares itself with
            # (a brand's answer has no meaning keys, but its bands may be stored from before)
            vector = keys.vector if keys.vector is not None else vectors.unpack(c.vector)
            _kept_vectors(session)[(mention.id, c.vector_model)] = vector  # type: ignore[index]
        low, high = _window(mention, config)
        wanted.append(Wanted(mention.brand or "", keys.post, keys.windowed, low, high))
    _index(session).load(session, wanted)
    storm_lookup.prepare(session, [(m.brand or "", m.created_at) for m, _ in posts], config.storms)


def _window(mention: Mention, config: IncidentsConfig) -> tuple[datetime, datetime]:
    """When the posts that copy, link or near-duplicate keys join it to were posted."""
    return mention.created_at - config.window, mention.created_at + config.window


def _index(session: Session) -> KeyIndex:
    """The session's key index: its new rows are written when the session commits."""
    return written_at_commit(session, "key_index", KeyIndex)


def _find(
    session: Session, brand: str, mention: Mention, keys: PostKeys, config: IncidentsConfig
) -> tuple[Incident, str, str] | None:
    """The rows of all the post's keys (from the batch's key index), then the strongest
    evidence wins: the referenced post, then a copy or a shared link, then the most similar
    meaning."""
    low, high = _window(mention, config)
    own = mention.id  # read once: an ORM attribute costs a call per row (up to MAX_ROWS)
    rows = [r for r in _lookup(session, brand, keys, low, high) if r[2] != own]
    for key, incident_id, member in rows:
        if key == keys.post:
            if mention.ref_kind in ("retweet", "quote") and mention.ref_external_id:
                said = f"{mention.ref_kind} of {mention.platform}:{mention.ref_external_id}"
                return _get(session, incident_id), "post", said
            if own_answer(mention):
                said = f"the brand's answer to {mention.platform}:{mention.ref_external_id}"
                return _get(session, incident_id), "post", said
            return _get(session, incident_id), "post", f"the post that mention {member} shares"
    for key, incident_id, member in rows:
        if key == keys.copy or key in keys.urls:
            how = "copy" if key.startswith("copy:") else "url"
            said = "same text as" if how == "copy" else f"shares the link {key[4:]} with"
            return _get(session, incident_id), how, f"{said} mention {member}"
    similar = _most_similar(session, keys, [r for r in rows if r[0].startswith("sim:")], config)
    if similar is not None:
        incident_id, member, cosine = similar
        reason = f"similar in meaning ({cosine:.2f}) to mention {member}"
        return _get(session, incident_id), "similar", reason
    return None


def _most_similar(
    session: Session, keys: PostKeys, rows: list[KeyRow], config: IncidentsConfig
) -> tuple[int, int, float] | None:
    if keys.vector is None or not rows:
        return None
    shared: dict[int, int] = {}
    incident_of: dict[int, int] = {}
    for _, incident_id, member in rows:
        shared[member] = shared.get(member, 0) + 1
        incident_of[member] = incident_id
    # The most shared first, then the latest (nsmallest: sorted()[:n] without sorting all).
    candidates = heapq.nsmallest(MAX_CANDIDATES, shared, key=lambda m: (-shared[m], -m))
    found = _vectors(session, candidates, keys.vector_model)
    best: tuple[int, int, float] | None = None
    norm = float(np.sqrt(keys.vector @ keys.vector)) or 1.0
    for member in sorted(candidates):  # equal cosines (copies): the earliest post wins
        other = found.get(member)
        if other is None or other.shape != keys.vector.shape:
            continue
        # np.linalg.norm computes the same sqrt(x·x); its overhead was a tenth of this loop.
        raw = float(keys.vector @ other) / (norm * (float(np.sqrt(other @ other)) or 1.0))
        cosine = vectors.comparable(raw, keys.vector_model)
        if cosine >= config.similarity and (best is None or cosine > best[2]):
            best = (incident_of[member], member, cosine)
    return best


def _vectors(session: Session, ids: list[int], model: str | None) -> dict[int, np.ndarray | None]:
    """The meaning vectors (by ``model``) of these posts: the batch's own and those read
    before from memory, the others in one statement."""
    kept = _kept_vectors(session)
    missing = [i for i in ids if (i, model) not in kept]
    if missing:
        params = {"ids": missing, "model": model}
        read = dict(session.connection().execute(_vectors_statement(), params).all())
        for member in missing:
            kept[(member, model)] = vectors.unpack(read.get(member))
    return {i: kept[(i, model)] for i in ids}


def _kept_vectors(session: Session) -> dict[tuple[int, str | None], np.ndarray | None]:
    """The batch's meaning vectors by (post, encoder): its own posts' and those read since."""
    kept: dict[tuple[int, str | None], np.ndarray | None] = session.info.setdefault("vectors", {})
    return kept


def _lookup(
    session: Session, brand: str, keys: PostKeys, low: datetime, high: datetime
) -> list[KeyRow]:
    """Rows for the post's keys: the referenced post's at any time (one row, found by the
    index), the others within the window (an index range), latest first."""
    index = _index(session)
    first = index.first(session, brand, keys.post)
    rows = [first] if first is not None else []
    if keys.windowed:
        rows += index.rows(session, brand, keys.windowed, low, high)
    return rows


# Built once and executed with parameters: SQLAlchemy then compiles each statement once.


@cache
def _incident_statement() -> Any:
    t = Incident.__table__  # type: ignore[attr-defined]
    return select(t.c.id).where(t.c.brand == bindparam("brand"), t.c.key == bindparam("key"))


@cache
def _vectors_statement() -> Any:
    t = Classification.__table__  # type: ignore[attr-defined]
    return select(t.c.mention_id, t.c.vector).where(
        t.c.mention_id.in_(bindparam("ids", expanding=True)),
        t.c.vector_model == bindparam("model"),
    )


def _incident_for(session: Session, brand: str, key: str, mention: Mention) -> Incident:
    """A new incident, or the one already holding this key (whose key rows went missing,
    e.g. stored before incident keys existed): never a second one with the same key."""
    params = {"brand": brand, "key": key}
    existing = session.connection().execute(_incident_statement(), params).scalar_one_or_none()
    if existing is not None:
        return _get(session, existing)
    incident = Incident(
        brand=brand,
        key=key,
        first_seen=mention.created_at,
        last_seen=mention.created_at,
        size=0,
        top_mention_id=mention.id,
    )
    return _kept(session, insert_attached(session, incident))  # its id now, nothing flushed


def _get(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    assert incident is not None
    return _kept(session, incident)


def _kept(session: Session, incident: Incident) -> Incident:
    """The session's identity map holds objects weakly: once flushed, an incident nobody
    references is dropped, and the batch's next post of it would read it again. Only the
    router (one at a time) writes incidents, so a batch keeps those it has met."""
    session.info.setdefault("incidents", {})[incident.id] = incident
    return incident


def _grow(incident: Incident, mention: Mention, risk: float) -> None:
    incident.size += 1  # all its posts, the brand's answers too (its growth leaves them out)
    incident.first_seen = min(incident.first_seen, mention.created_at)
    incident.last_seen = max(incident.last_seen, mention.created_at)
    raise_top(incident, mention, risk)


def raise_top(incident: Incident, mention: Mention, risk: float) -> None:
    """The incident's top post is its riskiest: ``mention`` at ``risk`` (also once its risk is
    scored again after it joined: incident growth, an impostor's floor)."""
    if own_answer(mention) and incident.top_mention_id not in (None, mention.id):
        return  # the brand's answer never stands for the customers' incident
    if incident.top_mention_id == mention.id or risk > incident.top_risk:
        incident.top_mention_id, incident.top_risk = mention.id, risk


def _record_keys(
    session: Session, brand: str, incident: Incident, mention: Mention, keys: PostKeys, how: str
) -> None:
    """A retweet adds nothing its original does not already hold; a copy adds no meaning
    bands (its vector is the original's). Everything else is recorded for later posts."""
    if how == "post" and mention.ref_kind == "retweet":
        return
    wanted = [] if how == "post" else [keys.post]
    if keys.own != keys.post:
        wanted.append(keys.own)
    wanted += ([keys.copy] if keys.copy else []) + list(keys.urls)
    if how != "copy":
        wanted += list(keys.similar)
    assert incident.id is not None and mention.id is not None
    _index(session).add(brand, wanted, incident.id, mention.id, mention.created_at)


def shared_links(mention: Mention) -> list[str]:
    """Links a post shares, normalized: from its text and from what its platform expanded."""
    raw: dict[str, Any] = mention.raw or {}
    found = _URL.findall(mention.text)
    for entity in (raw.get("entities") or {}).get("urls") or []:
        if isinstance(entity, dict):
            found.append(entity.get("unwound_url") or entity.get("expanded_url") or "")
    embed = ((raw.get("record") or {}).get("embed") or {}).get("external") or {}
    found.append(embed.get("uri") or "")
    found.append((raw.get("card") or {}).get("url") or "")
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    if data and not data.get("is_self", True):
        found.append(data.get("url") or "")
    if mention.platform == "rss" and mention.url:
        found.append(mention.url)  # an article: posts sharing it join its incident
    return list(dict.fromkeys(n for n in (normalize_url(u) for u in found if u) if n))


def normalize_url(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip().rstrip(".,;:!?"))
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().removeprefix("www.")
    query = urlencode(
        sorted((k, v) for k, v in parse_qsl(parts.query) if not _TRACKING.match(k.lower()))
    )
    path = parts.path.rstrip("/")
    return f"{host}{path}" + (f"?{query}" if query else "")


def _url_key(normalized: str) -> str:
    """``url:<link>``; a link too long for the key column keeps its host and a hash."""
    if len(normalized) <= MAX_URL_KEY:
        return f"url:{normalized}"
    digest = hashlib.sha1(normalized.encode()).hexdigest()[:24]
    return f"url:{_host(normalized)[:200]}/#{digest}"


def _host(normalized: str) -> str:
    return normalized.split("/", 1)[0].split("?", 1)[0]


def _bands(vector: np.ndarray, model: str) -> tuple[str, ...]:
    bits_per_band = BITS_BY_MODEL.get(model, BITS)
    planes = _hyperplanes(vector.shape[0], bits_per_band)
    bits = (planes @ vector) > 0
    weights = 1 << np.arange(bits_per_band, dtype=np.int64)
    codes = bits.reshape(BANDS, bits_per_band).astype(np.int64) @ weights
    return tuple(f"sim:{model}:{band}:{int(code)}" for band, code in enumerate(codes))


@cache
def _hyperplanes(dim: int, bits_per_band: int) -> np.ndarray:
    # Fixed seed: the same post must hash the same way in every process, forever.
    rng = np.random.default_rng(20261201)
    return rng.standard_normal((BANDS * bits_per_band, dim)).astype(np.float32)
