"""The caseworker web UI: server-rendered pages on the node's aiohttp server.

Routes (all but /login and /static need a session; roles as noted):

    GET  /login  POST /login  POST /logout  POST /language
    GET  /queue                         review queue with filters and counts        caseworker
    GET  /matches/{id}                  one match: own record beside the evidence   caseworker
    POST /matches/{id}/decide|undo|close                                            caseworker
    GET  /records  /records/new  /records/{ref}  /records/{ref}/edit               caseworker
    POST /records/new  /records/{ref}/edit  /records/{ref}/retract                 caseworker
    GET  /import  POST /import  POST /import/confirm  GET /duplicates               caseworker
    GET  /peers   POST /peers/add|trust|revoke  GET /peers/invite                   coordinator
    GET  /audit   POST /audit/verify                                                admin

The peer API (/v1/…) shares the server but none of this: the middlewares here pass it through.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from node.accounts import sessions
from node.errors import (
    USER_ERRORS,
)

from .base import (
    LOGIN_COOKIE,
    SESSION,
    SESSION_COOKIE,
    Handler,
    read_form,
    render,
)
from .context import WEB, WebContext
from .pages.account import home_page, login, login_page, logout, set_language
from .pages.audit import audit_page, audit_verify
from .pages.directory import add_directory_pages
from .pages.peers import peers_action, peers_page
from .pages.records import (
    MAX_UPLOAD_BYTES,
    duplicates,
    import_confirm,
    import_page,
    import_upload,
    record_form,
    record_retract,
    record_save,
    record_show,
    records,
)
from .pages.review import PEER_DECISIONS, STATUSES, close, decide, match_detail, queue, undo
from .security import UNSAFE_METHODS, add_security_headers, check_origin, check_token

# Names other code imports from here (the campaign benchmarks, tests).
__all__ = [
    "LOGIN_COOKIE",
    "MAX_UPLOAD_BYTES",
    "PEER_DECISIONS",
    "SESSION_COOKIE",
    "STATUSES",
    "add_ui",
]

log = logging.getLogger("tafuta.web")


def _is_ui(request: web.Request) -> bool:
    return not request.path.startswith("/v1/")


# -- middlewares ----------------------------------------------------------------------------


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = request.app[WEB]
    try:
        response = await handler(request)
    except web.HTTPException as http:
        add_security_headers(http, ctx.secure)
        raise
    add_security_headers(response, ctx.secure)
    return response


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A user's mistake becomes a page that says what to do; a bug a plain 500, never a trace."""
    if not _is_ui(request):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as http:
        if http.status < 400:
            raise
        return render(request, "error.html", status=http.status, message=http.text or http.reason)
    except USER_ERRORS as err:
        status = getattr(err, "http_status", 400)
        return render(request, "error.html", status=status, message=str(err))
    except ConnectionError:  # the client went away mid-body: server.client_mistakes logs it
        raise
    except Exception:
        log.exception("web request %s %s failed", request.method, request.path)
        return render(
            request, "error.html", status=500, message="something went wrong on this node"
        )


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Loads the session, then refuses unsafe requests without a valid CSRF token and Origin."""
    if not _is_ui(request) or request.path.startswith("/static/"):
        return await handler(request)
    ctx = request.app[WEB]
    cookie = request.cookies.get(SESSION_COOKIE)
    request[SESSION] = (
        await ctx.run(lambda store: sessions.resume(store, cookie, now=ctx.clock()))
        if cookie
        else None
    )
    if request.method in UNSAFE_METHODS:
        check_origin(request, ctx.home.url)
        form = await read_form(request)
        given = form.get("csrf") if isinstance(form.get("csrf"), str) else None
        if request.path == "/login":
            check_token(request.cookies.get(LOGIN_COOKIE), given)
        elif (session := request[SESSION]) is not None:
            check_token(session.csrf, given)
        else:
            raise web.HTTPSeeOther("/login")
    return await handler(request)


# -- the app --------------------------------------------------------------------------------


def add_ui(app: web.Application, ctx: WebContext) -> None:
    """Add the UI's routes and middlewares to the node's aiohttp application."""

    app[WEB] = ctx
    app.middlewares.extend([headers_middleware, errors_middleware, session_middleware])
    router = app.router
    router.add_get("/", home_page)
    router.add_get("/login", login_page)
    router.add_post("/login", login)
    router.add_post("/logout", logout)
    router.add_post("/language", set_language)
    router.add_get("/queue", queue)
    router.add_get("/matches/{match_id:[0-9a-f]{32}}", match_detail)
    router.add_post("/matches/{match_id:[0-9a-f]{32}}/decide", decide)
    router.add_post("/matches/{match_id:[0-9a-f]{32}}/undo", undo)
    router.add_post("/matches/{match_id:[0-9a-f]{32}}/close", close)
    router.add_get("/records", records)
    router.add_get("/records/new", record_form)
    router.add_post("/records/new", record_save)
    router.add_get("/records/{ref}", record_show)
    router.add_get("/records/{ref}/edit", record_form)
    router.add_post("/records/{ref}/edit", record_save)
    router.add_post("/records/{ref}/retract", record_retract)
    router.add_get("/import", import_page)
    router.add_post("/import", import_upload)
    router.add_post("/import/confirm", import_confirm)
    router.add_get("/duplicates", duplicates)
    router.add_get("/peers", peers_page)
    router.add_post("/peers/{action}", peers_action)
    router.add_get("/audit", audit_page)
    router.add_post("/audit/verify", audit_verify)
    add_directory_pages(router)
    router.add_static("/static", Path(__file__).parent / "static", show_index=False)
    app.on_cleanup.append(_close(ctx))


def _close(ctx: WebContext):
    async def close_context(_app: web.Application) -> None:
        ctx.close()

    return close_context
