"""Negation and denial: is a matched phrase named only to be denied?

"No evidence of a data breach" names a breach to say there was none; routing it to security is
the wrong call. ``negated(text, start, end)`` reads the scope around ``text[start:end]`` and
returns the negating phrase ("no evidence of a data breach") or None. Text is expected folded
the way matching folds it (``harken.text.normalize``), but any text works.

What counts as a denial is narrower than "a negative word nearby", because in complaints the
negation is often the complaint itself:

* **English** puts the cue before what it negates, in the same clause: not, no, never, without,
  none, nothing, -n't, "no evidence of", "no sign of", denied, ruled out, "false reports of", "will
  not"/"won't". A few cues come after: "has not been confirmed", "did not happen", "is untrue".
* **Japanese** puts it after the predicate: 確認されていない, ではない/じゃない,
  はない/ありません/なかった, の事実はない, つもりはない, なし, 否定.
* Not denials: abilities ("can't log in", "unable to", ログインできない), malfunctions ("won't
  load", "isn't working", 同期されない), absences that *are* the complaint ("never received my
  refund", "still no refund", 返金されていない), questions ("why didn't you tell us about the
  breach?", 情報漏洩ではないか), "not only", "no longer", "not sure", double negatives ("no way this
  wasn't a hack"), and a cue that negates something else on the way ("not happy about the
  breach", "didn't tell us about the breach").
"""

from __future__ import annotations

import re

from harken.text import without_links

# Sentences end at . ! ? ; : (followed by a space or the end: not "acme.com", "2.5") or a
# newline; Japanese at 。！？.
_SENTENCE_END = re.compile(r"[.!?;:](?=\s|$)|[\n。！？]|[!?](?=\S)")
# Where a clause ends inside a sentence: a contrast, a dash, or a comma (handled apart).
_CLAUSE_BREAK = re.compile(
    r"\b(?:but|however|although|though|whereas|while|except|unless|because|since|if|when)\b"
    r"|\s[-–—]\s|[()\[\]]"
)
_WORD = re.compile(r"[\w'’]+")
# An auxiliary right before the cue belongs to the phrase shown: "will not sue", "was not hacked".
_AUX = re.compile(r"\b(?:will|would|was|were|is|are|am|did|does|do|has|have|had)\s+$")

