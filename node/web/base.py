"""What every page handler shares: the session and language cookies, reading a form,
rendering a template, the role check, and small helpers for forms and redirects.

Kept apart from app.py (the middlewares and routes) so that page modules such as
the page modules (pages/) import these without importing the app that imports them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import wraps
from urllib.parse import quote, urlencode

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from node.accounts.sessions import Session
from node.accounts.users import LANGUAGES, may
from node.errors import (
    Forbidden,
)
from node.net.http_limits import BodyTooSlow, read_within, unreadable_body

from .context import WEB
from .i18n import LANGUAGES as LANGUAGE_NAMES
from .i18n import translator
from .words import say_evidence, say_keys, say_label, say_value

# The Session, or None when not logged in.
SESSION = web.RequestKey[Session | None]("session")
LOGIN_CSRF = web.RequestKey("login_csrf", str)
SESSION_COOKIE = "tafuta_session"
LOGIN_COOKIE = "tafuta_login"
LANGUAGE_COOKIE = "tafuta_language"  # the language chosen on the login page, before logging in
PAGE_SIZE = 50  # rows per page of the queue, the records and the audit log

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- helpers --------------------------------------------------------------------------------


async def read_form(request: web.Request):
    """The request's form, or 400 when its body cannot be read as one (a multipart body
    without its boundary, a boundary too long, a part with a broken header, an unknown
    charset …). aiohttp raises ValueError, LookupError or its own HttpProcessingError for
    these; uncaught they were a 500."""
    try:
        return await read_within(request, request.post())
    except (ValueError, LookupError, HttpProcessingError) as err:
        message = getattr(err, "message", None) or str(err)
        raise web.HTTPBadRequest(text=f"the form could not be read: {message[:200]}") from None
    except RequestPayloadError as err:  # e.g. Content-Encoding: gzip over bytes that are not
        bad = web.HTTPBadRequest(text=unreadable_body(err), headers={"Connection": "close"})
        raise bad from None
    except BodyTooSlow as slow:
        raise web.HTTPRequestTimeout(text=str(slow), headers={"Connection": "close"}) from None


def render(request: web.Request, template: str, *, status: int = 200, **values) -> web.Response:
    ctx = request.app[WEB]
    session = request.get(SESSION)
    user = session.user if session else None
    language = user["language"] if user else visitor_language(request)
    _ = translator(language)
    html = ctx.templates.get_template(template).render(
        _=_,
        say_evidence=lambda evidence: say_evidence(evidence, _),
        say_keys=lambda key_types: say_keys(key_types, _),
        say_value=lambda field, value: say_value(field, value, _),
        say_label=lambda label: say_label(label, _),
        user=user,
        csrf=session.csrf if session else request.get(LOGIN_CSRF, ""),
        language=language,
        languages=LANGUAGE_NAMES,
        may=(lambda role: user is not None and may(user, role)),
        node_name=ctx.home.name,
        path=request.path,
        **values,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def visitor_language(request: web.Request) -> str:
    """The language of a page for someone not logged in: ?lang= on the login page, else the
    choice remembered in a cookie, else English."""
    for chosen in (request.query.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if chosen in LANGUAGES:
            return chosen
    return "en"


def requires(role: str = "caseworker") -> Callable[[Handler], Handler]:
    """A page for logged-in users whose role reaches ``role``; others go to the login page."""

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def inner(request: web.Request) -> web.StreamResponse:
            session = request.get(SESSION)
            if session is None:
                target = request.path_qs if request.method == "GET" else "/queue"
                raise web.HTTPSeeOther("/login?" + urlencode({"next": target}))
            if not may(session.user, role):
                raise Forbidden(f"this page is for {role}s only")
            return await handler(request)

        return inner

    return wrap


def actor(request: web.Request) -> str:
    return f"user:{logged_in(request).user['name']}"


def logged_in(request: web.Request) -> Session:
    """The session of a page that ``requires`` one (the decorator has checked it)."""
    session = request[SESSION]
    if session is None:
        raise web.HTTPSeeOther("/login")
    return session


def safe_next(target: str | None) -> str:
    """Only a path on this site, so the login page cannot be used to send someone elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/queue"


def text(form, name: str, limit: int = 20_000) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def float_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def page_number(request: web.Request) -> int:
    try:
        return max(1, min(int(request.query.get("page", "1")), 100_000))
    except ValueError:
        return 1


def page_count(rows: int) -> int:
    """Pages of PAGE_SIZE rows needed for ``rows`` (one, even when there are none)."""
    return max(1, -(-rows // PAGE_SIZE))


def redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


def record_url(ref: str) -> str:
    return "/records/" + quote(ref, safe="")


# -- login ----------------------------------------------------------------------------------


def when(ts: int | None) -> str:
    """A timestamp as the pages show it (UTC, to the minute); empty for none."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
