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
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from functools import wraps
from pathlib import Path
from urllib.parse import quote, urlencode

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .. import review, sessions
from ..audit import verify_chain
from ..budgets import ALERT_KINDS, DEFAULT_KEY_BUDGET, WINDOW_SECONDS, parse_budget
from ..canonical import FIELDS, KINDS, clean_record
from ..errors import (
    USER_ERRORS,
    Forbidden,
    ImportRefused,
    LoginFailed,
    LoginThrottled,
    NodeError,
    RecordNotFound,
)
from ..identity import invite_token
from ..importer import apply_import, plan_import
from ..linking import dedup_records
from ..peers import add_peer, budget_status, list_peers, revoke_peer, set_budget, trust_peer
from ..store import Store
from ..users import LANGUAGES, authenticate, may
from .context import WEB, WebContext
from .i18n import LANGUAGES as LANGUAGE_NAMES
from .i18n import translator
from .security import UNSAFE_METHODS, add_security_headers, check_origin, check_token

log = logging.getLogger("tafuta.web")

SESSION = web.RequestKey("session", object)  # the Session, or None when not logged in
LOGIN_CSRF = web.RequestKey("login_csrf", str)
SESSION_COOKIE = "tafuta_session"
LOGIN_COOKIE = "tafuta_login"
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
UPLOAD_SUFFIXES = (".csv", ".xlsx", ".txt")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
        elif request[SESSION] is not None:
            check_token(request[SESSION].csrf, given)
        else:
            raise web.HTTPSeeOther("/login")
    return await handler(request)


# -- helpers --------------------------------------------------------------------------------


async def read_form(request: web.Request):
    """The request's form, or 400 when its body cannot be read as one (a multipart body
    without its boundary, a boundary too long, a part with a broken header, an unknown
    charset …). aiohttp raises ValueError, LookupError or its own HttpProcessingError for
    these; uncaught they were a 500."""
    try:
        return await request.post()
    except (ValueError, LookupError, HttpProcessingError) as err:
        message = getattr(err, "message", None) or str(err)
        raise web.HTTPBadRequest(text=f"the form could not be read: {message[:200]}") from None


def render(request: web.Request, template: str, *, status: int = 200, **values) -> web.Response:
    ctx = request.app[WEB]
    session = request.get(SESSION)
    user = session.user if session else None
    language = user["language"] if user else "en"
    html = ctx.templates.get_template(template).render(
        _=translator(language),
        user=user,
        csrf=session.csrf if session else request.get(LOGIN_CSRF, ""),
        language=language,
        languages=LANGUAGE_NAMES,
        may=(lambda role: bool(user) and may(user, role)),
        node_name=ctx.home.name,
        path=request.path,
        **values,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


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
    return f"user:{request[SESSION].user['name']}"


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


def redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


def record_url(ref: str) -> str:
    return "/records/" + quote(ref, safe="")


# -- login ----------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    if request.get(SESSION):
        raise redirect(safe_next(request.query.get("next")))
    return _login_form(request, safe_next(request.query.get("next")), "", 200)


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
    address = request.remote or "unknown"
    try:
        user = await ctx.run(
            lambda store: authenticate(
                store, name, password, address, now=ctx.clock(), hasher=ctx.hasher
            )
        )
    except (LoginFailed, LoginThrottled) as refused:
        return _login_form(
            request, safe_next(text(form, "next", 500)), str(refused), refused.http_status
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
    user = request[SESSION].user
    await ctx.run(
        lambda store: store.set_user_language(
            user["id"], language, actor=actor(request), now=ctx.clock()
        )
    )
    raise redirect(safe_next(text(form, "next", 500)))


# -- review ---------------------------------------------------------------------------------


@requires()
async def queue(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    q = request.query
    filters = {
        "status": q.get("status", "suggested") if q.get("status") != "all" else None,
        "peer": q.get("peer") or None,
        "kind": q.get("kind") if q.get("kind") in KINDS else None,
        "min_score": float_or_none(q.get("min")),
        "max_score": float_or_none(q.get("max")),
    }
    page = page_number(request)

    def load(store: Store):
        rows, total = store.review_queue(**filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        return rows, total, store.status_counts(), [p["name"] for p in store.iter_peers()]

    rows, total, counts, peers = await ctx.run(load)
    shown = {k: ("" if v is None else v) for k, v in filters.items()}
    shown["status"] = q.get("status", "suggested")
    base = {k: v for k, v in q.items() if k != "page"}
    return render(
        request,
        "queue.html",
        rows=rows,
        total=total,
        counts=counts,
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
    user = request[SESSION].user

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
        when=_when,
    )


@requires()
async def decide(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    match_id = request.match_info["match_id"]
    form = await request.post()
    user = request[SESSION].user
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
    user = request[SESSION].user
    await ctx.run(lambda store: review.undo(store, match_id, user, ctx.clock()))
    raise redirect(f"/matches/{match_id}")


@requires()
async def close(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    match_id = request.match_info["match_id"]
    form = await request.post()
    user = request[SESSION].user
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
        request, "record.html", record=record, fields=FIELDS, matches=matches, record_url=record_url
    )


@requires()
async def record_form(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    ref = request.match_info.get("ref")
    record = await ctx.run(lambda store: store.get_record(ref)) if ref else {}
    return render(
        request,
        "record_form.html",
        record=record,
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
    record, problems = clean_record(row, None, date.today())
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
    return render(request, "import.html", plan=None, problems=[], upload="", kinds=KINDS)


def _uploads(ctx: WebContext) -> Path:
    folder = ctx.home.path / "uploads"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


@requires()
async def import_upload(request: web.Request) -> web.Response:
    """Save the upload under a random name and show what importing it would do."""
    ctx = request.app[WEB]
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField) or not upload.filename:
        raise NodeError("choose a CSV or XLSX file to upload")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise NodeError(f"{upload.filename!r} is not a CSV or XLSX file")
    kind = text(form, "kind", 10) or None
    if kind is not None and kind not in KINDS:
        raise NodeError(f"unknown kind {kind!r}")
    name = f"{secrets.token_hex(12)}{suffix}"
    path = _uploads(ctx) / name
    path.write_bytes(upload.file.read(MAX_UPLOAD_BYTES + 1)[:MAX_UPLOAD_BYTES])

    def plan(store: Store):
        try:
            return plan_import(path, store, default_kind=kind), []
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
    )


@requires()
async def import_confirm(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    form = await request.post()
    name = text(form, "upload", 64)
    kind = text(form, "kind", 10) or None
    if not name or "/" in name or name.startswith(".") or Path(name).suffix not in UPLOAD_SUFFIXES:
        raise NodeError("that upload is not known; upload the file again")
    path = _uploads(ctx) / name
    if not path.exists():
        raise NodeError("that upload is not known any more; upload the file again")

    def apply(store: Store) -> dict:
        plan = plan_import(path, store, default_kind=kind)
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
    from .directory_pages import add_directory_pages  # it imports this module's helpers

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
