"""The admin's limits in config.toml: read as numbers, and any bad value refused with a message
that names the setting, before the node listens."""

from __future__ import annotations

import pytest

from node.errors import HomeError
from node.net.http_limits import HttpLimits, http_limits


def test_without_settings_the_defaults_apply():
    assert http_limits({}) == HttpLimits(20.0, 60.0, 20 * 2**20, 200_000)


def test_settings_are_read_from_server_and_web():
    config = {"server": {"header_timeout": 5, "body_timeout": 7.5},
              "web": {"max_upload_mb": 0.5, "max_upload_rows": 10}}  # fmt: skip
    assert http_limits(config) == HttpLimits(5.0, 7.5, 2**19, 10)


@pytest.mark.parametrize(
    ("section", "name", "value"),
    [("server", "header_timeout", 0), ("server", "body_timeout", -1),
     ("server", "header_timeout", "20"), ("web", "max_upload_mb", True),
     ("web", "max_upload_rows", [])],
)  # fmt: skip
def test_a_bad_limit_is_refused_naming_the_setting(section, name, value):
    with pytest.raises(HomeError, match=rf"\[{section}\] {name} must be a positive number"):
        http_limits({section: {name: value}})


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ('header_timeout = "soon"', "[server] header_timeout must be a positive number"),
        ('trusted_proxies = ["nginx"]', "'nginx' is not an address or network"),
    ],
)
def test_serve_refuses_a_bad_setting_with_one_clear_line(run, node_home, setting, says):
    with (node_home / "config.toml").open("a", encoding="utf-8") as config:
        config.write(f"\n[server]\n{setting}\n")
    result = run("--home", node_home, "serve", "--port", "1")
    assert result.exit_code != 0
    assert says in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
