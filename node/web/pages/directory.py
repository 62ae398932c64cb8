"""The directory and statistics pages of the web UI (docs/directory.md, "Pages").

Routes (all need a session; roles as noted):

    GET  /directory                     search: service, district or place, language   caseworker
    GET  /directory/export.json|.csv    the directory as a file for a public website   caseworker
    GET  /directory/edit  POST …        this organisation's profile, re-signed on save  admin
    GET  /stats  (?view=network)        published tables with CSS-only bar charts      caseworker

The work is done by node/directory/profile.py and node/directory/stats.py, exactly as for the CLI;
this module
only turns forms into arguments and results into what the templates show. Saving the profile
signs it, so it needs the keys the server unlocked at start (``WebContext.keyring``); without
them the page says so and changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from node.directory.profile import (
    DirectoryError,
    directory_search,
    edit_profile,
    export_rows,
    export_text,
    listings,
    own_key_ids,
    parse_region,
    today_utc,
)
from node.directory.stats import network_stats, own_stats, own_view
from node.runtime import node_gazetteer, stats_k
from node.store.db import Store
from protocol.directory import ORGANISATION_TYPES, PROFILE_FIELDS, SERVICES
from protocol.errors import BadProfile

from ..base import actor, redirect, render, requires, text
from ..context import WEB

EXPORT_TYPES = {"json": "application/json", "csv": "text/csv"}
BAR_STEP = 5  # bar widths are classes .w-0 … .w-100 (style.css): the CSP allows no inline style


# -- directory search and export -------------------------------------------------------------


@requires()
async def directory_page(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    q = request.query
    wanted = {
        "service": q.get("service", "")[:60].strip(),
        "district": q.get("district", "")[:200].strip(),
        "language": q.get("language", "")[:60].strip(),
    }
    now = ctx.clock()
    gazetteer = node_gazetteer(ctx.home, ctx.lexicon)

    def search(store: Store) -> list[dict]:
        return directory_search(
            store,
            gazetteer,
            today=today_utc(now),
            own_key_ids=own_key_ids(ctx.home.identity_path),
            **{k: v or None for k, v in wanted.items()},
        )

    error, status, hits = "", 200, []
    try:
        hits = await ctx.run(search)
    except DirectoryError as refused:
        error, status = str(refused), 400
    place = wanted["district"].split(",")[0].strip()
    unknown_place = bool(place) and not gazetteer.find(place)
    return render(
        request,
        "directory.html",
        status=status,
        hits=hits,
        wanted=wanted,
        searched=any(wanted.values()),
        services=SERVICES,
        error=error,
        unknown_place=place if unknown_place else "",
    )


@requires()
async def directory_export(request: web.Request) -> web.Response:
    """The whole directory as a download; ``?verified_only=1`` leaves relayed entries out."""
    ctx = request.app[WEB]
    fmt = request.match_info["fmt"]
    verified_only = request.query.get("verified_only") == "1"
    now = ctx.clock()

    def rows(store: Store) -> list[dict]:
        shown = listings(store, today_utc(now), own_key_ids(ctx.home.identity_path))
        return export_rows(shown, verified_only)

    body = export_text(await ctx.run(rows), fmt)
    name = f"directory{'-verified' if verified_only else ''}.{fmt}"
    return web.Response(
        text=body,
        content_type=EXPORT_TYPES[fmt],
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- this organisation's profile --------------------------------------------------------------


def form_from_profile(profile: dict | None) -> dict[str, Any]:
    """What the edit form shows for a stored profile (or an empty one)."""
    profile = profile or {}
    return {
        "name": profile.get("name", ""),
        "type": profile.get("type", ""),
        "services": list(profile.get("services", [])),
        "regions": "\n".join(
            f"{r['country']}: {', '.join(r['districts'])}" for r in profile.get("regions", [])
        ),
        "languages": ", ".join(profile.get("languages", [])),
        "contact_person": profile.get("contact_person") or "",
        "phone": profile.get("phone") or "",
        "email": profile.get("email") or "",
        "hours": profile.get("hours") or "",
        "last_verified": "",
    }


def form_values(form) -> dict[str, Any]:
    """The submitted form as the edit page shows it again."""
    values: dict[str, Any] = {name: text(form, name, 4000).strip() for name in PROFILE_FIELDS}
    values["services"] = [s for s in form.getall("services", []) if isinstance(s, str) and s][:50]
    return values


def changes_from_form(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The whole profile from the form (every field replaced), and the problems found before
    the profile checks run (regions that are not COUNTRY: DISTRICT, …)."""
    problems, regions = [], []
    for line in values["regions"].splitlines():
        if line.strip():
            try:
                regions.append(parse_region(line.strip()))
            except DirectoryError as err:
                problems.append(str(err))
    changes = {
        name: values[name] for name in ("name", "type", "contact_person", "phone", "email", "hours")
    }
    changes["services"] = values["services"]
    changes["regions"] = regions
    changes["languages"] = [x.strip() for x in values["languages"].split(",") if x.strip()]
    changes["last_verified"] = values["last_verified"] or None  # empty: today
    return changes, problems


FIELD_WORDS = (
    ("regions", ("region", "country", "districts")),
    ("services", ("services",)),
    ("languages", ("language",)),
    ("last_verified", ("last_verified",)),
    ("contact_person", ("contact_person",)),
    ("type", ("type",)),
    ("phone", ("phone",)),
    ("email", ("email",)),
    ("hours", ("hours",)),
    ("name", ("name",)),
)


