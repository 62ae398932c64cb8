"""The README's Quick start is a promise: its commands must run as written."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)


def test_quick_start_has_exactly_two_commands():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in command for command in commands)
    assert commands[1] == "bash .ci/run"


def test_quick_start_main_command_runs(tmp_path):
    """Runs the first command's tafuta steps with this environment's tafuta (already installed)."""
    tafuta = str(Path(sys.executable).parent / "tafuta")
    steps = [step.strip() for step in quick_start_commands()[0].split("&&")]
    tafuta_steps = [step for step in steps if step.startswith(".venv/bin/tafuta ")]
    assert len(tafuta_steps) >= 2, "the main command should create a node and import data"
    for step in tafuta_steps:
        argv = shlex.split(step)
        argv[0] = tafuta
        argv = [str(ROOT / a) if a.startswith("node/samples/") else a for a in argv]
        result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (step, result.stderr)
    assert "21" in result.stdout or "records" in result.stdout
