"""Request checks and response headers that protect the web UI: one job, one file.

* Every unsafe request (POST) must carry the CSRF token of its session (or, on the login form,
  the token of the login cookie) and show that it comes from this very site: an Origin header
  naming this site, or — because under ``Referrer-Policy: no-referrer`` browsers send
  ``Origin: null`` with form posts — the browser's own ``Sec-Fetch-Site: same-origin``, which no
  page can forge. A request without them gets 403. SameSite=Strict cookies already stop most
  cross-site posts; these are the second and third locks.
* Every page is sent with a Content-Security-Policy that allows no inline script (the UI has no
  script at all), frame-ancestors 'none', no referrer, and nosniff.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aiohttp import web

CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfRefused(web.HTTPForbidden):
    """The request did not prove it came from one of our own pages."""


def add_security_headers(response: web.StreamResponse, secure: bool) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(request: web.Request, public_url: str) -> set[str]:
    """Our own origin as the browser sees it: the request's host, and the configured URL (for a
    node behind a reverse proxy that terminates TLS)."""
    origins = {f"{request.scheme}://{request.host}".lower()}
    configured = _origin_of(public_url) if public_url else None
    if configured:
        origins.add(configured)
    return origins


def check_origin(request: web.Request, public_url: str) -> None:
    """Our own Origin passes; ``null`` or none passes only with ``Sec-Fetch-Site: same-origin``;
    any other Origin — another site, or one that is not an origin at all (``file://``) — is
    refused, whatever else the request says."""
    origin = request.headers.get("Origin", "")
    claimed = _origin_of(origin) if origin and origin != "null" else None
    if origin and origin != "null" and claimed is None:
        raise CsrfRefused(text="this form was sent from a page that is not a web site")
    if claimed is not None:
        if claimed not in allowed_origins(request, public_url):
            raise CsrfRefused(text=f"this form was sent from another site ({claimed})")
        return
    if request.headers.get("Sec-Fetch-Site") != "same-origin":
        raise CsrfRefused(text="this form did not come from this site (no Origin)")


def check_token(expected: str | None, given: str | None) -> None:
    if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfRefused(text="the form's security token is missing or stale; reload the page")
