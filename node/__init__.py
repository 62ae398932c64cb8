"""The running node: its store, records, trust, federation with peers, review, web UI and CLI.

The layout and the data flow are in docs/architecture.md; this is the public surface."""

from node.records.exporter import write_canonical_csv
from node.records.importer import ImportPlan, apply_import, plan_import
from node.store.db import Store

from .errors import HomeError, ImportRefused, NodeError, RecordNotFound, StoreError
from .home import Home, create_home, open_home

__all__ = [
    "Home",
    "HomeError",
    "ImportPlan",
    "ImportRefused",
    "NodeError",
    "RecordNotFound",
    "Store",
    "StoreError",
    "apply_import",
    "create_home",
    "open_home",
    "plan_import",
    "write_canonical_csv",
]
