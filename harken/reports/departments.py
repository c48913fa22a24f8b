"""``harken report departments``: how each department handles what is routed to it.

Over the queue items created in the window (on the scope's brand and platforms):

* ``items``: routed in; ``open``: still new or claimed now; ``overdue``: open and past due;
* first response (item created -> first reply or response) and resolution (created ->
  resolved; dismissals are not resolutions) as median and 90th percentile, in minutes;
* SLA: an item met it when it was answered or closed by its due time; it is judged once it
  is met or its due time has passed (an item still inside its SLA is neither); ``breaches``
  are the judged items that missed it.

Every configured department is listed, quiet ones as zeros: a department with nothing routed
to it is news too.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import select
from sqlmodel import col

from harken.config import Config
from harken.reports.frames import OPEN_STATUSES
from harken.reports.scope import Scope, raw, read_frame
from harken.reports.tabular import Column, Report, Section
from harken.store import Store
from harken.store.tables import Mention, QueueItem

TIMES = ["created_at", "due_at", "responded_at", "closed_at"]


def departments(store: Store, config: Config, scope: Scope, now: datetime) -> Report:
    items = _items(store, scope)
    now_ts = pd.Timestamp(now)
    answered = items["responded_at"].notna()
    items["first_response_min"] = _minutes(items["responded_at"] - items["created_at"])
    resolved = items["status"] == "resolved"
    items["resolution_min"] = _minutes((items["closed_at"] - items["created_at"]).where(resolved))
    met = (answered & (items["responded_at"] <= items["due_at"])) | (
        items["closed_at"].notna() & (items["closed_at"] <= items["due_at"])
    )
    items["met"] = met
    items["judged"] = met | (items["due_at"] <= now_ts)
    items["open"] = items["status"].isin(OPEN_STATUSES)
    items["overdue"] = items["open"] & (items["due_at"] < now_ts)

    names = [d.name for d in config.departments]
    names += sorted(set(items["department"]) - set(names))  # routed before a config change
    rows = [_row(name, items[items["department"] == name]) for name in names]
    rows.append(_row("all", items))
    table = pd.DataFrame(rows, columns=ORDER)
    return Report(
        name="departments",
        scope=scope,
        sections=(Section("departments", "Departments", table, COLUMNS),),
        totals={
            "items": len(items),
            "open": int(items["open"].sum()),
            "breaches": int((items["judged"] & ~items["met"]).sum()),
        },
    )


ORDER = [
    "department",
    "items",
    "open",
    "overdue",
    "responded",
    "resolved",
    "median_first_response_min",
    "p90_first_response_min",
    "median_resolution_min",
    "p90_resolution_min",
    "sla_judged",
    "sla_met",
    "sla_met_pct",
    "breaches",
]
# Headers are short to fit 80 columns: "reply" is the median first response, "fix" the median
# resolution, each followed by its 90th percentile; the JSON and CSV names say it in full.
COLUMNS = (
    Column("department", width=12),
    Column("items", "int"),
    Column("open", "int"),
    Column("median_first_response_min", "minutes", header="reply"),
    Column("p90_first_response_min", "minutes", header="p90"),
    Column("median_resolution_min", "minutes", header="fix"),
    Column("p90_resolution_min", "minutes", header="p90"),
    Column("sla_met_pct", "pct", header="SLA"),
    Column("breaches", "int", header="breach"),
)


def _items(store: Store, scope: Scope) -> pd.DataFrame:
    filters = [col(QueueItem.created_at) >= scope.since, col(QueueItem.created_at) < scope.until]
    if scope.brand:
        filters.append(col(Mention.brand) == scope.brand)
    if scope.platforms:
        filters.append(col(Mention.platform).in_(scope.platforms))
    statement = (
        select(
            col(QueueItem.department),
            col(QueueItem.status),
            *(raw(getattr(QueueItem, name), name) for name in TIMES),
        )
        .select_from(QueueItem)
        .join(Mention, col(Mention.id) == col(QueueItem.mention_id))
        .where(*filters)
    )
    return read_frame(store, statement, dates=TIMES)


def _minutes(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / 60


def _row(name: str, items: pd.DataFrame) -> dict[str, object]:
    first = items["first_response_min"].dropna()
    resolution = items["resolution_min"].dropna()
    judged = int(items["judged"].sum())
    met = int((items["met"] & items["judged"]).sum())
    return {
        "department": name,
        "items": len(items),
        "open": int(items["open"].sum()),
        "overdue": int(items["overdue"].sum()),
        "responded": len(first),
        "resolved": len(resolution),
        "median_first_response_min": first.median() if len(first) else None,
        "p90_first_response_min": first.quantile(0.9) if len(first) else None,
        "median_resolution_min": resolution.median() if len(resolution) else None,
        "p90_resolution_min": resolution.quantile(0.9) if len(resolution) else None,
        "sla_judged": judged,
        "sla_met": met,
        "sla_met_pct": met / judged if judged else None,
        "breaches": judged - met,
    }
