"""What the fuzz found, kept fixed on a live `tafuta serve`: bodies that cannot be decoded, clients
that leave mid-body or dribble bytes, oversized uploads, stale previews and a chatty Server
header. Every one gets a clear 4xx (or a closed connection), never a 5xx or a traceback."""

from __future__ import annotations

import io
import os
import re
import socket
import time
import urllib.error
import urllib.request

import pytest

from node.testing.web import WebClient, post_file, serve_node

HEADER_TIMEOUT, BODY_TIMEOUT = 2, 2
# Appended to config.toml right after the [web] table the web fixtures write (fast hashing).
LIMITS = f"""max_upload_mb = 1
max_upload_rows = 50

[server]
header_timeout = {HEADER_TIMEOUT}
body_timeout = {BODY_TIMEOUT}
"""
HEADER = b"ref,given_names,family_name,birth_date\n"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    from node.testing.processes import SAMPLE

    made, served = serve_node(tmp_path_factory.mktemp("hostile"), SAMPLE, LIMITS)
    yield served
    made.close()


def tracebacks(node) -> int:
    return node.log.read_text(encoding="utf-8", errors="replace").count("Traceback")


def raw(node, request: bytes, *, answer: bool = True) -> bytes:
    """Send bytes as they are; return what the node answers, or hang up at once."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as conn:
        conn.sendall(request)
        received = b""
        while answer and b"\r\n\r\n" not in received:
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def login_form_headers(client: WebClient) -> str:
    token = client.get("/login").csrf()
    return f"Origin: {client.base}\r\nCookie: tafuta_login={token}\r\n"


@pytest.mark.parametrize("path", ["/v1/inbox", "/login"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd", "x-unknown"])
def test_a_body_in_an_encoding_that_does_not_decode_gets_a_4xx_and_no_traceback(
    node, path, encoding
):
    before = tracebacks(node)
    extra = login_form_headers(WebClient(node.url)) if path == "/login" else ""
    answer = raw(
        node,
        f"POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Encoding: {encoding}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4\r\n\r\n".encode()
        + b"abcd",
    )
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:300]
    time.sleep(0.3)
    assert tracebacks(node) == before


@pytest.mark.parametrize("path", ["/v1/inbox", "/login", "/records/new"])
def test_a_client_that_leaves_mid_body_leaves_no_traceback(node, path):
    before = tracebacks(node)
    raw(
        node,
        f"POST {path} HTTP/1.1\r\nHost: x\r\nOrigin: {node.url}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        "name=a&pass".encode(),
        answer=False,
    )
    time.sleep(0.5)
    assert tracebacks(node) == before
    with urllib.request.urlopen(f"{node.url}/v1/health", timeout=10) as health:
        assert health.status == 200


@pytest.mark.parametrize(
    ("case", "opening", "drip", "limit"),
    [
        ("a request head that never ends", b"GET /v1/health HTTP/1.1\r\n", b"X-a: b\r\n",
         HEADER_TIMEOUT),
        ("a body that never ends", b"POST /v1/inbox HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 100000\r\n\r\n", b"x", BODY_TIMEOUT),
    ],
)  # fmt: skip
def test_a_slow_client_is_disconnected_after_its_timeout(node, case, opening, drip, limit):
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", node.port), timeout=30) as conn:
        conn.sendall(opening)
        try:
            while time.monotonic() - started < limit + 10:
                conn.sendall(drip)
                time.sleep(0.2)
        except OSError:
            pass
    held = time.monotonic() - started
    # The timeout, aiohttp's rounding up to whole seconds, and at most 2 s of draining.
    assert held < limit + 5, (case, held)


@pytest.mark.parametrize("path", ["/v1/health", "/login", "/no-such-page", "/v1/no-such"])
def test_the_server_header_names_no_version(node, path):
    try:
        with urllib.request.urlopen(f"{node.url}{path}", timeout=10) as response:
            server = response.headers["Server"]
    except urllib.error.HTTPError as err:
        server = err.headers["Server"]
        err.close()
    assert server == "Tafuta"


def rows_csv(n: int) -> bytes:
    return HEADER + b"".join(f"R-{i},Asha,Omar,2009\n".encode() for i in range(n))


def rows_xlsx(n: int, header: list[str] | None = None, *, declared: bool = False) -> bytes:
    """A workbook of n rows; ``declared``: with the <dimension> Excel writes (openpyxl's
    write-only mode leaves it out, as some other tools do)."""
    import openpyxl

    book = openpyxl.Workbook(write_only=not declared)
    sheet = book.active if declared else book.create_sheet()
    sheet.append(header or ["ref", "given_names", "family_name", "birth_date"])
    for i in range(n):
        sheet.append([f"R-{i}", "Asha", "Omar", "2009"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.parametrize(
    ("case", "filename", "content", "status", "says"),
    [
        ("a CSV over the row limit", "many.csv", lambda: rows_csv(51), 400, "more than 50 rows"),
        ("an XLSX that unpacks far beyond the row limit", "many.xlsx",
         lambda: rows_xlsx(20_000), 400, "far more than a register of 50 rows"),
        ("an XLSX that declares too many rows", "declared.xlsx",
         lambda: rows_xlsx(3000, declared=True), 400, "has 3,000 rows"),
        ("an XLSX a little over the row limit", "some.xlsx", lambda: rows_xlsx(60), 400,
         "more than 50 rows"),
        ("an XLSX with a wrong header", "wrong.xlsx",
         lambda: rows_xlsx(5000, ["ref", "shoe_size"]), 400, "unknown column"),
        ("a file over the size limit", "big.csv", lambda: rows_csv(10) + b"#" * (2 << 20), 413,
         "larger than"),
    ],
)  # fmt: skip
def test_an_upload_over_a_limit_is_refused_and_nothing_is_kept(
    node, case, filename, content, status, says
):
    client = WebClient(node.url)
    client.login("amina")
    token = client.get("/import").csrf()
    uploads = node.home / "uploads"
    kept = set(os.listdir(uploads)) if uploads.exists() else set()
    reply = post_file(client, "/import", {"csrf": token}, filename, content(),
                      XLSX if filename.endswith(".xlsx") else "text/csv")  # fmt: skip
    assert reply.status == status, (case, reply.body[:500])
    assert says in reply.body, case
    assert set(os.listdir(uploads)) == kept


def test_an_upload_within_the_limits_still_previews(node):
    client = WebClient(node.url)
    client.login("amina")
    token = client.get("/import").csrf()
    reply = post_file(
        client, "/import", {"csrf": token, "kind": "found"}, "fifty.csv", rows_csv(50)
    )
    assert reply.status == 200, re.findall(r"<li>[^<]*", reply.body)[:5]
    assert re.search(r'name="upload" value="([^"]+)"', reply.body)


def test_a_preview_left_for_over_an_hour_is_purged(node):
    client = WebClient(node.url)
    client.login("amina")
    uploads = node.home / "uploads"
    uploads.mkdir(mode=0o700, exist_ok=True)
    stale, fresh = uploads / "0123456789abcdef01234567.csv", uploads / "fresh0123456789abcdef.csv"
    for path in (stale, fresh):
        path.write_bytes(rows_csv(2))
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert client.get("/import").status == 200
    assert not stale.exists()
    assert fresh.exists()
    fresh.unlink()
