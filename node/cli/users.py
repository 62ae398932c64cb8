"""The `tafuta users` and `tafuta audit` commands: a thin layer over users.py and audit.py."""

from __future__ import annotations

import json
from pathlib import Path

import click

from node.accounts.users import (
    LANGUAGES,
    MIN_PASSWORD_CHARS,
    ROLES,
    Profile,
    add_user,
    disable_user,
)
from node.store.audit import verify_chain
from node.trust.identity import now_seconds, read_passphrase_file
from node.trust.peers import default_actor

from .support import CliContext, fail

BY_OPTION = click.option(
    "--by",
    "actor",
    envvar="TAFUTA_USER",
    default=default_actor,
    show_default="your login name",
    help="Who makes this change, for the audit log. Env: TAFUTA_USER.",
)


@click.group()
def users() -> None:
    """Manage the people who use the web UI: caseworkers, coordinators, admins.

    \b
    Examples:
      tafuta users add amina --role caseworker --full-name "Amina Odhiambo" \\
          --organisation "Kwale Rescue" --phone "+254 712 000 111" --email amina@kwale.example
      tafuta users list
      tafuta users disable amina
    """


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may do.")
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"Read the password (at least {MIN_PASSWORD_CHARS} characters) from this file; "
    "without it the password is asked twice.",
)
@click.option("--full-name", default="", help="Shown to the peer's caseworker at handover.")
@click.option("--organisation", default="", help="Organisation, for the contact handover.")
@click.option("--phone", default="", help="Phone, for the contact handover.")
@click.option("--email", default="", help="E-mail, for the contact handover.")
@click.option(
    "--language",
    type=click.Choice(LANGUAGES),
    default="en",
    show_default=True,
    help="Language of the web pages: English or Swahili.",
)
@BY_OPTION
@click.pass_obj
def users_add(
    obj: CliContext,
    name: str,
    role: str,
    password_file: Path | None,
    full_name: str,
    organisation: str,
    phone: str,
    email: str,
    language: str,
    actor: str,
) -> None:
    """Add a user who logs in to the web UI with NAME and a password.

    The contact profile (full name, organisation, phone, e-mail) is what the peer's caseworker
    receives once both sides have confirmed a match, and nothing else.
    """
    if password_file is not None:
        password = read_passphrase_file(password_file)
    else:
        password = click.prompt(
            f"Password for {name} (at least {MIN_PASSWORD_CHARS} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
    profile = Profile(full_name, organisation, phone, email)
    with obj.store() as (_home, store):
        add_user(
            store,
            name,
            role,
            password,
            profile,
            language=language,
            actor=f"cli:{actor}",
            now=now_seconds(),
        )
    click.echo(f"added {name} ({role})")
    if role == "caseworker" and not (phone or email):
        click.echo(
            f"warning: {name} has no phone and no e-mail: once both sides confirm a match, this "
            "profile is all the partner's caseworker receives, so they could not reach "
            f"{name}; disable the account and add it again with --phone and --email",
            err=True,
        )


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the users as JSON.")
@click.pass_obj
def users_list(obj: CliContext, as_json: bool) -> None:
    """List users: name, role, language, contact, and whether disabled."""
    with obj.store() as (_home, store):
        rows = store.list_users()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("no users yet; add one with 'tafuta users add NAME --role caseworker'")
    for row in rows:
        state = "disabled" if row["disabled"] else "active"
        contact = ", ".join(filter(None, (row["full_name"], row["phone"], row["email"])))
        click.echo(f"{row['name']}\t{row['role']}\t{row['language']}\t{state}\t{contact}")


@users.command("disable")
@click.argument("name")
@BY_OPTION
@click.pass_obj
def users_disable(obj: CliContext, name: str, actor: str) -> None:
    """Disable a user: their sessions end at once and they cannot log in again."""
    with obj.store() as (_home, store):
        disable_user(store, name, actor=f"cli:{actor}", now=now_seconds())
    click.echo(f"disabled {name}")


@click.group()
def audit() -> None:
    """The node's append-only, hash-chained audit log.

    \b
    Examples:
      tafuta audit verify
      tafuta audit list --last 50
    """


@audit.command("verify")
@click.pass_obj
def audit_verify(obj: CliContext) -> None:
    """Check the whole chain; name the first broken row (exit code 3 if there is one).

    Write down the printed head hash now and then: a later check that shows the same rows
    but a different hash means history was rewritten.
    """
    with obj.store() as (_home, store):
        report = verify_chain(store.iter_audit())
    if not report.ok:
        fail(
            f"the audit log is broken at row {report.broken_id}: {report.problem} "
            f"({report.rows} rows before it verify)",
            3,
        )
    click.echo(f"ok: {report.rows} rows verify; head {report.head}")


@audit.command("list")
@click.option(
    "--last",
    default=20,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="How many of the newest rows.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.pass_obj
def audit_list(obj: CliContext, last: int, as_json: bool) -> None:
    """Show the newest rows of the audit log."""
    with obj.store() as (_home, store):
        rows = store.audit_page(limit=last)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in reversed(rows):
        click.echo(
            f"{row['id']}\t{row['at']}\t{row['actor']}\t{row['action']}\t"
            f"{row['subject']}\t{row['detail']}"
        )
