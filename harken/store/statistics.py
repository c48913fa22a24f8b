"""Planner statistics kept up to date on PostgreSQL while the route stage's tables grow.

autovacuum analyzes a table once a tenth of it has changed, at most once a minute
(``autovacuum_naptime``). When a new install imports its first posts, ``incident_keys`` grows
from nothing to tens of thousands of rows within that minute while the planner still holds the
statistics of an empty table: it then reads the batch's key lookup (``brand``, ``key = ANY``,
a ``seen_at`` range) by brand and time only and filters every row by key. On
3,000 posts of ``bench/routing.py``'s generator that lookup took 860 ms instead of 28 ms, and
the route stage ran at half its speed. So each route batch first asks how much its tables
changed since their last ANALYZE (one query) and analyzes those where a fifth of the rows
changed; each outbox run does the same for the tables it reads for every alert (the lookup of
an incident's thread roots read every alert once per alert while ``alerts`` had never been
analyzed). Once a table is large, autovacuum keeps up and this finds nothing to do.

Only tables the database user may analyze are asked about (owned by it or by one of its roles,
or in a database it owns): PostgreSQL answers a refused ANALYZE with a warning and carries on,
so a refusal could not be noticed, and the same tables would be asked about at every batch.
``SKIP_LOCKED``: workers side by side do not wait for each other's ANALYZE of a table.
"""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, text

from harken.store.db import Store

log = logging.getLogger(__name__)

# What the route stage looks up as it goes (harken.routing): keys, centroids, posts, items.
ROUTE_TABLES = ("incident_keys", "incident_centroids", "mentions", "classifications", "queue_items")
# What the outbox reads for each alert (an incident's thread roots, items and their events).
NOTIFY_TABLES = ("alerts", "queue_items", "queue_events", "routing_labels")
STALE_SHARE = 0.2  # of the rows the statistics counted, inserted, updated or deleted since
STALE_ROWS = 1000  # changed rows below which an analyzed table is not analyzed again here
# A table never analyzed has no statistics at all: the planner guesses, and its guess for the
# outbox's thread-root lookup scanned every alert once per alert. Its first ANALYZE is cheap.
FIRST_ROWS = 50

_CHANGED = text(
    "SELECT c.relname, c.reltuples, s.n_mod_since_analyze FROM pg_class c"
    " JOIN pg_stat_user_tables s ON s.relid = c.oid"
    " WHERE c.relname IN :names AND pg_table_is_visible(c.oid)"
    " AND (pg_has_role(c.relowner, 'USAGE') OR pg_has_role("
    "(SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE'))"
).bindparams(bindparam("names", expanding=True))

_told: set[str] = set()  # databases whose failure was logged: once per process


def analyze_if_stale(store: Store, tables: tuple[str, ...] = ROUTE_TABLES) -> list[str]:
    """ANALYZE the ``tables`` whose statistics lag behind their rows (PostgreSQL only);
    returns those it asked to analyze (one that another session is analyzing is skipped).
    Best effort: a failure (a statement timeout, a lost connection) is logged once per
    database and the batch goes on; autovacuum is still there."""
    if store.dialect != "postgresql":
        return []
    try:
        with store.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            stale = [
                name
                for name, counted, changed in conn.execute(_CHANGED, {"names": list(tables)})
                if _stale(counted, changed)
            ]
            if stale:
                conn.exec_driver_sql("ANALYZE (SKIP_LOCKED) " + ", ".join(sorted(stale)))
    except Exception as err:  # never a reason to stop routing
        if store.url not in _told:
            _told.add(store.url)
            log.warning("could not refresh the planner's statistics: %s", err)
        return []
    return stale


def _stale(counted: float, changed: int) -> bool:
    """``counted``: the rows at the last ANALYZE (-1: never analyzed); ``changed``: rows
    inserted, updated or deleted since."""
    if counted < 0:
        return changed >= FIRST_ROWS
    return changed > max(STALE_ROWS, STALE_SHARE * counted)
