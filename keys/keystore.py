"""The node's private keys at rest: one JSON file, encrypted under a passphrase, mode 0600.

    {"format": "tafuta-keyring-1",
     "kdf": {"name": "argon2id", "salt": …, "iterations": 3, "lanes": 4, "memory_kib": 65536},
     "cipher": "aes-256-gcm", "nonce": …, "ciphertext": …,
     "document": {…the current signed node document, public…}}

The key-encryption key is derived from the passphrase with Argon2id (RFC 9106's second
recommended setting), or scrypt where the OpenSSL build lacks Argon2. The ``format``, ``kdf`` and
``cipher`` fields are bound into AES-GCM as associated data, so they cannot be changed without the
passphrase. The public document sits beside the ciphertext so that commands that only show or
hand out the document (``peers invite``, ``peers fingerprint``) need no passphrase.

The plaintext holds the current key generation and the retired ones, each with the time it was
retired; retired generations are kept for a grace period (to verify old audit entries and to open
messages that were already on their way) and then dropped by ``Keyring.prune``.

Files are written to a temporary file and renamed into place, so a crash leaves the old file or
the new one, never half of either.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ._encoding import b64, canonical_json, unb64
from .document import (
    DEFAULT_VALIDITY_SECONDS,
    SignedDocument,
    build_document,
    parse_signed_document,
    sign_document,
    verify_own_signature,
)
from .errors import DocumentRefused, KeyFileError, WeakPassphrase, WrongPassphrase
from .identity import HpkePrivateKey, Identity

FORMAT = "tafuta-keyring-1"
CIPHER = "aes-256-gcm"
MIN_PASSPHRASE_CHARS = 12
DEFAULT_GRACE_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class KdfParams:
    """How a passphrase becomes a key. The defaults are the production settings.

    Tests pass ``KdfParams.cheap()`` so that creating many nodes stays fast; the parameters are
    stored in the key file, so a file is always opened with the settings it was written with.
    """

    name: str = "argon2id"
    iterations: int = 3  # argon2id: passes; scrypt: log2(n)
    lanes: int = 4  # argon2id: parallelism; scrypt: p
    memory_kib: int = 64 * 1024  # argon2id: memory; scrypt: r = 8 is fixed

    @classmethod
    def cheap(cls) -> KdfParams:
        """Fast, weak settings FOR TESTS ONLY."""
        return cls(name="argon2id", iterations=1, lanes=1, memory_kib=8)

    @classmethod
    def scrypt(cls, log2_n: int = 17) -> KdfParams:
        return cls(name="scrypt", iterations=log2_n, lanes=1, memory_kib=0)

    def check(self) -> None:
        """Refuse settings that are absurd (a damaged or hostile file must not eat all memory)."""
        ok = (
            self.name == "argon2id"
            and 1 <= self.iterations <= 64
            and 1 <= self.lanes <= 64
            and 8 * self.lanes <= self.memory_kib <= 4 * 1024 * 1024
        ) or (self.name == "scrypt" and 10 <= self.iterations <= 22 and 1 <= self.lanes <= 16)
        if not ok:
            raise KeyFileError(f"the key file names unusable key-derivation settings ({self.name})")

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        self.check()
        secret = passphrase.encode("utf-8")
        if self.name == "scrypt":
            return Scrypt(salt=salt, length=32, n=2**self.iterations, r=8, p=self.lanes).derive(
                secret
            )
        try:
            from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

            kdf = Argon2id(
                salt=salt,
                length=32,
                iterations=self.iterations,
                lanes=self.lanes,
                memory_cost=self.memory_kib,
            )
        except (ImportError, UnsupportedAlgorithm) as err:
            raise KeyFileError(
                "the key file was made with Argon2id, which this computer's cryptography "
                "library lacks; update it (pip install -U cryptography)"
            ) from err
        return kdf.derive(secret)

    def to_dict(self, salt: bytes) -> dict[str, Any]:
        return {
            "name": self.name,
            "salt": b64(salt),
            "iterations": self.iterations,
            "lanes": self.lanes,
            "memory_kib": self.memory_kib,
        }


def default_kdf() -> KdfParams:
    """Argon2id if this OpenSSL has it, else scrypt (n = 2**17, 128 MiB)."""
    try:
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

        Argon2id(salt=b"\x00" * 16, length=32, iterations=1, lanes=1, memory_cost=8).derive(b"x")
    except (ImportError, UnsupportedAlgorithm):
        return KdfParams.scrypt()
    return KdfParams()


def check_new_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise WeakPassphrase(
            f"the passphrase must be at least {MIN_PASSPHRASE_CHARS} characters; "
            "a few unrelated words are easy to remember and hard to guess"
        )


@dataclass(frozen=True)
class Keyring:
    """This node's keys: the current generation, retired ones, and the current document."""

    current: Identity
    document: SignedDocument
    retired: tuple[tuple[Identity, int], ...] = field(default=())  # (identity, retired_at)
    kdf: KdfParams = field(default_factory=KdfParams)

    @classmethod
    def create(
        cls,
        *,
        name: str,
        url: str,
        now: int,
        kdf: KdfParams | None = None,
        validity_seconds: int = DEFAULT_VALIDITY_SECONDS,
    ) -> Keyring:
        """A new node identity with its first, self-signed document (version 1)."""
        identity = Identity.generate(now)
        document = build_document(
            identity, name=name, url=url, version=1, now=now, validity_seconds=validity_seconds
        )
        return cls(identity, sign_document(document, identity), (), kdf or default_kdf())

    @property
    def key_id(self) -> str:
        return self.current.key_id

    def identity_for(self, key_id: str) -> Identity | None:
        """The current or a retired generation with that key id."""
        for identity in (self.current, *(i for i, _ in self.retired)):
            if identity.key_id == key_id:
                return identity
        return None

    def decryption_key(self, key_id: str, suite: str) -> HpkePrivateKey | None:
        """Our HPKE private key for a key id (current or retired) and suite, or None.

        Has the shape protocol.envelope.OwnKeys expects, so a Keyring can open envelopes.
        """
        identity = self.identity_for(key_id)
        if identity is None:
            return None
        try:
            return identity.hpke_private_key(suite)
        except KeyError:
            return None

    def rotate(
        self,
        *,
        name: str,
        url: str,
        now: int,
        validity_seconds: int = DEFAULT_VALIDITY_SECONDS,
    ) -> Keyring:
        """New keys and the next document version, signed by the old and the new key."""
        old, new = self.current, Identity.generate(now)
        rotated = replace(self, current=new, retired=((old, int(now)), *self.retired))
        return rotated._next_document(name, url, now, validity_seconds, previous=old)

    def renew(
        self,
        *,
        name: str,
        url: str,
        now: int,
        validity_seconds: int = DEFAULT_VALIDITY_SECONDS,
    ) -> Keyring:
        """The next document version with the same keys (new name, URL or validity period)."""
        return self._next_document(name, url, now, validity_seconds, previous=None)

    def _next_document(
        self, name: str, url: str, now: int, validity_seconds: int, previous: Identity | None
    ) -> Keyring:
        """This keyring with the next version of the document for its current keys.

        Signed by the current key, and by ``previous`` too when it follows on from that key.
        """
        document = build_document(
            self.current,
            name=name,
            url=url,
            version=self.document.document.version + 1,
            now=now,
            validity_seconds=validity_seconds,
            previous_key_id=previous.key_id if previous else None,
        )
        signers = (self.current, previous) if previous else (self.current,)
        return replace(self, document=sign_document(document, *signers))

    def prune(
        self, now: int, grace_seconds: int = DEFAULT_GRACE_SECONDS
    ) -> tuple[Keyring, list[str]]:
        """Drop retired generations older than the grace period; returns (keyring, dropped ids)."""
        keep = tuple((i, at) for i, at in self.retired if now - at <= grace_seconds)
        dropped = [i.key_id for i, at in self.retired if now - at > grace_seconds]
        return replace(self, retired=keep), dropped