def problems_by_field(problems: list[str]) -> dict[str, list[str]]:
    """Each problem under the form field it is about (by the field named in it), so the page
    can show it in place; "" collects the others."""
    placed: dict[str, list[str]] = {}
    for problem in problems:
        field = next(
            (f for f, words in FIELD_WORDS if any(re.search(rf"\b{w}\b", problem) for w in words)),
            "",
        )
        placed.setdefault(field, []).append(problem)
    return placed


def _edit_page(
    request: web.Request,
    values: dict[str, Any],
    *,
    status: int = 200,
    problems: Sequence[str] = (),
    current: dict | None = None,
    saved: str = "",
    unknown: Sequence[str] = (),
) -> web.Response:
    return render(
        request,
        "directory_edit.html",
        status=status,
        values=values,
        problems=list(problems),
        placed=problems_by_field(list(problems)),
        current=current,
        saved=saved,
        unknown=list(unknown),
        types=ORGANISATION_TYPES,
        services=SERVICES,
        can_sign=request.app[WEB].keyring is not None,
    )


@requires("admin")
async def profile_form(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    current = await ctx.run(lambda store: store.own_directory_entry())
    profile = _profile_of(current)
    unknown: list[str] = []
    if profile:
        gazetteer = node_gazetteer(ctx.home, ctx.lexicon)
        unknown = [
            d
            for r in profile["regions"]
            for d in r["districts"]
            if not gazetteer.find(d, r["country"])
        ]
    return _edit_page(
        request,
        form_from_profile(profile),
        current=_with_version(current),
        saved=request.query.get("saved", "")[:10],
        unknown=unknown,
    )


@requires("admin")
async def profile_save(request: web.Request) -> web.StreamResponse:
    ctx = request.app[WEB]
    form = await request.post()
    values = form_values(form)
    keyring = ctx.keyring
    if keyring is None:
        return _edit_page(
            request,
            values,
            status=503,  # the service (signing) is unavailable, not the user's mistake
            problems=[
                "this server was started without the node's keys, so it cannot sign the "
                "profile; nothing was changed"
            ],
        )
    changes, problems = changes_from_form(values)
    now = ctx.clock()
    who = actor(request)

    def save(store: Store) -> int:
        entry = edit_profile(store, keyring, changes, now=now, today=today_utc(now))
        store.audit(who, "directory-profile-edited", f"version {entry['version']}", "", now)
        return entry["version"]

    if not problems:
        try:
            version = await ctx.run(save)
        except BadProfile as refused:
            problems = list(refused.problems)
    if problems:
        current = await ctx.run(lambda store: store.own_directory_entry())
        return _edit_page(
            request,
            values,
            status=400,
            problems=problems,
            current=_with_version(current),
        )
    raise redirect(f"/directory/edit?saved={version}")


def _with_version(row: dict | None) -> dict | None:
    """The current entry's profile and version, for the edit page; None before the first."""
    profile = _profile_of(row)
    return None if row is None or profile is None else {"version": row["version"], **profile}


def _profile_of(row: dict | None) -> dict | None:
    if row is None:
        return None
    return json.loads(row["entry"])["profile"]


# -- statistics --------------------------------------------------------------------------------


def width_class(value: int | None, largest: int) -> str:
    """``w-N``: the bar's length in steps of BAR_STEP percent; a non-zero count gets at least
    one step so it does not look like zero."""
    if not value or not largest:
        return "w-0"
    steps = round(value / largest * 100 / BAR_STEP)
    return f"w-{max(1, min(steps, 100 // BAR_STEP)) * BAR_STEP}"


def chart_rows(table: dict) -> list[dict]:
    """One chart row per table row (without the total row): a bar per kind and one for the
    row's total, scaled to the largest count the table shows (the grand total, unless it is
    hidden), so a bar reads as a share of all records. Most small tables hide their cells by
    kind, so the row totals are often the only bars."""
    body = [
        (label, cells)
        for label, cells in zip(table["rows"], table["cells"], strict=True)
        if label != "total"
    ]
    largest = max((cell["value"] or 0 for cells in table["cells"] for cell in cells), default=0)
    return [
        {
            "label": label,
            "bars": [
                {"kind": kind, "cell": cell, "width": width_class(cell["value"], largest)}
                for kind, cell in zip(table["columns"], cells, strict=True)
            ],
        }
        for label, cells in body
    ]


@requires()
async def stats_page(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    network = request.query.get("view") == "network"
    k = stats_k(ctx.home)
    gazetteer = node_gazetteer(ctx.home, ctx.lexicon)
    now = ctx.clock()

    def compute(store: Store) -> dict:
        if network:
            return network_stats(store, gazetteer, k=k, now=now)
        return own_view(own_stats(store, gazetteer, k=k, now=now))

    view = await ctx.run(compute)
    tables = [
        {"name": name, **table, "chart": chart_rows(table)}
        for name, table in view["tables"].items()
    ]
    return render(
        request,
        "stats.html",
        tables=tables,
        nodes=view["nodes"],
        network=network,
        k=k,
    )


def add_directory_pages(router: web.UrlDispatcher) -> None:
    router.add_get("/directory", directory_page)
    router.add_get("/directory/export.{fmt:json|csv}", directory_export)
    router.add_get("/directory/edit", profile_form)
    router.add_post("/directory/edit", profile_save)
    router.add_get("/stats", stats_page)
