"""`tafuta demo`: a small network of nodes on this machine, built with the real code paths.

Rural nodes hold missing-person lists, urban nodes hold found registers; the records come from
matching/synthetic.py (no real person is in them). Every rural node is paired with every urban
node the way two coordinators would do it (invitation tokens, the safety number compared on both
sides, then trust), the registers are imported with the importer, and the blinded exchange runs
in-process through the same sealed, signed envelopes and checks as the network path until every
outbox is empty and every pair is scored. node/cli/demo.py then serves all the nodes.

Everything here is for showing Tafuta, not for production: the keys' passphrases are generated,
written beside the nodes, and protected with cheap key-derivation settings.
"""

from __future__ import annotations

import csv
import json
import secrets
import shutil
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from keys import KdfParams
from matching.synthetic import generate
from node.accounts.users import Profile, add_user, cheap_hasher
from node.canonical import FIELDS
from node.errors import NodeError
from node.federation.exchange import Federation
from node.federation.loopback import carry
from node.home import open_home
from node.records.importer import apply_import, plan_import
from node.runtime import federation_for, node_lexicon
from node.store.db import Store
from node.trust.budgets import budget_for
from node.trust.identity import (
    create_node,
    invite_token,
    now_seconds,
    read_passphrase_file,
    unlock,
    write_new_passphrase_file,
)
from node.trust.peers import add_peer, peer_fingerprint, trust_peer

MANIFEST_NAME = "tafuta-demo.json"
DEFAULT_DIR = "tafuta-demo"
DEFAULT_PORT_BASE = 8470
MAX_NODES = 12
OVERLAP = 0.4  # share of a pair's smaller list whose people are on both lists
SEED = 2026
ACTOR = "tafuta demo"
# Throwaway passphrases protect throwaway keys: argon2id with 16 MiB and one pass keeps the demo
# fast. A real node uses the production settings of keys.KdfParams().
DEMO_KDF = KdfParams(name="argon2id", iterations=1, lanes=1, memory_kib=16 * 1024)
MAX_EXCHANGE_ROUNDS = 10

RURAL_NAMES = (
    ("Kwale Rescue", "KWL"),
    ("Turkana Family Link", "TFL"),
    ("Kilifi Family Tracing", "KFT"),
    ("Busia Child Link", "BCL"),
    ("Garissa Community Watch", "GCW"),
    ("Kitui Families Together", "KTF"),
)
URBAN_NAMES = (
    ("Mombasa Shelter", "MSH"),
    ("Nairobi Safe House", "NSH"),
    ("Kisumu Drop-in Centre", "KDC"),
    ("Nakuru Haven", "NKH"),
    ("Eldoret Safe House", "ESH"),
    ("Kampala Welcome Home", "KWH"),
)


class DemoError(NodeError):
    """The demo cannot be built here (a folder that is not a previous demo, no free ports)."""

    exit_code = 2


@dataclass(frozen=True)
class DemoNode:
    """One node of the demo: where it lives, what it holds, where it listens."""

    name: str
    kind: str  # "rural" (missing-person list) or "urban" (found register)
    slug: str
    prefix: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def record_kind(self) -> str:
        return "missing" if self.kind == "rural" else "found"


@dataclass(frozen=True)
class Credential:
    """A caseworker account made for the demo, printed for the person trying it."""

    node: str
    username: str
    password: str
    role: str = "caseworker"


@dataclass
class BuiltNode:
    """A demo node after building: its files, what it holds, and the socket it will serve on.

    ``listener`` is bound and listening from the moment its port was chosen, so no other
    program can take the port while the demo is being built; serving hands it to aiohttp.
    """

    node: DemoNode
    home: Path
    passphrase_file: Path
    register: Path
    records: int
    suggestions: int = 0
    listener: socket.socket | None = None


DEMO_CASEWORKERS = ("amina", "baraka", "chausiku", "daudi", "esther", "faraji", "grace",
                    "hamisi", "imani", "jabari", "khadija", "lulu")  # fmt: skip
# The demo's throwaway accounts are hashed cheaply so logging in is instant on a laptop; a real
# node uses argon2-cffi's defaults (docs/admin-guide.md).
DEMO_HASHING = """
[web]
argon2_time_cost = 1
argon2_memory_kib = 1024
argon2_parallelism = 1
"""


