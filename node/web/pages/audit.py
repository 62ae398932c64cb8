"""The admin's audit log page and its chain check."""

from __future__ import annotations

import logging

from aiohttp import web

from node.store.audit import verify_chain

from ..base import (
    page_number,
    render,
    requires,
)
from ..context import WEB

log = logging.getLogger("tafuta.web")


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
