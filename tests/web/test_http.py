"""The web UI's security over real HTTP: CSRF and Origin, login throttling, roles, sessions,
and the headers every page carries."""

from __future__ import annotations

import re
import sqlite3
import time
import urllib.error
import urllib.request

import pytest

from node.testing.web import PASSWORD, WebClient, post_file, serve_node


def language_of(node, user: str) -> str:
    db = sqlite3.connect(node.home / "tafuta.db")
    try:
        return db.execute("SELECT language FROM users WHERE name = ?", (user,)).fetchone()[0]
    finally:
        db.close()


def query(node, sql: str, *params):
    db = sqlite3.connect(node.home / "tafuta.db")
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def record_count(node) -> int:
    return query(node, "SELECT count(*) FROM records WHERE retracted = 0")[0][0]


class TestCsrf:
    @pytest.mark.parametrize(
        ("case", "token", "origin"),
        [
            ("no token", None, "self"),
            ("wrong token", "not-the-token", "self"),
            ("no origin", "valid", None),
            ("another site's origin", "valid", "https://evil.example"),
        ],
    )
    def test_unsafe_request_without_token_and_origin_is_refused(self, served, client, case,
                                                                  token, origin):  # fmt: skip
        """A POST that cannot prove it came from our own page gets 403 and changes nothing."""
        client.login("amina")
        valid = client.get("/queue").csrf()
        data = {"language": "sw", "next": "/queue"}
        if token is not None:
            data["csrf"] = valid if token == "valid" else token
        reply = client.post("/language", data, origin=origin)
        assert reply.status == 403, case
        assert language_of(served, "amina") == "en"

    def test_the_same_request_with_token_and_origin_is_accepted(self, served, client):
        client.login("juma")
        token = client.get("/queue").csrf()
        reply = client.post("/language", {"csrf": token, "language": "sw", "next": "/queue"})
        assert reply.status == 303
        assert language_of(served, "juma") == "sw"
        assert "Foleni ya ukaguzi" in client.get("/queue").body

    def test_an_origin_that_is_no_site_is_refused_even_with_same_origin_fetch(self, served, client):
        """Regression (the campaign's foreign-Origin category): ``Origin: file://`` parsed as no
        origin at all, so with ``Sec-Fetch-Site: same-origin`` and the token the request passed;
        an Origin that is present must be ours or ``null``."""
        client.login("amina")
        token = client.get("/queue").csrf()
        reply = client.request(
            "POST",
            "/language",
            {"csrf": token, "language": "sw", "next": "/queue"},
            {"Origin": "file://", "Sec-Fetch-Site": "same-origin"},
        )
        assert reply.status == 403
        assert language_of(served, "amina") == "en"

    def test_login_form_without_its_token_is_refused(self, client):
        reply = client.post("/login", {"name": "amina", "password": PASSWORD})
        assert reply.status == 403


WRONG = "wrong password, long"


def behind_proxy(address: str) -> dict:
    return {"X-Forwarded-For": address}


