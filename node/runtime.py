"""Opening a node for linking: its home, store, unlocked keys and matching lexicon together.

The CLI, the server and tests open nodes the same way through ``open_node``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from matching import Lexicon, load_lexicon

from .federation import Federation
from .home import Home
from .identity import unlock
from .store import Store

NAME_VARIANTS_FILE = "name_variants.txt"
PLACE_VARIANTS_FILE = "place_variants.txt"


def node_lexicon(home: Home) -> Lexicon:
    """The bundled variant lists extended by the admin's files in the home, if present.

    Both nodes of a pair must use the same lists, or equal people give different keys.
    """
    return load_lexicon(home.path / NAME_VARIANTS_FILE, home.path / PLACE_VARIANTS_FILE)


@contextmanager
def open_federation(
    home: Home,
    passphrase: str,
    *,
    workers: int | None = None,
) -> Iterator[Federation]:
    keyring = unlock(home, passphrase)
    threshold = float(home.config.get("matching", {}).get("threshold", 0) or 0) or None
    with Store.open(home.database_path) as store:
        federation = Federation(
            store=store,
            keyring=keyring,
            lexicon=node_lexicon(home),
            workers=workers,
            grace_days=home.retired_key_grace_days,
        )
        if threshold is not None:
            federation.threshold = threshold
        yield federation