# English cues, longest first; each alternative is one kind.
_PSEUDO = (  # look like negations, negate nothing here
    r"no\s+longer|not\s+only|not\s+just|no\s+doubt|not\s+sure|not\s+certain|nothing\s+but"
    r"|no\s+matter|whether\s+or\s+not|not\s+to\s+mention|if\s+not|no\s+wonder"
)
_ABILITY = r"can['’]?t|cannot|can\s+not|couldn['’]t|could\s+not|unable\s+to|not\s+able\s+to"
_DOUBLE = r"no\s+way|not\s+that|never\s+said|don['’]t\s+think|doesn['’]t\s+mean"
_DENIAL = (
    r"no\s+(?:evidence|sign|signs|indication|indications|proof|trace|traces|record|reports?)"
    r"\s+(?:of|that)(?:\s+any)?"
    r"|not\s+aware\s+of(?:\s+any)?|false\s+(?:reports?|rumou?rs?|claims?)\s+(?:of|about|that)"
    r"|ruled\s+out|rules?\s+out|den(?:y|ies|ied|ying)|never|without|none|nothing|nobody"
    r"|no\s+one|neither|nor|not|no(?!\s*[,.!?…])|\w+n['’]t"
)
_CUE = re.compile(
    rf"\b(?:(?P<pseudo>{_PSEUDO})|(?P<ability>{_ABILITY})|(?P<double>{_DOUBLE})"
    rf"|(?P<denial>{_DENIAL}))(?![\w])"
)
# Words after a denial cue that it can still reach through: "no evidence of [a data breach]",
# "not [going to] sue". More than this many words between cue and match: another predicate.
_MAX_GAP = 6
_REACH = 240  # characters around a match that its sentence is looked for in
# A word on the way from the cue means the cue negates something else ("not happy about the
# breach", "didn't tell us about the breach", "never got a reply about the hack").
# fmt: off
_BLOCKERS = frozenset((
    # "can": "no one can log in" is an outage, not a denial
    "about", "regarding", "over", "despite", "after", "before", "than", "like", "until", "that",
    "which", "who", "what", "why", "how", "where", "happy", "pleased", "glad", "ok", "okay",
    "fine", "impressed", "surprised", "thrilled", "amused", "acceptable", "good", "great", "fair",
    "funny", "worried", "sorry", "tell", "told", "say", "said", "mention", "mentioned", "admit",
    "admitted", "disclose", "disclosed", "explain", "explained", "know", "knew", "known", "inform",
    "informed", "notify", "notified", "warn", "warned", "report", "reported", "acknowledge",
    "acknowledged", "apologise", "apologize", "apologised", "apologized", "can", "could", "able",
    "prevent", "prevented", "stop", "stopped", "care", "fix", "fixed", "even",
    # what the brand owes about it: "no apology for the breach", "not a word on the hack"
    "apology", "apologies", "notification", "notice", "warning", "news", "info", "information",
    "word", "transparency", "compensation", "communication", "explanation", "statement",
    "comment", "accountability", "solution",
    # the cue is about the speaker or the extent: "never thought", "wasn't just hacked",
    # "not the only one hacked", "never again, this breach", "not taking the breach seriously"
    "again", "only", "just", "thought", "think", "expect", "expected", "imagine", "imagined",
    "take", "taking", "ignore", "ignored", "ignoring", "afraid", "scared", "hesitate",
    "address", "addressed", "given", "details", "support",
))
# fmt: on
# Words that open a new clause after a comma ("no 2fa, then a hack").
# fmt: off
_SUBJECTS = frozenset((
    "i", "we", "you", "he", "she", "it", "they", "my", "our", "your", "their", "this", "these",
    "then", "now", "so",
))
# fmt: on
# After the match, what happened since undoes a "never"/"no": "never had a data breach until
# now" is news, "didn't get sick until I ate at Acme" and "never got hacked before I joined
# Acme" complain. "Before" only with the writer doing something: "no evidence of a breach
# before the audit", "never been hacked before." stay denials.
_UNTIL = re.compile(r"(?:\s+[\w'’]+){0,4}?[\s,…–—-]+(?:(?:until|till)\s+\w|before\s+(?:i|we)\b)")
# A word that makes a short comma tail a clause of its own: "no security, account hacked".
_PREDICATE = re.compile(
    r"(?:is|are|was|were|been|got|gets|get|has|have|had)$|\w{3,}(?<!e)ed$", re.IGNORECASE
)
# Words that cannot open "account hacked"'s kind of clause: intensifiers and cues.
_NOT_SUBJECTS = frozenset(("ever", "even", "just", "not", "no", "never"))
# Negated, these are the complaint, not a denial: malfunctions ("won't load", "not working")
# and absences of what the customer is owed ("never received", "no refund", "not refunded").
# fmt: off
_COMPLAINT_STEMS = (
    "work", "load", "open", "start", "connect", "let", "allow", "accept", "respond", "sync",
    "boot", "launch", "play", "send", "sent", "save", "show", "display", "refresh", "updat",
    "install", "download", "upload", "print", "recogni", "process", "arriv", "deliver", "receiv",
    "get", "got", "hear", "heard", "repl", "respons", "answer", "help", "resolv", "refund",
    "reimburs", "credit", "ship", "come", "came", "call", "email", "contact",
)
# fmt: on
# "get" is owed ("never got a reply") unless what is got is a harm ("didn't get sick").
_GET = frozenset(("get", "got", "gotten", "getting", "gets"))
_HARM = re.compile(
    r"(?:sick|ill|hurt|injured|burn(?:ed|t)|poisoned|hacked|scammed|robbed|infected|phished"
    r"|breached|compromised|sued|banned)",
    re.IGNORECASE,
)
# Right after the match, these make it a modifier of what is negated: "not GDPR compliant" is a
# complaint about compliance, not a denial of GDPR.
_MODIFIED = re.compile(
    r"[\s-]+(?:compliant|compliance|related|proof|certified|approved|safe|secure|friendly|ready)\b"
)
_ENGLISH_AFTER = re.compile(  # matched at the end of the match: no "^"
    r"(?:\s+[\w'’]+){0,3}?\s+(?:"
    r"(?:has|have|had|was|were|is|are)(?:\s+not|n['’]t)(?:\s+been)?\s+"
    r"(?:confirmed|detected|found|observed|identified|verified|substantiated)"
    r"|did(?:\s+not|n['’]t)\s+(?:occur|happen|take\s+place)|never\s+(?:occurred|happened)"
    r"|(?:is|are|was|were)\s+(?:untrue|false|unfounded|baseless|fake|a\s+hoax|not\s+true)"
    r")\b"
)

