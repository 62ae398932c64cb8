"""Property-based fuzzing (hypothesis) of the three parsers that read untrusted input.

Each property says what must hold for *every* input: the envelope parser and opener either
return a result or raise EnvelopeRefused (never any other exception, never accept a changed
message); the token decoder either returns a document or raises BadToken; the importer either
refuses with ImportRefused and writes nothing, or writes exactly what it planned. Every example
tried is counted per category, and the counts are the campaign's figures.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys import (
    TOKEN_PREFIX,
    BadToken,
    KdfParams,
    Keyring,
    KeysError,
    decode_token,
    encode_token,
    verify_self_signed,
)
from node.canonical import FIELDS
from node.errors import ImportRefused
from node.records.importer import apply_import, plan_import
from node.store.db import Store
from node.trust.identity import create_node
from protocol.envelope import SUITE_X25519, open_envelope, parse, seal
from protocol.errors import EnvelopeRefused, UnknownSender
from protocol.messages import validate

NOW = 1_767_225_600  # 2026-01-01
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


def _settings(examples: int, seed: int | None):
    options = dict(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=seed is not None,
    )
    return settings(**options)


class _Pair:
    """A sender and a recipient keyring, and a sealed envelope from one to the other."""

    def __init__(self):
        self.alice = Keyring.create(name="Alice", url="", now=NOW, kdf=KdfParams.cheap())
        self.bob = Keyring.create(name="Bob", url="", now=NOW, kdf=KdfParams.cheap())
        self.payload = {"pseudonyms": ["A" * 22]}
        document = self.bob.document.document
        self.envelope = seal(
            message_type="retraction",
            payload=self.payload,
            sender_key_id=self.alice.key_id,
            signing_key=self.alice.current.signing,
            recipient_key_id=self.bob.key_id,
            recipient_public_key=document.hpke_public_key(SUITE_X25519),
            suite=SUITE_X25519,
            now=NOW,
        )

    def verify_key(self, key_id: str):
        if key_id != self.alice.key_id:
            raise UnknownSender("not a trusted peer")
        return self.alice.document.document.verify_key()

    def open(self, data: bytes):
        return open_envelope(
            data, senders=self, own=self.bob, seen=lambda *_: False, validate=validate, now=NOW
        )


def fuzz_envelopes(examples: int, seed: int | None = None) -> Counter:
    """Arbitrary bytes, arbitrary JSON, and mutations of a valid envelope."""
    pair = _Pair()
    counts: Counter = Counter()
    original = pair.open(pair.envelope)
    chosen = _settings(examples, seed)

    @chosen
    @given(st.binary(max_size=4096))
    def random_bytes(data):
        counts["envelope: random bytes"] += 1
        with contextlib.suppress(EnvelopeRefused):
            parse(data)

    @chosen
    @given(JSON_VALUES)
    def random_json(value):
        counts["envelope: random JSON"] += 1
        with contextlib.suppress(EnvelopeRefused):
            pair.open(json.dumps(value).encode())

    @chosen
    @given(st.data())
    def mutated(data):
        counts["envelope: mutated valid envelope"] += 1
        body = bytearray(pair.envelope)
        how = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        at = data.draw(st.integers(0, len(body) - 1))
        if how == "flip":
            body[at] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "truncate":
            body = body[:at]
        elif how == "insert":
            body[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del body[at : at + data.draw(st.integers(1, 8))]
        try:
            opened = pair.open(bytes(body))
        except EnvelopeRefused:
            return
        # Accepted only if the change was meaningless JSON (e.g. whitespace): same message.
        assert opened == original, (how, at)

    @chosen
    @given(st.sampled_from(["v", "type", "sender", "recipient", "id", "created", "suite"]),
           JSON_VALUES)  # fmt: skip
    def changed_header(name, value):
        counts["envelope: header field replaced"] += 1
        outer = json.loads(pair.envelope)
        outer["header"][name] = value
        try:
            opened = pair.open(json.dumps(outer).encode())
        except EnvelopeRefused:
            return
        assert opened == original

    for run in (random_bytes, random_json, mutated, changed_header):
        run()
    return counts


def fuzz_tokens(examples: int, seed: int | None = None) -> Counter:
    """Arbitrary text, text with the token prefix, and mutations of a valid token."""
    alice = Keyring.create(name="Alice", url="", now=NOW, kdf=KdfParams.cheap())
    token = encode_token(alice.document)
    counts: Counter = Counter()
    chosen = _settings(examples, seed)

    def check(text: str) -> None:
        try:
            signed = decode_token(text)
        except BadToken:
            return
        try:
            verify_self_signed(signed, NOW)
        except KeysError:
            return
        assert signed.to_json() == alice.document.to_json()

    @chosen
    @given(st.text(max_size=2000))
    def random_text(text):
        counts["token: random text"] += 1
        check(text)

    @chosen
    @given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=",
                   max_size=3000))  # fmt: skip
    def prefixed(body):
        counts["token: prefix + base64url-like text"] += 1
        check(TOKEN_PREFIX + body)

    @chosen
    @given(st.data())
    def mutated(data):
        counts["token: mutated valid token"] += 1
        text = list(token)
        at = data.draw(st.integers(0, len(text) - 1))
        how = data.draw(st.sampled_from(["replace", "truncate", "insert", "delete"]))
        if how == "replace":
            text[at] = data.draw(st.characters())
        elif how == "truncate":
            text = text[:at]
        elif how == "insert":
            text[at:at] = data.draw(st.text(min_size=1, max_size=4))
        else:
            del text[at]
        check("".join(text))

    for run in (random_text, prefixed, mutated):
        run()
    return counts


CELLS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "missing", "found", "F", "M", "male", "2008-03", "2024-13-45", "=1+1",
                     "@SUM(A1)", "+254 712 345 678", "15", "-3", "KE", "ZZ"]),
)  # fmt: skip


def fuzz_importer(examples: int, seed: int | None = None) -> Counter:
    """Arbitrary files, and tables of canonical columns with arbitrary cells, into a real store.

    After every example the store must have changed exactly as the plan said (nothing at all for
    a refused file), and SQLite's integrity check must pass at the end.
    """
    counts: Counter = Counter()
    chosen = _settings(examples, seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = create_node(root / "node", name="Fuzz", passphrase="fuzz passphrase 123",
                           kdf=KdfParams.cheap())  # fmt: skip
        store = Store.open(home.database_path)
        path = root / "input.csv"

        def attempt(data: bytes, category: str) -> None:
            counts[category] += 1
            path.write_bytes(data)
            before = store.count_records(include_retracted=True)
            try:
                plan = plan_import(path, store)
            except ImportRefused:
                assert store.count_records(include_retracted=True) == before
                counts[category + " (refused)"] += 1
                return
            apply_import(plan, store)
            assert store.count_records(include_retracted=True) == before + len(plan.added)

        @chosen
        @given(st.binary(max_size=3000))
        def random_bytes(data):
            attempt(data, "importer: random bytes")

        @chosen
        @given(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=8, unique=True),
               st.lists(st.lists(CELLS, max_size=9), max_size=12))  # fmt: skip
        def tables(header, rows):
            lines = [",".join(header)] + [",".join(_csv_cell(c) for c in row) for row in rows]
            attempt("\n".join(lines).encode("utf-8"), "importer: canonical tables")

        @chosen
        @given(st.lists(st.sampled_from([f for f in FIELDS if f not in ("ref", "kind")]),
                        max_size=6, unique=True),
               st.lists(st.tuples(st.from_regex(r"\AFZ-[0-9]{1,3}\Z"),
                                  st.sampled_from(["missing", "found"]),
                                  st.lists(CELLS, min_size=6, max_size=6)),
                        min_size=1, max_size=12))  # fmt: skip
        def plausible_tables(extra, rows):
            lines = [",".join(["ref", "kind", *extra])]
            for ref, kind, cells in rows:
                lines.append(",".join([ref, kind, *(_csv_cell(c) for c in cells[: len(extra)])]))
            attempt("\n".join(lines).encode("utf-8"), "importer: plausible registers")

        try:
            random_bytes()
            tables()
            plausible_tables()
            check = store.conn.execute("PRAGMA integrity_check").fetchone()[0]
            assert check == "ok", check
        finally:
            store.close()
    return counts


def _csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\r\n') else value


def run(examples: int, seed: int | None = None) -> dict:
    """Every fuzz target with ``examples`` inputs per property; returns counts per category."""
    counts: Counter = Counter()
    for target in (fuzz_envelopes, fuzz_tokens, fuzz_importer):
        counts.update(target(examples, seed))
    categories = {k: v for k, v in sorted(counts.items())}
    tried = sum(v for k, v in counts.items() if not k.endswith("(refused)"))
    return {"examples_per_property": examples, "inputs": categories, "total_inputs": tried}
