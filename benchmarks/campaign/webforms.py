"""The web campaign's request parts (webrequests.py): the state of B's live sessions, the helpers
that build a form, a cookie and a valid request, and the malformed bodies (multipart, huge
fields, undecodable bytes, uploads past the limits)."""

from __future__ import annotations

import io
import random
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from node.web.app import LOGIN_COOKIE, MAX_UPLOAD_BYTES, SESSION_COOKIE

from .common import BadRequest

# Tables that refused logins add to by design (the failure and its audit row).


@dataclass
class WebState:
    """Cookies and tokens of B's users, made before the count."""

    url: str
    live: dict[str, tuple[str, str]] = field(default_factory=dict)  # role -> (cookie, csrf)
    other: tuple[str, str] = ("", "")  # a second caseworker session
    logged_out: str = ""
    expired: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)


def _fill(path: str, rng: random.Random, refs: list[str]) -> str:
    ref = rng.choice(refs) if refs and rng.random() < 0.7 else f"NO-SUCH-{rng.randrange(999)}"
    return path.format(match=secrets.token_hex(16), ref=quote(ref, safe=""))


def _cookie(**values: str) -> str:
    return "; ".join(f"{k}={v}" for k, v in values.items())


def _form(fields: dict) -> tuple[bytes, dict]:
    return urlencode(fields).encode(), {"Content-Type": "application/x-www-form-urlencoded"}


def _role_for(path: str) -> str:
    if path.startswith("/peers"):
        return "coordinator"
    if path.startswith(("/audit", "/directory")):
        return "admin"
    return "caseworker"


def _live(ctx, path: str) -> tuple[str, str]:
    return ctx.extra["web"].live[_role_for(path)]


def _valid(ctx, path: str) -> dict:
    state: WebState = ctx.extra["web"]
    cookie, _ = _live(ctx, path)
    return {"Cookie": _cookie(**{SESSION_COOKIE: cookie}), "Origin": state.url}


def _bad_multipart(ctx, rng):

    path = rng.choice(["/import", "/records/new", "/peers/add", "/language", "/import/confirm"])
    _, token = _live(ctx, path)
    boundary = "b" + secrets.token_hex(8)
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="register.csv"\r\nContent-Type: text/csv\r\n\r\nref,kind\r\n'
    ).encode()
    choice = rng.randrange(8)
    content_type = f"multipart/form-data; boundary={boundary}"
    if choice == 0:
        body = part  # no closing boundary
    elif choice == 1:
        body, content_type = part, "multipart/form-data"  # no boundary parameter
    elif choice == 2:
        body = rng.randbytes(rng.randrange(0, 4000))
    elif choice == 3:
        body = part.replace(b"\r\n\r\n", b"\r\n", 1) + f"--{boundary}--\r\n".encode()
    elif choice == 4:
        body = part + f"--{boundary}--\r\n".encode()
        content_type = f"multipart/form-data; boundary={'x' * rng.randrange(71, 5000)}"
    elif choice == 5:
        body = part + f"--{boundary}--\r\n".encode()
        body = body[: rng.randrange(1, len(body))]
    elif choice == 6:
        header = 'Content-Disposition: form-data; name="' + "n" * rng.randrange(9000, 20000) + '"'
        body = f"--{boundary}\r\n{header}\r\n\r\nx\r\n--{boundary}--\r\n".encode()
    else:
        body = part + f"--{boundary}--\r\n".encode()
        content_type = rng.choice(
            [
                "multipart/mixed; boundary=" + boundary,
                "application/x-www-form-urlencoded; charset=bogus-9",
                'multipart/form-data; boundary="unterminated',
            ]
        )
    return BadRequest("POST", path, body, {**_valid(ctx, path), "Content-Type": content_type})


def _huge_fields(ctx, rng):

    path = rng.choice(
        [
            "/records/new",
            "/language",
            "/peers/add",
            "/import/confirm",
            "/matches/" + secrets.token_hex(16) + "/decide",
        ]
    )
    _, token = _live(ctx, path)
    size = (
        MAX_UPLOAD_BYTES + rng.randrange(1, 1 << 20)
        if rng.random() < 0.1
        else rng.randrange(20_000, 2 << 20)
    )
    field_name = rng.choice(["ref", "family_name", "note", "token", "language", "upload", "x"])
    fields = {"csrf": token, "ref": "", "kind": "bogus", field_name: "Z" * size}
    if rng.random() < 0.3:
        fields = {"csrf": token, **{f"f{i}": "y" for i in range(rng.randrange(1000, 20_000))}}
    body, headers = _form(fields)
    return BadRequest("POST", path, body, {**_valid(ctx, path), **headers})


def _undecodable_body(ctx, rng):
    """Regression (issue 13's fuzz): a form whose Content-Encoding does not decode was a 500
    with two tracebacks; on /login with the login form's token, elsewhere with a live session."""

    state: WebState = ctx.extra["web"]
    path = rng.choice(["/login", "/records/new", "/language", "/import"])
    if path == "/login":
        token = secrets.token_urlsafe(32)
        headers = {"Origin": state.url, "Cookie": _cookie(**{LOGIN_COOKIE: token})}
    else:
        headers = _valid(ctx, path)
    headers |= {
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Encoding": rng.choice(["gzip", "deflate", "br", "zstd", "x-unknown"]),
    }
    body = rng.choice([b"abcd", rng.randbytes(rng.randrange(1, 4000))])
    return BadRequest("POST", path, body, headers)


# The campaign's node allows uploads of at most this many rows ([web] max_upload_rows).
UPLOAD_ROWS = 100


def _upload_over_limits(ctx, rng):
    """Regression (issue 13's fuzz): a 600,000-row workbook was read whole (27 s of CPU) before
    its header was checked. Now: too many rows, or a wrong header, is refused at once."""

    _, token = _live(ctx, "/import")
    if rng.random() < 0.5:
        rows = [["ref", "given_names", "birth_date"]] + [
            [f"U-{i}", "Asha", "2009"] for i in range(UPLOAD_ROWS + 1 + rng.randrange(5000))
        ]
    else:
        rows = [["ref", "shoe_size"]] + [[f"U-{i}", "42"] for i in range(rng.randrange(1, 5000))]
    if rng.random() < 0.5:
        name, content_type, content = "register.xlsx", XLSX, _xlsx(rows)
    else:
        name, content_type = "register.csv", "text/csv"
        content = "".join(",".join(row) + "\n" for row in rows).encode()
    boundary = "b" + secrets.token_hex(8)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nfound\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {**_valid(ctx, "/import"),
               "Content-Type": f"multipart/form-data; boundary={boundary}"}  # fmt: skip
    return BadRequest("POST", "/import", body, headers)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _xlsx(rows: list[list[str]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