# Japanese: denial predicates after the match. Anywhere in its clause: the strong ones.
_JA_NEG = r"(?:ない|無い|なかった|ません|ませんでした|ず|ずに|なく)"
_JA_STRONG = re.compile(
    rf"(?:確認|検出|発見|観測)(?:され|でき|し)(?:て(?:い|お[りら])?)?{_JA_NEG}"
    rf"|見つか(?:って(?:い|お[りら])?{_JA_NEG}|ら{_JA_NEG})"
    rf"|認められ(?:て(?:い|お[りら])?)?{_JA_NEG}"
    rf"|(?:発生|流出|漏洩|漏えい)(?:は|も)?し(?:て(?:い|お[りら])?)?{_JA_NEG}"
    rf"|起き(?:て(?:い|お[りら])?)?{_JA_NEG}"
    r"|(?:事実|形跡|痕跡|証拠|兆候|可能性|予定|つもり|心配|恐れ|おそれ|被害)(?:は|も|が)?(?:一切)?"
    r"(?:ない|無い|なかった|ありません|ございません|なし|無し)"
    r"|(?:では|じゃ)(?:ない|なかった|ありません|ございません|なく)"
    r"|否定"
)
# Right after the match only: "情報漏洩はありません", "乗っ取りされていない", "情報漏洩なし".
_JA_ADJACENT = re.compile(
    r"^(?:[はもが]|の(?:件|方)は)?(?:一切)?"
    r"(?:ない|無い|なかった|ありません|ありませんでした|ございません|なし|無し)"
    rf"|^(?:は|も)?(?:され|し)(?:て(?:い|お[りら])?)?{_JA_NEG}"
)
# Right before a "not": the claim was not false ("デマじゃなかった", "嘘ではない").
_JA_HOAX_BEFORE = re.compile(r"(?:デマ|偽物|ガセ|誤報|嘘|うそ|ウソ|噂|フェイク)(?:だと|とか)?$")
# Japanese clause ends: contrast and cause, and the te-form joining two clauses.
_JA_CLAUSE_BREAK = re.compile(r"が、|けど|けれど|のに|ので|から、|て、|で、|し、|ため、|なら")
# After a denial, these turn it into a guess or undo it: "ではないか", "ないとは言えない".
_JA_UNDONE = re.compile(  # matched where the denial ends: no "^"
    r"(?:の)?(?:か|でしょうか|ですか|だろうか|かな|の[?？]|んじゃ|とは(?:言|い)え|わけではな|とは限ら)"
)
# Negated, these are the complaint: malfunctions and what the customer is owed (返金されていない).
# fmt: off
_JA_COMPLAINT = (
    "返金", "返信", "返事", "連絡", "対応", "回答", "届", "配達", "発送", "反映", "表示",
    "更新", "保存", "送信", "受信", "通知", "読み込", "接続", "ログイン", "起動", "解決",
    "修正", "改善", "入金", "振込", "処理", "登録", "認証", "同期",
)
# fmt: on
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


