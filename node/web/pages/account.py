"""Logging in and out, and the language a user reads the UI in; ``/`` sends to the queue
or to the login."""

from __future__ import annotations

import asyncio
import logging
import secrets

from aiohttp import web

from node.accounts import sessions
from node.accounts.users import LANGUAGES, authenticate
from node.errors import (
    LoginFailed,
    LoginThrottled,
    NodeError,
)
from node.net.addresses import request_address

from ..base import (
    LANGUAGE_COOKIE,
    LOGIN_COOKIE,
    LOGIN_CSRF,
    SESSION,
    SESSION_COOKIE,
    actor,
    logged_in,
    redirect,
    render,
    requires,
    safe_next,
    text,
)
from ..context import WEB

log = logging.getLogger("tafuta.web")


async def login_page(request: web.Request) -> web.Response:
    if request.get(SESSION):
        raise redirect(safe_next(request.query.get("next")))
    response = _login_form(request, safe_next(request.query.get("next")), "", 200)
    if request.query.get("lang") in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            request.query["lang"],
            httponly=True,
            samesite="Strict",
            secure=request.app[WEB].secure,
            max_age=365 * 86400,
        )
    return response


def _login_form(request: web.Request, next_path: str, error: str, status: int) -> web.Response:
    """The login page with a fresh login-CSRF token in both the form and its cookie."""
    token = secrets.token_urlsafe(32)
    request[LOGIN_CSRF] = token
    response = render(request, "login.html", status=status, next=next_path, error=error)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.app[WEB].secure,
        max_age=3600,
    )
    return response


async def login(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    form = await request.post()
    name, password = text(form, "name", 64), text(form, "password", 1024)
    address = request_address(request)
    try:
        user = await ctx.run(
            lambda store: authenticate(
                store, name, password, address, now=ctx.clock(), hasher=ctx.hasher
            )
        )
    except LoginFailed as failed:
        await asyncio.sleep(failed.pause)  # only this failed attempt waits; nothing is held
        return _login_form(request, safe_next(text(form, "next", 500)), str(failed), 401)
    except LoginThrottled as throttled:
        response = _login_form(request, safe_next(text(form, "next", 500)), str(throttled), 429)
        response.headers["Retry-After"] = str(throttled.retry_after)
        return response
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES and chosen != user["language"]:  # chosen on the login page
        await ctx.run(
            lambda store: store.set_user_language(
                user["id"], chosen, actor=user["name"], now=ctx.clock()
            )
        )
    old = request.cookies.get(SESSION_COOKIE)
    session_id, _session = await ctx.run(
        lambda store: sessions.start(store, user, replaces=old, now=ctx.clock())
    )
    response = web.HTTPSeeOther(safe_next(text(form, "next", 500)))
    response.set_cookie(
        SESSION_COOKIE, session_id, httponly=True, samesite="Strict", secure=ctx.secure, path="/"
    )
    response.del_cookie(LOGIN_COOKIE)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    session = request.get(SESSION)
    if session is not None:
        await ctx.run(lambda store: sessions.end(store, session, now=ctx.clock()))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@requires()
async def set_language(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    form = await request.post()
    language = text(form, "language", 5)
    if language not in LANGUAGES:
        raise NodeError(f"unknown language {language!r}")
    user = logged_in(request).user
    await ctx.run(
        lambda store: store.set_user_language(
            user["id"], language, actor=actor(request), now=ctx.clock()
        )
    )
    response = redirect(safe_next(text(form, "next", 500)))
    if request.cookies.get(LANGUAGE_COOKIE):  # the login page's choice follows this one
        response.set_cookie(
            LANGUAGE_COOKIE, language, httponly=True, samesite="Strict", secure=ctx.secure,
            max_age=365 * 86400,
        )  # fmt: skip
    raise response


async def home_page(request: web.Request) -> web.StreamResponse:
    raise redirect("/queue" if request.get(SESSION) else "/login")
