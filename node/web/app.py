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

import asyncio
import json
import logging
import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from node.accounts import sessions
from node.accounts.users import LANGUAGES, authenticate
from node.canonical import DATE_ORDERS, FIELDS, KINDS, clean_record
from node.errors import (
    USER_ERRORS,
    ImportRefused,
    LoginFailed,
    LoginThrottled,
    NodeError,
    RecordNotFound,
)
from node.net.addresses import request_address
from node.net.http_limits import HttpLimits
from node.records.exporter import as_written
from node.records.importer import apply_import, plan_import, read_mapping
from node.records.linking import dedup_records
from node.records.uploads import purge_stale_uploads, save_upload, uploads_folder
from node.review import rules as review
from node.store.audit import verify_chain
from node.store.db import Store
from node.trust.budgets import ALERT_KINDS, DEFAULT_KEY_BUDGET, WINDOW_SECONDS, parse_budget
from node.trust.identity import invite_token
from node.trust.peers import (
    add_peer,
    budget_status,
    list_peers,
    revoke_peer,
    set_budget,
    trust_peer,
)

from .base import (
    LANGUAGE_COOKIE,
    LOGIN_COOKIE,
    LOGIN_CSRF,
    SESSION,
    SESSION_COOKIE,
    Handler,
    actor,
    float_or_none,
    logged_in,
    page_number,
    read_form,
    record_url,
    redirect,
    render,
    requires,
    safe_next,
    text,
)
from .context import WEB, WebContext
from .directory_pages import add_directory_pages
from .security import UNSAFE_METHODS, add_security_headers, check_origin, check_token

log = logging.getLogger("tafuta.web")

PAGE_SIZE = 50
STATUSES = (
    "suggested",
    "confirmed",
    "unsure",
    "rejected",
    "contact exchanged",
    "closed",
    "withdrawn",
)
# The partner caseworker's decision on a match, as the queue shows and filters it ("none":
# not decided yet).
PEER_DECISIONS = {
    "confirm": "partner confirmed",
    "reject": "partner rejected",
    "unsure": "partner unsure",
    "none": "partner has not decided",
}
UPLOAD_SUFFIXES = (".csv", ".xlsx", ".txt")
MAX_UPLOAD_BYTES = HttpLimits.max_upload_bytes  # the default of [web] max_upload_mb


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


# -- review ---------------------------------------------------------------------------------