class Solved(str):
    """A "denial" that says the problem is over ("the login problem got sorted fast"):
    explanations show it as ``solved: '...'``, not ``negated: '...'``."""


def denial_note(denial: str) -> str:
    """How an explanation shows what hid a phrase: ``negated: '...'`` or ``solved: '...'``."""
    return f"{'solved' if isinstance(denial, Solved) else 'negated'}: '{denial}'"


def negated(text: str, start: int, end: int) -> str | None:
    """The phrase that denies ``text[start:end]`` ("no evidence of a data breach",
    "情報漏洩は確認されていない"), or says it is solved (a ``Solved``: "the upload bug I reported
    is fixed"), or None when the match stands."""
    sentence_start, sentence_end = _sentence(text, start, end)
    if text[sentence_end : sentence_end + 1] in ("?", "？"):
        return None  # a question asks; it does not deny ("wasn't there a breach?")
    return (
        _english(text, start, end, sentence_start, sentence_end)
        or _japanese(text, start, end, sentence_end)
        or _debunked(text, start, end, sentence_end)
        or _solved_in(text, start, end, sentence_start, sentence_end)
    )


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    # Read at most _REACH characters either side: a cue reaches a few words, and a post of
    # 40,000 commas must not be rescanned from its start for each match.
    low, high = max(0, start - _REACH), min(len(text), end + _REACH)
    before = [m.end() for m in _SENTENCE_END.finditer(text, low, start)]
    after = _SENTENCE_END.search(text, end, high)
    return (before[-1] if before else low), (after.start() if after else high)


def _english(text: str, start: int, end: int, sentence_start: int, sentence_end: int) -> str | None:
    clause_start = _clause_start(text, sentence_start, start, end)
    before = _english_before(text, clause_start, start, end)
    if before is not None:
        return None if _UNTIL.match(text, end, sentence_end) else before
    clause_end = _clause_end(text, end, sentence_end)
    after = _ENGLISH_AFTER.match(text, end, clause_end)
    if after and not _complaint_word(text[start:end]):
        return text[start : after.end()].strip()
    return None


def _english_before(text: str, clause_start: int, start: int, end: int) -> str | None:
    cues = list(_CUE.finditer(text, clause_start, start))
    if not cues:
        return None
    cue = cues[-1]  # the nearest cue is the one that scopes over the match
    if cue.lastgroup != "denial":
        return None
    between = _WORD.findall(text[cue.end() : start])
    if len(between) > _MAX_GAP or any(w in _BLOCKERS for w in between):
        return None
    if between and between[-1] in _GET and _HARM.fullmatch(text[start:end]):
        between = between[:-1]  # "didn't get sick" denies the harm; "didn't get a refund" is owed
    if _complaint_word(" ".join([*between, text[start:end]])) or _MODIFIED.match(text, end):
        return None
    earlier = cues[-2] if len(cues) > 1 else None
    if earlier is not None and _cancels(text, earlier, cue):
        return None  # "there's no way this wasn't a hack"
    # "will not sue", "was never hacked"; "there was no evidence" reads well without "was".
    aux = _AUX.search(text, clause_start, cue.start()) if cue.group() in ("not", "never") else None
    return text[aux.start() if aux else cue.start() : end]


def _cancels(text: str, earlier: re.Match[str], cue: re.Match[str]) -> bool:
    """A negation right before another undoes it; "no breach and no leak" is a list."""
    gap = _WORD.findall(text[earlier.end() : cue.start()])
    joined = any(w in ("and", "or", "nor") for w in gap) or "," in text[earlier.end() : cue.start()]
    return earlier.lastgroup in ("denial", "double") and len(gap) <= 3 and not joined


