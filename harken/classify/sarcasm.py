"""Sarcasm: praise of something bad ("Love how Acme charges me twice", "Thanks Acme for
deleting three hours of my work", "さすがアクメ、決済が二重になってる").

The heads read the praise: such posts score positive with no complaint, and the default
department's gate (``routing.default_takes``) drops them as praise, so a customer's complaint
reaches no one. Sarcasm is classically a positive word against a negative situation (Riloff
et al., 2013); this module looks for that contrast, and only where both sides are plain:

* praise that is a stock of sarcasm ("love how", "thanks ... for", "oh great", "so generous",
  "exactly what I needed", "gotta love", a compliment in scare quotes, さすが, 安定の,
  親切設計), or a closing line that is hardly ever sincere ("Never gets old", "What a
  surprise", "Nailed it", 期待を裏切らないね, 優しいなあ);
* a bad thing done to the writer, not denied: charged twice, lost or cancelled *my* booking,
  logs me out, crashes, is down again, two hours on hold, never arrived, the wrong order, a
  price hike, 遅延, 落ちる, 二重, 待たされ, 値上げ.

A false reading turns praise into a complaint, so the rules lean to missing sarcasm rather
than inventing it: everyday words that are only sometimes bad ("can't wait", "late", "again",
"outage", また, 毎回) are not enough; closing lines that end sincere posts as often ("Perfect.",
"10/10", さすが, ありがとう) are not read; and a post that asks a question (queued anyway), or
thanks for help, a fix or an act the writer asked for, is never read as sarcasm.
docs/classifier.md has what it reads on posts written without seeing these rules.
"""

from __future__ import annotations

import re

from harken.classify.preprocess import shown_text
from harken.negation import negated, solved_statement
from harken.text import normalize

_READ = 2000  # characters read: sarcasm is a short post's; a long one is not rescanned
_QUOTE = 80  # characters of the sentence quoted in the risk factor
_SAID = "read as sarcasm"  # how the risk factor says it (harken.classify.risk)

