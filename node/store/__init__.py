"""The store: SQLite and SQL only, split by table group; no rules (they live in review/, accounts/,
trust/ and federation/). ``Store`` is the one object the rest of the node holds."""

from .db import Store

__all__ = ["Store"]