def _complaint_word(words: str) -> bool:
    return any(w.startswith(_COMPLAINT_STEMS) for w in _WORD.findall(words))


def _clause_start(text: str, sentence_start: int, start: int, end: int) -> int:
    breaks = [m.end() for m in _CLAUSE_BREAK.finditer(text, sentence_start, start)]
    begin = max([sentence_start, *breaks])
    # A comma ends a clause unless a list runs on from it: "no breach, leak or hack"; a
    # subject after it starts a new one ("wasn't secure, it was hacked"), and so does a
    # tail with its own verb ("no security, account hacked").
    for comma in reversed([m.start() for m in re.finditer(",", text[begin:start])]):
        tail = _WORD.findall(text[begin + comma + 1 : start])
        listed = bool(tail) and tail[0] in ("and", "or", "nor")
        if (len(tail) > 2 and not listed) or (tail and tail[0] in _SUBJECTS):
            return begin + comma + 1
        if _own_verb([*tail, *_WORD.findall(text[start:end])]):
            return begin + comma + 1
    return begin


def _own_verb(words: list[str]) -> bool:
    """Whether the words after a comma are a clause with its own subject and verb ("account
    hacked"), not one more item of a list ("exposed, leaked or stolen") nor an intensifier
    ("never, ever hacked")."""
    if len(words) < 2 or _PREDICATE.fullmatch(words[0]) or words[0].lower() in _NOT_SUBJECTS:
        return False
    if any(w.lower() in ("and", "or", "nor") for w in words):
        return False
    return any(_PREDICATE.fullmatch(w) for w in words[1:])


def _clause_end(text: str, end: int, sentence_end: int) -> int:
    found = [m.start() for m in (_CLAUSE_BREAK.search(text, end, sentence_end),) if m]
    comma = text.find(",", end, sentence_end)
    return min([sentence_end, *found, *([comma] if comma >= 0 else [])])


def _japanese(text: str, start: int, end: int, sentence_end: int) -> str | None:
    after = text[end:sentence_end]
    if not _JAPANESE.search(after[:3] + text[start:end]):
        return None
    if any(word in text[start:end] for word in _JA_COMPLAINT):
        return None  # "返金されていない" is the complaint
    cut = _JA_CLAUSE_BREAK.search(after)
    scope = after[: cut.start()] if cut else after
    found = _JA_ADJACENT.search(scope) or _JA_STRONG.search(scope)
    if found is None or _JA_UNDONE.match(scope, found.end()):
        return None
    if _JA_HOAX_BEFORE.search(scope, 0, found.start()):
        return None  # "デマじゃなかった": not a hoax, so it happened
    return text[start : end + found.end()]


def denied_in_clause(text: str, start: int, end: int) -> str | None:
    """Whether the clause holding ``text[start:end]`` denies it or what follows it: for a word
    that carries a topic's meaning, "my account was not hacked" denies "account" too (the
    subject of a denied event), where ``negated`` would only deny "hacked"."""
    denial = negated(text, start, end)
    if denial is not None:
        return denial
    _, sentence_end = _sentence(text, start, end)
    clause_end = _clause_end(text, end, sentence_end)
    for cue in _CUE.finditer(text, end, clause_end):
        following = _WORD.search(text, cue.end(), clause_end)
        if cue.lastgroup != "denial" or following is None:
            continue
        if negated(text, following.start(), following.end()) is not None:
            return text[start : following.end()]
    return None


# --- solved problems ---------------------------------------------------------------------------
#
# "Acme support fixed my login problem in 10 minutes, impressed" names a login problem to thank
# for its fix: nobody has to act. A phrase is *solved* when its sentence says the problem was
# fixed or that what was missing came (fixed, sorted, resolved, refunded, arrived, "found my",
# 直った, 解決した, 返金された, 届いた...) in a post that thanks or praises (thanks, impressed,
# smooth, quickly, ありがとう, 感謝, 対応早い...). Never solved: a question, a cue that is
# denied, still to come or only said ("hasn't been fixed", "needs to be fixed", "marked as
# resolved", 直してくれない, 直していただきたい), a post that keeps a problem open after the
# cue ("still", "again", "but", "wrong", "won't", "by deleting", まだ, また, のに, けど, ない),
# hearsay ("they said it was fixed"), a cue in quotes ("'fixed'"), a cue inside a word
# ("fixed-rate").

