"""This node's own identity: creating it with the home, unlocking, rotating, renewing, inviting.

The key logic is in keys/; this module ties it to the node home (where the key file lives, how
long retired keys are kept) so the CLI, the server and tests call the same functions.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from keys import (
    KdfParams,
    Keyring,
    SignedDocument,
    check_new_passphrase,
    encode_token,
    load_keyring,
    read_document,
    save_keyring,
)
from node.errors import HomeError
from node.home import CONFIG_NAME, Home, check_new_home, create_home
from node.store.db import Store

DAY = 24 * 3600
RENEW_BEFORE_DAYS = 30  # warn this long before this node's document expires


def now_seconds(now: int | None = None) -> int:
    return int(time.time()) if now is None else int(now)


def read_passphrase_file(path: Path) -> str:
    """The passphrase in a file (for unattended start); a trailing line break is not part of it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise HomeError(f"cannot read the passphrase file {path}") from err
    passphrase = text.rstrip("\r\n")
    if not passphrase:
        raise HomeError(f"the passphrase file {path} is empty")
    return passphrase


def write_new_passphrase_file(path: Path) -> str:
    """Generate a strong random passphrase into a new file readable only by its owner."""
    passphrase = secrets.token_urlsafe(24)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as err:
        raise HomeError(f"{path} already exists; refusing to overwrite it") from err
    except OSError as err:
        raise HomeError(f"cannot create the passphrase file {path}: {err.strerror}") from err
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(passphrase + "\n")
    return passphrase


def create_node(
    path: Path,
    *,
    name: str,
    url: str = "",
    passphrase: str,
    kdf: KdfParams | None = None,
    now: int | None = None,
    country: str = "",
) -> Home:
    """A new home with its keys and database. Checks everything before writing anything.

    ``kdf`` defaults to the production settings; tests pass ``KdfParams.cheap()``.
    """
    name = check_new_home(path, name, url, country)
    check_new_passphrase(passphrase)
    now = now_seconds(now)
    keyring = Keyring.create(name=name, url=url, now=now, kdf=kdf)
    home = create_home(path, name=name, url=url, country=country)
    try:
        save_keyring(home.identity_path, keyring, passphrase)
        with Store.open(home.database_path):
            pass
    except BaseException:
        # Leave no half-made node behind: without its config the folder is not a node.
        (path / CONFIG_NAME).unlink(missing_ok=True)
        home.identity_path.unlink(missing_ok=True)
        raise
    return home


def own_document(home: Home) -> SignedDocument:
    """This node's current signed document (public; no passphrase needed)."""
    return read_document(home.identity_path)


def invite_token(home: Home) -> str:
    """The token a coordinator sends to a peer: this node's signed document."""
    return encode_token(own_document(home))


def unlock(home: Home, passphrase: str, now: int | None = None) -> Keyring:
    """Open the private keys; retired keys past the grace period are deleted now."""
    keyring = load_keyring(home.identity_path, passphrase)
    pruned, dropped = keyring.prune(now_seconds(now), home.retired_key_grace_days * DAY)
    if dropped:
        save_keyring(home.identity_path, pruned, passphrase)
    return pruned


def rotate_keys(home: Home, passphrase: str, now: int | None = None) -> tuple[Keyring, Path]:
    """New keys and the next document version signed by the old and the new key.

    Writes the update (a token) to the home folder for the coordinator to carry to peers, and
    returns the new keyring and that file's path. Peers accept it with 'tafuta peers update'.
    """
    now = now_seconds(now)
    keyring = unlock(home, passphrase, now)
    return _publish(home, keyring.rotate(name=home.name, url=home.url, now=now), passphrase)


def renew_document(home: Home, passphrase: str, now: int | None = None) -> tuple[Keyring, Path]:
    """The next document version with the same keys: valid for a year from now, with the name
    and URL of config.toml. Written and returned like rotate_keys; the fingerprint is unchanged.
    """
    now = now_seconds(now)
    keyring = unlock(home, passphrase, now)
    return _publish(home, keyring.renew(name=home.name, url=home.url, now=now), passphrase)


def expiry_warning(home: Home, now: int | None = None) -> str | None:
    """A warning when this node's document has expired or expires within RENEW_BEFORE_DAYS."""
    document = own_document(home).document
    left = document.valid_until - now_seconds(now)
    if left > RENEW_BEFORE_DAYS * DAY:
        return None
    days = -(-left // DAY)  # rounded up: "in 1 day" until the last second
    when = "has expired" if left < 0 else f"expires in {days} day{'s' if days != 1 else ''}"
    return (
        f"this node's document {when}, and peers refuse an expired one: run 'tafuta keys "
        "renew' and send the update to every peer"
    )


def update_path(home: Home, version: int) -> Path:
    return home.path / f"node-update-v{version}.txt"


def _publish(home: Home, keyring: Keyring, passphrase: str) -> tuple[Keyring, Path]:
    """Save the keyring, then write its document as a token for the peers' 'peers update'."""
    save_keyring(home.identity_path, keyring, passphrase)
    update = update_path(home, keyring.document.document.version)
    update.write_text(encode_token(keyring.document) + "\n", encoding="utf-8")
    return keyring, update
