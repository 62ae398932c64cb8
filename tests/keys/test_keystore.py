"""Keys at rest: encrypted under a passphrase, mode 0600, nothing secret in clear, pruned."""

from __future__ import annotations

import json
import os
import stat

import pytest

from keys import (
    DEFAULT_GRACE_SECONDS,
    KdfParams,
    KeyFileError,
    Keyring,
    WeakPassphrase,
    WrongPassphrase,
    default_kdf,
    load_keyring,
    read_document,
    save_keyring,
    verify_update,
)
from keys._encoding import b64, unb64

PASSPHRASE = "correct horse battery staple"
DAY = 24 * 3600


def _rename_document(content: dict) -> dict:
    document = {**content["document"]["document"], "name": "Someone Else"}
    return {**content, "document": {**content["document"], "document": document}}


@pytest.fixture
def key_file(tmp_path, alice):
    path = tmp_path / "identity.json"
    save_keyring(path, alice, PASSPHRASE)
    return path


def test_keys_come_back_with_the_right_passphrase(key_file, alice):
    loaded = load_keyring(key_file, PASSPHRASE)
    assert loaded.key_id == alice.key_id
    assert loaded.document.to_json() == alice.document.to_json()
    assert loaded.kdf == alice.kdf


def test_key_file_is_readable_only_by_its_owner(key_file):
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_no_private_key_is_in_the_file_in_clear(key_file, alice):
    content = key_file.read_bytes()
    for secret in _secrets(alice.current):
        assert secret not in content
        assert b64(secret).encode() not in content
    assert PASSPHRASE.encode() not in content


def test_repr_never_shows_key_material(alice):
    rotated = alice.rotate(name="Kwale Rescue", url="", now=alice.current.created)
    shown = repr(rotated) + repr(rotated.current) + str(rotated.current)
    for identity in (alice.current, rotated.current):
        for secret in _secrets(identity):
            assert b64(secret) not in shown and secret.hex() not in shown
            assert repr(secret)[2:-1] not in shown  # bytes as Python would print them
    assert "seed" not in shown and rotated.key_id in shown


def _secrets(identity) -> tuple[bytes, ...]:
    return (
        identity.signing.private_bytes_raw(),
        identity.x25519.private_bytes_raw(),
        identity.hybrid_mlkem_seed,
        identity.hybrid_x25519.private_bytes_raw(),
    )


def test_public_document_is_readable_without_the_passphrase(key_file, alice):
    assert read_document(key_file).to_json() == alice.document.to_json()


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (None, WrongPassphrase, "does not open"),
        (lambda c: {**c, "kdf": {**c["kdf"], "iterations": 2}}, WrongPassphrase, "altered"),
        # Three bytes cut, re-encoded: canonical base64url, so the AEAD tag is what refuses it.
        (
            lambda c: {**c, "ciphertext": b64(unb64(c["ciphertext"])[:-3])},
            WrongPassphrase,
            "altered",
        ),
        (lambda c: {**c, "kdf": {**c["kdf"], "memory_kib": 2**40}}, KeyFileError, "unusable"),
        (lambda c: {**c, "format": "something"}, KeyFileError, "not a Tafuta key file"),
        (lambda c: {k: v for k, v in c.items() if k != "nonce"}, KeyFileError, "damaged"),
        (lambda c: {**c, "document": {}}, KeyFileError, "no valid node document"),
        (_rename_document, KeyFileError, "no valid node document"),
    ],
    ids=[
        "wrong passphrase",
        "kdf settings changed",
        "ciphertext cut",
        "absurd kdf settings",
        "not a key file",
        "nonce missing",
        "document removed",
        "document renamed after signing",
    ],
)
def test_damaged_file_or_wrong_passphrase_is_refused(key_file, change, error, message):
    passphrase = PASSPHRASE
    if change is None:
        passphrase = "not the passphrase"
    else:
        key_file.write_text(json.dumps(change(json.loads(key_file.read_bytes()))))
    with pytest.raises(error, match=message):
        load_keyring(key_file, passphrase)


def test_public_document_altered_on_disk_is_not_handed_out(key_file):
    """'peers invite' and 'peers fingerprint' read it without the passphrase, so check it."""
    key_file.write_text(json.dumps(_rename_document(json.loads(key_file.read_bytes()))))
    with pytest.raises(KeyFileError, match="no valid node document"):
        read_document(key_file)


