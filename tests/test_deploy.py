"""The shipped systemd unit and nginx example: hardened, and naming options the CLI has."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from node.cli import main

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


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
        "DynamicUser": "yes",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "Restart": "on-failure",
        "ReadWritePaths": "/var/lib/tafuta",
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


def test_the_nginx_example_says_how_to_trust_its_forwarded_for_header():
    """The setting named beside the proxy is the one node/addresses.py reads."""
    conf = (DEPLOY / "nginx-tafuta.conf").read_text(encoding="utf-8")
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf
    assert 'trusted_proxies = ["127.0.0.1", "::1"]' in conf
    guide = (DEPLOY.parent / "docs" / "admin-guide.md").read_text(encoding="utf-8")
    assert "trusted_proxies" in guide
