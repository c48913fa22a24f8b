"""The training rows of each head: the data-set loaders, their normalisation and the splits.

Everything here reads ``--data`` (the shared folder described in its README) and returns rows as
a DataFrame with the columns ``text, label, source, style, split``; nothing is embedded or
fitted here (:mod:`harken.classify.training.fit` does that).

Every text goes through :func:`prepare` first, the normalisation the runtime applies too
(:mod:`harken.classify.preprocess`: "RT @x:" dropped, HTML entities decoded, ``@handles`` and the
datasets' mention placeholders become ``@user``, links and link placeholders become ``http``, as
TweetEval writes them), so that the heads learn content and not each source's conventions (the
customer-care tweets all start with a support handle, CrowdFlower writes ``{link}``...).

Data per head, and why:

``sentiment`` (softmax: negative / neutral / positive)
    SemEval 2013-2016 task 4A English tweets (the largest labelled tweet-sentiment set, and the
    genre harken reads) plus the Sanders, CrowdFlower Apple and CrowdFlower SXSW brand tweets
    mapped to the three classes (harken reads brand mentions). The 2,000 TweetEval sentiment
    validation tweets (flagged ``in_tweeteval_val`` in the SemEval file; read from the TweetEval
    files, which hold all 2,000) are the validation set and are dropped from training, with any
    training text equal to one of them. 20% of the brand tweets (by a seeded hash of the text)
    is held out whatever the mix, and reported as a second, brand-mention validation score.
    Measured with ``--sentiment-sources`` (seed 0, TweetEval val / brand held-out macro recall):
    semeval .678 / .613, semeval+brand .676 / .642, semeval+goemotions .659 / .581, all three
    .664 / .604. Adding the brand tweets leaves TweetEval unchanged (within noise) and gains 3
    points on brand mentions; GoEmotions Reddit comments (single-group ones) hurt both.

``complaint`` (sigmoid: no / yes, "this post needs a response from the company")
    No such dataset exists, so the label is a proxy. Yes: real customers' first tweets to
    support accounts (IBM), negative brand tweets (Sanders, CrowdFlower Apple, CrowdFlower SXSW),
    and chat-style support requests (Bitext problem/support intents, Banking77 problem intents).
    No: positive, neutral and off-topic brand tweets, SemEval positive/neutral tweets, GoEmotions
    positive comments, and chat-style requests that are not aimed at a company (CLINC150 outside
    its banking and credit-card domains). Both classes hold both styles, and every (style, class)
    cell gets the same total training weight, so "chat-like vs tweet-like" says nothing about the
    label. 20% of every source (by a seeded hash of the text) is held out for validation; recall
    on the tweet-style part is reported on its own.

``abuse`` (sigmoid: no / yes, offensive or abusive language)
    TweetEval ``offensive`` (OffensEval 2019): train split for training, validation split for
    validation. Adding TweetEval ``hate`` (HatEval) training tweets (``--abuse-sources``) was
    measured and left out: validation macro F1 .733 alone, .712 with all hate tweets, .716 with
    the hateful ones only (HatEval's "not hate" tweets are often offensive, and its hate is a
    narrower target).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harken.classify.preprocess import clean_text, strip_retweet_prefix
from harken.classify.training.contrast import contrast_rows

VAL_FRACTION = 0.2
COLUMNS = ["text", "label", "source", "style", "split"]

SENTIMENT_SOURCES = ("semeval", "goemotions", "brand", "xlmt", "chabsa")
DEFAULT_SENTIMENT_SOURCES = ("semeval", "brand")
MULTILINGUAL_SENTIMENT_SOURCES = ("semeval", "brand", "xlmt", "chabsa")  # --model e5's default
XLMT_LANGUAGES = (
    "arabic", "english", "french", "german", "hindi", "italian", "portuguese", "spanish"
)  # fmt: skip
# chABSA sentences: this share of the securities reports (by a seeded hash of the document id,
# so that no report has sentences on both sides) is held out as the Japanese validation set.
CHABSA_HELDOUT = 0.5
# chABSA's sentence labels on harken's three classes: a sentence of a securities report with no
# opinion in it is neutral, as a tweet with no sentiment is; "mixed" ones have no single class.
CHABSA_LABELS = {
    "positive": "positive",
    "negative": "negative",
    "neutral": "neutral",
    "no_opinion": "neutral",
}
ABUSE_SOURCES = ("offensive", "hate", "hate_yes")
DEFAULT_ABUSE_SOURCES = ("offensive",)

# Where each source lives under --data (recorded in heads.json and the model card).
FILES = {
    "semeval": "sentiment/semeval2013-2016_taskA_en.tsv",
    "tweeteval_sentiment_val": "sentiment/tweeteval_sentiment_val_{text,labels}.txt",
    "goemotions": "reddit/goemotions/group/{train,dev}.tsv",
    "sanders": "brand_tweets/sanders_brand_tweets.csv",
    "cf_apple": "brand_tweets/crowdflower_apple_sentiment.csv",
    "cf_brand": "brand_tweets/crowdflower_brand_product_emotions.tsv",
    "ibm": "brand_tweets/ibm_customer_care_first_messages.tsv",
    "bitext": "intents/bitext/bitext_union_text_intent_category.tsv",
    "banking77": "intents/banking77/train.csv",
    "clinc150": "intents/clinc150/data_full.json",
    "offensive": "tweeteval/offensive/{train,val}_{text,labels}.txt",
    "hate": "tweeteval/hate/train_{text,labels}.txt",
    "xlmt": "sentiment/xlmt/<language>/{train,val}_{text,labels}.txt",
    "chabsa": "japanese/chabsa_sentences.tsv",
    "smile": "brand_tweets/smile_museum_tweets.csv",
    "contrast": "(none: written in harken/classify/training/contrast.py)",
}
LICENSES = {
    "semeval": "SemEval task data, no license of its own (via cbaziotis/datastories, MIT)",
    "tweeteval_sentiment_val": "TweetEval, released without restrictions; Twitter terms apply",
    "goemotions": "Apache-2.0",
    "sanders": "no license stated",
    "cf_apple": "no license stated",
    "cf_brand": "no license stated",
    "ibm": "Apache-2.0",
    "bitext": "CDLA-Sharing-1.0",
    "banking77": "CC BY 4.0",
    "clinc150": "CC BY 3.0",
    "offensive": "TweetEval, released without restrictions; Twitter terms apply",
    "hate": "TweetEval, released without restrictions; Twitter terms apply",
    "xlmt": "cardiffnlp/xlm-t, Apache-2.0 repository; dataset terms per source (Twitter terms)",
    "chabsa": "chABSA (TIS Inc.), CC BY 4.0",
    "smile": "SMILE project (museum tweets); license not verified",
    "contrast": "harken's own text (the project's license)",
}

# Bitext intents that are a problem report or a request for help (complaint head: yes).
BITEXT_SUPPORT_INTENTS = frozenset(
    {
        "complaint", "contact_human_agent", "contact_customer_service", "get_refund",
        "track_refund", "payment_issue", "registration_problems", "recover_password",
        "cancel_order", "change_order", "track_order", "delivery_period", "delete_account",
        "check_cancellation_fee", "get_invoice", "change_shipping_address",
    }
)  # fmt: skip
# Banking77 intents that report something gone wrong (complaint head: yes).
BANKING77_PROBLEM_INTENTS = frozenset(
    {
        "card_arrival", "card_not_working", "lost_or_stolen_card", "pin_blocked",
        "contactless_not_working", "pending_top_up", "wrong_amount_of_cash_received",
        "card_payment_fee_charged", "transfer_not_received_by_recipient", "top_up_reverted",
        "balance_not_updated_after_cheque_or_cash_deposit", "card_payment_not_recognised",
        "unable_to_verify_identity", "compromised_card", "direct_debit_payment_not_recognised",
        "declined_cash_withdrawal", "pending_card_payment", "lost_or_stolen_phone",
        "request_refund", "declined_transfer", "Refund_not_showing_up", "declined_card_payment",
        "pending_transfer", "card_swallowed", "transaction_charged_twice",
        "reverted_card_payment?", "failed_transfer", "virtual_card_not_working",
        "wrong_exchange_rate_for_cash_withdrawal", "top_up_failed",
        "balance_not_updated_after_bank_transfer", "cash_withdrawal_not_recognised",
        "extra_charge_on_statement", "card_payment_wrong_exchange_rate",
        "pending_cash_withdrawal", "passcode_forgotten",
    }
)  # fmt: skip
# CLINC150 domains aimed at a company (left out of the complaint head's chat-style negatives).
CLINC_COMPANY_DOMAINS = frozenset({"banking", "credit_cards"})
CLINC_PROBLEM_INTENTS = frozenset({"lost_luggage", "damaged_card", "report_fraud"})

# How many rows each complaint source contributes at most (before the train/val split).
COMPLAINT_CAPS = {
    "bitext": 2500,
    "banking77": 2000,
    "cf_brand_no": 3000,
    "semeval_no": 3000,
    "goemotions_no": 1500,
    "clinc150": 4000,
}

# --------------------------------------------------------------------------- text and data


def prepare(text: str) -> str:
    """A post as the heads see it, at training time and at run time (``Classifier.classify``)."""
    return clean_text(strip_retweet_prefix(text))


def frame(texts: Iterable[str], labels: Iterable[Any], source: str, style: str) -> pd.DataFrame:
    """Cleaned rows of one source; texts that clean down to almost nothing are dropped."""
    df = pd.DataFrame({"text": [prepare(str(t)) for t in texts], "label": list(labels)})
    df["source"], df["style"], df["split"] = source, style, "train"
    return df[df["text"].str.len() >= 3].reset_index(drop=True)


def read_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_tweeteval(data: Path, task: str, split: str) -> pd.DataFrame:
    texts = read_lines(data / f"tweeteval/{task}/{split}_text.txt")
    labels = [int(x) for x in read_lines(data / f"tweeteval/{task}/{split}_labels.txt")]
    if len(texts) != len(labels):
        raise ValueError(f"tweeteval/{task}/{split}: {len(texts)} texts, {len(labels)} labels")
    return frame(texts, labels, task, "social")


def read_table(path: Path, sep: str = ",", header: int | None = 0) -> pd.DataFrame:
    return pd.read_csv(path, sep=sep, header=header, dtype=str, keep_default_na=False)


def load_semeval(data: Path) -> pd.DataFrame:
    """SemEval tweets minus the ones flagged as part of TweetEval's sentiment validation split."""
    raw = read_table(data / FILES["semeval"], sep="\t")
    raw = raw[raw["in_tweeteval_val"] != "1"]
    return frame(raw["text"], raw["label"], "semeval", "social")


