"""Persistence: the schema, opening the database, and the queries stages use."""

from harken.store.db import Store

__all__ = ["Store"]