class TestLogin:
    def test_sixth_failed_login_gets_429_even_with_the_right_password(self, own_node):
        client = WebClient(own_node.url)
        for _ in range(5):
            assert client.login("amina", WRONG).status == 401
        refused = client.login("amina")
        assert refused.status == 429
        # 30 seconds from the fifth failure: a second or two less on a busy machine.
        waited = re.search(r"wait (\d+) seconds", refused.body)
        assert waited and 25 <= int(waited.group(1)) <= 30
        assert refused.headers["Retry-After"] == waited.group(1)
        assert client.cookie("tafuta_session") is None

    def test_five_wrong_passwords_for_one_user_do_not_stop_another_from_the_same_address(
        self, own_node
    ):
        """Behind a proxy that is not configured, every browser shares 127.0.0.1: one user's
        typos (or an attacker's guesses at one name) must not lock out the rest."""
        client = WebClient(own_node.url)
        for _ in range(5):
            assert client.login("amina", WRONG).status == 401
        assert WebClient(own_node.url).login("juma").status == 303

    @pytest.mark.parametrize(
        ("case", "name", "address", "status"),
        [
            ("the same name from the same client waits", "amina", "203.0.113.5", 429),
            ("another name from the same client gets in", "juma", "203.0.113.5", 303),
            ("the same name from another client gets in", "amina", "203.0.113.9", 303),
        ],
    )
    def test_behind_a_trusted_proxy_limits_follow_the_forwarded_client(
        self, proxied_node, case, name, address, status
    ):
        guesser = WebClient(proxied_node.url)
        for _ in range(5):
            assert guesser.login("amina", WRONG, headers=behind_proxy("203.0.113.5")).status == 401
        reply = WebClient(proxied_node.url).login(name, headers=behind_proxy(address))
        assert reply.status == status, case

    def test_a_forwarded_for_header_from_an_untrusted_address_is_ignored(self, own_node):
        """Without ``trusted_proxies`` anyone could claim a fresh address in the header and
        guess on; the node counts the connection's own address instead."""
        client = WebClient(own_node.url)
        for attempt in range(5):
            reply = client.login("amina", WRONG, headers=behind_proxy(f"203.0.113.{attempt}"))
            assert reply.status == 401
        assert client.login("amina", headers=behind_proxy("203.0.113.99")).status == 429

    def test_one_name_guessed_from_many_addresses_holds_back_only_that_name(self, proxied_node):
        for attempt in range(20):
            client = WebClient(proxied_node.url)
            reply = client.login("amina", WRONG, headers=behind_proxy(f"198.51.100.{attempt}"))
            assert reply.status == 401
        fresh = behind_proxy("198.51.100.200")
        assert WebClient(proxied_node.url).login("amina", headers=fresh).status == 429
        assert WebClient(proxied_node.url).login("juma", headers=fresh).status == 303

    def test_one_address_guessing_many_names_is_slowed_for_its_failures_only(self, proxied_node):
        sprayer = behind_proxy("192.0.2.77")
        for attempt in range(20):
            reply = WebClient(proxied_node.url).login(f"name{attempt}", WRONG, headers=sprayer)
            assert reply.status == 401
        started = time.monotonic()
        assert WebClient(proxied_node.url).login("name-next", WRONG, headers=sprayer).status == 401
        assert time.monotonic() - started >= 1.0
        started = time.monotonic()
        assert WebClient(proxied_node.url).login("juma", headers=sprayer).status == 303
        assert time.monotonic() - started < 1.0

    def test_login_starts_a_new_session_and_logout_ends_it(self, served, client):
        assert client.login("amina").status == 303
        first = next(c for c in client.jar if c.name == "tafuta_session")
        token = client.get("/queue").csrf()
        assert client.post("/logout", {"csrf": token}).status == 303
        stale = WebClient(served.url)
        stale.jar.set_cookie(first)  # the old cookie, kept by someone: the server forgot it
        assert stale.get("/queue").status == 303
        assert client.login("amina").status == 303
        assert client.cookie("tafuta_session") != first.value

    def test_session_cookie_is_httponly_and_strict(self, served):
        client = WebClient(served.url)
        token = client.get("/login").csrf()
        reply = client.post("/login", {"csrf": token, "name": "amina", "password": PASSWORD})
        cookie = reply.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie

    def test_expired_session_is_sent_to_the_login_page(self, served, client):
        client.login("amina")
        assert client.get("/queue").status == 200
        db = sqlite3.connect(served.home / "tafuta.db")
        db.execute(
            "UPDATE sessions SET last_seen_at = ? WHERE user_id = "
            "(SELECT id FROM users WHERE name = 'amina')",
            (int(time.time()) - 31 * 60,),
        )
        db.commit()
        db.close()
        reply = client.get("/queue")
        assert reply.status == 303
        assert reply.headers["Location"].startswith("/login?next=")

    def test_disabled_user_cannot_log_in(self, own_node):
        client = WebClient(own_node.url)
        own_node.tafuta("users", "disable", "amina")
        assert client.login("amina").status == 401


