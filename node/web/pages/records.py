"""The records pages: list, show, edit, retract; importing a register; possible duplicates."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from node.canonical import FIELDS, KINDS, clean_record
from node.dates import DATE_ORDERS
from node.errors import (
    ImportRefused,
    NodeError,
    RecordNotFound,
)
from node.net.http_limits import HttpLimits
from node.records.exporter import as_written
from node.records.importer import apply_import, plan_import, read_mapping
from node.records.linking import dedup_records
from node.records.uploads import purge_stale_uploads, save_upload, uploads_folder
from node.store.db import Store

from ..base import (
    PAGE_SIZE,
    actor,
    page_count,
    page_number,
    record_url,
    redirect,
    render,
    requires,
    text,
)
from ..context import WEB, WebContext

log = logging.getLogger("tafuta.web")

UPLOAD_SUFFIXES = (".csv", ".xlsx", ".txt")
MAX_UPLOAD_BYTES = HttpLimits.max_upload_bytes  # the default of [web] max_upload_mb

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
        pages=page_count(total),
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
    page = page_number(request)
    pages = page_count(len(pairs))
    page = min(page, pages)
    shown = pairs[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return render(
        request, "duplicates.html", pairs=shown, total=len(pairs), count=count,
        record_url=record_url, page=page, pages=pages, base_query="",
    )  # fmt: skip
