"""What routing does with a possible impostor (``harken.authors.impostors``): one urgent item
for the department named in ``routing.impersonation`` (default: a department named security,
else pr, else ``routing.default``), *instead of* what the rules decide. The impostor is not a
customer: a care item would invite an agent to answer the phisher, and an engineering item
would count its bait as a report. The post's risk gets the plain-words factor "possible
impostor of @acmesupport" and a floor, so reports and digests rank it with the worst.
"""

from __future__ import annotations

from harken.authors.impostors import FLAG, Impersonation, impostor_of
from harken.config import Config, Priority
from harken.routing.rules import Decision
from harken.store.complaints import is_own
from harken.store.tables import Author, Classification, Mention

RULE = "impersonation"  # the rule name items, explain and alerts show
RISK_FLOOR = 0.8


def impostor_department(config: Config) -> str:
    """Where possible impostors go: routing.impersonation, else security, else pr, else the
    default department."""
    if config.routing.impersonation:
        return config.routing.impersonation
    for name in ("security", "pr"):
        if config.find_department(name) is not None:
            return name
    return config.routing.default


def impostor_decision(config: Config, found: Impersonation) -> Decision:
    return Decision(
        department=impostor_department(config),
        priority=Priority.urgent,
        rule=RULE,
        reason=f"{found.factor}: {found.why}",
    )


def mark(
    config: Config, mention: Mention, author: Author, c: Classification
) -> Impersonation | None:
    """Look for an impostor in a mention being routed: its flags, and its risk and factors
    when it is one. The caller commits (the route stage's transaction)."""
    found = impostor_in(config, mention, author)
    mention.flags = flagged(mention.flags, found)
    c.risk, c.risk_factors = impostor_risk(found, c.risk, list(c.risk_factors))
    return found


def impostor_in(config: Config, mention: Mention, author: Author) -> Impersonation | None:
    """The brand or account a stored mention's author imitates, or None. The brand's own
    answer (its source knows the account is the brand's, by id: harken.pipeline.ingest flags
    it ``own``) imitates nobody, though its name may be the brand's. Routing, ``route
    --explain`` and ``rules test`` all ask here, so that they agree."""
    return None if is_own(mention.flags) else impostor_of(config, author, mention.text)


def known_impostor(config: Config, mention: Mention, author: Author) -> Impersonation | None:
    """The impostor a routed mention was flagged as (for a later rescore), or None."""
    return impostor_of(config, author, mention.text) if FLAG in (mention.flags or []) else None


def decide(
    config: Config, decisions: list[Decision], found: Impersonation | None
) -> list[Decision]:
    """The decisions for a post: the rules' own, or the impostor's one item. A possible scam
    with no imitating name keeps the rules' decisions beside it: if the post is a customer's
    after all, their department still has it."""
    if found is None:
        return decisions
    flagged = impostor_decision(config, found)
    if not found.scam:
        return [flagged]
    rest = [d for d in decisions if not d.quiet and d.department != flagged.department]
    return [flagged, *rest]


def flagged(flags: list[str] | None, found: Impersonation | None) -> list[str]:
    """The mention's flags with (or without) impersonation, other flags kept, sorted."""
    others = {f for f in (flags or []) if f != FLAG}
    return sorted(others | {FLAG}) if found is not None else sorted(others)


def impostor_risk(
    found: Impersonation | None, risk: float, factors: list[str]
) -> tuple[float, list[str]]:
    """Risk and factors with the impostor's factor first and the floor applied."""
    if found is None:
        return risk, factors
    rest = [f for f in factors if f != found.factor]
    return max(risk, RISK_FLOOR), [found.factor, *rest]


__all__ = [
    "RISK_FLOOR",
    "RULE",
    "decide",
    "flagged",
    "impostor_decision",
    "impostor_department",
    "impostor_risk",
    "known_impostor",
    "mark",
]
