"""``harken report routing``: how often people agree with where harken routed posts.

Over the queue items routed in the window (on the scope's brand and platforms), each counted
once, for the department harken routed it to and the rule that sent it there (the routing
labels of ``harken.queue.feedback`` remember both after a transfer), by where it stands now:

* ``transferred_away``: it is in another department now (moved by someone);
* else, dismissed: by the reason of its last dismissal, ``not_ours``, ``not_actionable``,
  or ``dismissed_other`` (spam or bot, own or partner account, already handled; and
  dismissals from before reasons were kept);
* else ``confirmed``: claimed, answered or resolved in the department harken chose;
* else ``pending``: still new there, nobody has said anything yet.

``precision`` = confirmed / (confirmed + transferred_away + not_ours): of the items someone
judged, the share harken sent to the right department. Not actionable, other dismissals and
pending items do not count either way; it is empty when nothing was judged.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, select
from sqlmodel import col

from harken.config import Config
from harken.queue.feedback import MOVED
from harken.reports.scope import Scope, read_frame
from harken.reports.tabular import Column, Report, Section
from harken.store import Store
from harken.store.tables import Mention, QueueItem, RoutingLabel

CONFIRMED = ("claimed", "responded", "resolved")
DISMISS_COLUMNS = {"not ours": "not_ours", "not actionable": "not_actionable"}
COUNTS = [
    "routed",
    "confirmed",
    "transferred_away",
    "not_ours",
    "not_actionable",
    "dismissed_other",
    "pending",
]
OUTCOMES = COUNTS[1:]


def routing(store: Store, config: Config, scope: Scope) -> Report:
    items = outcomes(_items(store, scope), _labels(store, scope))
    names = [d.name for d in config.departments]
    names += sorted(set(items["department"]) - set(names))  # routed before a config change
    by_department = [
        {"department": name, **_counts(items[items["department"] == name])} for name in names
    ]
    by_department.append({"department": "all", **_counts(items)})
    return Report(
        name="routing",
        scope=scope,
        sections=(
            Section(
                "departments",
                "Per department",
                pd.DataFrame(by_department, columns=["department", *COUNTS, "precision"]),
                DEPARTMENT_COLUMNS,
            ),
            Section(
                "rules",
                "Per rule",
                _by_rule(items),
                RULE_COLUMNS,
                empty="nothing routed in this window",
                group_by="rule",
            ),
        ),
        totals={k: v for k, v in _counts(items).items() if k in TOTALS},
    )


TOTALS = ("routed", "confirmed", "transferred_away", "not_ours", "precision")


def outcomes(items: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """One row per item: the department harken routed it to and what became of it there."""
    labels = labels.sort_values("id")
    first = labels.groupby("queue_item_id")["department"].first()
    dismissals = labels[labels["verdict"] != MOVED].groupby("queue_item_id")["verdict"].last()
    # As objects: with no labels at all the maps are all-NaN floats, which take no strings.
    mapped = items["id"].map(first).astype(object)
    routed = items["department"].astype(object).where(mapped.isna(), mapped)
    verdict = items["id"].map(dismissals).astype(object)
    outcome = pd.Series("pending", index=items.index, dtype=object)
    outcome[items["status"].isin(CONFIRMED)] = "confirmed"
    dismissed = items["status"] == "dismissed"
    outcome[dismissed] = (
        verdict[dismissed].map(DISMISS_COLUMNS).astype(object).fillna("dismissed_other")
    )
    outcome[items["department"] != routed] = "transferred_away"
    return pd.DataFrame(
        {"department": routed, "rule": items["rule"], "outcome": outcome}, index=items.index
    )


def _counts(items: pd.DataFrame) -> dict[str, Any]:
    counts = items["outcome"].value_counts()
    row: dict[str, Any] = {"routed": len(items)}
    row.update({name: int(counts.get(name, 0)) for name in OUTCOMES})
    judged = row["confirmed"] + row["transferred_away"] + row["not_ours"]
    row["precision"] = row["confirmed"] / judged if judged else None
    return row


def _by_rule(items: pd.DataFrame) -> pd.DataFrame:
    """One row per rule and department it routed to; the default route (no rule) last."""
    rows = [
        {"rule": rule, "department": department, **_counts(group)}
        for (rule, department), group in items.groupby(["rule", "department"], dropna=False)
    ]
    frame = pd.DataFrame(rows, columns=["rule", "department", *COUNTS, "precision"])
    frame = frame.sort_values(["rule", "department"], na_position="last", kind="stable")
    frame["rule"] = frame["rule"].astype(object).where(frame["rule"].notna(), None)
    return frame.reset_index(drop=True)


DEFAULT_NAME = "(default route)"
# Headers are short so that the rule table fits 80 columns: "ok" is confirmed, "moved"
# transferred away, "n/a" not actionable; the JSON and CSV names say it in full.
COUNT_COLUMNS = (
    Column("routed", "int", header="items"),
    Column("confirmed", "int", header="ok"),
    Column("transferred_away", "int", header="moved"),
    Column("not_ours", "int", header="not ours"),
    Column("not_actionable", "int", header="n/a"),
    Column("precision", "pct"),
)
DEPARTMENT_COLUMNS = (Column("department", width=14), *COUNT_COLUMNS)
RULE_COLUMNS = (
    Column("rule", width=15, show=lambda row: row["rule"] or DEFAULT_NAME),
    Column("department", header="dept", width=10),
    *COUNT_COLUMNS,
)


def _items(store: Store, scope: Scope) -> pd.DataFrame:
    statement = (
        select(
            col(QueueItem.id), col(QueueItem.department), col(QueueItem.rule), col(QueueItem.status)
        )
        .join(Mention, col(Mention.id) == col(QueueItem.mention_id))
        .where(*_routed_in(scope))
    )
    return read_frame(store, statement)


def _labels(store: Store, scope: Scope) -> pd.DataFrame:
    statement = (
        select(
            col(RoutingLabel.id),
            col(RoutingLabel.queue_item_id),
            col(RoutingLabel.department),
            col(RoutingLabel.verdict),
        )
        .join(QueueItem, col(QueueItem.id) == col(RoutingLabel.queue_item_id))
        .join(Mention, col(Mention.id) == col(QueueItem.mention_id))
        .where(*_routed_in(scope))
    )
    return read_frame(store, statement)


def _routed_in(scope: Scope) -> list[ColumnElement[bool]]:
    """Items routed in the window, of posts in the scope's brand and platforms."""
    filters = [col(QueueItem.created_at) >= scope.since, col(QueueItem.created_at) < scope.until]
    if scope.brand:
        filters.append(col(Mention.brand) == scope.brand)
    if scope.platforms:
        filters.append(col(Mention.platform).in_(scope.platforms))
    return filters