def create_demo_users(home: Path, node_name: str) -> list[Credential]:
    """One caseworker and one admin per node, with generated throwaway passwords.

    The caseworker's contact profile is what the partner's caseworker sees once both confirm a
    match; the admin may also open the peers and audit pages.
    """
    config = home / "config.toml"
    if "[web]" not in config.read_text(encoding="utf-8"):
        with config.open("a", encoding="utf-8") as out:
            out.write(DEMO_HASHING)
    slug = home.name
    with Store.open(home / "tafuta.db") as store:
        index = len({u["name"] for u in store.list_users()})
        first = DEMO_CASEWORKERS[_node_index(home) % len(DEMO_CASEWORKERS)]
        made = []
        for username, role in ((first, "caseworker"), (f"admin-{slug}"[:64], "admin")):
            if store.user_by_name(username) is not None:
                continue
            password = secrets.token_urlsafe(12)
            profile = Profile(
                full_name=f"{username.title()} (demo {role})",
                organisation=node_name,
                phone=f"+254 700 {100 + index:03d} {index:03d}",
                email=f"{username}@{slug}.example",
            )
            add_user(
                store,
                username,
                role,
                password,
                profile,
                actor="demo",
                now=now_seconds(),
                hasher=cheap_hasher(),
            )
            made.append(Credential(node_name, username, password, role))
            index += 1
    return made


def _node_index(home: Path) -> int:
    """The node's position in the demo folder, so each node's caseworker has its own name."""
    siblings = sorted(p.name for p in home.parent.iterdir() if (p / "config.toml").exists())
    return siblings.index(home.name) if home.name in siblings else 0


def check_node_count(count: int) -> None:
    if not 2 <= count <= MAX_NODES:
        raise DemoError(f"the demo needs between 2 and {MAX_NODES} nodes, not {count}")


def plan_nodes(count: int, ports: list[int]) -> list[DemoNode]:
    """``count`` nodes, half of them rural (the extra one when odd), on the given ports."""
    check_node_count(count)
    if len(ports) != count:
        raise DemoError(f"{count} nodes need {count} ports, not {len(ports)}")
    rural = (count + 1) // 2
    named = [(*_name(RURAL_NAMES, i, "Rural"), "rural") for i in range(rural)]
    named += [(*_name(URBAN_NAMES, i, "Urban"), "urban") for i in range(count - rural)]
    return [
        DemoNode(name, kind, name.lower().replace(" ", "-"), prefix, port)
        for (name, prefix, kind), port in zip(named, ports, strict=True)
    ]


def _name(names: tuple[tuple[str, str], ...], i: int, fallback: str) -> tuple[str, str]:
    if i < len(names):
        return names[i]
    return f"{fallback} Node {i + 1}", f"{fallback[0]}{i + 1:02d}"


def reserve_ports(base: int, count: int, host: str = "127.0.0.1") -> list[socket.socket]:
    """Listening sockets on the first ``count`` ports from ``base`` up that can be bound now.

    The sockets stay bound until the nodes serve on them: a port is taken when it is chosen,
    so another program starting meanwhile cannot make the demo fail minutes later.
    """
    listeners: list[socket.socket] = []
    port = base
    try:
        while len(listeners) < count and port <= 65535:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                listener.bind((host, port))
                listener.listen(128)
            except OSError:
                listener.close()
                port += 1
                continue
            listeners.append(listener)
            port += 1
    except BaseException:
        release(listeners)
        raise
    if len(listeners) < count:
        release(listeners)
        raise DemoError(
            f"only {len(listeners)} of the {count} ports the demo needs are free on {host} "
            f"from {base} up to 65535; give a lower --port-base, e.g. --port-base 20000 "
            "(nothing was built)"
        )
    return listeners


def release(listeners: list[socket.socket]) -> None:
    for listener in listeners:
        listener.close()