def save_keyring(path: Path, keyring: Keyring, passphrase: str) -> None:
    """Encrypt and write atomically with mode 0600 (a fresh salt and nonce every time)."""
    check_new_passphrase(passphrase)
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = {"format": FORMAT, "kdf": keyring.kdf.to_dict(salt), "cipher": CIPHER}
    plaintext = canonical_json(
        {
            "current": keyring.current.private_fields(),
            "retired": [
                {"identity": i.private_fields(), "retired_at": at} for i, at in keyring.retired
            ],
        }
    )
    key = keyring.kdf.derive(passphrase, salt)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, canonical_json(header))
    content = {
        **header,
        "nonce": b64(nonce),
        "ciphertext": b64(ciphertext),
        "document": json.loads(keyring.document.to_json()),
    }
    _write_private(path, json.dumps(content, indent=1, sort_keys=True).encode("utf-8"))


def load_keyring(path: Path, passphrase: str) -> Keyring:
    """Decrypt the key file; KeyFileError or WrongPassphrase with a clear message."""
    _check_permissions(path)
    content = _read(path)
    header = {k: content.get(k) for k in ("format", "kdf", "cipher")}
    kdf_fields = header["kdf"]
    try:
        if header["cipher"] != CIPHER or not isinstance(kdf_fields, dict):
            raise ValueError("cipher")
        salt = unb64(kdf_fields["salt"])
        kdf = KdfParams(
            name=str(kdf_fields["name"]),
            iterations=int(kdf_fields["iterations"]),
            lanes=int(kdf_fields["lanes"]),
            memory_kib=int(kdf_fields["memory_kib"]),
        )
        nonce, ciphertext = unb64(content["nonce"]), unb64(content["ciphertext"])
    except (KeyError, TypeError, ValueError) as err:
        raise KeyFileError(f"the key file {path} is damaged") from err
    key = kdf.derive(passphrase, salt)
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, canonical_json(header))
    except InvalidTag as err:
        raise WrongPassphrase(
            f"the passphrase does not open the key file {path} (or the file was altered)"
        ) from err
    try:
        fields = json.loads(plaintext)
        current = Identity.from_private_fields(fields["current"])
        retired = tuple(
            (Identity.from_private_fields(r["identity"]), int(r["retired_at"]))
            for r in fields["retired"]
        )
    except (KeyError, TypeError, ValueError) as err:
        raise KeyFileError(f"the key file {path} is damaged") from err
    document = read_document(path, content)
    if document.document.key_id != current.key_id:
        raise KeyFileError(f"the key file {path} holds a document for another key")
    return Keyring(current, document, retired, kdf)


def read_document(path: Path, content: dict[str, Any] | None = None) -> SignedDocument:
    """This node's current signed document, from the public part of the key file."""
    content = _read(path) if content is None else content
    try:
        signed = parse_signed_document(canonical_json(content["document"]))
        verify_own_signature(signed)
    except (KeyError, DocumentRefused) as err:
        raise KeyFileError(f"the key file {path} holds no valid node document") from err
    return signed


def _read(path: Path) -> dict[str, Any]:
    try:
        content = json.loads(path.read_bytes())
    except FileNotFoundError as err:
        raise KeyFileError(f"no key file at {path}; this node has no keys") from err
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise KeyFileError(f"cannot read the key file {path}") from err
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise KeyFileError(f"{path} is not a Tafuta key file (or a newer format)")
    return content


def _check_permissions(path: Path) -> None:
    """Like ssh: refuse a private key file that others can read or write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as err:
        raise KeyFileError(f"no key file at {path}; this node has no keys") from err
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"the key file {path} can be read by other users; fix it with 'chmod 600 {path}'"
        )


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