def load_tweeteval_sentiment_val(data: Path) -> pd.DataFrame:
    texts = read_lines(data / "sentiment/tweeteval_sentiment_val_text.txt")
    ids = read_lines(data / "sentiment/tweeteval_sentiment_val_labels.txt")
    names = ("negative", "neutral", "positive")
    return frame(texts, [names[int(i)] for i in ids], "tweeteval_sentiment_val", "social")


def load_goemotions(data: Path) -> pd.DataFrame:
    """GoEmotions ``group`` comments whose group labels are one of negative/neutral/positive."""
    names = read_lines(data / "reddit/goemotions/group/labels.txt")
    parts = []
    for split in ("train", "dev"):
        raw = pd.read_csv(
            data / f"reddit/goemotions/group/{split}.tsv",
            sep="\t",
            header=None,
            dtype=str,
            keep_default_na=False,
            quoting=3,
        )
        groups = raw[1].map(lambda ids: {names[int(i)] for i in ids.split(",")})
        single = groups.map(lambda g: len(g) == 1 and "ambiguous" not in g)
        parts.append(frame(raw[0][single], groups[single].map(min), "goemotions", "social"))
    return pd.concat(parts, ignore_index=True)


def load_sanders(data: Path) -> pd.DataFrame:
    raw = read_table(data / FILES["sanders"])
    return frame(raw["TweetText"], raw["Sentiment"], "sanders", "social")


