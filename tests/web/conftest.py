"""Fixtures for the web UI: a real `tafuta serve` process with users, and a small cookie-keeping
HTTP client that does not follow redirects (so tests see each 303 and where it points)."""

from __future__ import annotations

import pytest

from node.testing.processes import SAMPLE
from node.testing.web import WebClient, serve_node


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One running node per test module, with the sample register and a caseworker,
    coordinator and admin. Tests that change what others rely on (throttling, disabling a
    user) use ``own_node`` instead."""
    made, node = serve_node(tmp_path_factory.mktemp("web"), SAMPLE)
    yield node
    made.close()


@pytest.fixture
def own_node(tmp_path, sample_csv):
    made, node = serve_node(tmp_path, sample_csv)
    yield node
    made.close()


@pytest.fixture
def proxied_node(tmp_path, sample_csv):
    """A node of its own that believes X-Forwarded-For from 127.0.0.1, as behind the nginx of
    deploy/ with ``[server] trusted_proxies``: the test client plays the proxy."""
    made, node = serve_node(tmp_path, sample_csv, '\n[server]\ntrusted_proxies = ["127.0.0.1"]\n')
    yield node
    made.close()


@pytest.fixture
def client(served) -> WebClient:
    return WebClient(served.url)
