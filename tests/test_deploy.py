"""The shipped systemd unit and nginx example: hardened, naming options the CLI has, and agreeing
with docs/admin-guide.md, which is parsed here: the user, paths and port the unit uses are the ones
the guide's commands create, and every `tafuta` command the guide gives exists with its options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from node.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
GUIDE = ROOT / "docs" / "admin-guide.md"


def guide_commands() -> list[list[str]]:
    """Every command of the guide's ```sh blocks, continuation lines joined, as words."""
    text = GUIDE.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line:
                commands.append(shlex.split(line))
    return commands


def guide_command(*words: str) -> list[str]:
    """The first command of the guide run as root or the service user (``sudo …``) that
    contains every one of ``words``."""
    for command in guide_commands():
        if command[0] == "sudo" and all(w in command for w in words):
            return command
    raise AssertionError(f"the admin guide has no sudo command with {words}")


def after(command: list[str], option: str) -> str:
    return command[command.index(option) + 1]


@pytest.fixture(scope="module")
def installed() -> dict[str, str]:
    """What the guide's commands create: the user, the venv, the home, the passphrase, the
    folder the release archive is unpacked into."""
    adduser = guide_command("adduser")
    assert "--system" in adduser and "--group" in adduser
    init = guide_command("init")
    venv = after(guide_command("-m", "venv"), "venv")
    return {
        "user": adduser[-1],
        "venv": venv,
        "tafuta": init[init.index("-u") + 2],
        "home": after(init, "--home"),
        "passphrase": after(init, "--new-passphrase-file"),
        "release": after(guide_command("tar", "-xzf"), "-C"),
    }


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / "tafuta.service").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_systemd_unit_is_hardened_and_reads_the_passphrase_as_a_credential():
    unit = unit_settings()
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "Restart": "on-failure",
    }.items():
        assert unit[key] == [value], key
    assert unit["LoadCredential"] == ["passphrase:/etc/tafuta/passphrase"]
    assert "--passphrase-file %d/passphrase" in unit["ExecStart"][0]


def test_the_units_serve_options_exist():
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    for option in ("--host", "--port", "--passphrase-file"):
        assert option in help_text


def test_nginx_example_terminates_tls_and_proxies_to_the_local_node():
    conf = (DEPLOY / "nginx-tafuta.conf").read_text(encoding="utf-8")
    assert "listen 443 ssl;" in conf
    assert "proxy_pass http://127.0.0.1:8470;" in conf
    assert "client_max_body_size 8m;" in conf


def test_the_unit_runs_as_the_user_the_guide_creates(installed):
    unit = unit_settings()
    assert "DynamicUser" not in unit
    assert unit["User"] == unit["Group"] == [installed["user"]]


def test_the_unit_runs_the_tafuta_the_guide_installs_on_the_home_it_creates(installed):
    unit = unit_settings()
    assert installed["tafuta"] == installed["venv"] + "/bin/tafuta"
    assert unit["ExecStart"][0].split()[0] == installed["tafuta"]
    assert unit["Environment"] == [f"TAFUTA_HOME={installed['home']}"]
    assert unit["ReadWritePaths"] == [installed["home"]]
    assert unit["LoadCredential"] == [f"passphrase:{installed['passphrase']}"]


def test_the_guide_installs_the_unit_from_the_release_archive_it_unpacks(installed):
    copy = guide_command("cp", "/etc/systemd/system/tafuta.service")
    assert copy[-1] == "/etc/systemd/system/tafuta.service"
    assert copy[-2] == f"{installed['release']}/deploy/tafuta.service"
    unit = (DEPLOY / "tafuta.service").read_text(encoding="utf-8")
    assert f"file://{installed['release']}/docs/admin-guide.md" in unit
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    assert "graft deploy" in manifest and "graft docs" in manifest


def test_the_guide_obtains_tafuta_as_a_wheel_built_by_python_m_build(installed):
    assert "example.org/tafuta.git" not in GUIDE.read_text(encoding="utf-8")
    assert any(c[-2:] == ["-m", "build"] for c in guide_commands())
    pip = next(c for c in guide_commands() if "install" in c and c[-1].endswith(".whl"))
    assert pip[0:3] == ["sudo", "-u", installed["user"]]
    assert pip[-1].endswith("-py3-none-any.whl")


def test_the_port_agrees_between_unit_guide_and_nginx_example():
    port = re.search(r"--port (\d+)", unit_settings()["ExecStart"][0]).group(1)
    assert f"http://127.0.0.1:{port}/v1/health" in GUIDE.read_text(encoding="utf-8")
    assert f"proxy_pass http://127.0.0.1:{port};" in (DEPLOY / "nginx-tafuta.conf").read_text()


def test_the_guide_creates_web_users_with_tafuta_users_add():
    add = guide_command("users", "add")
    assert "--role" in add and "--full-name" in add


def _tafuta_invocations() -> list[list[str]]:
    found = []
    for command in guide_commands():
        for i, word in enumerate(command):
            if (i == 0 and word == "tafuta") or word.endswith("/bin/tafuta"):
                found.append(command[i + 1 :])
                break
    return found


@pytest.mark.parametrize("args", _tafuta_invocations(), ids=lambda a: " ".join(a)[:60])
def test_every_tafuta_command_in_the_guide_exists_with_its_options(args):
    command: click.Command = main
    known = {o for p in main.params for o in (*p.opts, *p.secondary_opts)}
    rest = list(args)
    while rest and rest[0].startswith("--") and rest[0] in known:
        rest = rest[2:] if rest[0] != "--version" else rest[1:]
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        command = command.commands[rest.pop(0)]
        known |= {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    assert command is not main or args == ["--version"], args
    for word in rest:
        if word.startswith("--"):
            assert word.split("=")[0] in known, (args, word)


def test_the_nginx_example_says_how_to_trust_its_forwarded_for_header():
    """The setting named beside the proxy is the one node/net/addresses.py reads."""
    conf = (DEPLOY / "nginx-tafuta.conf").read_text(encoding="utf-8")
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf
    assert 'trusted_proxies = ["127.0.0.1", "::1"]' in conf
    guide = (DEPLOY.parent / "docs" / "admin-guide.md").read_text(encoding="utf-8")
    assert "trusted_proxies" in guide