_EN_SOLVED_STRONG = (
    r"fixed|sorted(?:\s+out)?|resolved|solved|refunded|reimbursed|restored|rebooked|unlocked"
    r"|reinstated|credited\s+back|back\s+(?:up|online|to\s+normal)|works?\s+(?:again|fine\s+now)"
    r"|working\s+(?:again|fine\s+now)"
)
_EN_SOLVED_WEAK = (
    r"for\s+(?:fixing|sorting|refunding|resolving|solving|restoring|finding|replacing|rebooking)"
    r"|arrived|came\s+through|showed\s+up|found\s+(?:my|it|them|our)|delivered\s+(?:it|them|my|our)"
    r"|replaced|credited|got\s+(?:it|them|my\s+\w+)\s+back"
)
# A cue is a whole word: "fixed-rate plan" is no fix.
_EN_SOLVED = re.compile(rf"\b(?:{_EN_SOLVED_STRONG}|{_EN_SOLVED_WEAK})(?![-\w])")
# Right before a cue: not done yet, or only said ("needs to be fixed", "marked as resolved").
_EN_NOT_YET = re.compile(
    r"(?:\b(?:be|will|should|would|could|must|needs?|want(?:s|ed)?|hope|hoping|until|till"
    r"|please|pls|get|getting|if|when|whether|supposedly|apparently|allegedly|said|claim(?:s|ed)?"
    r"|not|never|yet\s+to|as)|n['’]t)\s+(?:[\w'’]+\s+){0,2}$"
)
# After the cue, anything that keeps a problem open: it is back, the fix was partial, another
# problem follows ("Login fixed. My invoice is wrong though", "fixed it by deleting my files").
_EN_TAKEN_BACK = re.compile(
    r"\b(?:still|again|yet|but|though|however|except|now\s+(?:the|it|my)|worse|broke|broken"
    r"|anymore|any\s+more|no\s+longer|only\s+half|partially|partly|half\s+of|without|nothing"
    r"|error|fail(?:s|ed|ing)?|won['’]?t|can['’]?t|cannot|doesn['’]?t|isn['’]?t|didn['’]?t|not"
    r"|never|by\s+\w+ing|introduced|no\s+(?:reply|response|answer))\b"
)
# Problem words are the fix's object right after it ("found my lost bag", "fixed my wrong
# order"); further on they are a new problem ("refunded it, then charged me twice").
_EN_STILL_WRONG = re.compile(
    r"\b(?:wrong|missing|lost|gone|charged|crash\w*|delet\w*|damaged|down|locked|hack\w*|stolen"
    r"|twice|double|owe)\b"
)
_OBJECT = re.compile(r"(?:[^\S\n]*[\w'’$]+){0,3}")  # up to three words, never past a comma
_EN_HEARSAY = re.compile(
    r"\b(?:supposedly|apparently|allegedly|they\s+said|says|thanks\s+for\s+nothing)\b"
)
# A fix is thanked for, or praised: without it, a post naming a fix may still complain.
_EN_THANKS = re.compile(
    r"\b(?:thanks?|thank\s+you|thx|ty|shout\s*out|kudos|props|impressed|impressive|great|smooth"
    r"|respect|appreciated?|love|amazing|awesome|excellent|brilliant|fantastic|quick(?:ly)?|fast"
    r"|within\s+(?:minutes|an\s+hour|a\s+day|hours)|same\s+day|well\s+done)\b"
)
# Japanese: a te-form of help ("直してくれ") counts only when it is not negated, wished or asked
# for (直してくれない, 返金してもらえず, 直していただきたい, 対応していただけると助かります).
_JA_GIVEN = (
    r"(?:くれ|もらえ|もらっ|いただ|くださっ|くださり)"
    r"(?!な[いかく]|ず|ませ|たい|ると|れば|けれ|ける|けま)"
)
_JA_SOLVED_STRONG = (
    rf"直っ(?:た|てた|てる|ていた|ていました)|直して{_JA_GIVEN}|直りました|治った"
    rf"|解決(?:した|しました|済み|して{_JA_GIVEN}|してた)"
    rf"|返金(?:された|されました|して{_JA_GIVEN}|してもらった)"
    rf"|復旧(?:した|しました|してた|している)|対応して{_JA_GIVEN}"
    rf"|振り替えて{_JA_GIVEN}|交換して{_JA_GIVEN}"
)
_JA_SOLVED_WEAK = (
    rf"届い(?:た|てた)|届きました|見つけて{_JA_GIVEN}|見つかっ(?:た|てた)|見つかりました"
    r"|戻って(?:きた|きました)"
)
_JA_SOLVED = re.compile(rf"{_JA_SOLVED_STRONG}|{_JA_SOLVED_WEAK}")
_JA_TAKEN_BACK = re.compile(
    r"まだ|また|再発|相変わらず|のに|けど|と思ったら|でも|なのに|はず|(?<!問題)(?<!しか)ない|ず[、。]"
    r"|(?<!すみ)(?<!問題あり)ません|違う|間違|今度は|ただ|一方|ところで|代わりに|なく|止ま|消え|壊れ"
    r"|違っ|おかし|二重|ほしい|ください|と言って|らしい"
)
_JA_THANKS = re.compile(
    r"ありがと|有難|感謝|助か(?:った|りました|る)|ありがた|対応(?:が)?早|神|最高|うれし|嬉し|素晴らし|🙏"
    r"|すぐ(?:に)?(?:直|解決|返金|対応|見つけ|届|交換|振り替え)"
)
_QUOTED = re.compile(r"""['"‘“「]\s*$""")
_SOLVED_READ = 600  # characters of the post read for take-backs and thanks (posts are short)


