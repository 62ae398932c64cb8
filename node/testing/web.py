"""A web client for tests: one browser with its own cookies, form posts and file uploads, and
a served node with a caseworker, a coordinator and an admin (``serve_node``)."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from node.accounts.users import Profile, add_user, cheap_hasher
from node.store.db import Store

from .processes import Network

PASSWORD = "a long caseworker password"
USERS = {"amina": "caseworker", "juma": "coordinator", "neema": "admin"}


@dataclass
class Reply:
    status: int
    headers: dict
    body: str

    def csrf(self) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.body)
        assert found, self.body[:500]
        return found.group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class WebClient:
    """One browser: its own cookies; sends Origin like a browser unless told otherwise."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def request(self, method: str, path: str, data: dict | None = None,
                headers: dict | None = None) -> Reply:  # fmt: skip
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=headers or {})  # fmt: skip
        try:
            with self.opener.open(req, timeout=30) as response:
                return Reply(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as err:
            return Reply(err.code, dict(err.headers), err.read().decode())

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, data: dict, *, origin: str | None = "self",
             headers: dict | None = None) -> Reply:  # fmt: skip
        headers = dict(headers or {})
        if origin == "self":
            headers["Origin"] = self.base
        elif origin is not None:
            headers["Origin"] = origin
        return self.request("POST", path, data, headers)

    def login(self, name: str, password: str = PASSWORD, *, headers: dict | None = None) -> Reply:
        """Log in through the form; ``headers`` go with both requests (e.g. X-Forwarded-For)."""
        token = self.request("GET", "/login", headers=headers).csrf()
        return self.post("/login", {"csrf": token, "name": name, "password": password,
                                    "next": "/queue"}, headers=headers)  # fmt: skip

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


def post_file(client: WebClient, path: str, fields: dict, filename: str, content: bytes,
              content_type: str = "text/csv") -> Reply:  # fmt: skip
    """A multipart/form-data POST, as a browser sends a file upload."""
    boundary = "----tafuta-test-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())  # fmt: skip
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
                 + content + b"\r\n")  # fmt: skip
    parts.append(f"--{boundary}--\r\n".encode())
    headers = {"Origin": client.base, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    req = urllib.request.Request(client.base + path, data=b"".join(parts), method="POST",
                                 headers=headers)  # fmt: skip
    try:
        with client.opener.open(req, timeout=30) as response:
            return Reply(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as err:
        return Reply(err.code, dict(err.headers), err.read().decode())


FAST_HASHING = """
[web]
argon2_time_cost = 1
argon2_memory_kib = 8
argon2_parallelism = 1
"""


def add_users(home, users: dict[str, str] = USERS) -> None:
    """Users with a known password; the node hashes passwords cheaply so tests stay fast."""
    with (home / "config.toml").open("a", encoding="utf-8") as config:
        config.write(FAST_HASHING)
    with Store.open(home / "tafuta.db") as store:
        for name, role in users.items():
            add_user(store, name, role, PASSWORD,
                     Profile(f"{name.title()} M.", "Test NGO", "+254 700 111 222", f"{name}@x.org"),
                     actor="test", now=1_700_000_000, hasher=cheap_hasher())  # fmt: skip


def serve_node(root, sample_csv, config: str = ""):
    made = Network(root)
    node = made("Web Test Node")
    node.tafuta("import", sample_csv)
    add_users(node.home)
    if config:
        with (node.home / "config.toml").open("a", encoding="utf-8") as out:
            out.write(config)
    node.start(sync_interval=3600)
    return made, node