_NUMBER = r"(?:\d+(?:\.\d+)?|an?|one|two|three|four|five|six|seven|eight|nine|ten|twelve)"
_SPAN = r"(?:hours?|hrs?|minutes?|mins?|days?|weeks?|months?)"
_EN_PRAISE = re.compile(
    r"\b(?:(?:just\s+)?(?:love|loving|adore)\s+(?:how|that|it\s+when|when|being|the\s+way)"
    r"|gotta\s+love|(?:thanks|thank\s+you)\b[^.!?\n]{0,40}?\bfor"
    r"|oh\s+(?:great|wonderful|fantastic|brilliant|perfect|lovely|nice|joy|good)"
    r"|(?:so|how|really|very)\s+(?:generous|helpful|kind|thoughtful)(?:\s+of\s+you)?"
    r"|(?:just|exactly)\s+what\s+(?:i|we)\s+needed|great\s+start|(?:really|truly)\s+appreciate\s+it"
    r"|what\s+a\s+(?:great|wonderful|fantastic|lovely)|(?:great|good|nice)\s+job|well\s+done"
    r"|bravo|nothing\s+says\s+[\w\s'‘’\"“”]{1,40}\s+like|(?:great|nice|good)\s+to\s+see"
    r"|(?:really|truly|just)\s+(?:loving|love)|(?:such\s+)?(?:great|amazing|excellent"
    r"|wonderful|fantastic|stellar)\s+(?:customer\s+)?service|so\s+glad|so\s+happy|complimentary)\b"
    r"|^\W*(?:great|fantastic|perfect|wonderful|brilliant|amazing|lovely|awesome)\s*[,!:]"
    r"|['‘\"“](?:fast|free|quick|premium|support|help|service|customer\s+(?:service|care)"
    r"|fast\s+food|smart|easy|seamless|express|priority)['’\"”]"
    # "where 'fast food' means 45 minutes for one burger"
    r"|['‘\"“][^'‘’\"“”]{2,40}['’\"”]\s+(?:means|meant|turned\s+out)"
)
# A closing line of praise that is hardly ever sincere: it praises the bad news before it.
_EN_CODA = re.compile(
    r"\W*(?:never\s+gets\s+old|what\s+a\s+surprise|nailed\s+it|thanks\s+a\s+lot"
    r"|(?:just|exactly)\s+what\s+(?:i|we)\s+needed(?:\s+[\w:]+){0,3}"
    r"|great\s+start\s+to\s+(?:the|my|our)\s+\w+|(?:really|truly)\s+appreciate\s+it"
    r"|(?:glad|happy)\s+(?:we['’]re|to\s+see\s+we['’]re)\s+making\s+progress"
    r"|(?:(?:you|they|it)\s+)?never\s+disappoints?|priorities\s+on\s+point)\W*"
)
# Bad things done to the writer. Said as they are, they are denied by a "not" ("never crashes"):
# checked with harken.negation. The second list is bad already in its words ("never arrived").
_EN_BAD = re.compile(
    r"\b(?:charg\w*\s+(?:me\s+|us\s+|my\s+card\s+|my\s+account\s+)?(?:twice|double|two\s+times)"
    r"|double[-\s]charg\w*|overcharg\w*"
    r"|(?:lost|los(?:e|es|ing)|delet(?:ed|es|ing)|wip(?:ed|es|ing)|cancel+(?:ed|ing|s)"
    r"|dropp(?:ed|ing)|drops|froze|freez(?:es|ing)|lock(?:ed|s|ing)|kick(?:ed|s|ing)"
    r"|block(?:ed|s|ing)|clos(?:ed|es|ing)|ignor(?:ed|es|ing)|misplac(?:ed|es|ing))"
    r"\s+(?:[\w'’-]+\s+){0,3}?(?:my|our|me|us)"
    r"|logs?\s+(?:me|us)\s+out|logging\s+(?:me|us)\s+out|kicks?\s+(?:me|us)\s+(?:out|back)"
    r"|h(?:ang(?:s|ing)?|ung)\s+up\s+on\s+(?:me|us|you)|brick(?:ed|s|ing)"
    r"|wrong\s+(?:order|item|address|building|house|size|amount|bill|charge|flight|gate|city)"
    r"|charg\w*\s+(?:me\s+|us\s+)?again|(?:got|been|was|were)\s+charged"
    r"|delayed\s+(?:by\s+)?(?:over\s+|almost\s+)?\d+\s+(?:hours?|hrs?|minutes?|mins?|days?)"
    r"|(?:zero|no)\s+(?:announcements?|communication|updates?|information|info|explanation)"
    r"|for\s+the\s+\w+\s+time|price\s+(?:hike|increase|rise)|under\s+maintenance"
    r"|crash(?:es|ed|ing)|(?:is|was|went|goes|are|were)\s+down|(?:is|was|got|are|were)\s+lost"
    r"|(?:down|delayed|late|broken)\s+again"
    r"|another\s+(?:[\w'’-]+\s+){0,3}?(?:update|outage|delay|crash|bug|fee"
    r"|price\s+(?:rise|increase|hike))"
    rf"|on\s+hold|hold\s+time|{_NUMBER}[-\s]{_SPAN}\s+(?:[\w'’-]+\s+){{0,2}}?"
    r"(?:on\s+hold|hold|wait\w*|line|queue|delay\w*|late|tour|for\s+(?:a|an|one|my|the)\b)"
    rf"|wait(?:ed|ing)\s+(?:for\s+)?(?:over\s+|almost\s+|nearly\s+)?{_NUMBER}\s+{_SPAN}"
    r"|in\s+\d+\s+different)\b"
)
_EN_BAD_ALREADY = re.compile(
    r"\b(?:never\s+(?:arrived|came|showed\s+up|answers?|answered|repl(?:y|ies|ied)|responds?"
    r"|responded|called\s+back|got\s+back)|no\s+(?:reply|answer|response|refund)"
    r"|without\s+(?:any\s+)?(?:notice|warning|reading|asking)|for\s+nothing"
    r"|(?:surprise|hidden|extra)\s+(?:\w+\s+)?(?:fee|charge|hike)s?)\b"
    r"|[$£€]\d+\s+(?:\w+\s+)?fee\b"
)
# Thanks for something good, praise of a fix or of help: not sarcasm, whatever else it names.
_EN_GENUINE = re.compile(
    r"\b(?:thanks|thank\s+you)\b[^.!?\n]{0,40}?\bfor\s+(?:the\s+|your\s+|a\s+|all\s+|any\s+)?"
    r"(?:quick\s+|fast\s+|prompt\s+|speedy\s+|kind\s+|great\s+|swift\s+|clear\s+)?"
    r"(?:reply|replies|response|help|answer|support|update|info|heads|patience|understanding"
    r"|explanation|refund|fix|compensation|voucher|credit|apology|checking|looking|service"
    r"|being|staying|waiting|sponsoring|reminder|trial|birthday|gift|discount|everything"
    r"|helping|sorting|getting|letting|having|\d+\s+years?)"
    r"|\b(?:fix\w*|resolv\w*|solv\w*|sorted|restor\w*|refund\w*|back\s+(?:up|online)"
    r"|works?\s+(?:again|fine|great|like)|saved\s+(?:my|me|us|the)|found\s+(?:it|my|them)"
    # an act the writer asked for: "closed my old account without any fuss"
    r"|when\s+i\s+asked|as\s+(?:i\s+)?requested|without\s+(?:any\s+)?(?:fuss|hassle|issues?|problems?)"
    r"|instantly|done\s+right)\b"
)
_JA_PRAISE = re.compile(
    r"(?:さすが|流石)(?!に)|安定の|期待を裏切らない|親切設計|素晴らしい(?:ですね|ね)|最高かよ|神アプリ"
)
# Ironic praise that sums up a post's bad news, in its last sentence: only the forms that are
# hardly ever sincere there (さすが, 最高だね, ありがとう close sincere thanks as often).
_JA_CODA = re.compile(
    r"期待を裏切らない|最高のタイミング|(?:優し|嬉し|うれし)いなあ|さすがの安定感|安定のクオリティ"
)
_JA_BAD = re.compile(
    r"遅延|遅れ(?:て|た|る)|落ち(?:る|た|て)|止ま(?:る|っ)|障害|二重|待た(?:せ|され)|繋がらない"
    r"|つながらない|使えない|ログインできない|エラー|欠航|フリーズ|消え(?:た|る|て)|音沙汰"
    r"|値上げ|上がる|閉じ込め|不在票"
)
_JA_NOT = re.compile(r"(?:る|た)?(?:も|こと)?(?:なく|なし|ない|せず)")  # エラーもなく, 遅延なしで
_JA_GENUINE = re.compile(
    r"直|解決|復旧|返金|丁寧|対応(?:が)?早|すぐ|甲斐|て(?:くれ|もらえ|いただ)|助か|安心"
    r"|(?:起き|あっ|なっ)ても"  # 障害が起きても神対応: praise despite the trouble
)
_SENTENCE_END = re.compile(r"[!！。\n]+|\.+(?=\s|$)")
_QUESTION = re.compile(r"[?？]")


