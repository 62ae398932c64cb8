"""`tafuta demo`: the network it builds (in-process), its refusals, and the command end to end."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from node.cli.demo import open_browser
from node.demo.network import (
    MANIFEST_NAME,
    DemoError,
    build_demo,
    demo_registers,
    pairs,
    plan_nodes,
    prepare_dir,
    release,
    reserve_ports,
)
from node.testing.processes import TAFUTA, free_port


def query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """A three-node demo (two rural, one urban) with 30 people each, built once."""
    root = tmp_path_factory.mktemp("demo")
    built = build_demo(root, nodes=3, people=30, port_base=free_port())
    yield root, built
    release([b.listener for b in built])


class TestBuiltNetwork:
    def test_half_the_nodes_are_rural_with_missing_lists_and_the_rest_urban(self, small_demo):
        _root, built = small_demo
        kinds = {b.node.name: (b.node.kind, b.node.record_kind) for b in built}
        assert kinds == {
            "Kwale Rescue": ("rural", "missing"),
            "Turkana Family Link": ("rural", "missing"),
            "Mombasa Shelter": ("urban", "found"),
        }
        for b in built:
            rows = query(b.home / "tafuta.db", "SELECT DISTINCT kind FROM records")
            assert rows == [(b.node.record_kind,)]
            assert b.records == 30

    def test_every_rural_node_trusts_every_urban_node_and_no_other(self, small_demo):
        _root, built = small_demo
        expected = {b.node.name: set() for b in built}
        for a, b in pairs(built):
            expected[a.node.name].add(b.node.name)
            expected[b.node.name].add(a.node.name)
        for b in built:
            rows = query(b.home / "tafuta.db", "SELECT name, state FROM peers")
            assert {name for name, state in rows if state == "trusted"} == expected[b.node.name]
            assert len(rows) == len(expected[b.node.name])

    def test_every_outbox_is_empty_and_both_sides_of_each_pair_have_suggestions(self, small_demo):
        _root, built = small_demo
        for b in built:
            db = b.home / "tafuta.db"
            assert query(db, "SELECT count(*) FROM outbox") == [(0,)]
            sql = "SELECT p.name, count(*) FROM matches m JOIN peers p ON p.id = m.peer_id"
            per_peer = dict(query(db, sql + " GROUP BY p.name"))
            peers = {name for (name,) in query(db, "SELECT name FROM peers")}
            assert set(per_peer) == peers and all(per_peer.values())
            assert b.suggestions == sum(per_peer.values())

    def test_passphrase_files_are_readable_only_by_their_owner(self, small_demo):
        _root, built = small_demo
        for b in built:
            assert stat.S_IMODE(b.passphrase_file.stat().st_mode) == 0o600
            assert len(b.passphrase_file.read_text().strip()) >= 24

    def test_the_manifest_lists_everything_the_demo_made(self, small_demo):
        root, _built = small_demo
        made = json.loads((root / MANIFEST_NAME).read_text())["made"]
        assert sorted(made) == sorted(p.name for p in root.iterdir() if p.name != MANIFEST_NAME)


@pytest.mark.parametrize(
    ("count", "rural", "urban"), [(2, 1, 1), (3, 2, 1), (4, 2, 2), (5, 3, 2), (12, 6, 6)]
)
def test_nodes_are_split_half_rural_with_unique_names_slugs_and_ports(count, rural, urban):
    planned = plan_nodes(count, list(range(9000, 9000 + count)))
    assert [n.kind for n in planned].count("rural") == rural
    assert [n.kind for n in planned].count("urban") == urban
    for attribute in ("name", "slug", "prefix", "port"):
        assert len({getattr(n, attribute) for n in planned}) == count


@pytest.mark.parametrize("count", [0, 1, 13])
def test_a_demo_with_fewer_than_two_or_too_many_nodes_is_refused(count):
    with pytest.raises(DemoError, match="between 2 and 12 nodes"):
        plan_nodes(count, list(range(9000, 9000 + count)))


def test_every_rural_urban_pair_has_people_on_both_lists_and_refs_are_unique():
    planned = plan_nodes(4, [9000, 9001, 9002, 9003])
    registers, shared = demo_registers(planned, 40)
    assert shared == 4 * round(0.4 * 20)  # four pairs, 20 people each side of a pair
    for node in planned:
        refs = [r["ref"] for r in registers[node.name]]
        assert len(refs) == 40 == len(set(refs))
        assert all(ref.startswith(node.prefix + "-") for ref in refs)
        assert {r["kind"] for r in registers[node.name]} == {node.record_kind}


def test_a_busy_port_is_skipped():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        listeners = reserve_ports(port, 2)
        try:
            assert port not in [s.getsockname()[1] for s in listeners]
        finally:
            release(listeners)


def test_a_chosen_port_stays_taken_so_no_other_program_can_bind_it_meanwhile():
    listeners = reserve_ports(free_port(), 2)
    try:
        for listener in listeners:
            with socket.socket() as other, pytest.raises(OSError):
                other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                other.bind(listener.getsockname())
    finally:
        release(listeners)


def test_when_too_few_ports_are_free_the_demo_says_so_with_the_port_base_hint_and_builds_nothing(
    run, tmp_path
):
    with socket.socket() as busy:
        try:
            busy.bind(("127.0.0.1", 65535))
        except OSError:
            pytest.skip("port 65535 is in use on this machine")
        busy.listen()
        result = run("demo", "--dir", tmp_path / "demo", "--no-browser", "--nodes", "2",
                     "--people", "10", "--port-base", "65534")  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "ports the demo needs are free" in result.stderr
    assert "--port-base" in result.stderr and "nothing was built" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert not (tmp_path / "demo").exists()


class TestDemoFolder:
    def test_a_non_empty_folder_that_is_no_demo_is_refused_untouched(self, tmp_path):
        (tmp_path / "thesis.txt").write_text("mine")
        before = snapshot(tmp_path)
        with pytest.raises(DemoError, match="not empty and holds no Tafuta demo"):
            prepare_dir(tmp_path)
        assert snapshot(tmp_path) == before

    def test_a_file_is_refused(self, tmp_path):
        path = tmp_path / "file"
        path.write_text("x")
        with pytest.raises(DemoError, match="is not a folder"):
            prepare_dir(path)
        assert path.read_text() == "x"

    def test_a_previous_demo_is_removed_but_nothing_else(self, tmp_path):
        (tmp_path / "kwale-rescue").mkdir()
        (tmp_path / "kwale-rescue" / "tafuta.db").write_text("old")
        (tmp_path / "kwale-rescue.passphrase").write_text("old")
        (tmp_path / "notes.txt").write_text("the user's own file")
        (tmp_path / MANIFEST_NAME).write_text(
            json.dumps({"made": ["kwale-rescue", "kwale-rescue.passphrase", "gone.csv"]})
        )
        assert prepare_dir(tmp_path) is True
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]

    @pytest.mark.parametrize("made", [["../outside"], ["."], "not a list", None])
    def test_a_manifest_naming_anything_outside_the_folder_is_refused(self, tmp_path, made):
        (tmp_path / "outside").mkdir()
        root = tmp_path / "demo"
        root.mkdir()
        (root / MANIFEST_NAME).write_text(json.dumps({"made": made}))
        before = snapshot(tmp_path)
        with pytest.raises(DemoError):
            prepare_dir(root)
        assert snapshot(tmp_path) == before and (tmp_path / "outside").is_dir()

    def test_rebuilding_a_demo_replaces_it(self, tmp_path):
        first = build_demo(tmp_path, nodes=2, people=10, port_base=free_port())
        release([b.listener for b in first])
        old_key = (first[0].home / "keys" / "identity.json").read_bytes()
        again = build_demo(tmp_path, nodes=2, people=10, port_base=free_port())
        release([b.listener for b in again])
        assert (again[0].home / "keys" / "identity.json").read_bytes() != old_key
        assert query(again[0].home / "tafuta.db", "SELECT count(*) FROM records") == [(10,)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "1"], "1 is not in the range 2<=x<=12"),
        (["--people", "5"], "5 is not in the range 10<=x<=100000"),
        (["--port-base", "80"], "80 is not in the range 1024<=x<=65535"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(run, tmp_path, args, message):
    result = run("demo", "--dir", tmp_path / "demo", "--no-browser", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "demo").exists()


def test_a_foreign_folder_is_refused_with_one_error_line(run, tmp_path):
    (tmp_path / "report.docx").write_text("not a demo")
    before = snapshot(tmp_path)
    result = run("demo", "--dir", tmp_path, "--no-browser", "--nodes", "2", "--people", "10")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "not empty and holds no Tafuta demo" in result.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_demo_command_serves_linked_nodes_and_stops_cleanly_on_ctrl_c(tmp_path):
    """The README's main job: build, serve, show matches on both sides, stop on Ctrl-C."""
    root = tmp_path / "demo"
    process = subprocess.Popen(
        [TAFUTA, "demo", "--dir", str(root), "--nodes", "2", "--people", "100", "--no-browser",
         "--port-base", str(free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "".join(lines)  # the demo ended before it was ready
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        output = "".join(lines)
        urls = re.findall(r"http://127\.0\.0\.1:\d+", output)
        assert len(set(urls)) == 2, output
        for url in set(urls):
            with urllib.request.urlopen(f"{url}/v1/health", timeout=5) as response:
                assert json.load(response)["status"] == "ok"
        assert "throwaway" in output
        accounts = re.findall(r"^  (.+): (\S+) / (\S+) \(caseworker\)$", output, re.M)
        assert [node for node, _, _ in accounts] == ["Kwale Rescue", "Mombasa Shelter"], output
        from node.testing.web import WebClient

        for (_node, user, password), url in zip(accounts, sorted(set(urls), key=urls.index),
                                               strict=True):  # fmt: skip
            browser = WebClient(url)
            assert browser.login(user, password).status == 303
            queue = browser.get("/queue")
            assert queue.status == 200 and "/matches/" in queue.body
        for home in ("kwale-rescue", "mombasa-shelter"):
            listed = subprocess.run(
                [TAFUTA, "--home", str(root / home), "matches", "--format", "json"],
                capture_output=True, text=True, timeout=60, env=dict(os.environ),
            )  # fmt: skip
            assert listed.returncode == 0, listed.stderr
            assert len(json.loads(listed.stdout)) > 0
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output + rest
    assert "Traceback" not in output + rest
    assert "stopped the demo nodes" in rest


# Another program on this machine: takes whichever of the given ports it can bind, says which,
# and keeps them until killed.
HOLDER = """
import json, socket, sys
held = []
for port in map(int, sys.argv[1:]):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        s.listen()
        held.append(s)
    except OSError:
        s.close()
print(json.dumps([s.getsockname()[1] for s in held]), flush=True)
sys.stdin.read()
"""


def hold_ports(*ports: int) -> tuple[subprocess.Popen, list[int]]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, *map(str, ports)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    return holder, json.loads(holder.stdout.readline())


@pytest.mark.slow
def test_demo_with_its_base_port_held_by_another_program_comes_up_on_other_ports(tmp_path):
    """The base port is taken before the demo starts, and the next ones while it builds: the
    demo keeps the ports it chose from the start and serves on them."""
    base = free_port()
    before, held_before = hold_ports(base)
    assert held_before == [base]
    process = subprocess.Popen(
        [TAFUTA, "demo", "--dir", str(tmp_path / "demo"), "--nodes", "2", "--people", "20",
         "--no-browser", "--port-base", str(base)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    during = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "".join(lines)  # the demo ended before it was ready
            lines.append(line)
            if line.startswith("building a demo network") and during is None:
                during, held_during = hold_ports(*range(base + 1, base + 4))
            if line.startswith("Press Ctrl-C"):
                break
        output = "".join(lines)
        ports = {int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)", output)}
        assert len(ports) == 2, output
        assert base not in ports and not ports & set(held_during), (ports, held_during)
        for port in ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=5) as r:
                assert json.load(r)["status"] == "ok"
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        for other in (before, during, process):
            if other is not None and other.poll() is None:
                other.kill()
                other.communicate()
    assert process.returncode == 0, output + rest
    assert "Traceback" not in output + rest and "address already in use" not in output + rest


class TestBrowser:
    """The browser opens only where there is a desktop; never a text browser over SSH."""

    @pytest.fixture
    def browser(self, tmp_path, monkeypatch):
        """BROWSER set to a command that leaves a file naming the URL it was given."""
        marker = tmp_path / "opened"
        script = tmp_path / "browser.sh"
        script.write_text(f'#!/bin/sh\necho "$1" > {marker}\n')
        script.chmod(0o700)
        monkeypatch.setenv("BROWSER", str(script))
        for name in ("DISPLAY", "WAYLAND_DISPLAY"):
            monkeypatch.delenv(name, raising=False)
        return marker

    def test_without_a_desktop_it_says_where_to_go_and_starts_nothing(self, browser, capsys):
        open_browser("http://127.0.0.1:8470")
        assert "No desktop here: open http://127.0.0.1:8470" in capsys.readouterr().out
        time.sleep(0.5)
        assert not browser.exists()

    def test_with_a_desktop_it_opens_the_url(self, browser, monkeypatch):
        monkeypatch.setenv("DISPLAY", ":0")
        open_browser("http://127.0.0.1:8471")
        deadline = time.monotonic() + 10
        while not browser.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert browser.read_text().strip() == "http://127.0.0.1:8471"
