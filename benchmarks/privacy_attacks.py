"""Benchmark: what a trusted peer can learn about our records (issue 12): attacks anyone can rerun.

    .venv/bin/python benchmarks/privacy_attacks.py --json FILE                     # the default
    .venv/bin/python benchmarks/privacy_attacks.py --evaluation auto-a --json FILE # ... A first
    .venv/bin/python benchmarks/privacy_attacks.py --evaluation auto-b --json FILE # ... B first
    .venv/bin/python benchmarks/privacy_attacks.py --evaluation both --json FILE   # both
    .venv/bin/python benchmarks/privacy_attacks.py --evaluation ours --json FILE   # A evaluates
    .venv/bin/python benchmarks/privacy_attacks.py --evaluation linker --json FILE # L evaluates

Two real nodes are built in a temporary folder the way ``tafuta demo`` builds them: A holds a
missing-person list, B a found register (``--records`` each, from matching/synthetic.py, 40 % of
the smaller list the same people), paired through invitation tokens and safety numbers, with
the default budget A's coordinator is offered. Every message is sealed by its sender and opened
by its receiver with every check of the network path (signature, trust, clock window, replay);
only the HTTP hop is left out, as in node/demo/network.py.

The attacks are B's, against A:

* **curious** — B runs the honest exchange and then reads everything it holds: its database
  (its own plaintext records, its blinding scalar, its own and A's doubly blinded keys, its
  suggestions and their evidence) and a copy of every envelope payload it sent or received (its
  outbox, kept by a modified client). B knows the plaintext of its own keys, so each of its own
  doubly blinded tokens it can tie to a plaintext key, by position in the reply, by key type, or
  by intersecting the keys of its records that share the token, tells it A's value wherever an
  A token is equal. Only facts B can be *certain* of count, and each is checked against A's
  plaintext (``curious_wrong_facts`` reports any wrong one).
* **malicious** — another peer M, trusted by A with A's default budget, whose whole register is
  guesses: a modified client that blinds what it likes and sends it as ``blinded-keys`` (one key
  per record, so any shuffling of a reply cannot hide which guess a token is), announcing the
  most records the schema allows. Guesses come from the public name bank (matching/data), most
  common names first: stage 1 is name pair x home district; every hit is followed at once by
  stage 2, the same name pair x every birth year 1940-2025. It reads two channels: the tokens of
  A's ``blinded-reply`` (compared with A's keys it holds) and A's match notices (suggestions and
  their evidence). When A sends no keys back (A alone evaluates), it adapts: whole guessed
  people (name pair, district, each birth year 1960-2012), most plausible first again, to be
  told of those A suggests. It stops when A refuses (HTTP 429) or its guesses run out; then it
  probes once more past the budget. A record is re-identified when M learns its two name sounds,
  exact birth year and home district, each checked. With ``--camouflage N`` M first sends N
  records shaped like a register (other people's whole keys) in one batch, so that its largest
  batch looks like an honest peer's, and guesses after it in messages carrying fewer keys than
  that first one, so that it stays the largest batch A has seen.
* **tracking** — A retracts a record and adds it again under a new ref: how many tokens B sees
  for it it saw before; then A rotates its scalar and pseudonyms: and now.
* **unsolicited handover** — B sends a ``contact-handover`` for a match A merely suggested.
* **alerts** — after the malicious run, ``tafuta status`` (a real process) and the peers page of
  a real ``tafuta serve`` (logged in as A's admin) must name M in an alert (``role="alert"``).

Results: printed, and with ``--json FILE`` written as JSON with at least ``records``,
``curious_value_leak_pct``, ``curious_reid_pct``, ``malicious_reid_pct``, ``malicious_keys_used``,
``over_budget_refused``, ``alert_shown``, ``unsolicited_handover_refused`` and
``false_suggestions_per_1000``. Definitions are in docs/threat-model.md.

The attacker code calls the node's own functions with chosen inputs; nothing here reads A's
database to attack, only to score the attack against the truth. The nodes and what a key says
are in privacy_nodes.py, the malicious peer in privacy_malicious.py, tracking, the handover and
the alerts in privacy_checks.py; this file holds the curious peer and the run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privacy_checks import status_alert, tracking, unsolicited_handover, web_checks  # beside
from privacy_malicious import budget_of, malicious_attack, probe_over_budget  # beside
from privacy_nodes import (  # beside this script
    EXACT,
    Side,
    _b64,
    evidence_facts,
    exact,
    exchange,
    key_facts,
    make_node,
    pair,
    reidentified,
    reidentified_within_a_year,
    right_facts,
    with_years,
)

from matching import KEYSET_VERSION, match_keys, normalise
from matching.synthetic import generate
from protocol import blinding

SEED = 2026


# --- the curious peer ----------------------------------------------------------------------------


def curious_attack(a: Side, b: Side, truth_facts: dict[str, set], matched_a: set[str]) -> dict:
    """B's view, B's inferences, scored against A's truth."""
    start = time.perf_counter()
    peer_a = b.peer(a)
    lexicon = b.fed.lexicon
    plain = {r["ref"]: match_keys(normalise(r, lexicon)) for r in b.store.iter_records()}
    refs = b.store.refs_for_pseudonyms(peer_a.id)  # B's pseudonym -> B's ref
    scalar = b.fed._scalar(peer_a)
    # B can blind its own plaintext keys with its own scalar: single token -> plaintext key.
    all_keys = sorted({k for keys in plain.values() for k in keys})
    singles = blinding._blind_hashed(scalar, KEYSET_VERSION, all_keys, workers=None, progress=None)
    single_to_key = dict(zip(singles, all_keys, strict=True))
    # Positional: what B sent and what came back for the same pseudonym, if the order holds.
    known: dict[bytes, set] = {}  # doubly blinded token of B -> facts certain
    sent_by_p = {}
    for kind, payload in b.sent:
        if kind == "blinded-keys":
            for record in payload["records"]:
                sent_by_p[record["p"]] = record["k"]
    replies = [p for kind, p in b.fed.opened if kind == "blinded-reply"]
    positional = 0
    for payload in replies:
        for record in payload["records"]:
            sent = sent_by_p.get(record["p"])
            got = record.get("k", [])
            if not sent or len(sent) != len(got):
                continue
            if not all(
                isinstance(g, list) and len(g) == 2 and g[0] == s[0]
                for g, s in zip(got, sent, strict=True)
            ):
                continue  # no types to check the order by: the order cannot be trusted
            for s, g in zip(sent, got, strict=True):
                key = single_to_key.get(_b64(s[1]))
                if key is not None:
                    known[_b64(g[1])] = key_facts(*key)
                    positional += 1
    # By type and by intersection over B's records that hold the same token.
    own = b.store.blinded_keys("own_blinded", peer_a.id)
    candidates: dict[bytes, set | None] = {}
    for pseudonym, keys in own.items():
        ref = refs.get(pseudonym)
        if ref is None:
            continue
        for key_type, token in keys:
            token = bytes(token)
            mine = {k for k in plain[ref] if k[0] == key_type} or set(plain[ref])
            before = candidates.get(token)
            candidates[token] = mine if before is None else before & mine
    inferred = 0
    by_inference: dict[bytes, set] = {}  # what is left if replies kept no order
    for token, options in candidates.items():
        if not options:
            continue
        common = set.intersection(*(key_facts(*k) for k in options))
        if common:
            by_inference[token] = common
            if token not in known:
                known[token] = common
                inferred += 1
    # A's records as B holds them, and B's suggestions with their evidence.
    theirs = b.store.blinded_keys("peer_blinded", peer_a.id)
    for kind, payload in b.sent:  # with a linkage node, A's keys blinded by both pass through B
        if kind == "linkage-keys":
            for record in payload["records"]:
                theirs[record["p"]] = [(t, _b64(k)) for t, k in record["k"]]
    learned: dict[str, set] = defaultdict(set)
    unordered: dict[str, set] = defaultdict(set)
    for pseudonym, keys in theirs.items():
        for _, token in keys:
            learned[pseudonym] |= known.get(bytes(token), set())
            unordered[pseudonym] |= by_inference.get(bytes(token), set())
    shown = set()
    for match in b.store.list_matches():
        if match["peer"] != a.name:
            continue
        shown.add(match["peer_pseudonym"])
        learned[match["peer_pseudonym"]] |= evidence_facts(
            match["evidence"], plain[match["local_ref"]]
        )
    # Score against A's truth (A's pseudonyms for B map to A's refs).
    a_refs = {p: ref for ref, (p, _) in a.store.pseudonyms(a.peer(b).id).items()}
    wrong = 0
    correct: dict[str, set] = {}
    for pseudonym, facts in learned.items():
        ref = a_refs.get(pseudonym)
        if ref is None:
            continue
        facts = with_years(facts)
        right = right_facts(facts, truth_facts[ref])
        wrong += len(exact(facts - right))
        correct[ref] = right
    not_shown = [ref for p, ref in a_refs.items() if p not in shown]
    unmatched = [ref for ref in a_refs.values() if ref not in matched_a]
    leak = [ref for ref in not_shown if exact(correct.get(ref, set()))]
    leak_unordered = [
        ref
        for p, ref in a_refs.items()
        if p not in shown and exact(with_years(unordered.get(p, set())) & truth_facts[ref])
    ]
    reid = [ref for ref in unmatched if reidentified(correct.get(ref, set()))]
    reid_near = [ref for ref in unmatched if reidentified_within_a_year(correct.get(ref, set()))]
    by_field = {
        f: round(100 * sum(any(x == f for x, _ in correct.get(r, ())) for r in not_shown)
                 / max(1, len(not_shown)), 1)
        for f in EXACT
    }  # fmt: skip
    return {
        "curious_value_leak_pct": round(100 * len(leak) / max(1, len(not_shown)), 1),
        "curious_reid_pct": round(100 * len(reid) / max(1, len(unmatched)), 1),
        "curious_reid_within_a_year_pct": round(100 * len(reid_near) / max(1, len(unmatched)), 1),
        "curious_value_leak_by_field_pct": by_field,
        # The same attack without the reply's order: by key type and by intersecting B's records
        # that hold the same token (what shuffled, untyped replies would leave).
        "curious_value_leak_without_reply_order_pct": round(
            100 * len(leak_unordered) / max(1, len(not_shown)), 1
        ),
        "curious_records_not_shown": len(not_shown),
        "curious_records_without_true_match": len(unmatched),
        "curious_tokens_tied_by_position": positional,
        "curious_tokens_tied_by_type_or_intersection": inferred,
        "curious_wrong_facts": wrong,
        "curious_seconds": round(time.perf_counter() - start, 1),
    }