def test_a_file_others_can_read_is_refused_like_ssh_does(key_file):
    os.chmod(key_file, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_keyring(key_file, PASSPHRASE)


def test_missing_key_file_says_so(tmp_path):
    with pytest.raises(KeyFileError, match="no key file"):
        load_keyring(tmp_path / "none.json", PASSPHRASE)


@pytest.mark.parametrize("passphrase", ["", "short", "eleven char"])
def test_short_passphrase_is_refused(tmp_path, alice, passphrase):
    with pytest.raises(WeakPassphrase, match="at least 12"):
        save_keyring(tmp_path / "k.json", alice, passphrase)
    assert not (tmp_path / "k.json").exists()


def test_production_settings_are_argon2id_rfc9106():
    kdf = default_kdf()
    assert (kdf.name, kdf.iterations, kdf.lanes, kdf.memory_kib) == ("argon2id", 3, 4, 65536)


def test_scrypt_works_where_argon2_is_missing(tmp_path, now):
    keyring = Keyring.create(name="X", url="", now=now, kdf=KdfParams.scrypt(log2_n=10))
    save_keyring(tmp_path / "k.json", keyring, PASSPHRASE)
    assert load_keyring(tmp_path / "k.json", PASSPHRASE).key_id == keyring.key_id


class TestRenewal:
    def test_renewal_is_the_next_version_with_the_same_keys_and_a_new_year(self, alice, now):
        renewed = alice.renew(name="Kwale Rescue", url="https://new.example", now=now + 300 * DAY)
        document = renewed.document.document
        assert renewed.key_id == alice.key_id and renewed.retired == ()
        assert document.version == alice.document.document.version + 1
        assert document.valid_until == now + 300 * DAY + 365 * DAY
        assert document.url == "https://new.example" and document.previous_key_id is None
        assert set(renewed.document.signatures) == {alice.key_id}

    def test_a_peer_holding_the_old_document_accepts_the_renewal(self, alice, now):
        later = now + 364 * DAY
        renewed = alice.renew(name="Kwale Rescue", url="", now=later)
        assert verify_update(alice.document.document, renewed.document, later).version == 2

    def test_renewal_survives_saving_and_loading(self, tmp_path, alice, now):
        renewed = alice.renew(name="Kwale Rescue", url="", now=now + DAY)
        save_keyring(tmp_path / "k.json", renewed, PASSPHRASE)
        loaded = load_keyring(tmp_path / "k.json", PASSPHRASE)
        assert loaded.document.to_json() == renewed.document.to_json()


class TestRetiredKeys:
    def test_rotation_keeps_the_old_key_to_open_messages_already_on_their_way(self, alice, now):
        rotated = alice.rotate(name="Kwale Rescue", url="", now=now)
        assert rotated.key_id != alice.key_id
        assert rotated.decryption_key(alice.key_id, "x25519") is not None
        assert rotated.decryption_key(rotated.key_id, "mlkem768-x25519") is not None
        assert rotated.decryption_key("unknown-key-id-000000", "x25519") is None

    def test_retired_key_is_kept_through_the_grace_period(self, alice, now):
        rotated = alice.rotate(name="Kwale Rescue", url="", now=now)
        kept, dropped = rotated.prune(now + DEFAULT_GRACE_SECONDS)
        assert dropped == [] and kept.identity_for(alice.key_id) is not None

    def test_retired_key_is_deleted_after_the_grace_period(self, alice, now):
        rotated = alice.rotate(name="Kwale Rescue", url="", now=now)
        kept, dropped = rotated.prune(now + DEFAULT_GRACE_SECONDS + 1)
        assert dropped == [alice.key_id]
        assert kept.identity_for(alice.key_id) is None
        assert kept.identity_for(rotated.key_id) is not None

    def test_retired_keys_survive_saving_and_loading(self, tmp_path, alice, now):
        rotated = alice.rotate(name="Kwale Rescue", url="", now=now)
        save_keyring(tmp_path / "k.json", rotated, PASSPHRASE)
        loaded = load_keyring(tmp_path / "k.json", PASSPHRASE)
        assert [(i.key_id, at) for i, at in loaded.retired] == [(alice.key_id, now)]
