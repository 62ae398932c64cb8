"""The privacy harness's malicious peer (benchmarks/privacy_attacks.py): a whole register of
guesses, chosen adaptively within A's budget, sent by a modified client."""

from __future__ import annotations

import secrets
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privacy_nodes import (  # beside this script
    Side,
    _b64,
    deliver,
    evidence_facts,
    exact,
    exchange,
    key_facts,
    reidentified,
    reidentified_within_a_year,
    right_facts,
    score,
    with_years,
)

from matching import KEYSET_VERSION, match_keys, normalise
from matching.errors import KeySetError
from matching.fields import components
from matching.synthetic import load_bank
from protocol import blinding
from protocol.envelope import new_message_id
from protocol.errors import EnvelopeRefused

ANNOUNCE = 100_000_000  # the most records the blinded-keys schema lets a peer announce
GUESS_BATCH = 4_000  # keys per malicious message
YEARS = range(1940, 2026)
# Whole guessed people, when A sends no keys back: the birth years of most people on the lists.
WHOLE_YEARS = range(1960, 2013)
WHOLE_PARTS = {"names2", "name1", "district", "year", "yearx"}
RECORDS_PER_BATCH = 4_500  # records per malicious message
# Once A sends no keys back, M learns only from suggestions, which A (or the linkage node) makes
# by scoring A × M over M's whole register: M sends this many new keys of whole guessed people
# (in messages of RECORDS_PER_BATCH records) before it lets A score and reads the notices. Fewer,
# larger rounds lose M nothing (whole guesses do not depend on each other's answers), and keep the
# harness from rescoring a register of tens of thousands of guesses after every 4,000 keys.
WHOLE_ROUND_KEYS = 25_000


# --- the malicious peer --------------------------------------------------------------------------


def stage1_guesses(lexicon) -> Iterator[dict]:
    """(name, name, district) guesses, most plausible first (Zipf ranks, tradition weights)."""
    bank = load_bank()
    scored = []
    for t in bank.traditions:
        religious = [n for faith in ("muslim", "christian") for sex in ("female", "male")
                     for n in bank.religious[f"{faith}.{sex}"]]  # fmt: skip
        given = list(dict.fromkeys([*t.female, *t.male, *religious]))
        family = list(t.family or t.male)
        names = list(dict.fromkeys(given + family))
        rank = {n: min(r for r, m in enumerate(seq) if m == n) for seq in (t.female, t.male,
                family, religious) for n in seq}  # fmt: skip
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                weight = t.weight / ((rank[first] + 1) * (rank[second] + 1)) ** 0.9
                for district, _ in t.districts:
                    scored.append((-weight / len(t.districts), first, second, district))
    scored.sort()
    for _, first, second, district in scored:
        yield {"given_names": first, "family_name": second, "origin_district": district}


def guess_keys(lexicon, guess: dict, allowed: set[str]) -> list[tuple[str, str]]:
    record = {"ref": "guess", "kind": "missing", **guess}
    out = []
    for key in match_keys(normalise(record, lexicon)):
        try:
            parts = {p.split(":")[0] for p in components(key[0])}
        except KeySetError:
            continue
        if parts <= allowed:
            out.append(key)
    return out


class Refused(Exception):
    pass


def messages_of(wire: list, max_keys: int | None) -> list[list]:
    """Records in messages of at most RECORDS_PER_BATCH records and, if given, fewer than
    ``max_keys`` keys (a camouflaged guesser keeps every message smaller than its first)."""
    out: list[list] = []
    keys = 0
    for record in wire:
        if (
            not out
            or len(out[-1]) >= RECORDS_PER_BATCH
            or (max_keys is not None and keys + len(record.keys) >= max_keys)
        ):
            out.append([])
            keys = 0
        out[-1].append(record)
        keys += len(record.keys)
    return out


