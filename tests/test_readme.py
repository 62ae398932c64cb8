"""The README's Quick start is a promise: its commands must run as written."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from node.testing.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Smaller than the README's default so the test stays fast; the flags only change sizes and
# where it lives, never what the command does.
SMALL = ["--nodes", "2", "--people", "60", "--no-browser"]


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)


def test_quick_start_has_exactly_two_commands():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in command for command in commands)
    assert commands[1] == "bash .ci/run"


def test_quick_start_installs_then_runs_the_demo():
    steps = [step.strip() for step in quick_start_commands()[0].split("&&")]
    assert steps[0] == "python3 -m venv .venv"
    assert steps[1].startswith(".venv/bin/pip install")
    assert shlex.split(steps[-1])[:2] == [".venv/bin/tafuta", "demo"]


def test_quick_start_demo_serves_nodes_and_stops_on_ctrl_c(tmp_path):
    """Runs the first command's tafuta step with this environment's tafuta (already installed),
    smaller, until it serves; every printed node answers; Ctrl-C ends it with exit code 0."""
    argv = shlex.split(quick_start_commands()[0].split("&&")[-1].strip())
    argv[0] = str(Path(sys.executable).parent / "tafuta")
    argv += [*SMALL, "--port-base", str(free_port())]
    process = subprocess.Popen(
        argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (lines and lines[-1].startswith("Press")):
            line = process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        output = "".join(lines)
        urls = set(re.findall(r"http://127\.0\.0\.1:\d+", output))
        assert len(urls) == 2, output
        for url in urls:
            with urllib.request.urlopen(f"{url}/v1/health", timeout=5) as response:
                assert json.load(response)["status"] == "ok"
        assert (tmp_path / "tafuta-demo" / "kwale-rescue" / "tafuta.db").is_file()
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output + rest
    assert "Traceback" not in output + rest


def test_the_docs_stand_alone_without_a_folder_outside_the_repository():
    """A clone has no ../shared: nothing the repository ships may point there, and every
    relative link of the README and docs/ names a file of the repository."""
    shipped = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *ROOT.glob("*/**/*.py")]
    for path in shipped:
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        assert "../shared" not in path.read_text(encoding="utf-8"), path
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), (page.name, target)
