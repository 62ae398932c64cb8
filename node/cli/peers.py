"""The `tafuta peers` and `tafuta keys` commands: a thin layer over node/trust/peers.py and
identity.py.

Coordinators use these to decide which organisations this node trusts (see docs/keys.md).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from keys import BadToken, UnknownPeer, format_safety_number
from node.federation.exchange import rotate_secrets
from node.trust.budgets import (
    DEFAULT_KEY_BUDGET,
    KEYS_PER_RECORD,
    WINDOW_DAYS,
    parse_budget,
)
from node.trust.identity import (
    expiry_warning,
    invite_token,
    now_seconds,
    own_document,
    read_passphrase_file,
    renew_document,
    rotate_keys,
)
from node.trust.peers import (
    SETTABLE_EVALUATIONS,
    TRUST_EVALUATIONS,
    add_peer,
    budget_status,
    default_actor,
    default_budget,
    list_peers,
    peer_fingerprint,
    revoke_peer,
    set_budget,
    set_evaluation,
    trust_peer,
    update_peer,
)

from .support import CliContext

STDIN = "-"
ACTOR_OPTION = click.option(
    "--by",
    "actor",
    envvar="TAFUTA_USER",
    default=default_actor,
    show_default="your login name",
    help="Who makes this change, for the trust history. Env: TAFUTA_USER.",
)


def passphrase_file_option(help_text: str):
    return click.option(
        "--passphrase-file",
        envvar="TAFUTA_PASSPHRASE_FILE",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=help_text + " Env: TAFUTA_PASSPHRASE_FILE.",
    )


def ask_passphrase(passphrase_file: Path | None, *, new: bool) -> str:
    """From the file if given, else asked (twice for a new one); never echoed or logged."""
    if passphrase_file is not None:
        return read_passphrase_file(passphrase_file)
    return click.prompt(
        "New passphrase for the node's keys (at least 12 characters)" if new else "Passphrase",
        hide_input=True,
        confirmation_prompt="Repeat the passphrase" if new else False,
        err=True,
    )


@click.group("peers")
def peers() -> None:
    """Manage trusted peer nodes: invite, add, verify by phone, trust, revoke.

    A peer is added as 'pending'. Only after both coordinators have read the same fingerprint
    to each other over the phone is it trusted; only trusted peers' messages are accepted.

    \b
    Examples:
      tafuta peers invite                      # send the token to the peer
      tafuta peers add tafuta1-…               # the token the peer sent you
      tafuta peers fingerprint "Mombasa Shelter"
      tafuta peers trust "Mombasa Shelter" --fingerprint "12345 67890 …"
      tafuta peers revoke "Mombasa Shelter" --reason "agreement ended"
      tafuta peers list
    """


@peers.command("invite")
@click.pass_obj
def peers_invite(obj: CliContext) -> None:
    """Print this node's invitation token (on the last line) to send to a peer.

    The token holds this node's signed document: name, address, public keys. It is not secret,
    but the peer must check it is really yours by comparing fingerprints by phone.

    \b
    Example:
      tafuta peers invite | tail -n 1 > our-token.txt
    """
    home = obj.home()
    token = invite_token(home)
    _warn_if_expiring(home)
    click.echo(f"Invitation token of {home.name!r}. Send it to the peer's coordinator, then")
    click.echo("compare fingerprints by phone ('tafuta peers fingerprint NAME' on both sides).")
    click.echo(token)


@peers.command("add")
@click.argument("token")
@ACTOR_OPTION
@click.pass_obj
def peers_add(obj: CliContext, token: str, actor: str) -> None:
    """Add a peer from its invitation TOKEN, as pending ('-' reads the token from stdin).

    The token's signature is checked; the peer is NOT trusted until you have verified its
    fingerprint by phone and run 'tafuta peers trust'.

    \b
    Examples:
      tafuta peers add tafuta1-eyJkb2N1bWVudCI6…
      tafuta peers add - < their-token.txt
    """
    if token == STDIN:
        token = sys.stdin.read()
    with obj.store() as (home, store):
        document = add_peer(home, store, token, actor=actor)
    click.echo(f"added {document.name!r} as pending")
    click.echo(f"next: call them and compare 'tafuta peers fingerprint {_quote(document.name)}'")


@peers.command("fingerprint")
@click.argument("name")
@click.pass_obj
def peers_fingerprint(obj: CliContext, name: str) -> None:
    """Print the 60-digit safety number of this node and peer NAME, to read aloud by phone.

    Both coordinators run this and read their digits to each other; the peer's command shows
    the same digits. If they match, trust the peer with 'tafuta peers trust'.

    \b
    Example:
      tafuta peers fingerprint "Mombasa Shelter"
    """
    with obj.store() as (home, store):
        digits = peer_fingerprint(home, store, name)
    click.echo(f"Safety number of {home.name!r} and {name!r}:")
    click.echo(format_safety_number(digits))


@peers.command("trust")
@click.argument("name")
@click.option(
    "--fingerprint",
    "digits",
    required=True,
    metavar="DIGITS",
    help="The 60 digits the peer's coordinator read to you (spaces are ignored).",
)
@click.option(
    "--budget",
    metavar="KEYS",
    help=f"Distinct keys this node blinds for the peer per {WINDOW_DAYS} days (asked when "
    f"run in a terminal; default [federation] default_key_budget, else {KEYS_PER_RECORD} per "
    f"record of our own register, at least {DEFAULT_KEY_BUDGET:,}).",
)
@click.option(
    "--evaluation",
    type=click.Choice(TRUST_EVALUATIONS),
    help="Who compares the two sides' keys: auto (default; asked when run in a terminal: one "
    "of the two nodes, by key order, and the other is told every suggestion), ours (the peer "
    "learns only the suggestions our caseworkers confirm), theirs, or both. Agree it with the "
    "peer's coordinator. A linkage node is chosen afterwards: 'tafuta peers evaluation'.",
)
@ACTOR_OPTION
@click.pass_obj
def peers_trust(
    obj: CliContext, name: str, digits: str, budget: str | None, evaluation: str, actor: str
) -> None:
    """Trust pending peer NAME, only if DIGITS match the safety number.

    Every key this node blinds for a peer lets it test one guess against our records, so you
    choose how many it may ask for: about 20 per record it holds (a rotation sends them all again).

    \b
    Example:
      tafuta peers trust "Mombasa Shelter" --fingerprint "12345 67890 … (60 digits)"
      tafuta peers trust "Mombasa Shelter" --fingerprint "…" --budget 30000
    """
    if budget is None:
        with obj.store() as (home, store):
            budget = str(default_budget(home, store))
        if sys.stdin.isatty():
            budget = click.prompt(
                f"Key budget for {name!r}: distinct keys per {WINDOW_DAYS} days",
                default=budget,
            )
    keys = parse_budget(budget)
    if evaluation is None:
        evaluation = "auto"
        if sys.stdin.isatty():
            for choice in TRUST_EVALUATIONS:
                click.echo(f"  {choice}: {EVALUATION_WORDS[choice]}")
            evaluation = click.prompt(
                "Who compares keys (agree it with the peer's coordinator)",
                type=click.Choice(TRUST_EVALUATIONS),
                default=evaluation,
            )
    with obj.store() as (home, store):
        trust_peer(home, store, name, digits, actor=actor, budget=keys, evaluation=evaluation)
        info = budget_status(store, name)
    click.echo(f"{name!r} is now trusted")
    click.echo(f"evaluation: {_evaluation_words(info)}")
    click.echo(
        f"key budget: {keys:,} distinct keys per {WINDOW_DAYS} days "
        f"(change it with 'tafuta peers budget {_quote(name)} KEYS')"
    )


EVALUATION_WORDS = {
    "auto": "one of the two nodes compares keys, the one whose key id sorts first, and tells the "
    "other every suggestion at once; the other's register is as exposed to it as under 'both'",
    "both": "both nodes compare keys (each could read the other's values behind equal keys)",
    "ours": "only this node compares keys; the peer learns only the suggestions our caseworkers "
    "confirm ([federation] tell_before_review lets strong ones through before review)",
    "theirs": "only the peer compares keys; this node learns its suggestions",
    "linker": "neither node compares keys; a linkage node both trust does, blind to values, "
    "and tells both the suggestions",
}
# The default's two sides, as `tafuta peers evaluation` shows them.
AUTO_WORDS = {
    "ours": "only this node compares keys (by default: its key id sorts first) and tells the "
    "peer every suggestion at once; the peer cannot read our values behind equal keys",
    "theirs": "only the peer compares keys (by default: its key id sorts first) and tells this "
    "node every suggestion at once; it can read our values behind equal keys, as under 'both' "
    "(to protect ours instead, agree 'ours' here and 'theirs' there)",
}


def _evaluation_words(info: dict) -> str:
    if info["auto"]:
        return f"{info['evaluation']} (auto): {AUTO_WORDS[info['evaluation']]}"
    through = f" (linkage node: {info['linker']})" if info["linker"] else ""
    return f"{info['evaluation']}{through}: {EVALUATION_WORDS[info['evaluation']]}"


@peers.command("evaluation")
@click.argument("name")
@click.argument("evaluation", required=False, type=click.Choice(SETTABLE_EVALUATIONS))
@click.option("--via", metavar="LINKER", help="For 'linker': the trusted peer that links us.")
@ACTOR_OPTION
@click.pass_obj
def peers_evaluation(
    obj: CliContext, name: str, evaluation: str | None, via: str | None, actor: str
) -> None:
    """Show, or set, who compares the keys of this node and peer NAME.

    "auto" (the default) lets the node whose key id sorts first compare, and it tells the other
    every suggestion at once. "ours" protects our records from the peer best: it never gets our
    keys back to compare, and learns only the suggestions our caseworkers confirm. Agree with the
    peer's coordinator: one side "ours", the other "theirs" (or both "auto"). "linker" protects
    both: a third node that both trust compares keys it cannot read (both nodes choose it, and it
    runs 'tafuta linkage add'). A change applies to keys exchanged from then on; the nodes raise
    an evaluation-mismatch alert when the two settings do not fit.

    \b
    Examples:
      tafuta peers evaluation "Mombasa Shelter"
      tafuta peers evaluation "Mombasa Shelter" ours
      tafuta peers evaluation "Mombasa Shelter" linker --via "Nairobi Linkage"
    """
    with obj.store() as (home, store):
        if evaluation is not None:
            own = own_document(home).document.key_id
            set_evaluation(store, name, evaluation, actor=actor, via=via, own_key_id=own)
        info = budget_status(store, name)
    click.echo(f"{info['peer']}: {_evaluation_words(info)}")


@peers.command("rotate")
@click.argument("name")
@ACTOR_OPTION
@click.pass_obj
def peers_rotate(obj: CliContext, name: str, actor: str) -> None:
    """Give peer NAME a new blinding scalar and our records new pseudonyms, with a full
    re-exchange at the next sync, so that records cannot be followed across edits or
    retract and re-add. Done every [federation] rotate_days (default 90) by itself.

    \b
    Example:
      tafuta peers rotate "Mombasa Shelter"
    """
    with obj.store() as (_home, store):
        row = store.peer_by_name(name)
        if row is None or row["state"] != "trusted":
            raise UnknownPeer(
                f"cannot rotate for {name!r}: only for a trusted peer; nothing was changed"
            )
        renewed = rotate_secrets(store, row["id"], actor=actor, now=now_seconds())
    click.echo(
        f"new blinding scalar for {name!r}; {renewed} records get new pseudonyms; everything is "
        "sent again at the next sync (it counts against the budget the peer set for us)"
    )


@peers.command("budget")
@click.argument("name")
@click.argument("keys", required=False)
@ACTOR_OPTION
@click.pass_obj
def peers_budget(obj: CliContext, name: str, keys: str | None, actor: str) -> None:
    """Show, or set to KEYS, the key budget of peer NAME.

    The budget is the number of distinct keys this node blinds for the peer per rolling 30 days;
    past it the peer's batches are refused (HTTP 429) and an alert is shown. Nothing the peer
    sends changes it.

    \b
    Examples:
      tafuta peers budget "Mombasa Shelter"
      tafuta peers budget "Mombasa Shelter" 80000
    """
    with obj.store() as (home, store):
        if keys is not None:
            set_budget(store, name, keys, actor=actor)
        info = budget_status(store, name, default_budget(home, store))
    click.echo(
        f"{info['peer']}: {info['used']:,} of {info['budget']:,} keys used in the last "
        f"{info['window_days']} days (set by {info['set_by']})"
    )


@peers.command("revoke")
@click.argument("name")
@click.option("--reason", required=True, help="Why, for the trust history (required).")
@ACTOR_OPTION
@click.pass_obj
def peers_revoke(obj: CliContext, name: str, reason: str, actor: str) -> None:
    """Revoke peer NAME for good: its messages are refused from now on.

    Revocation cannot make the peer delete what it already received; see docs/keys.md.

    \b
    Example:
      tafuta peers revoke "Mombasa Shelter" --reason "laptop stolen"
    """
    with obj.store() as (_home, store):
        revoke_peer(store, name, reason, actor=actor)
    click.echo(f"{name!r} is revoked; ask its coordinator to delete what it holds from this node")


@peers.command("update")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@ACTOR_OPTION
@click.pass_obj
def peers_update(obj: CliContext, file: Path, actor: str) -> None:
    """Accept a peer's new document from FILE (made by its 'keys rotate' or 'keys renew').

    The document must be newer than the one you hold and signed by the key you already trust;
    new keys must also sign it. '-' reads the update from stdin.

    \b
    Example:
      tafuta peers update node-update-v2.txt
    """
    text = sys.stdin.read() if str(file) == STDIN else _read_text(file)
    with obj.store() as (home, store):
        document, rotated = update_peer(home, store, text, actor=actor)
    what = "new keys" if rotated else "a new document"
    click.echo(f"accepted {what} of {document.name!r} (version {document.version})")


@peers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the peers as JSON.")
@click.pass_obj
def peers_list(obj: CliContext, as_json: bool) -> None:
    """List peers: name, url, state, fingerprint, key ids, since when, and how many of the
    peer's records this node holds now (records_held).

    \b
    Examples:
      tafuta peers list
      tafuta peers list --json
    """
    with obj.store() as (home, store):
        listing = list_peers(home, store)
    _warn_if_expiring(home)
    if as_json:
        click.echo(json.dumps(listing, ensure_ascii=False, indent=1))
        return
    if not listing:
        click.echo("no peers yet; 'tafuta peers add TOKEN' adds one")
    for peer in listing:
        expired = " (document expired)" if peer["expired"] else ""
        click.echo(f"{peer['name']}\t{peer['state']}{expired} since {peer['since']}")
        click.echo(f"  url:         {peer['url'] or '-'}")
        click.echo(f"  fingerprint: {peer['fingerprint']}")
        click.echo(f"  key ids:     {', '.join(peer['key_ids'])}")
        click.echo(f"  records held: {peer['records_held']}")


@click.group("keys")
def keys_group() -> None:
    """This node's own keys: rotate them, or renew the node document.

    \b
    Examples:
      tafuta keys rotate --passphrase-file /etc/tafuta/passphrase
      tafuta keys renew
    """


@keys_group.command("rotate")
@passphrase_file_option("Read the passphrase from this file instead of asking.")
@click.pass_obj
def keys_rotate(obj: CliContext, passphrase_file: Path | None) -> None:
    """Make new keys; print the update (last line) that peers import with 'peers update'.

    The update is signed by the old and the new key, so peers that trust the old key accept
    the new one. It is also written to node-update-vN.txt in the home folder. The old keys are
    kept for the grace period ([keys] retired_key_grace_days, default 30) to open messages
    already on their way, then deleted.

    \b
    Example:
      tafuta keys rotate
    """
    home = obj.home()
    passphrase = ask_passphrase(passphrase_file, new=False)
    keyring, path = rotate_keys(home, passphrase)
    version = keyring.document.document.version
    click.echo(f"new key id {keyring.key_id} (document version {version})")
    _print_update(path)


@keys_group.command("renew")
@passphrase_file_option("Read the passphrase from this file instead of asking.")
@click.pass_obj
def keys_renew(obj: CliContext, passphrase_file: Path | None) -> None:
    """Renew this node's document for a year, same keys; print the update (last line).

    A node document is valid for a year, and peers refuse an expired one: renew before then
    ('peers invite' and 'peers list' warn 30 days ahead). Also run it after changing the name or
    url in config.toml. The keys and the fingerprint stay the same, so peers import the update
    with 'peers update' without a new phone call.

    \b
    Example:
      tafuta keys renew --passphrase-file /etc/tafuta/passphrase
    """
    home = obj.home()
    passphrase = ask_passphrase(passphrase_file, new=False)
    keyring, path = renew_document(home, passphrase)
    document = keyring.document.document
    until = datetime.fromtimestamp(document.valid_until, UTC).date().isoformat()
    click.echo(f"document version {document.version}, valid until {until}, same keys")
    _print_update(path)


def _print_update(path: Path) -> None:
    click.echo(f"update written to {path}; send it to every peer's coordinator:")
    click.echo(path.read_text(encoding="utf-8").strip())


def _warn_if_expiring(home) -> None:
    warning = expiry_warning(home)
    if warning:
        click.echo(f"warning: {warning}", err=True)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise BadToken(
            f"{path} is not a text file, so it holds no update; use the node-update-vN.txt file "
            "the peer made with 'tafuta keys rotate' or 'tafuta keys renew'"
        ) from err


def _quote(name: str) -> str:
    return f'"{name}"' if any(c in name for c in " '") else name
