"""The coordinator's peers page: invite, add, trust, revoke, budgets."""

from __future__ import annotations

import logging

from aiohttp import web

from node.store.db import Store
from node.trust.budgets import ALERT_KINDS, WINDOW_SECONDS, parse_budget
from node.trust.identity import invite_token
from node.trust.peers import (
    add_peer,
    budget_status,
    default_budget,
    list_peers,
    revoke_peer,
    set_budget,
    trust_peer,
)

from ..base import (
    actor,
    redirect,
    render,
    requires,
    text,
    when,
)
from ..context import WEB

log = logging.getLogger("tafuta.web")


# -- peers ----------------------------------------------------------------------------------


@requires("coordinator")
async def peers_page(request: web.Request) -> web.Response:
    ctx = request.app[WEB]

    def load(store: Store):
        now = ctx.clock()
        offered = default_budget(ctx.home, store)
        listing = list_peers(ctx.home, store, now)
        for peer in listing:
            row = store.peer_by_name(peer["name"])
            if row is None:  # removed since the listing was read
                continue
            state = store.peer_sync_state(row["id"])
            peer["last_contact"] = when(state["last_contact_at"])
            peer["keys"] = store.key_counts(row["id"])
            peer["budget"] = budget_status(store, peer["name"], offered, now=now)
        alerts = store.peer_alerts(ALERT_KINDS, now - WINDOW_SECONDS)
        for alert in alerts:
            alert["when"] = when(alert["at"])
        return listing, alerts, offered

    listing, alerts, offered = await ctx.run(load)
    token = invite_token(ctx.home) if request.query.get("invite") else ""
    return render(
        request, "peers.html", peers=listing, token=token, alerts=alerts,
        default_budget=offered,
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
            budget = parse_budget(text(form, "budget", 40) or default_budget(ctx.home, store))
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