class TestRoles:
    @pytest.mark.parametrize(
        ("user", "path", "status"),
        [
            ("amina", "/peers", 403),
            ("amina", "/audit", 403),
            ("juma", "/peers", 200),
            ("juma", "/audit", 403),
            ("neema", "/peers", 200),
            ("neema", "/audit", 200),
            ("amina", "/queue", 200),
            ("amina", "/records", 200),
        ],
    )
    def test_pages_follow_roles(self, client, user, path, status):
        client.login(user)
        assert client.get(path).status == status

    def test_caseworker_cannot_post_to_a_coordinator_action(self, client):
        client.login("amina")
        token = client.get("/queue").csrf()
        reply = client.post("/peers/revoke", {"csrf": token, "name": "x", "reason": "y"})
        assert reply.status == 403

    def test_anonymous_visitor_is_sent_to_login(self, client):
        reply = client.get("/records/KW-2024-0113")
        assert reply.status == 303
        assert "/login" in reply.headers["Location"]


class TestPages:
    def test_every_page_carries_the_security_headers(self, client):
        reply = client.get("/login")
        csp = reply.headers["Content-Security-Policy"]
        assert "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert reply.headers["Referrer-Policy"] == "no-referrer"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert "<script" not in reply.body

    def test_record_view_is_audited(self, served, client):
        client.login("amina")
        assert "Mwanaisha" in client.get("/records/KW-2024-0113").body
        rows = query(served, "SELECT action, subject, actor FROM audit_log ORDER BY id DESC")
        assert ("record-viewed", "KW-2024-0113", "user:amina") in rows

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("birth_date", "2008-13-40", "is not a real date"),
            ("sex", "banana", "sex"),
            ("ref", "", "ref"),
            ("given_names", "=HYPERLINK(1)", "formula"),
        ],
    )
    def test_bad_record_form_shows_the_problem_and_saves_nothing(self, served, client, field,
                                                                 value, message):  # fmt: skip
        client.login("amina")
        before = record_count(served)
        token = client.get("/records/new").csrf()
        data = {"csrf": token, "ref": "NEW-2", "kind": "missing", "given_names": "Asha"}
        data[field] = value
        reply = client.post("/records/new", data)
        assert reply.status == 400
        assert message in reply.body
        assert record_count(served) == before

    def test_added_record_is_shown_and_counted(self, served, client):
        client.login("amina")
        before = record_count(served)
        token = client.get("/records/new").csrf()
        data = {"csrf": token, "ref": "NEW-1", "kind": "found", "given_names": "Asha",
                "family_name": "Mohamed", "age": "14", "age_on": "2025-01-01"}  # fmt: skip
        reply = client.post("/records/new", data)
        assert reply.status == 303
        assert "Asha" in client.get(reply.headers["Location"]).body
        assert record_count(served) == before + 1

    def test_unknown_match_and_record_give_404_pages(self, client):
        client.login("amina")
        assert client.get("/matches/" + "0" * 32).status == 404
        assert client.get("/records/NO-SUCH-REF").status == 404

    def test_peer_api_still_answers_json(self, client):
        reply = client.request("POST", "/v1/inbox", {"x": "y"})
        assert reply.status == 400
        assert reply.body.startswith("{")


