"""The review queue and one match: decide, undo, close (the rules are node/review/)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from node.canonical import FIELDS, KINDS
from node.errors import (
    NodeError,
    RecordNotFound,
)
from node.review import rules as review
from node.statuses import Status
from node.store.db import Store

from ..base import (
    PAGE_SIZE,
    actor,
    float_or_none,
    logged_in,
    page_count,
    page_number,
    redirect,
    render,
    requires,
    text,
    when,
)
from ..context import WEB

log = logging.getLogger("tafuta.web")

STATUSES = tuple(Status)
# The partner caseworker's decision on a match, as the queue shows and filters it ("none":
# not decided yet).
PEER_DECISIONS = {
    "confirm": "partner confirmed",
    "reject": "partner rejected",
    "unsure": "partner unsure",
    "none": "partner has not decided",
}

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
        pages=page_count(total),
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
            # Where the peer (or a linkage node) compares, we hold no keys to list.
            store.peer_evaluation(match["peer_id"]) in ("both", "ours"),
            store.decisions(match_id),
            review.undoable(store, match, user, ctx.clock()),
        )

    match, record, agreeing, compared_here, history, undoable = await ctx.run(load)
    return render(
        request,
        "match.html",
        match=match,
        record=record,
        fields=FIELDS,
        agreeing=agreeing,
        compared_here=compared_here,
        history=history,
        undoable=undoable,
        contact=review.peer_contact(match),
        outcomes=review.OUTCOMES,
        decidable=match["status"] in review.DECIDABLE,
        partner_decisions=PEER_DECISIONS,
        when=when,
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
