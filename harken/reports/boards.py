"""The reports a face shows without options (the web dashboard and incidents pages): each
name to the same report function ``harken report NAME`` runs, with that command's defaults,
and its chart (``--chart``). One code path: the numbers on a page are the CLI's numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from harken.config import Config
from harken.reports.authors import authors
from harken.reports.departments import departments
from harken.reports.incidents import incidents
from harken.reports.report_charts import CHARTS
from harken.reports.scope import Scope
from harken.reports.tabular import Report
from harken.reports.topics import topics
from harken.reports.trend import trend
from harken.reports.voice import share_of_voice
from harken.store import Store

BOARD = ("trend", "departments", "share-of-voice", "incidents", "authors", "topics")


def board_report(
    name: str, store: Store, config: Config, scope: Scope, timezone: str, now: datetime
) -> Report:
    """The report ``name`` (one of ``BOARD``) over ``scope``, as ``harken report`` makes it."""
    makers: dict[str, Callable[[], Report]] = {
        "trend": lambda: trend(store, scope, "auto", timezone),
        "departments": lambda: departments(store, config, scope, now),
        "share-of-voice": lambda: share_of_voice(store, config, scope),
        "incidents": lambda: incidents(store, scope, 20, timedelta(hours=6)),
        "authors": lambda: authors(store, scope, 10),
        "topics": lambda: topics(store, config, scope, 15),
    }
    return makers[name]()


def board_chart(report: Report) -> bytes:
    """The PNG ``harken report NAME --chart`` draws for this report."""
    return CHARTS[report.name](report)