def _solved_in(
    text: str, start: int, end: int, sentence_start: int, sentence_end: int
) -> Solved | None:
    """``text[start:end]`` in a sentence that says the problem is solved, as the words from
    the match to the cue (or the cue to the match)."""
    cue = _solved_cue(text, sentence_start, sentence_end)
    if cue is None:
        return None
    if not _JAPANESE.search(text, sentence_start, sentence_end):
        past_object = _OBJECT.match(text, cue.end())
        if start >= (past_object.end() if past_object else cue.end()):
            return None  # named after the fix and its object: a new problem ("..., crashes")
    low, high = min(start, cue.start()), max(end, cue.end())
    return Solved(text[low:high].strip())


def _solved_cue(text: str, sentence_start: int, sentence_end: int) -> re.Match[str] | None:
    window = text[max(0, sentence_start - _SOLVED_READ) : sentence_end + _SOLVED_READ]
    if "?" in without_links(window) or "？" in window:  # a question
        return None
    japanese = _JAPANESE.search(text, sentence_start, sentence_end) is not None
    if not japanese and _EN_HEARSAY.search(window):
        return None
    if (_JA_THANKS if japanese else _EN_THANKS).search(window) is None:
        return None  # a fix nobody thanks for may come with a complaint
    taken_back = _JA_TAKEN_BACK if japanese else _EN_TAKEN_BACK
    window_end = min(len(text), sentence_end + _SOLVED_READ)
    cues = (_JA_SOLVED if japanese else _EN_SOLVED).finditer(text, sentence_start, sentence_end)
    for cue in cues:
        if taken_back.search(text, cue.end(), window_end):
            return None  # "fixed, but now it crashes", "直ったと思ったらまた落ちた"
        past_object = _OBJECT.match(text, cue.end())
        after_object = past_object.end() if past_object else cue.end()
        if not japanese and _EN_STILL_WRONG.search(text, after_object, window_end):
            return None
        if not japanese and (
            _EN_NOT_YET.search(text, sentence_start, cue.start())
            or _QUOTED.search(text, sentence_start, cue.start())
        ):
            continue
        return cue
    return None