class TestUnreadableRequests:
    @pytest.mark.parametrize(
        ("case", "content_type", "body"),
        [
            ("no starting boundary", "multipart/form-data; boundary=abc", b"garbage"),
            (
                "boundary over 70 characters",
                "multipart/form-data; boundary=" + "x" * 80,
                b"--" + b"x" * 80 + b"--\r\n",
            ),
            (
                "a part header without a colon",
                "multipart/form-data; boundary=abc",
                b"--abc\r\nno colon here\r\n\r\nx\r\n--abc--\r\n",
            ),
            ("unknown charset", "application/x-www-form-urlencoded; charset=bogus-9", b"a=b"),
        ],
    )
    def test_a_form_that_cannot_be_read_is_400_not_a_crash(
        self, served, client, case, content_type, body
    ):
        """Regression (the campaign's bad-multipart category): aiohttp's ValueError,
        LookupError or InvalidHeader from reading the form escaped the session middleware,
        and every such POST answered 500 with a traceback in the node's log."""
        client.login("amina")
        before = served.log.read_text(encoding="utf-8", errors="replace").count("Traceback")
        req = urllib.request.Request(
            client.base + "/records/new",
            data=body,
            method="POST",
            headers={"Origin": client.base, "Content-Type": content_type},
        )
        try:
            with client.opener.open(req, timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as err:
            status = err.code
            err.close()
        assert status == 400, case
        after = served.log.read_text(encoding="utf-8", errors="replace").count("Traceback")
        assert after == before, case

    def test_a_cookie_header_over_8_kib_gets_400_and_one_log_line(self, served):
        """Regression (the campaign's oversized-cookie category): aiohttp answered 400 but
        logged a traceback (holding the cookie's first bytes) for every such request."""
        req = urllib.request.Request(
            served.url + "/queue", headers={"Cookie": "tafuta_session=" + "A" * 9000}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=30)
        assert refused.value.code == 400
        refused.value.close()
        time.sleep(0.2)
        log = served.log.read_text(encoding="utf-8", errors="replace")
        assert "refused a malformed HTTP request" in log
        assert "Traceback" not in log and "AAAAAAAA" not in log


class TestImportUpload:
    def test_upload_shows_a_preview_then_imports(self, served, client):
        client.login("amina")
        token = client.get("/import").csrf()
        before = record_count(served)
        csv = b"ref,given_names,family_name,birth_date\nUP-1,Asha,Omar,2009\nUP-2,Juma,Ali,2010\n"
        preview = post_file(client, "/import", {"csrf": token, "kind": "found"}, "new.csv", csv)
        assert preview.status == 200
        assert 'id="preview"' in preview.body and record_count(served) == before
        upload = re.search(r'name="upload" value="([^"]+)"', preview.body).group(1)
        reply = client.post("/import/confirm", {"csrf": token, "upload": upload, "kind": "found",
                                                "original": "new.csv"})  # fmt: skip
        assert reply.status == 303
        assert record_count(served) == before + 2

    def test_bad_upload_shows_the_clis_messages_and_imports_nothing(self, served, client):
        client.login("amina")
        token = client.get("/import").csrf()
        before = record_count(served)
        csv = b"ref,kind,birth_date\nBAD-1,missing,2008-13-40\n"
        reply = post_file(client, "/import", {"csrf": token}, "records.csv", csv)
        assert reply.status == 400
        assert "line 2, birth_date: &#39;2008-13-40&#39; is not a real date" in reply.body
        assert record_count(served) == before

    def test_upload_reads_dates_in_the_chosen_order_and_columns_under_other_names(
        self, served, client
    ):
        client.login("amina")
        page = client.get("/import")
        assert '<option value="dmy" selected>' in page.body  # the node's order (Kenya)
        token = page.csrf()
        csv = b"ref,Jina,birth_date\nUP-MDY,Asha,03/04/2006\n"
        options = {"kind": "found", "date_order": "mdy", "columns": "given_names=Jina"}
        preview = post_file(client, "/import", {"csrf": token, **options}, "mdy.csv", csv)
        assert preview.status == 200, preview.body
        upload = re.search(r'name="upload" value="([^"]+)"', preview.body).group(1)
        reply = client.post("/import/confirm", {"csrf": token, "upload": upload,
                                                "original": "mdy.csv", **options})  # fmt: skip
        assert reply.status == 303
        conn = sqlite3.connect(served.home / "tafuta.db")
        try:
            row = conn.execute("SELECT given_names, birth_date, raw_values FROM records "
                               "WHERE ref = 'UP-MDY'").fetchone()  # fmt: skip
        finally:
            conn.close()
        assert row == ("Asha", "2006-03-04", '{"birth_date": "03/04/2006"}')
        shown = client.get("/records/UP-MDY")
        assert "2006-03-04" in shown.body and "as written: 03/04/2006" in shown.body

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"columns": "jina=Jina"}, "column &#39;jina=Jina&#39;: &#39;jina&#39; is not a"),
            ({"columns": "given_names"}, "write it as FIELD=COLUMN"),
            ({"date_order": "ymd"}, "unknown date order"),
        ],
    )
    def test_bad_upload_options_are_refused_with_a_message(self, served, client, options, message):
        client.login("amina")
        token = client.get("/import").csrf()
        before = record_count(served)
        csv = b"ref,kind,Jina\nOPT-1,found,Asha\n"
        reply = post_file(client, "/import", {"csrf": token, **options}, "opt.csv", csv)
        assert reply.status == 400
        assert message in reply.body
        assert "Traceback" not in reply.body
        assert record_count(served) == before

    def test_the_upload_preview_counts_records_without_consent_to_be_matched(self, client):
        client.login("amina")
        token = client.get("/import").csrf()
        csv = b"ref,kind,given_names,consent_match\nC-1,found,Asha,no\nC-2,found,Juma,yes\n"
        preview = post_file(client, "/import", {"csrf": token}, "consent.csv", csv)
        assert preview.status == 200, preview.body
        counted = re.search(r'id="not-matched">[^<]*<b>(\d+)</b>', preview.body)
        assert counted and counted.group(1) == "1"

    @pytest.mark.parametrize("upload", ["../config.toml", "nothing.csv", ".hidden.csv"])
    def test_confirming_an_unknown_upload_is_refused(self, client, upload):
        client.login("amina")
        token = client.get("/import").csrf()
        reply = client.post("/import/confirm", {"csrf": token, "upload": upload})
        assert reply.status == 400