def sarcasm(text: str) -> str | None:
    """The sentence of ``text`` (the words a reader sees) that praises something bad, or
    None."""
    folded = normalize(text[:_READ])
    if _QUESTION.search(folded) or solved_statement(folded) is not None:
        return None  # a question is queued anyway; thanks for a fix is praise
    sentences = _sentences(folded)
    if any(_genuine(sentence) for sentence in sentences):
        return None  # thanks for the help, a fix, an act asked for: sincere, whatever it names
    bad = [_says_bad(sentence) for sentence in sentences]
    for i, sentence in enumerate(sentences):
        if (_EN_PRAISE.search(sentence) or _JA_PRAISE.search(sentence)) and bad[i]:
            return sentence
    last = len(sentences) - 1
    if last > 0 and _EN_CODA.fullmatch(sentences[last]) and any(bad[:last]):
        return sentences[last]
    # Japanese irony closes its sentence, or the post: 毎回落ちる、期待を裏切らないね
    for i, sentence in enumerate(sentences):
        coda = _JA_CODA.search(sentence)
        if coda is None or _JA_CODA.search(sentence, coda.end()):
            continue
        if _says_bad(sentence[: coda.start()]) or (i == last and any(bad[:i])):
            return sentence
    return None


def sarcasm_in_post(text: str) -> str | None:
    """:func:`sarcasm` of a post as posted (what the classifier reads of it)."""
    return sarcasm(shown_text(text))


def read_as_sarcasm(factors: list[str] | tuple[str, ...]) -> bool:
    """Whether a classification's risk factors say it was read as sarcasm (``said``)."""
    return any(_SAID in factor for factor in factors)


def said(sentence: str) -> str:
    """How the complaint's risk factor says it: ", read as sarcasm: '...'"."""
    shown = sentence if len(sentence) <= _QUOTE else sentence[: _QUOTE - 1].rstrip() + "…"
    return f", {_SAID}: '{shown}'"


def read_as_meant(
    scores: dict[str, float], complaint: float, sarcastic: str | None
) -> tuple[dict[str, float], float]:
    """The heads' reading of a sarcastic post turned round: the praise they read is the
    complaint it makes (positive and negative swapped when they read it as positive, the
    complaint score mirrored when they read none)."""
    if sarcastic is None:
        return scores, complaint
    meant = dict(scores)
    if meant.get("positive", 0.0) > meant.get("negative", 0.0):
        meant["positive"], meant["negative"] = meant["negative"], meant["positive"]
    return meant, max(complaint, 1.0 - complaint)


def _sentences(folded: str) -> list[str]:
    out, start = [], 0
    for end in _SENTENCE_END.finditer(folded):
        out.append(folded[start : end.end()].strip())
        start = end.end()
    out.append(folded[start:].strip())
    return [s for s in out if any(c.isalnum() for c in s)]


def _says_bad(sentence: str) -> bool:
    if _EN_BAD_ALREADY.search(sentence):
        return True
    for found in _EN_BAD.finditer(sentence):
        if negated(sentence, found.start(), found.end()) is None:
            return True
    for found in _JA_BAD.finditer(sentence):
        if (
            not _JA_NOT.match(sentence, found.end())
            and negated(sentence, found.start(), found.end()) is None
        ):
            return True
    return False


def _genuine(sentence: str) -> bool:
    return bool(_EN_GENUINE.search(sentence) or _JA_GENUINE.search(sentence))