def load_cf_apple(data: Path) -> pd.DataFrame:
    raw = read_table(data / FILES["cf_apple"])
    names = {"1": "negative", "3": "neutral", "5": "positive", "not_relevant": "irrelevant"}
    return frame(raw["text"], raw["sentiment"].map(names), "cf_apple", "social")


def load_cf_brand(data: Path) -> pd.DataFrame:
    raw = read_table(data / FILES["cf_brand"], sep="\t")
    names = {
        "Positive emotion": "positive",
        "Negative emotion": "negative",
        "No emotion toward brand or product": "neutral",
        "I can't tell": "unclear",
    }
    return frame(raw["text"], raw["emotion"].map(names), "cf_brand", "social")


def load_ibm(data: Path) -> pd.DataFrame:
    raw = read_table(data / FILES["ibm"], sep="\t")
    return frame(raw["text"], ["yes"] * len(raw), "ibm", "social")


def load_bitext(data: Path) -> pd.DataFrame:
    raw = read_table(data / FILES["bitext"], sep="\t")
    return frame(raw["text"], raw["intent"], "bitext", "chat")


def load_smile(data: Path) -> pd.DataFrame:
    """Tweets to 13 UK museum accounts; ``happy`` ones are thanks and praise aimed at an
    organisation (no header: id, text, category)."""
    raw = read_table(data / FILES["smile"], header=None)
    return frame(raw[1], raw[2], "smile", "social")