class TestCoordinatorAndAdminPages:
    def test_bad_invitation_token_is_refused_with_a_message(self, served, client):
        client.login("juma")
        token = client.get("/peers").csrf()
        reply = client.post("/peers/add", {"csrf": token, "token": "tafuta1-garbage"})
        assert reply.status == 400
        assert query(served, "SELECT count(*) FROM peers")[0][0] == 0

    def test_invite_shows_this_nodes_token(self, client):
        client.login("juma")
        assert "tafuta1-" in client.get("/peers?invite=1").body

    def test_admin_verifies_the_audit_chain_in_the_browser(self, client):
        client.login("neema")
        token = client.get("/audit").csrf()
        reply = client.post("/audit/verify", {"csrf": token})
        assert reply.status == 200
        assert 'id="verify-result"' in reply.body and "The chain verifies" in reply.body

    def test_duplicates_page_lists_likely_duplicates(self, client):
        client.login("amina")
        reply = client.get("/duplicates")
        assert reply.status == 200
        assert "records compared" in reply.body


def test_the_duplicates_page_is_paginated(tmp_path, write_csv):
    """A messy register lists thousands of possible duplicates (issue 11): 50 a page, with a pager,
    and a page past the end shows the last one."""
    given = ["Amina", "Baraka", "Chausiku", "Daudi", "Eshe", "Faraji", "Gathoni", "Hamisi",
             "Imani", "Jabari", "Kamau", "Lulu", "Makena", "Nuru", "Otieno", "Pendo"]  # fmt: skip
    family = ["Odhiambo", "Wanjiru", "Mwakio", "Kiprono", "Achieng"]
    rows = []
    for i, (g, f) in enumerate((g, f) for g in given for f in family):  # 80 people, each twice
        for copy in ("a", "b"):
            born = f"{1990 + i % 20}-0{1 + i % 9}-1{i % 9}"
            rows.append({"ref": f"P{i}{copy}", "kind": "missing", "given_names": g,
                         "family_name": f, "sex": "F", "birth_date": born,
                         "origin_district": "Kwale", "origin_place": "Diani"})  # fmt: skip
    made, node = serve_node(tmp_path, write_csv(rows))
    try:
        client = WebClient(node.url)
        client.login("amina")
        first = client.get("/duplicates").body
        total = int(re.search(r'id="pair-count">(\d+) pairs', first).group(1))
        assert total >= 80
        assert first.count('<td class="score">') == 50
        assert f"page 1 of {-(-total // 50)}" in first and "page=2" in first
        last = client.get("/duplicates?page=999").body
        assert last.count('<td class="score">') == total - 50 * (-(-total // 50) - 1)
    finally:
        made.close()


class TestRecordsAndPeersInTheBrowser:
    def test_editing_a_record_bumps_its_version_and_retracting_withdraws_it(self, served, client):
        client.login("amina")
        ref = "KW-2024-0113"
        version = query(served, "SELECT version FROM records WHERE ref = ?", ref)[0][0]
        form = client.get(f"/records/{ref}/edit")
        assert "Mwakio" in form.body
        data = {"csrf": form.csrf(), "kind": "missing", "given_names": "Mwanaisha",
                "family_name": "Mwakyo", "birth_date": "2008-03"}  # fmt: skip
        assert client.post(f"/records/{ref}/edit", data).status == 303
        row = query(served, "SELECT family_name, version FROM records WHERE ref = ?", ref)[0]
        assert row == ("Mwakyo", version + 1)
        token = client.get(f"/records/{ref}").csrf()
        assert client.post(f"/records/{ref}/retract", {"csrf": token, "reason": ""}).status == 400
        reply = client.post(f"/records/{ref}/retract", {"csrf": token, "reason": "found at home"})
        assert reply.status == 303
        assert query(served, "SELECT retracted FROM records WHERE ref = ?", ref)[0][0] == 1

    def test_coordinator_adds_and_trusts_a_peer_only_with_the_right_digits(self, served, client,
                                                                           tmp_path):  # fmt: skip
        from keys import KdfParams
        from node.store.db import Store
        from node.trust.identity import create_node, invite_token
        from node.trust.peers import peer_fingerprint

        other = create_node(tmp_path / "other", name="Other NGO", passphrase="x" * 12,
                            kdf=KdfParams.cheap())  # fmt: skip
        client.login("juma")
        token = client.get("/peers").csrf()
        assert (
            client.post("/peers/add", {"csrf": token, "token": invite_token(other)}).status == 303
        )
        wrong = client.post("/peers/trust", {"csrf": token, "name": "Other NGO",
                                             "fingerprint": "1" * 60})  # fmt: skip
        assert wrong.status == 400
        assert "nothing was changed" in wrong.body
        assert query(served, "SELECT state FROM peers WHERE name = 'Other NGO'")[0][0] == "pending"
        from node.home import open_home

        with Store.open(served.home / "tafuta.db") as store:
            digits = peer_fingerprint(open_home(served.home), store, "Other NGO")
        right = client.post("/peers/trust", {"csrf": token, "name": "Other NGO",
                                             "fingerprint": digits})  # fmt: skip
        assert right.status == 303
        assert query(served, "SELECT state FROM peers WHERE name = 'Other NGO'")[0][0] == "trusted"
        actions = query(served, "SELECT action, actor FROM audit_log WHERE subject = 'Other NGO'")
        assert {actor for _, actor in actions} == {"user:juma"} and len(actions) == 2
