"""Planner statistics kept up to date on PostgreSQL while the route stage's tables grow.

autovacuum analyzes a table once a tenth of it has changed, at most once a minute
(``autovacuum_naptime``). When a new install imports its first posts, ``incident_keys`` grows
from nothing to tens of thousands of rows within that minute while the planner still holds the
statistics of an empty table: it then reads the batch's key lookup (``brand``, ``key = ANY``,
a ``seen_at`` range) by brand and time only and filters every row by key. On
``bench/routing.py``'s 3,000 posts that lookup took 860 ms a batch instead of 28 ms, and the
route stage ran at a third of SQLite's speed. So each route batch first asks how much its
tables changed since their last ANALYZE (one query) and analyzes those that grew by a fifth.
Once a table is large, autovacuum keeps up and this finds nothing to do.
"""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, text

from harken.store.db import Store

log = logging.getLogger(__name__)

# What the route stage looks up as it goes (harken.routing): keys, centroids, posts, items.
ROUTE_TABLES = ("incident_keys", "incident_centroids", "mentions", "classifications", "queue_items")
STALE_SHARE = 0.2  # of the rows the statistics counted
STALE_ROWS = 1000  # changed rows below which a table is never analyzed here

_CHANGED = text(
    "SELECT c.relname, c.reltuples, s.n_mod_since_analyze FROM pg_class c"
    " JOIN pg_stat_user_tables s ON s.relid = c.oid"
    " WHERE c.relname IN :names AND c.relnamespace = to_regnamespace(current_schema())::oid"
).bindparams(bindparam("names", expanding=True))

_refused: set[str] = set()  # databases where ANALYZE was refused: asked once per process


def analyze_if_stale(store: Store, tables: tuple[str, ...] = ROUTE_TABLES) -> list[str]:
    """ANALYZE the ``tables`` whose statistics lag behind their rows (PostgreSQL only);
    returns those analyzed. Best effort: a refusal (the database user does not own the
    tables) is logged once and leaves autovacuum to it."""
    if store.dialect != "postgresql" or store.url in _refused:
        return []
    with store.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        stale = [
            name
            for name, counted, changed in conn.execute(_CHANGED, {"names": list(tables)})
            if changed > max(STALE_ROWS, STALE_SHARE * max(counted, 0))
        ]
        if stale:
            try:
                conn.exec_driver_sql("ANALYZE " + ", ".join(sorted(stale)))
            except Exception as err:  # permissions, a lock timeout: best effort
                _refused.add(store.url)
                log.warning("could not refresh the planner's statistics (%s): %s", stale, err)
                return []
    return stale