def load_contrast(seed: int) -> pd.DataFrame:
    """The developers' contrastive rows (:mod:`harken.classify.training.contrast`)."""
    rows = contrast_rows(seed)
    return frame([t for t, _ in rows], [label for _, label in rows], "contrast", "contrast")


def load_banking77(data: Path) -> pd.DataFrame:
    raw = read_table(data / FILES["banking77"])
    return frame(raw["text"], raw["category"], "banking77", "chat")


def load_clinc150(data: Path) -> pd.DataFrame:
    """CLINC150 queries as (text, "domain/intent"); out-of-scope ones get domain ``oos``."""
    full = json.loads((data / FILES["clinc150"]).read_text(encoding="utf-8"))
    domains = json.loads((data / "intents/clinc150/domains.json").read_text(encoding="utf-8"))
    domain_of = {intent: domain for domain, intents in domains.items() for intent in intents}
    rows = [r for key in ("train", "val", "oos_train", "oos_val") for r in full[key]]
    labels = [f"{domain_of.get(intent, 'oos')}/{intent}" for _, intent in rows]
    return frame([t for t, _ in rows], labels, "clinc150", "chat")


_ESCAPE = re.compile(r"(?:\\u[0-9a-fA-F]{4})+")


def unescape(text: str) -> str:
    """XLM-T writes some characters as literal ``\\uXXXX`` (surrogate pairs included)."""

    def decode(match: re.Match[str]) -> str:
        units = [int(h, 16) for h in match.group(0).split("\\u")[1:]]
        raw = b"".join(u.to_bytes(2, "big") for u in units)
        return raw.decode("utf-16-be", errors="replace")

    return _ESCAPE.sub(decode, text)


def load_xlmt(data: Path, language: str, split: str) -> pd.DataFrame:
    """One language's XLM-T tweets; the source is ``xlmt_<language>``."""
    folder = data / "sentiment/xlmt" / language
    texts = [unescape(t) for t in read_lines(folder / f"{split}_text.txt")]
    ids = read_lines(folder / f"{split}_labels.txt")
    if len(texts) != len(ids):
        raise ValueError(f"xlmt/{language}/{split}: {len(texts)} texts, {len(ids)} labels")
    names = ("negative", "neutral", "positive")
    return frame(texts, [names[int(i)] for i in ids], f"xlmt_{language}", "social")


