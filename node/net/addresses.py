"""Which address a request comes from, for rate limits and login throttling.

Behind a reverse proxy every request reaches the node from the proxy's own address, so limits
kept per address would be shared by every peer and every browser. The proxy names the real
client in ``X-Forwarded-For``, but any client can send that header too, so the node believes it
only when the request itself comes from an address the admin listed in config.toml::

    [server]
    trusted_proxies = ["127.0.0.1", "::1"]   # addresses or networks, e.g. "10.0.0.0/24"

The header is read from the right (the entry the nearest proxy added) past every trusted proxy;
the first address that is not a trusted proxy is the client. With no list, or a request from
any other address, the header is ignored and the connection's address counts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import web

from node.errors import HomeError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)


def trusted_proxies(config: dict, where: str = "config.toml") -> tuple[Network, ...]:
    """``[server] trusted_proxies`` as networks; a clear HomeError for anything else."""
    listed = config.get("server", {}).get("trusted_proxies", [])
    if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
        raise HomeError(f"{where}: [server] trusted_proxies must be a list of addresses")
    networks = []
    for entry in listed:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise HomeError(
                f"{where}: [server] trusted_proxies: {entry!r} is not an address or network"
            ) from None
    return tuple(networks)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies) -> bool:
    return any(address in network for network in proxies)


def client_address(remote: str | None, forwarded_for: Iterable[str], proxies) -> str:
    """The client's address: ``remote`` unless it is a trusted proxy, then the header's."""
    current = _parse(remote or "")
    if current is None:
        return remote or "unknown"
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    while _trusted(current, proxies) and hops:
        previous = _parse(hops.pop())
        if previous is None:  # a garbled entry: trust nothing further left of it
            break
        current = previous
    return str(current)


def request_address(request: web.Request) -> str:
    """The client address of an aiohttp request, under the app's trusted proxies."""
    proxies = request.app.get(TRUSTED_PROXIES, ())
    forwarded = request.headers.getall("X-Forwarded-For", []) if proxies else []
    return client_address(request.remote, forwarded, proxies)
