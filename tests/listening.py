"""Helpers the live-source tests share: what the store holds after a poll."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from harken.store import Store
from harken.store import sources as source_repo
from harken.store.tables import Mention


def stored_ids(store: Store) -> list[str]:
    with store.session() as session:
        return sorted(session.execute(select(Mention.external_id)).scalars())


def stored_cursor(store: Store, source: str) -> Any:
    with store.session() as session:
        return json.loads(source_repo.get_cursor(session, source) or "{}")
