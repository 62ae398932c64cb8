"""`tafuta users`: adding, listing and disabling, and every bad input refused with a message."""

from __future__ import annotations

import json

import pytest

from node.store.db import Store


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password.txt"
    path.write_text("twelve chars or more\n", encoding="utf-8")
    return path


def users_in(home) -> list[dict]:
    with Store.open(home / "tafuta.db") as store:
        return store.list_users()


def test_added_user_is_listed_with_role_and_contact(node_home, run, password_file):
    result = run("--home", node_home, "users", "add", "amina", "--role", "caseworker",
                 "--password-file", password_file, "--full-name", "Amina Odhiambo",
                 "--email", "amina@kwale.example", "--language", "sw")  # fmt: skip
    assert result.exit_code == 0, result.output
    listed = json.loads(run("--home", node_home, "users", "list", "--json").stdout)
    assert listed[0]["name"] == "amina" and listed[0]["role"] == "caseworker"
    assert listed[0]["language"] == "sw" and listed[0]["email"] == "amina@kwale.example"
    assert "password" not in json.dumps(listed)


def test_password_is_asked_twice_without_a_file(node_home, run):
    result = run("--home", node_home, "users", "add", "juma", "--role", "coordinator",
                 input="a long password 1\na long password 1\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert users_in(node_home)[0]["role"] == "coordinator"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad name!", "--role", "caseworker"], "not a usable user name"),
        (["amina", "--role", "caseworker", "--email", "not-an-address"], "not an e-mail"),
        (["amina", "--role", "caseworker", "--password-file", "short"], "at least 12"),
    ],
)
def test_bad_user_is_refused_and_nothing_is_added(node_home, run, password_file, tmp_path,
                                                  args, message):  # fmt: skip
    short = tmp_path / "short.txt"
    short.write_text("short\n", encoding="utf-8")
    args = [str(short) if a == "short" else a for a in args]
    if "--password-file" not in args:
        args += ["--password-file", str(password_file)]
    result = run("--home", node_home, "users", "add", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert users_in(node_home) == []


def test_the_same_name_twice_is_refused(node_home, run, password_file):
    add = ("--home", node_home, "users", "add", "amina", "--role", "caseworker",
           "--password-file", password_file)  # fmt: skip
    assert run(*add).exit_code == 0
    result = run(*add[:4], "AMINA", *add[5:])
    assert result.exit_code == 2
    assert "exists already" in result.stderr
    assert len(users_in(node_home)) == 1


def test_unknown_role_is_refused_by_the_option(node_home, run, password_file):
    result = run("--home", node_home, "users", "add", "x1", "--role", "boss",
                 "--password-file", password_file)  # fmt: skip
    assert result.exit_code == 2
    assert "boss" in result.output


@pytest.mark.parametrize("name", ["nobody", "amina"])
def test_disabling_twice_or_an_unknown_user_is_refused(node_home, run, password_file, name):
    run("--home", node_home, "users", "add", "amina", "--role", "caseworker",
        "--password-file", password_file)  # fmt: skip
    run("--home", node_home, "users", "disable", "amina")
    result = run("--home", node_home, "users", "disable", name)
    assert result.exit_code == 2
    assert "error:" in result.stderr


@pytest.mark.parametrize(
    ("role", "contact", "warned"),
    [
        ("caseworker", [], True),
        ("caseworker", ["--full-name", "Amina Odhiambo"], True),
        ("caseworker", ["--phone", "+254 700 000 000"], False),
        ("caseworker", ["--email", "amina@kwale.example"], False),
        ("coordinator", [], False),
    ],
)
def test_a_caseworker_without_phone_or_email_is_added_with_a_warning(
    node_home, run, password_file, role, contact, warned
):
    result = run("--home", node_home, "users", "add", "amina", "--role", role,
                 "--password-file", password_file, *contact)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert users_in(node_home)[0]["name"] == "amina"
    assert ("warning: amina has no phone and no e-mail" in result.stderr) is warned
    if warned:
        assert "the partner's caseworker" in result.stderr and "--phone" in result.stderr