def load_chabsa(data: Path, seed: int) -> pd.DataFrame:
    """chABSA sentences on the three classes; CHABSA_HELDOUT of the reports are ``val_ja``."""
    raw = read_table(data / FILES["chabsa"], sep="\t")
    raw = raw[raw["derived_label"].isin(list(CHABSA_LABELS))]
    held = raw["doc_id"].map(lambda d: hash_fraction(f"chabsa-doc:{d}", seed) < CHABSA_HELDOUT)
    parts = []
    for split, rows in (("train", raw[~held]), ("val_ja", raw[held])):
        part = frame(rows["sentence"], rows["derived_label"].map(CHABSA_LABELS), "chabsa", "prose")
        part["split"] = split
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def dataset_of(source: str) -> str:
    """The FILES/LICENSES entry of a source (``xlmt_french`` -> ``xlmt``)."""
    return "xlmt" if source.startswith("xlmt_") else source


def hash_fraction(text: str, seed: int) -> float:
    """A number in [0, 1) fixed by the text and the seed (same text, same side of a split)."""
    digest = hashlib.sha256(f"{seed}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def holdout(df: pd.DataFrame, seed: int, split_name: str = "val") -> pd.DataFrame:
    """De-duplicate, then mark VAL_FRACTION of the rows (by a seeded hash of the text) held out."""
    out = dedupe(df).copy()
    held = out["text"].map(lambda t: hash_fraction(t, seed) < VAL_FRACTION)
    out.loc[held, "split"] = split_name
    return out


def sample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if n is None or len(df) <= n:
        return df
    return df.sample(n=n, random_state=seed).sort_index()


def relabel(df: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    """Rows whose label is in ``mapping``, relabelled; the others are dropped."""
    out = df[df["label"].isin(list(mapping))].copy()
    out["label"] = out["label"].map(mapping)
    return out


def dedupe(df: pd.DataFrame) -> pd.DataFrame:
    """A text seen with different labels is dropped; exact duplicates are kept once."""
    conflicting = df.groupby("text")["label"].nunique()
    df = df[~df["text"].isin(set(conflicting[conflicting > 1].index))]
    return df.drop_duplicates(subset=["text"])


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    """A head's rows, ready: training rows de-duplicated, held-out texts kept out of training.

    Held-out rows are kept as they are (official validation splits stay whole).
    """
    held = df[df["split"] != "train"]
    train = dedupe(df[(df["split"] == "train") & ~df["text"].isin(set(held["text"]))])
    return pd.concat([train, held], ignore_index=True)[COLUMNS]


def limit_rows(df: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """--limit: at most ``limit`` training rows and ``limit`` rows of each held-out split."""
    if limit is None:
        return df
    parts = [sample(part, limit, seed) for _, part in df.groupby("split", sort=False)]
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- heads' data


def brand_sentiment(data: Path, seed: int) -> pd.DataFrame:
    """Sanders + CrowdFlower brand tweets on the three sentiment classes, 20% held out."""
    three = {"negative": "negative", "neutral": "neutral", "positive": "positive"}
    parts = [relabel(load(data), three) for load in (load_sanders, load_cf_apple, load_cf_brand)]
    return holdout(pd.concat(parts, ignore_index=True), seed, split_name="val_brand")


def sentiment_rows(
    data: Path, seed: int, sources: Sequence[str], multilingual: bool = False
) -> pd.DataFrame:
    """Sentiment rows. ``multilingual`` (an encoder that reads many languages): XLM-T's
    validation tweets of every language join TweetEval's as ``val`` (they choose C and the
    temperature), and the held-out chABSA reports are reported as ``val_ja`` (never fitted on).
    """
    val = load_tweeteval_sentiment_val(data)
    val["split"] = "val"
    brand = brand_sentiment(data, seed)
    parts = [val, brand[brand["split"] == "val_brand"]]
    if multilingual:
        for language in XLMT_LANGUAGES:
            parts.append(load_xlmt(data, language, "val").assign(split="val"))
    if multilingual or "chabsa" in sources:
        chabsa = load_chabsa(data, seed)
        parts.append(chabsa[chabsa["split"] == "val_ja"])
        if "chabsa" in sources:
            parts.append(chabsa[chabsa["split"] == "train"])
    if "xlmt" in sources:
        parts += [load_xlmt(data, language, "train") for language in XLMT_LANGUAGES]
    if "semeval" in sources:
        parts.append(load_semeval(data))
    if "goemotions" in sources:
        parts.append(load_goemotions(data))
    if "brand" in sources:
        parts.append(brand[brand["split"] == "train"])
    return tidy(pd.concat(parts, ignore_index=True))


def complaint_rows(data: Path, seed: int, thanks: bool = False) -> pd.DataFrame:
    """The complaint head's rows; ``thanks``: with SMILE's thanks and the developers'
    contrastive pairs (measured for MiniLM; they made e5's head worse on Japanese complaints:
    harken/data/models/e5/MODEL_CARD.md)."""
    yes, no = {"negative": "yes"}, {"positive": "no", "neutral": "no", "irrelevant": "no"}
    sanders, cf_apple, cf_brand = load_sanders(data), load_cf_apple(data), load_cf_brand(data)
    bitext, banking, clinc = load_bitext(data), load_banking77(data), load_clinc150(data)
    clinc_domain = clinc["label"].str.split("/").str[0]
    clinc_intent = clinc["label"].str.split("/").str[1]
    clinc_no = clinc[~clinc_domain.isin(CLINC_COMPANY_DOMAINS)]
    clinc_no = clinc_no[~clinc_intent[clinc_no.index].isin(CLINC_PROBLEM_INTENTS)]
    caps = COMPLAINT_CAPS
    parts = [
        # yes: tweet-style
        load_ibm(data),
        relabel(sanders, yes),
        relabel(cf_apple, yes),
        relabel(cf_brand, yes),
        # yes: chat-style
        sample(relabel(bitext, dict.fromkeys(BITEXT_SUPPORT_INTENTS, "yes")), caps["bitext"], seed),
        sample(
            relabel(banking, dict.fromkeys(BANKING77_PROBLEM_INTENTS, "yes")),
            caps["banking77"],
            seed,
        ),
        # no: tweet-style
        relabel(sanders, no),
        relabel(cf_apple, no),
        sample(relabel(cf_brand, no), caps["cf_brand_no"], seed),
        sample(
            relabel(load_semeval(data), {"positive": "no", "neutral": "no"}),
            caps["semeval_no"],
            seed,
        ),
        sample(relabel(load_goemotions(data), {"positive": "no"}), caps["goemotions_no"], seed),
        # no: chat-style, not aimed at a company
        sample(clinc_no.assign(label="no"), caps["clinc150"], seed),
    ]
    if thanks:
        parts += [
            # no: thanks and praise addressed to an organisation's account
            relabel(load_smile(data), {"happy": "no"}),
            # yes and no: the same problems reported, mocked, solved and thanked for, never had
            load_contrast(seed),
        ]
    return tidy(holdout(pd.concat(parts, ignore_index=True), seed))


def abuse_rows(data: Path, sources: Sequence[str]) -> pd.DataFrame:
    names = {0: "no", 1: "yes"}
    val = read_tweeteval(data, "offensive", "val")
    val["split"] = "val"
    parts = [val]
    if "offensive" in sources:
        parts.append(read_tweeteval(data, "offensive", "train"))
    if "hate" in sources or "hate_yes" in sources:
        hate = read_tweeteval(data, "hate", "train")
        parts.append(hate if "hate" in sources else hate[hate["label"] == 1])
    df = pd.concat(parts, ignore_index=True)
    df["label"] = df["label"].map(names)
    return tidy(df)