def send_guesses(
    m: Side, a: Side, records: list[list[tuple[str, str]]], max_message_keys: int | None = None
) -> tuple[dict[tuple, bytes], list[tuple[int, str, str]], bool, str]:
    """Blind guess records, send them to A in messages of at most RECORDS_PER_BATCH records, let
    A score as its sync loop does, and read what comes back: each guess key's doubly blinded token
    (from a blinded-reply, if A sends one), each suggestion A notifies (record index, A's
    pseudonym, evidence), and why A refused a message ("" if it took them all)."""
    peer = m.peer(a)
    scalar = m.fed._scalar(peer)
    flat = [k for record in records for k in record]
    singles = iter(
        blinding._blind_hashed(scalar, KEYSET_VERSION, flat, workers=None, progress=None)
    )
    index_of, wire = {}, []
    for i, record in enumerate(records):
        pseudonym = blinding.new_pseudonym()
        index_of[pseudonym] = i
        wire.append(blinding.BlindedRecord(pseudonym, tuple((k[0], next(singles)) for k in record)))
    before = len(m.fed.opened)
    refused = ""
    for message in messages_of(wire, max_message_keys):
        payload = {
            "keyset": KEYSET_VERSION,
            "batch": new_message_id()[:16],
            "records": blinding.to_wire(message),
            "announced_records": ANNOUNCE,
            # What M's own node says: the pair as both coordinators set it, so no alert.
            "evaluation": m.fed.store.peer_evaluation(peer.id),
        }
        body = m.fed.seal_for(peer, new_message_id(), "blinded-keys", payload)
        try:
            ack = a.fed.receive(body).ack
        except EnvelopeRefused as err:
            refused = f"{err.status} {err}"
            break
        if ack is not None:
            m.fed.receive(ack)
    deliver(a, m)
    score(a, m)  # what A's sync loop (or the linkage node's) does after new keys
    tokens, notices = {}, []
    replied = False
    for kind, got in m.fed.opened[before:]:
        if kind == "blinded-reply":
            replied = True
            for record in got["records"]:
                i = index_of.get(record["p"])
                if i is None or len(record["k"]) != len(records[i]):
                    continue
                for key, (key_type, token) in zip(records[i], record["k"], strict=True):
                    if key_type == key[0]:  # order and types kept: the token is this guess's
                        tokens[key] = _b64(token)
        elif kind in ("match-notice", "match-notices", "linkage-notice"):
            for notice in got["notices"] if kind == "match-notices" else [got]:
                i = index_of.get(notice["receiver_pseudonym"])
                if i is not None and notice["evidence"]:
                    notices.append((i, notice["sender_pseudonym"], notice["evidence"]))
    return tokens, notices, replied, refused