@requires()
async def queue(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    q = request.query
    filters: dict[str, Any] = {
        "status": q.get("status", "suggested") if q.get("status") != "all" else None,
        "peer": q.get("peer") or None,
        "kind": q.get("kind") if q.get("kind") in KINDS else None,
        "min_score": float_or_none(q.get("min")),
        "max_score": float_or_none(q.get("max")),
        "peer_decision": q.get("partner") or None,
    }
    if filters["peer_decision"] not in (None, *PEER_DECISIONS):
        raise NodeError(f"unknown partner decision {q.get('partner')!r}; choose from the list")
    page = page_number(request)

    def load(store: Store):
        rows, total = store.review_queue(**filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        counts = store.status_counts()
        return (
            rows,
            total,
            counts,
            store.peer_decision_counts(),
            [p["name"] for p in store.iter_peers()],
        )

    rows, total, counts, partner_counts, peers = await ctx.run(load)
    shown = {k: ("" if v is None else v) for k, v in filters.items()}
    shown["status"] = q.get("status", "suggested")
    base = {k: v for k, v in q.items() if k != "page"}
    return render(
        request,
        "queue.html",
        rows=rows,
        total=total,
        counts=counts,
        partner_counts=partner_counts,
        partner_decisions=PEER_DECISIONS,
        peers=peers,
        statuses=STATUSES,
        kinds=KINDS,
        filters=shown,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        base_query=urlencode(base),
    )


@requires()
async def match_detail(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    match_id = request.match_info["match_id"]
    user = logged_in(request).user

    def load(store: Store):
        match = review.get_match(store, match_id)
        try:
            record = store.get_record(match["local_ref"])
        except RecordNotFound:
            record = None
        store.audit(
            actor(request), "record-viewed", match["local_ref"], f"match {match_id}", ctx.clock()
        )
        return (
            match,
            record,
            store.agreeing_key_types(
                match["peer_id"], match["local_pseudonym"], match["peer_pseudonym"]
            ),
            store.decisions(match_id),
            review.undoable(store, match, user, ctx.clock()),
        )

    match, record, agreeing, history, undoable = await ctx.run(load)
    return render(
        request,
        "match.html",
        match=match,
        record=record,
        fields=FIELDS,
        agreeing=agreeing,
        history=history,
        undoable=undoable,
        contact=review.peer_contact(match),
        outcomes=review.OUTCOMES,
        decidable=match["status"] in review.DECIDABLE,
        partner_decisions=PEER_DECISIONS,
        when=_when,
    )


@requires()
async def decide(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    match_id = request.match_info["match_id"]
    form = await request.post()
    user = logged_in(request).user
    await ctx.run(
        lambda store: review.decide(
            store, match_id, text(form, "decision", 20), text(form, "note"), user, ctx.clock()
        )
    )
    raise redirect(f"/matches/{match_id}")


@requires()
async def undo(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    match_id = request.match_info["match_id"]
    user = logged_in(request).user
    await ctx.run(lambda store: review.undo(store, match_id, user, ctx.clock()))
    raise redirect(f"/matches/{match_id}")


@requires()
async def close(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    match_id = request.match_info["match_id"]
    form = await request.post()
    user = logged_in(request).user
    await ctx.run(
        lambda store: review.close(
            store, match_id, text(form, "outcome", 40), text(form, "note"), user, ctx.clock()
        )
    )
    raise redirect(f"/matches/{match_id}")


def _when(ts: int | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- records --------------------------------------------------------------------------------


@requires()
async def records(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    query = request.query.get("q", "")[:200]
    kind = request.query.get("kind") if request.query.get("kind") in KINDS else None
    page = page_number(request)
    rows, total = await ctx.run(
        lambda store: store.search_records(query, kind, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    )
    base = {k: v for k, v in request.query.items() if k != "page"}
    return render(
        request,
        "records.html",
        rows=rows,
        total=total,
        query=query,
        kind=kind or "",
        kinds=KINDS,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        base_query=urlencode(base),
        record_url=record_url,
    )


@requires()
async def record_show(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    ref = request.match_info["ref"]

    def load(store: Store):
        record = store.get_record(ref)
        store.audit(actor(request), "record-viewed", ref, "", ctx.clock())
        return record, store.matches_for_record(ref)

    record, matches = await ctx.run(load)
    return render(
        request,
        "record.html",
        record=record,
        written=json.loads(record.get("raw_values") or "{}"),
        fields=FIELDS,
        matches=matches,
        record_url=record_url,
    )


@requires()
async def record_form(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    ref = request.match_info.get("ref")
    record = await ctx.run(lambda store: store.get_record(ref)) if ref else {}
    return render(
        request,
        "record_form.html",
        record=as_written(record, ctx.home.date_order) if record else {},
        fields=FIELDS,
        problems=[],
        editing=bool(ref),
        kinds=KINDS,
        record_url=record_url,
    )


@requires()
async def record_save(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    editing = request.match_info.get("ref")
    form = await request.post()
    row = {f: text(form, f, 20_000) for f in FIELDS}
    if editing:
        row["ref"] = editing
    record, problems = clean_record(
        row, None, date.today(), ctx.home.date_order, ctx.home.consent_defaults
    )
    messages = [p.describe("form") for p in problems]

    def save(store: Store) -> list[str]:
        existing = store.existing_content([record["ref"]]) if record.get("ref") else {}
        if not editing and existing:
            return [f"form, ref: {record['ref']!r} is already used by another record"]
        if editing and not existing:
            raise RecordNotFound(f"no record with ref {editing!r}")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        added, updated = ([], [record]) if editing else ([record], [])
        counts = {"added": len(added), "updated": len(updated), "unchanged": 0, "rejected": 0}
        store.write_import(added, updated, "web form", now, counts, actor=actor(request))
        return []

    if not messages:
        messages = await ctx.run(save)
    if messages:
        return render(
            request,
            "record_form.html",
            status=400,
            record=row,
            fields=FIELDS,
            problems=messages,
            editing=bool(editing),
            kinds=KINDS,
            record_url=record_url,
        )
    raise redirect(record_url(record["ref"]))


@requires()
async def record_retract(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    ref = request.match_info["ref"]
    form = await request.post()
    reason = text(form, "reason", 500).strip()
    if not reason:
        raise NodeError("give a reason for retracting the record")

    def retract(store: Store) -> None:
        store.get_record(ref)
        store.retract_record(ref, actor=actor(request), reason=reason, now=ctx.clock())

    await ctx.run(retract)
    raise redirect(record_url(ref))


@requires()
async def import_page(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    purge_stale_uploads(ctx.home.path)
    return render(
        request,
        "import.html",
        plan=None,
        problems=[],
        upload="",
        kinds=KINDS,
        date_orders=DATE_ORDERS,
        date_order=ctx.home.date_order,
        columns="",
    )


def _import_options(form, ctx: WebContext) -> tuple[str | None, str, str, dict[str, str], list]:
    """The upload form's kind, date order and column mapping (one FIELD=COLUMN per line), and
    the problems of the mapping, to be shown with the file's."""
    kind = text(form, "kind", 10) or None
    if kind is not None and kind not in KINDS:
        raise NodeError(f"unknown kind {kind!r}")
    date_order = text(form, "date_order", 10) or ctx.home.date_order
    if date_order not in DATE_ORDERS:
        raise NodeError(f"unknown date order {date_order!r}; choose dmy or mdy")
    columns = text(form, "columns", 5_000)
    lines = [line for line in columns.splitlines() if line.strip()]
    return kind, date_order, columns, *read_mapping(lines, label="column")


def _plan_upload(
    ctx: WebContext,
    store: Store,
    path: Path,
    kind: str | None,
    date_order: str,
    mapping: dict[str, str],
    mapping_problems: list,
):
    """What importing an uploaded file would do, read with the form's options and within the
    node's upload limits: the preview and the confirmation read it the same way."""
    return plan_import(
        path,
        store,
        mapping,
        default_kind=kind,
        date_order=date_order,
        consent_defaults=ctx.home.consent_defaults,
        mapping_problems=mapping_problems,
        max_rows=ctx.max_upload_rows,
    )


def _uploads(ctx: WebContext) -> Path:
    purge_stale_uploads(ctx.home.path)
    return uploads_folder(ctx.home.path)


@requires()
async def import_upload(request: web.Request) -> web.Response:
    """Save the upload under a random name and show what importing it would do.

    The file is copied to disk in chunks up to ``[web] max_upload_mb``; reading it checks the
    header before any row and stops past ``[web] max_upload_rows``, so a huge workbook is
    refused without being read whole."""
    ctx = request.app[WEB]
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField) or not upload.filename:
        raise NodeError("choose a CSV or XLSX file to upload")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise NodeError(f"{upload.filename!r} is not a CSV or XLSX file")
    kind, date_order, columns, mapping, mapping_problems = _import_options(form, ctx)
    name = f"{secrets.token_hex(12)}{suffix}"
    path = _uploads(ctx) / name
    # Off the event loop: copying up to the size limit to disk takes a moment.
    await asyncio.get_running_loop().run_in_executor(
        None, save_upload, upload.file, path, ctx.max_upload_bytes
    )

    def plan(store: Store):
        try:
            return _plan_upload(ctx, store, path, kind, date_order, mapping, mapping_problems), []
        except ImportRefused as refused:
            path.unlink(missing_ok=True)
            return None, refused.problems[:200]

    plan_, problems = await ctx.run(plan)
    status = 400 if problems else 200
    return render(
        request,
        "import.html",
        status=status,
        plan=plan_,
        problems=problems,
        upload=name if plan_ else "",
        kind=kind or "",
        original=upload.filename,
        kinds=KINDS,
        date_orders=DATE_ORDERS,
        date_order=date_order,
        columns=columns,
    )


@requires()
async def import_confirm(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    form = await request.post()
    name = text(form, "upload", 64)
    kind, date_order, _columns, mapping, mapping_problems = _import_options(form, ctx)
    if not name or "/" in name or name.startswith(".") or Path(name).suffix not in UPLOAD_SUFFIXES:
        raise NodeError("that upload is not known; upload the file again")
    path = _uploads(ctx) / name
    if not path.exists():
        raise NodeError("that upload is not known any more; upload the file again")

    def apply(store: Store) -> dict:
        plan = _plan_upload(ctx, store, path, kind, date_order, mapping, mapping_problems)
        apply_import(plan, store)
        path.unlink(missing_ok=True)
        store.audit(
            actor(request),
            "records-imported",
            text(form, "original", 200),
            str(plan.counts),
            ctx.clock(),
        )
        return plan.counts

    counts = await ctx.run(apply)
    raise redirect(
        "/records?" + urlencode({"imported": ", ".join(f"{k} {v}" for k, v in counts.items())})
    )


@requires()
async def duplicates(request: web.Request) -> web.Response:
    ctx = request.app[WEB]

    def load(store: Store):
        rows = list(store.iter_records())
        return dedup_records(rows, lexicon=ctx.lexicon), len(rows)

    pairs, count = await ctx.run(load)
    return render(request, "duplicates.html", pairs=pairs[:500], count=count, record_url=record_url)


# -- peers ----------------------------------------------------------------------------------


@requires("coordinator")
async def peers_page(request: web.Request) -> web.Response:
    ctx = request.app[WEB]

    def load(store: Store):
        now = ctx.clock()
        listing = list_peers(ctx.home, store, now)
        for peer in listing:
            row = store.peer_by_name(peer["name"])
            if row is None:  # removed since the listing was read
                continue
            state = store.peer_sync_state(row["id"])
            peer["last_contact"] = _when(state["last_contact_at"])
            peer["keys"] = store.key_counts(row["id"])
            peer["budget"] = budget_status(store, peer["name"], now=now)
        alerts = store.peer_alerts(ALERT_KINDS, now - WINDOW_SECONDS)
        for alert in alerts:
            alert["when"] = _when(alert["at"])
        return listing, alerts

    listing, alerts = await ctx.run(load)
    token = invite_token(ctx.home) if request.query.get("invite") else ""
    return render(
        request, "peers.html", peers=listing, token=token, alerts=alerts,
        default_budget=DEFAULT_KEY_BUDGET,
    )  # fmt: skip


@requires("coordinator")
async def peers_action(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    action = request.match_info["action"]
    form = await request.post()
    who = actor(request)

    def act(store: Store) -> None:
        if action == "add":
            add_peer(ctx.home, store, text(form, "token", 70_000).strip(), actor=who)
        elif action == "trust":
            budget = parse_budget(text(form, "budget", 40) or DEFAULT_KEY_BUDGET)
            trust_peer(
                ctx.home, store, text(form, "name", 200), text(form, "fingerprint", 200),
                actor=who, budget=budget,
            )  # fmt: skip
        elif action == "budget":
            set_budget(store, text(form, "name", 200), text(form, "budget", 40), actor=who)
        elif action == "revoke":
            revoke_peer(store, text(form, "name", 200), text(form, "reason", 500), actor=who)
        else:
            raise web.HTTPNotFound()

    await ctx.run(act)
    raise redirect("/peers")


# -- audit ----------------------------------------------------------------------------------


@requires("admin")
async def audit_page(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    page = page_number(request)
    query = request.query.get("q", "")[:100]
    rows, total = await ctx.run(
        lambda store: (store.audit_page((page - 1) * 100, 100, query), store.audit_count())
    )
    return render(
        request,
        "audit.html",
        rows=rows,
        total=total,
        page=page,
        query=query,
        report=None,
        pages=max(1, -(-total // 100)),
    )


@requires("admin")
async def audit_verify(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    report = await ctx.run(lambda store: verify_chain(store.iter_audit()))
    return render(
        request, "audit.html", rows=[], total=report.rows, page=1, query="", report=report, pages=1
    )


async def home_page(request: web.Request) -> web.StreamResponse:
    raise redirect("/queue" if request.get(SESSION) else "/login")


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
