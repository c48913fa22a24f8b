"""A JSON column holds a fragment: one text test for SQLite and PostgreSQL.

SQLite keeps the JSON as written (Python's ``json.dumps``: non-ASCII escaped), PostgreSQL's JSONB
prints it back with the same separators but unescaped; both forms of the fragment are looked for.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import String, cast, or_


def json_text_holds(column: Any, *values: Any) -> Any:
    """The column's JSON text contains ``values`` serialized in a row, ``": "``-separated:
    (``"billing"``) an item of a list of names; (``"department"``, ``"billing"``) a key with its
    value in a list of objects."""
    patterns = {
        _like(": ".join(json.dumps(v, ensure_ascii=ascii) for v in values))
        for ascii in (True, False)
    }
    as_text = cast(column, String)
    return or_(*(as_text.like(p, escape="\\") for p in sorted(patterns)))


def _like(literal: str) -> str:
    escaped = literal.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
