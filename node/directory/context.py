"""What the directory's gossip handlers use of the node's linking (``federation.Federation``).

A Protocol, so that directory/ never imports federation/: federation/ calls the handlers
(``profile.queue_entries``/``apply_entry``, ``stats.queue_published``/``apply_published``) and
passes itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from keys import Keyring
from node.store.db import Store


class Linking(Protocol):
    store: Store
    keyring: Keyring
    stats_k: int  # smallest count published ([stats] k)
    clock: Callable[[], int]