def malicious_attack(
    a: Side,
    m: Side,
    truth_facts: dict[str, set],
    max_keys: int,
    camouflage: list[list[tuple[str, str]]] | None = None,
) -> dict:
    """``camouflage``: records shaped like a register (whole people's keys) that M sends in one
    batch before any guess, so that its largest batch looks like an honest peer's."""
    start = time.perf_counter()
    exchange(a, m)  # A sends its keys to M like to any trusted peer; M's register is empty
    peer_a = m.peer(a)
    lexicon = m.fed.lexicon
    theirs = m.store.blinded_keys("peer_blinded", peer_a.id)
    index: dict[bytes, list[str]] = defaultdict(list)
    for pseudonym, keys in theirs.items():
        for _, token in keys:
            index[bytes(token)].append(pseudonym)
    learned: dict[str, set] = defaultdict(set)
    sent: set[tuple[str, str]] = set()
    queue: list[list[tuple[str, str]]] = []
    suggested = 0
    followed: set[str] = set()
    used = 0
    refused = ""
    names_of: dict[str, tuple[str, str]] = {}
    stage1 = stage1_guesses(lexicon)
    exhausted = False
    whole = False

    def follow(facts: set) -> None:
        for f, v in facts:
            if f == "names" and v not in followed:
                followed.add(v)
                queue.extend(stage2_records(lexicon, names_of.get(v)))

    # After a camouflage batch, every guess message stays smaller than it, so that the
    # camouflage remains the largest batch A has seen.
    message_keys = sum(len(r) for r in camouflage) if camouflage else None

    def flush(batch: list[list[tuple[str, str]]]) -> None:
        nonlocal used, suggested, whole, stage1
        first = camouflage is not None and batch is camouflage
        tokens, notices, replied, refused_now = send_guesses(
            m, a, batch, None if first else message_keys
        )
        used = len(sent)  # distinct keys, as A's budget counts them
        if not replied and not tokens and not whole:
            # A sends no keys back (it alone evaluates): adapt, and send whole guessed people
            # (names, district, birth year), most plausible first again, to be told of those A
            # suggests.
            whole = True
            stage1 = stage1_guesses(lexicon)
        for key, token in tokens.items():
            for pseudonym in index.get(token, ()):
                facts = key_facts(*key)
                learned[pseudonym] |= facts
                follow(facts)
        for i, pseudonym, evidence in notices:  # suggestions: the pair-level channel
            suggested += 1
            facts = evidence_facts(evidence, batch[i])
            learned[pseudonym] |= facts
            follow(facts)
        if refused_now:
            raise Refused(refused_now)

    try:
        if camouflage:
            sent.update(k for record in camouflage for k in record)
            flush(camouflage)
        while used < max_keys and not exhausted:
            batch: list[list[tuple[str, str]]] = []
            size = 0
            while queue and size < GUESS_BATCH:  # stage 2 first: it is cheaper per hit
                record = queue.pop(0)  # whole: a key sent again costs nothing at A
                sent.update(record)
                batch.append(record)
                size += len(record)
            while size < (WHOLE_ROUND_KEYS if whole else GUESS_BATCH) and (
                whole or len(batch) < RECORDS_PER_BATCH
            ):
                guess = next(stage1, None)
                if guess is None:
                    exhausted = True
                    break
                if whole:
                    records = [
                        guess_keys(lexicon, {**guess, "birth_date": str(year)}, WHOLE_PARTS)
                        for year in WHOLE_YEARS
                    ]
                else:
                    records = [
                        [
                            k
                            for k in guess_keys(lexicon, guess, {"names2", "name1", "district"})
                            if k not in sent
                        ]
                    ]
                for record in records:
                    if not record:
                        continue
                    size += len(set(record) - sent)
                    sent.update(record)
                    batch.append(record)
                    for key in record:
                        for f, v in key_facts(*key):
                            if f == "names":
                                names_of.setdefault(v, (guess["given_names"], guess["family_name"]))
            if not batch:
                break
            flush(batch)
        while queue and used < max_keys:  # the last hits' years
            batch, size = [], 0
            while queue and size < GUESS_BATCH:
                record = queue.pop(0)
                sent.update(record)
                batch.append(record)
                size += len(record)
            if batch:
                flush(batch)
    except Refused as err:
        refused = str(err)
    a_refs = {p: ref for ref, (p, _) in a.store.pseudonyms(a.peer(m).id).items()}
    reid = reid_near = 0
    wrong = 0
    for pseudonym, facts in learned.items():
        ref = a_refs.get(pseudonym)
        if ref is None:
            continue
        facts = with_years(facts)
        right = right_facts(facts, truth_facts[ref])
        wrong += len(exact(facts - right))
        reid += reidentified(right)
        reid_near += reidentified_within_a_year(right)
    return {
        "malicious_reid_pct": round(100 * reid / max(1, len(a_refs)), 1),
        "malicious_reid_within_a_year_pct": round(100 * reid_near / max(1, len(a_refs)), 1),
        "malicious_keys_used": used,
        "malicious_leak_pct": round(
            100 * sum(bool(exact(f)) for f in learned.values()) / max(1, len(a_refs)), 1
        ),
        "malicious_refused": refused,
        "malicious_suggestions_received": suggested,
        "malicious_sent_whole_people": whole,
        "malicious_guesses_exhausted": exhausted,
        "malicious_wrong_facts": wrong,
        "malicious_camouflage_records": len(camouflage or []),
        "malicious_seconds": round(time.perf_counter() - start, 1),
    }


def stage2_records(lexicon, names: tuple[str, str] | None) -> list[list[tuple[str, str]]]:
    """One guess record per birth year for a name pair that hit: its name x year keys."""
    if names is None:
        return []
    out = []
    for year in YEARS:
        guess = {"given_names": names[0], "family_name": names[1], "birth_date": str(year)}
        out.append(guess_keys(lexicon, guess, {"names2", "name1", "year", "yearx"}))
    return out


def budget_of(a: Side, m: Side) -> int:
    """What A's coordinator granted M: the configured budget, or today's daily cap."""
    fed, peer = a.fed, a.peer(m)
    for name in ("key_budget", "blinding_cap"):
        method = getattr(fed, name, None)
        if method is not None:
            return int(method(peer))
    raise RuntimeError("no budget API")


def probe_over_budget(a: Side, m: Side, used: int, budget: int) -> tuple[bool, str]:
    """Ask A to blind random points until past ``budget`` keys in all; True if refused."""
    total = used
    while total <= budget:
        n = min(GUESS_BATCH, budget + 1 - total)
        keys = [[("phone", f"+000{secrets.randbelow(10**12):012d}")] for _ in range(n)]
        refused = send_guesses(m, a, keys)[3]
        if refused:
            return True, refused
        total += n
    return False, f"accepted {total} keys with a budget of {budget}"