def solved_statement(text: str) -> str | None:
    """The sentence of a post that says a problem is solved, when the post does nothing else
    but thank (any other sentence with words must thank too: "Charged twice and nobody
    answers. At least my login got fixed, thanks." still complains), or None. ``text`` folded
    as for matching."""
    head = text[: _SOLVED_READ * 2]
    spans, start = [], 0
    for end in [m.start() for m in _SENTENCE_END.finditer(head)] + [len(head)]:
        if _WORD.search(head, start, end):
            spans.append((start, end))
        start = end + 1
    for start, end in spans:
        if _solved_cue(text, start, end) is None:
            continue
        thanks = _JA_THANKS if _JAPANESE.search(head, start, end) else _EN_THANKS
        others = [(a, b) for a, b in spans if (a, b) != (start, end)]
        if all(thanks.search(head, a, b) for a, b in others):
            return head[start:end].strip()
        return None
    return None


# --- debunked claims ---------------------------------------------------------------------------
#
# "The Acme 'breach' thread going around is just a rumor", "異物混入の噂、デマだって",
# "お腹壊したって言ったけど、ただの風邪でした": the claim is named, then called false later in its
# sentence, with no "not" to read. Only a cue after the match counts, in the same sentence and,
# in English, the same comma clause ("my account was hacked, acme says it's a false alarm" is
# a dispute: the customer's claim stands); a take-back after the cue ("but", "still", まだ)
# undoes it.

# Only words that call a *claim* false: "fake", "a scam" or "a joke" are complaints about the
# brand as often ("unlimited storage is just a scam", "届いた商品が偽物でした": counterfeit), so
# 偽物 and フェイク count only after hearsay (流出したっていう顧客リスト、偽物でした).
_EN_DEBUNK = re.compile(
    r"\b(?:(?:is|was|were|are|['’]s)\s+(?:just|only)\s+(?:a\s+|an\s+)?"
    r"(?:rumou?r|hoax|spam|phishing|misunderstanding)"
    r"|turn(?:ed|s)\s+out\s+(?:to\s+be|it\s+was)\s+(?:\w+\s+){0,2}?"
    r"(?:spam|phishing|a\s+hoax|a\s+rumou?r|nothing|unrelated|my\s+(?:mistake|fault))"
    r"|false\s+alarm|(?:is|was|['’]s)\s+(?:a\s+)?hoax)\b"
)
_JA_DEBUNK = re.compile(
    r"デマ|ガセ|誤報|勘違い|ただの(?:風邪|噂|うわさ|勘違い)|噂(?:でした|だった)"
    r"|(?:っていう|という|って噂の|とされる)[^。！？]{0,30}?(?:偽物|フェイク)"
)
_JA_NOT_DEBUNKED = re.compile(r"(?:だと)?(?:じゃ|では)(?:な|あり)")
_DEBUNK_TAKEN_BACK = re.compile(r"\b(?:but|still|however|though)\b|まだ|けど|でも|のに")


def _debunked(text: str, start: int, end: int, sentence_end: int) -> str | None:
    after = text[end:sentence_end]
    english = _EN_DEBUNK.search(after)
    if english is not None and "," in after[: english.start()]:
        english = None
    cue = english or _JA_DEBUNK.search(after)
    if cue is None or _DEBUNK_TAKEN_BACK.search(after, cue.end()):
        return None
    if _JA_NOT_DEBUNKED.match(after, cue.end()):
        return None  # "デマじゃなかった": it was not a hoax
    return text[start : end + cue.end()].strip()
