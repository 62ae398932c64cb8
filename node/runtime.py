"""Opening a node for linking: its home, store, unlocked keys and matching lexicon together.

The CLI, the server and tests open nodes the same way through ``open_node``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from keys import Keyring
from matching import Lexicon, load_lexicon
from node.directory.districts import HOME_FILE as DISTRICTS_FILE
from node.directory.districts import Gazetteer, load_gazetteer
from node.directory.suppression import DEFAULT_K
from node.federation.exchange import Federation
from node.review.notices import MAX_TELL_FIELDS, MIN_TELL_FIELDS
from node.store.db import Store
from node.trust.identity import unlock
from node.trust.peers import default_budget

from .errors import HomeError
from .home import Home

NAME_VARIANTS_FILE = "name_variants.txt"
PLACE_VARIANTS_FILE = "place_variants.txt"
# Container objects allocated (net) between two collections of the youngest generation, for a
# process that moves blinded keys; Python's default is 700 (see collect_garbage_less_often).
GC_YOUNG_OBJECTS = 50_000


def node_lexicon(home: Home) -> Lexicon:
    """The bundled variant lists extended by the admin's files in the home, if present.

    Both nodes of a pair must use the same lists, or equal people give different keys.
    """
    return load_lexicon(home.path / NAME_VARIANTS_FILE, home.path / PLACE_VARIANTS_FILE)


def collect_garbage_less_often() -> None:
    """Run Python's cycle collector less often in a process that links with peers.

    A message of blinded keys becomes some 40,000 tuples, strings and bytes at every step
    (JSON, the schema, decoding, blinding, the reply), none of them in a cycle; with the
    default thresholds the collector ran every 700 of them and every so often walked the
    whole heap, a node's digests and keys included: 12 % of the CPU of three `tafuta serve`
    processes at 2,000 records (perf), and 40 % of handling one such message beside a
    1.5-million-object heap. ``gc.freeze`` first sets aside what start-up built (modules,
    the lexicon), which never becomes garbage. Cycles are still collected, later.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_OBJECTS, 20, 10)


def node_gazetteer(home: Home, lexicon: Lexicon) -> Gazetteer:
    """The bundled districts extended by <home>/districts.csv, if present."""
    return load_gazetteer(lexicon, home.path / DISTRICTS_FILE)


def stats_k(home: Home) -> int:
    """The smallest count published: ``[stats] k`` in config.toml, default 10."""
    k = home.config.get("stats", {}).get("k", DEFAULT_K)
    if type(k) is not int or not 2 <= k <= 1000:
        raise HomeError(f"[stats] k in {home.config_path} must be a whole number from 2 to 1000")
    return k


def federation_for(
    home: Home, store: Store, keyring: Keyring, lexicon: Lexicon, workers: int | None = None
) -> Federation:
    """A Federation with the home's settings: ``[matching] threshold``, ``[federation]
    default_key_budget``, ``rotate_days`` and ``tell_before_review``, and ``[stats] k`` and
    ``share`` in config.toml."""
    federation = Federation(
        store=store,
        keyring=keyring,
        lexicon=lexicon,
        workers=workers,
        grace_days=home.retired_key_grace_days,
    )
    threshold = home.config.get("matching", {}).get("threshold")
    if threshold is not None:
        federation.threshold = float(threshold)
    federation.gazetteer = node_gazetteer(home, lexicon)
    settings = home.config.get("stats", {})
    federation.stats_k = stats_k(home)
    federation.share_stats = bool(settings.get("share", True))
    rotate = home.config.get("federation", {}).get("rotate_days")
    if rotate is not None:
        if type(rotate) is not int or not 0 <= rotate <= 3650:
            raise HomeError(f"[federation] rotate_days in {home.config_path} must be 0 to 3650")
        federation.rotate_days = rotate
    federation.default_key_budget = default_budget(home, store)
    federation.tell_fields = tell_fields(home)
    return federation


def tell_fields(home: Home) -> int:
    """``[federation] tell_before_review``: 0 (the default) tells a peer that does not evaluate
    of a suggestion only once our caseworker confirms it; N (3 or more) also before review when N
    fields agree (review/notices.py)."""
    value = home.config.get("federation", {}).get("tell_before_review", 0)
    if type(value) is not int or not (value == 0 or MIN_TELL_FIELDS <= value <= MAX_TELL_FIELDS):
        raise HomeError(
            f"[federation] tell_before_review in {home.config_path} must be 0 (tell a peer of a "
            f"suggestion only once our caseworker confirms it) or the number of agreeing fields, "
            f"{MIN_TELL_FIELDS} to {MAX_TELL_FIELDS}, that lets one through before review"
        )
    return value


@contextmanager
def open_federation(
    home: Home, passphrase: str, *, workers: int | None = None
) -> Iterator[Federation]:
    keyring = unlock(home, passphrase)
    with Store.open(home.database_path) as store:
        yield federation_for(home, store, keyring, node_lexicon(home), workers)