# --- the run -------------------------------------------------------------------------------------


def truth_of(side: Side) -> dict[str, set]:
    lexicon = side.fed.lexicon
    return {
        r["ref"]: with_years(
            set().union(*[key_facts(*k) for k in match_keys(normalise(r, lexicon))])
        )
        for r in side.store.iter_records()
    }


def keys_of(record: dict, lexicon) -> list[tuple[str, str]]:
    return match_keys(normalise(record, lexicon))


def roles_of(pairs: list[tuple[Side, Side]]) -> dict[str, str]:
    """Who evaluates, as each node of each pair holds it ("(auto)": the default's choice)."""
    roles = {}
    for x, y in pairs:
        peer_id = x.peer(y).id
        auto = " (auto)" if x.store.peer_evaluation_is_auto(peer_id) else ""
        roles[f"{x.name} for {y.name}"] = x.store.peer_evaluation(peer_id) + auto
    return roles


def false_suggestions(a: Side, b: Side, truth: set) -> tuple[int, int]:
    b_refs = {p: ref for ref, (p, _) in b.store.pseudonyms(b.peer(a).id).items()}
    matches = [m for m in a.store.list_matches() if m["peer"] == b.name]
    false = sum((m["local_ref"], b_refs.get(m["peer_pseudonym"])) not in truth for m in matches)
    return len(matches), false


