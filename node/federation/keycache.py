"""The digest of each record's match keys, remembered between sync rounds and between processes.

``Federation.plan`` runs every sync round for every peer (``tafuta serve`` syncs every few
seconds) and must find which records changed since they were sent. Normalising a record and
computing its match keys is the slow part of that (about 1 ms a record: 6 s a round for a
6,000-record node with one peer), and almost every round finds nothing changed. A record whose
stored content is the same as last time has the same keys, so its keys' digest is remembered
under the content's hash and the keys are computed again only for records that changed or whose
digest differs from what the peer was sent (a new peer, a rotation).

The digests are also kept in the store (``record_keys``), so a ``tafuta sync`` started beside
``serve``, or ``serve`` after a restart, does not compute every record's keys again to find that
nothing changed (each did: 20-30 s of CPU per process at 6,000 records). Keys depend on more
than the record: the lexicon (an admin's variant lists), the key set version and the matching
code that normalises and keys a record. All of it goes into the hash (``keys_salt``), so a
changed lexicon or an upgrade computes every record's keys again once.

Most rounds find nothing changed at all, and hashing every record's content to see it cost
1.2-1.7 s a round at 6,000 records and two peers, every second in ``serve``. The store counts
changes to records and pseudonyms (triggers); once a plan found nothing to send to a peer, the
next reads no records while both counts stay as they were then (``quiet``).

Only digests are kept, never keys: a few dozen bytes a record, so the cache stays small beside
the store even at a million records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import import_module, metadata
from pathlib import Path

from matching import KEYSET_VERSION, Lexicon

Keys = list[tuple[str, str]]
# Keys computed in one sync round, by ref, with the content hash they were computed from: a
# round that prepares two new peers computes each record's keys once, not once per peer.
RoundKeys = dict[str, tuple[str, Keys]]

# The code between a stored record and its keys: a change to any of them may change the keys.
_KEYING_MODULES = ("matching.normalise", "matching.keys", "matching.lexicon", "matching.text")


def lexicon_fingerprint(lexicon: Lexicon) -> str:
    """A hash of every list the lexicon normalises with (bundled and the admin's additions)."""
    text = json.dumps(
        [
            sorted(lexicon.name_variants.items()),
            sorted(lexicon.place_variants.items()),
            sorted(lexicon.name_stopwords),
            sorted(lexicon.name_particles),
            [list(words) for words in lexicon.place_stopwords],
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def keying_code_fingerprint() -> str:
    """A hash of the matching code that turns a record into keys, and of the phonetic library
    it uses: an upgrade that changes how keys are made must not reuse digests made before."""
    digest = hashlib.sha256()
    for name in _KEYING_MODULES:
        digest.update(Path(str(import_module(name).__file__)).read_bytes())
    digest.update(metadata.version("jellyfish").encode())
    return digest.hexdigest()


def keys_salt(lexicon: Lexicon, code: str | None = None) -> str:
    """Everything besides the record that decides its keys, as one string for ``content_hash``."""
    code = keying_code_fingerprint() if code is None else code
    return f"{KEYSET_VERSION}:{lexicon_fingerprint(lexicon)}:{code}"


def content_hash(record: dict, salt: str = "") -> str:
    """A hash of everything stored for the record (any change, however small, changes it) and
    of ``salt`` (what else decides its keys)."""
    text = json.dumps([salt, sorted(record.items())], separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class KeyDigests:
    """ref -> (content hash, keys digest): loaded from the store once, then as computed by
    this process; what it computed and the store does not hold yet waits in ``unsaved``; and
    for each peer, the change counts under which it had nothing to send (``quiet``)."""

    salt: str = ""
    _seen: dict[str, tuple[str, str]] = field(default_factory=dict)
    unsaved: list[tuple[str, str, str]] = field(default_factory=list)
    loaded: bool = False
    # peer id -> the store's change counts when a plan last found nothing to send to the peer.
    quiet: dict[int, tuple[int, int]] = field(default_factory=dict)

    def load(self, salt: str, rows: Iterable[tuple[str, str, str]]) -> None:
        """Start from the digests the store holds: (ref, content hash, keys digest) rows."""
        self.salt, self.loaded = salt, True
        self._seen.update((ref, (content, digest)) for ref, content, digest in rows)

    def digest(
        self,
        record: dict,
        compute: Callable[[dict], tuple[Keys, str]],
        round_keys: RoundKeys | None = None,
        wanted: Callable[[str, str], bool] | None = None,
    ) -> tuple[Keys | None, str]:
        """The record's keys digest, and its keys when they are at hand (else None).

        ``compute`` returns (keys, digest) for a record; it is called when the record's content
        changed since its digest was last computed, here or by another process, and when
        ``wanted(ref, digest)`` says the keys are needed (a peer was not sent this digest) and
        ``round_keys`` does not hold them. Keys computed are added to ``round_keys``; keys
        found there are returned. The record's content is hashed once either way.
        """
        ref, content = record["ref"], content_hash(record, self.salt)
        seen = self._seen.get(ref)
        if seen is not None and seen[0] == content:
            held = round_keys.get(ref) if round_keys is not None else None
            if held is not None and held[0] == content:
                return held[1], seen[1]
            if wanted is None or not wanted(ref, seen[1]):
                return None, seen[1]
            keys, digest = compute(record)[0], seen[1]
        else:
            keys, digest = compute(record)
            self._seen[ref] = (content, digest)
            self.unsaved.append((ref, content, digest))
        if round_keys is not None:
            round_keys[ref] = (content, keys)
        return keys, digest

    def take_unsaved(self) -> list[tuple[str, str, str]]:
        """The digests computed since the last call, to store (and forget as unsaved)."""
        rows, self.unsaved = self.unsaved, []
        return rows
