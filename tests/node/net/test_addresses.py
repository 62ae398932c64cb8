"""Which client address a request counts as: X-Forwarded-For only through trusted proxies."""

from __future__ import annotations

import pytest

from node.errors import HomeError
from node.net.addresses import client_address, trusted_proxies

PROXIES = trusted_proxies({"server": {"trusted_proxies": ["127.0.0.1", "10.0.0.0/24"]}})


@pytest.mark.parametrize(
    ("remote", "forwarded", "proxies", "client"),
    [
        ("127.0.0.1", [], PROXIES, "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.5"], PROXIES, "203.0.113.5"),
        ("127.0.0.1", ["203.0.113.5"], (), "127.0.0.1"),  # no proxy configured: ignored
        ("198.51.100.1", ["203.0.113.5"], PROXIES, "198.51.100.1"),  # not from our proxy
        # The client wrote its own entry first; the proxy appended the real address.
        ("127.0.0.1", ["6.6.6.6, 203.0.113.5"], PROXIES, "203.0.113.5"),
        # Two proxies of ours in a row, then the client.
        ("127.0.0.1", ["203.0.113.5, 10.0.0.7"], PROXIES, "203.0.113.5"),
        ("127.0.0.1", ["203.0.113.5", "10.0.0.7"], PROXIES, "203.0.113.5"),
        ("127.0.0.1", ["not an address"], PROXIES, "127.0.0.1"),
        ("127.0.0.1", ["2001:db8::1"], PROXIES, "2001:db8::1"),
        (None, ["203.0.113.5"], PROXIES, "unknown"),
    ],
)
def test_the_client_address_believes_forwarded_for_only_from_trusted_proxies(
    remote, forwarded, proxies, client
):
    assert client_address(remote, forwarded, proxies) == client


@pytest.mark.parametrize("setting", ["127.0.0.1", ["nginx"], [1], ["10.0.0.0/33"]])
def test_a_bad_trusted_proxies_setting_is_a_clear_error(setting):
    with pytest.raises(HomeError, match="trusted_proxies"):
        trusted_proxies({"server": {"trusted_proxies": setting}})