def prepare_dir(root: Path) -> bool:
    """Make ``root`` ready for a new demo; True when a previous demo was removed.

    A missing or empty folder is used as it is. A folder holding a previous demo (its manifest)
    loses what that demo made, and nothing else. Any other folder is refused untouched.
    """
    if root.exists() and not root.is_dir():
        raise DemoError(f"{root} exists and is not a folder; choose another --dir")
    if root.exists() and not (root / MANIFEST_NAME).is_file() and any(root.iterdir()):
        raise DemoError(
            f"{root} is not empty and holds no Tafuta demo; choose an empty or new folder with "
            "--dir (nothing was changed)"
        )
    (root / (MANIFEST_NAME + ".tmp")).unlink(missing_ok=True)  # a rewrite cut short
    if not root.exists() or not any(root.iterdir()):
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return False
    manifest = root / MANIFEST_NAME
    try:
        names = json.loads(manifest.read_text(encoding="utf-8"))["made"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TypeError("'made' is not a list of names")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DemoError(
            f"cannot read {manifest}; remove the folder {root} by hand or choose another --dir"
        ) from err
    for name in names:
        if "/" in name or name in ("", ".", ".."):
            raise DemoError(f"{manifest} names {name!r}, which is not a demo file; not removing")
    for name in names:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    manifest.unlink()
    return True


def demo_registers(
    nodes: list[DemoNode], people: int, seed: int = SEED
) -> tuple[dict[str, list[dict]], int]:
    """Each node's records: about ``people`` each, with true matches for every rural-urban pair.

    A rural node's list is cut into one share per urban node; each share is generated together
    with the matching share of that urban node's register, so every pair has people on both
    lists (and namesakes and siblings to tell apart). Refs carry the node's prefix. Also
    returns how many people are on both a rural and an urban list (the generator's truth).
    """
    rural = [n for n in nodes if n.kind == "rural"]
    urban = [n for n in nodes if n.kind == "urban"]
    records: dict[str, list[dict]] = {n.name: [] for n in nodes}
    shared = 0
    for i, r in enumerate(rural):
        for j, u in enumerate(urban):
            n_missing = _share(people, len(urban), j)
            n_found = _share(people, len(rural), i)
            regs = generate(n_missing, n_found, OVERLAP, seed + 1000 * i + j)
            records[r.name].extend(regs.missing)
            records[u.name].extend(regs.found)
            shared += len(regs.true_pairs)
    for node in nodes:
        for k, record in enumerate(records[node.name], start=1):
            record["ref"] = f"{node.prefix}-{k:05d}"
    return records, shared


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def write_register(path: Path, records: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        for record in records:
            writer.writerow({f: record.get(f) or "" for f in FIELDS})
    return path


def build_demo(
    root: Path,
    *,
    nodes: int,
    people: int,
    port_base: int = DEFAULT_PORT_BASE,
    progress: Callable[[str], None] = lambda _: None,
) -> list[BuiltNode]:
    """Create, fill, pair and link the demo nodes under ``root``; returns them, ready to serve."""
    if people < 10:
        raise DemoError(f"the demo needs at least 10 people per node, not {people}")
    check_node_count(nodes)
    listeners = reserve_ports(port_base, nodes)
    try:
        return _build(root, listeners, people, progress)
    except BaseException:
        release(listeners)
        raise


def _build(
    root: Path,
    listeners: list[socket.socket],
    people: int,
    progress: Callable[[str], None],
) -> list[BuiltNode]:
    nodes = len(listeners)
    planned = plan_nodes(nodes, [listener.getsockname()[1] for listener in listeners])
    rebuilt = prepare_dir(root)
    progress(f"building a demo network of {nodes} nodes with {people} people each in {root}")
    if rebuilt:
        progress(f"  removed the previous demo in {root}")
    made: list[str] = []
    _write_manifest(root, made, planned, people)
    built = []
    registers, shared = demo_registers(planned, people)
    progress(f"  generated synthetic registers: {shared} people are on a rural and an urban list")
    for node, listener in zip(planned, listeners, strict=True):
        secret = root / f"{node.slug}.passphrase"
        register = root / f"{node.slug}.csv"
        made += [secret.name, node.slug, register.name]
        _write_manifest(root, made, planned, people)
        passphrase = write_new_passphrase_file(secret)
        home = create_node(
            root / node.slug, name=node.name, url=node.url, passphrase=passphrase, kdf=DEMO_KDF
        )
        write_register(register, registers[node.name])
        with Store.open(home.database_path) as store:
            plan = plan_import(register, store)
            apply_import(plan, store)
        built.append(
            BuiltNode(node, home.path, secret, register, len(plan.added), listener=listener)
        )
        progress(f"  created {node.name} ({node.kind}) with {len(plan.added)} {node.record_kind}")
    for a, b in pairs(built):
        pair_nodes(a, b)
        progress(f"  paired {a.node.name} and {b.node.name} (safety numbers verified)")
    exchange(built, progress)
    return built


def pairs(built: list[BuiltNode]) -> list[tuple[BuiltNode, BuiltNode]]:
    """Every rural node with every urban node."""
    rural = [b for b in built if b.node.kind == "rural"]
    urban = [b for b in built if b.node.kind == "urban"]
    return [(r, u) for r in rural for u in urban]


def pair_nodes(a: BuiltNode, b: BuiltNode) -> None:
    """What two coordinators do: swap invitation tokens, read the safety number to each other,
    and trust the peer only if both sides show the same digits."""
    home_a, home_b = open_home(a.home), open_home(b.home)
    with Store.open(home_a.database_path) as store_a, Store.open(home_b.database_path) as store_b:
        add_peer(home_a, store_a, invite_token(home_b), actor=ACTOR)
        add_peer(home_b, store_b, invite_token(home_a), actor=ACTOR)
        read_by_a = peer_fingerprint(home_a, store_a, home_b.name)
        read_by_b = peer_fingerprint(home_b, store_b, home_a.name)
        if read_by_a != read_by_b:  # cannot happen with genuine tokens; never trust if it does
            raise DemoError(f"safety numbers of {home_a.name} and {home_b.name} differ")
        # The coordinators know each other's register size.
        budget = budget_for(max(a.records, b.records))
        trust_peer(home_a, store_a, home_b.name, read_by_b, actor=ACTOR, budget=budget)
        trust_peer(home_b, store_b, home_a.name, read_by_a, actor=ACTOR, budget=budget)


def exchange(built: list[BuiltNode], progress: Callable[[str], None]) -> None:
    """Run the blinded exchange between every pair until all outboxes are empty, then score.

    Each message is sealed by its sender and opened by its receiver with every check of the
    network path (signature, trust, clock window, replay); only the HTTP hop is left out.
    """
    sides = {}
    for b in built:
        home = open_home(b.home)
        passphrase = read_passphrase_file(b.passphrase_file)
        store = Store.open(home.database_path)
        sides[b.node.name] = federation_for(home, store, unlock(home, passphrase),
                                            node_lexicon(home))  # fmt: skip
    try:
        for sender in sides.values():  # the records do not change while the demo is built
            for peer in sender.trusted_peers():
                sender.prepare(peer)
        _settle(sides)
        for federation in sides.values():
            for peer in federation.trusted_peers():
                federation.rescore(peer, force=True)
        _settle(sides)  # the notices of each pair's evaluating node
        for b in built:
            b.suggestions = len(sides[b.node.name].store.list_matches())
        total = sum(b.suggestions for b in built) // 2
        progress(f"  exchanged blinded keys between every pair: {total} suggested matches")
    finally:
        for federation in sides.values():
            federation.store.close()


def _settle(sides: dict[str, Federation]) -> None:
    """Carry every outbox to its peer until none has anything left."""
    for _ in range(MAX_EXCHANGE_ROUNDS):
        moved = 0
        for sender in sides.values():
            for peer in sender.trusted_peers():
                moved += len(carry(sender, peer, sides[peer.name]))
        if not moved:
            return
    raise DemoError("the demo nodes did not settle; run it again with TAFUTA_DEBUG=1")


def _write_manifest(root: Path, made: list[str], planned: list[DemoNode], people: int) -> None:
    """Written before each file is made, so a rerun can remove exactly what this run made."""
    manifest = {
        "about": "made by 'tafuta demo'; running it again replaces what is listed in 'made'",
        "people": people,
        "nodes": [asdict(n) for n in planned],
        "made": made,
    }
    tmp = root / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    tmp.replace(root / MANIFEST_NAME)
