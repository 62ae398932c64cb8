"""The keys package's public surface is what was meant, and it depends on nothing but crypto."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import keys

PACKAGE = Path(keys.__file__).parent


def test_everything_in_all_is_importable_and_nothing_private_is_exported():
    for name in keys.__all__:
        assert hasattr(keys, name), name
        assert not name.startswith("_")
    assert len(set(keys.__all__)) == len(keys.__all__)


def test_federation_needs_are_in_the_public_api():
    for name in (
        "Keyring",
        "load_keyring",
        "verify_update",
        "verify_self_signed",
        "decode_token",
        "encode_token",
        "safety_number",
        "HPKE_SUITES",
        "KeysError",
    ):
        assert name in keys.__all__


def test_keys_imports_only_the_standard_library_and_cryptography():
    allowed = set(sys.stdlib_module_names) | {"cryptography"}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            for root in roots:
                assert root in allowed, f"{path.name} imports {root}"


def test_every_error_is_a_keys_error_with_an_exit_code():
    for name in keys.__all__:
        value = getattr(keys, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, keys.KeysError), name
            assert isinstance(value.exit_code, int)
