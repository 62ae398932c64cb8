"""The running node: storage, import and export, the CLI (and later HTTP, sync and review)."""

from .errors import HomeError, ImportRefused, NodeError, RecordNotFound, StoreError
from .exporter import write_canonical_csv
from .home import Home, create_home, open_home
from .importer import ImportPlan, apply_import, plan_import
from .store import Store

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