def run(
    records: int,
    seed: int,
    max_keys: int,
    web: bool,
    root: Path,
    evaluation: str,
    tell_fields: int | None = None,
    camouflage: int = 0,
) -> dict:
    t0 = time.perf_counter()
    regs = generate(records, records, 0.4, seed)
    a = make_node(root, "Rural A", regs.missing)
    b = make_node(root, "Urban B", regs.found)
    m = make_node(root, "Mallory M", [])
    linker = None
    if evaluation == "linker":  # a third node, trusted by all, links A with B and with M
        linker = make_node(root, "Linker L", [])
        for side in (a, b, m):
            pair(side, linker, "both")
    if tell_fields is not None:  # as the admins of the evaluating nodes would set it
        for side in (a, *([linker] if linker else [])):
            side.fed.tell_fields = tell_fields
            with (side.home / "config.toml").open("a", encoding="utf-8") as config:
                config.write(f"\n[federation]\ntell_before_review = {tell_fields}\n")
    pair(a, b, evaluation, linker)
    pair(a, m, evaluation, linker)
    exchange(a, b)
    truth_a = truth_of(a)
    matched_a = {x for x, _ in regs.true_pairs}
    suggestions, false = false_suggestions(a, b, set(regs.true_pairs))
    a_refs = {p: ref for ref, (p, _) in a.store.pseudonyms(a.peer(b).id).items()}
    shown_b = [m for m in b.store.list_matches() if m["peer"] == a.name]
    false_b = sum((a_refs.get(m["peer_pseudonym"]), m["local_ref"]) not in regs.true_pairs
                  for m in shown_b)  # fmt: skip
    result: dict = {
        "records": records,
        "found_records": records,
        "evaluation": evaluation,
        "roles": roles_of([(a, b), (b, a), (a, m), (m, a)]),
        "tell_before_review": a.fed.tell_fields,
        "true_pairs": len(regs.true_pairs),
        "suggestions": suggestions,
        "false_suggestions": false,
        "false_suggestions_per_1000": round(1000 * false / records, 1),
        "suggestions_shown_to_b": len(shown_b),
        "false_suggestions_shown_to_b_per_1000": round(1000 * false_b / records, 1),
    }
    result.update(curious_attack(a, b, truth_a, matched_a))
    budget = budget_of(a, m)
    result["default_budget"] = budget
    # Register-shaped records M sends first (other people of the same generator): its largest
    # batch then looks like an honest peer's.
    decoys = (
        generate(camouflage, camouflage, 0.4, seed + 1).found[:camouflage] if camouflage else []
    )
    decoy_keys = [match_keys(normalise(r, m.fed.lexicon)) for r in decoys]
    result.update(malicious_attack(a, m, truth_a, max_keys, decoy_keys))
    refused, detail = (
        (True, result["malicious_refused"])
        if result["malicious_refused"]
        else (probe_over_budget(a, m, result["malicious_keys_used"], budget))
    )
    result["over_budget_refused"] = refused
    result["over_budget_detail"] = detail
    handover = unsolicited_handover(a, b)
    result.update(handover)
    result.update(tracking(a, b, regs))
    status_shown, status_lines = status_alert(a, m.name)
    result["status_alert"] = status_shown
    result["status_alert_lines"] = status_lines
    if web:
        result.update(web_checks(a, m.name, handover))
        result["alert_shown"] = bool(status_shown and result["peers_page_alert"])
        if result.get("handover_shown_on_page"):
            result["unsolicited_handover_refused"] = False
    else:
        result["alert_shown"] = status_shown
    for side in (a, b, m, *([linker] if linker else [])):
        side.store.close()
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2000, help="records per side")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--max-keys", type=int, default=3_000_000,
                        help="the malicious peer stops here even if never refused")  # fmt: skip
    parser.add_argument("--no-web", action="store_true", help="skip the real server's pages")
    parser.add_argument("--evaluation", default="auto",
                        choices=("auto", "auto-a", "auto-b", "both", "ours", "linker"),
                        help="who compares keys, as A's coordinator chose; auto (the default): "
                        "one node of each pair, by key order (auto-a: as when A's key sorts "
                        "first, so A evaluates; auto-b: as when it sorts last, so B and M "
                        "do); linker: a third node, L, links A with B and with M")  # fmt: skip
    parser.add_argument("--tell-before-review", type=int, metavar="N",
                        help="set [federation] tell_before_review at A (and L): tell the peer "
                        "of suggestions agreeing on N fields before review (default: the "
                        "node's, 0 = only once confirmed)")  # fmt: skip
    parser.add_argument("--camouflage", type=int, default=0, metavar="N",
                        help="the malicious peer first sends N register-shaped records in one "
                        "batch, then its guesses (a gate evasion)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--keep", type=Path, help="build the nodes here and keep them")
    args = parser.parse_args()
    random.seed(args.seed)
    root = args.keep or Path(tempfile.mkdtemp(prefix="tafuta-privacy-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        result = run(args.records, args.seed, args.max_keys, not args.no_web, root,
                     args.evaluation, args.tell_before_review, args.camouflage)  # fmt: skip
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    result["run"] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["benchmarks/privacy_attacks.py", *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}",
        "keyset_version": KEYSET_VERSION,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
