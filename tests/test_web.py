"""The web workspace over HTTP (FastAPI's TestClient, the app as uvicorn serves it), on SQLite
and PostgreSQL: users from `harken users`, signing in, the inbox's filters (the same as `queue
list` and the API's), item actions and bulk actions through the same queue actions as the CLI,
and what keeps it safe: CSRF, session fixation, departments' limits, lockout, hostile text."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harken.queue import accounts
from harken.store import Store
from harken.web.render import safe_url
from harken.web.security import SignInLimit
from tests.cli import import_tweets, ok
from tests.web import (
    CONFIG,
    HOSTILE,
    PASSWORD,
    POSTS,
    add_users,
    cli,
    inbox_ids,
    sign_in,
    workspace,
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project on SQLite: what the pages and the API do is the same on both backends."""
    directory = import_tweets(tmp_path, CONFIG.format(db=f"sqlite:///{tmp_path / 'h.db'}"), POSTS)
    add_users()
    return directory


@pytest.fixture
def on_both(tmp_path: Path, db_url: str) -> Path:
    """The project on SQLite and on PostgreSQL: for what the store does (filters over JSON,
    sessions, atomic counts, NUL characters, reports, the event stream)."""
    directory = import_tweets(tmp_path, CONFIG.format(db=db_url), POSTS)
    add_users()
    return directory


def listed(*args: str) -> list[dict[str, Any]]:
    return list(json.loads(ok("queue", "list", "-f", "json", "-n", "500", *args)))


def item_of(external_id: str, department: str) -> int:
    (found,) = [
        i["id"]
        for i in listed("-s", "all")
        if i["mention"]["external_id"] == external_id and i["department"] == department
    ]
    return int(found)


def api(client: TestClient, store: Store, name: str = "admin") -> dict[str, str]:
    return {"authorization": "Bearer " + accounts.issue_token(store, name)}


# -- users ---------------------------------------------------------------------------------


def test_users_are_added_listed_and_given_tokens(project: Path) -> None:
    made = cli("users", "add", "carol", "--role", "social")
    assert made.exit_code == 0 and "added carol: social" in made.stdout
    assert re.search(r"password \(shown once\): \S{12,}", made.stdout)
    users = {u["name"]: u for u in json.loads(ok("users", "list", "-f", "json"))}
    assert users["bob"]["role"] == "department" and users["bob"]["departments"] == ["billing"]
    assert users["carol"]["password"] and not users["carol"]["token"]
    token = cli("users", "token", "carol").stdout.splitlines()[-1]
    assert token.startswith("hk_") and len(token) > 40
    users = {u["name"]: u for u in json.loads(ok("users", "list", "-f", "json"))}
    assert users["carol"]["token"] is True
    assert token not in ok("users", "list") + ok("users", "list", "-f", "json")
    for args, said in (
        (("dave", "--role", "boss"), "unknown role 'boss'"),
        (("dave", "--role", "department"), "needs --department"),
        (("dave", "--role", "viewer", "-d", "billing"), "--department is for --role department"),
        (("dave", "-d", "nowhere"), "unknown department 'nowhere'"),
        (("bob", "--role", "admin"), "user 'bob' already exists"),
        (("da\u202eve", "--role", "admin"), "is not a user name"),
    ):
        result = cli("users", "add", *args)
        assert result.exit_code == 1 and said in result.stderr, (args, result.output)
    short = cli("users", "add", "dave", "--role", "admin", "--password-stdin", stdin="short\n")
    assert short.exit_code == 1 and "10 to 1024 characters" in short.stderr


# -- signing in and reading ------------------------------------------------------------------


def test_sign_in_then_inbox_with_safe_cookies_and_headers(project: Path) -> None:
    with workspace(project) as (client, _store):
        first = client.get("/inbox?department=billing", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/login?next=/inbox%3Fdepartment%3Dbilling"
        form = client.get("/login")
        assert 'name="login_token"' in form.text and 'name="csrf_token"' in form.text
        answer = client.post(
            "/login",
            data={
                "name": "bob",
                "password": PASSWORD,
                "login_token": re.search(r'name="login_token" value="([^"]+)"', form.text)[1],  # type: ignore[index]
                "next": "/inbox?department=billing",
            },
            follow_redirects=False,
        )
        assert (
            answer.status_code == 303 and answer.headers["location"] == "/inbox?department=billing"
        )
        cookie = answer.headers["set-cookie"].lower()
        assert "harken_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert "secure" not in cookie  # plain http here; https makes it Secure (below)
        page = client.get("/inbox?department=billing")
        assert page.status_code == 200 and "bob" in page.text
        headers = page.headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
        assert "<script>" not in page.text.replace(
            '<script src="/static/harken.js" defer></script>', ""
        )
        assert " JST" in page.text  # dates in web.timezone, with the zone shown
    with workspace(project) as (client, _store):
        tls = TestClient(client.app, base_url="https://testserver")
        form = tls.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)[1]  # type: ignore[index]
        answer = tls.post(
            "/login",
            data={"name": "bob", "password": PASSWORD, "login_token": token},
            follow_redirects=False,
        )
        assert "secure" in answer.headers["set-cookie"].lower()
        assert "strict-transport-security" in answer.headers


def test_inbox_filters_match_queue_list_and_the_api(on_both: Path) -> None:
    project = on_both
    claimed = item_of("103", "support")
    ok("queue", "claim", str(claimed), "--as", "admin")
    queries = [
        ("", ()),
        ("?department=billing", ("-d", "billing")),
        ("?department=billing&department=legal", ("-d", "billing", "-d", "legal")),
        ("?status=all", ("-s", "all")),
        ("?priority=urgent", ("--priority", "urgent")),
        ("?platform=x", ("--platform", "x")),
        ("?brand=Globex", ("--brand", "Globex")),
        ("?topic=billing", ("--topic", "billing")),
        ("?assignee=admin", ("--assignee", "admin")),
        ("?assignee=-&department=support", ("--assignee", "-", "-d", "support")),
        ("?risk_gte=0.3", ("--risk-gte", "0.3")),
        ("?language=en&status=all", ("--language", "en", "-s", "all")),
    ]
    with workspace(project) as (client, store):
        sign_in(client, "admin")
        headers = api(client, store)
        for query, options in queries:
            expected = [i["id"] for i in listed(*options)]
            assert inbox_ids(client, query) == expected, query
            answer = client.get("/api/v1/items" + query, headers=headers)
            assert [i["id"] for i in answer.json()] == expected, query
            assert answer.headers["x-total-count"] == str(len(expected))
    by_topic = listed("--topic", "billing")
    assert by_topic and all("billing" in i["topics"] for i in by_topic)
    assert [i["mention"]["brand"] for i in listed("--brand", "Globex")] == ["Globex"]
    assert [i["id"] for i in listed("--assignee", "admin")] == [claimed]


def test_unknown_filter_values_are_errors_not_empty_lists(project: Path) -> None:
    with workspace(project) as (client, store):
        sign_in(client, "admin")
        headers = api(client, store)
        for query, said in (
            ("?department=nope", "unknown department &#39;nope&#39;"),
            ("?platform=myspace", "unknown platform &#39;myspace&#39;"),
            ("?topic=weather", "unknown topic &#39;weather&#39;"),
            ("?status=open", "unknown status &#39;open&#39;"),
            ("?risk_gte=2", "risk must be between 0 and 1"),
            ("?risk_gte=high", "risk_gte must be a number"),
            ("?limit=0", "limit must be 1 to 500"),
        ):
            page = client.get("/inbox" + query)
            assert page.status_code == 422 and said in page.text, query
            answer = client.get("/api/v1/items" + query, headers=headers)
            assert answer.status_code == 422 and answer.json()["error"], query
    result = cli("queue", "list", "--platform", "myspace")
    assert result.exit_code == 1 and "unknown platform 'myspace'" in result.stderr


# -- acting ---------------------------------------------------------------------------------


def test_an_item_worked_end_to_end_from_the_pages(on_both: Path) -> None:
    project = on_both
    item = item_of("101", "billing")
    with workspace(project) as (client, _store):
        csrf = sign_in(client, "bob")
        page = client.get(f"/items/{item}")
        assert page.status_code == 200 and "charged twice" in page.text
        assert f'action="/items/{item}/claim"' in page.text
        for action, data in (
            ("claim", {}),
            ("note", {"text": "asked for the order number"}),
            ("tag", {"tags": "double-charge, vip"}),
            ("resolve", {"note": "refunded"}),
            ("reopen", {"note": "charged again"}),
            ("transfer", {"department": "support", "note": "needs the account team"}),
        ):
            answer = client.post(
                f"/items/{item}/{action}", data={"csrf_token": csrf, **data}, follow_redirects=False
            )
            assert answer.status_code == 303, (action, answer.text)
        # Support's now: bob (billing) may read it, not act on it.
        page = client.get(f"/items/{item}")
        assert "Read-only" in page.text and f'action="/items/{item}/claim"' not in page.text
    shown = json.loads(ok("queue", "show", str(item), "-f", "json"))
    assert shown["department"] == "support" and shown["tags"] == ["double-charge", "vip"]
    events = [(e["action"], e["actor"], e["via"]) for e in shown["events"]][-6:]
    assert events == [
        ("claimed", "bob", "web"),
        ("noted", "bob", "web"),
        ("tagged", "bob", "web"),
        ("resolved", "bob", "web"),
        ("reopened", "bob", "web"),
        ("transferred", "bob", "web"),
    ]


def test_a_refused_action_says_why_with_its_status_and_changes_nothing(on_both: Path) -> None:
    project = on_both
    support_item, billing_item = item_of("103", "support"), item_of("101", "billing")
    with workspace(project) as (client, store):
        csrf = sign_in(client, "bob")
        before = json.loads(ok("queue", "show", str(support_item), "-f", "json"))
        refused = client.post(f"/items/{support_item}/claim", data={"csrf_token": csrf})
        assert refused.status_code == 403 and "bob is not a member of support" in refused.text
        assert client.get(f"/items/{support_item}").status_code == 200  # reading is allowed
        gone = client.post("/items/99999/claim", data={"csrf_token": csrf})
        assert gone.status_code == 404
        resolved = client.post(
            f"/items/{billing_item}/resolve", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert resolved.status_code == 303
        again = client.post(f"/items/{billing_item}/claim", data={"csrf_token": csrf})
        assert again.status_code == 409 and "only new or claimed items can be claimed" in again.text
        bad = client.post(
            f"/items/{billing_item}/dismiss", data={"csrf_token": csrf, "reason": "meh"}
        )
        assert bad.status_code == 422
        # By the API too, with bob's token.
        headers = api(client, store, "bob")
        by_api = client.post(f"/api/v1/items/{support_item}/claim", headers=headers)
        assert by_api.status_code == 403 and "not a member of support" in by_api.json()["error"]
    assert (
        json.loads(ok("queue", "show", str(support_item), "-f", "json"))["events"]
        == before["events"]
    )


def test_viewers_read_and_never_act(project: Path) -> None:
    item = item_of("101", "billing")
    with workspace(project) as (client, store):
        csrf = sign_in(client, "vera")
        assert item in inbox_ids(client, "?department=billing")
        page = client.get(f"/items/{item}")
        assert (
            "viewers do not act" in page.text
            and "Apply to selected" not in client.get("/inbox").text
        )
        assert client.post(f"/items/{item}/claim", data={"csrf_token": csrf}).status_code == 403
        headers = api(client, store, "vera")
        assert client.get(f"/api/v1/items/{item}", headers=headers).status_code == 200
        assert client.post(f"/api/v1/items/{item}/resolve", headers=headers).status_code == 403


def test_bulk_dismiss_does_each_item_it_may_and_says_which_it_may_not(project: Path) -> None:
    mine = [item_of("101", "billing"), item_of("104", "billing")]
    other = item_of("103", "support")
    with workspace(project) as (client, _store):
        csrf = sign_in(client, "bob")
        answer = client.post(
            "/items/bulk",
            data={
                "csrf_token": csrf,
                "action": "dismiss",
                "reason": "spam or bot",
                "ids": [str(i) for i in [*mine, other]],
            },
        )
        assert answer.status_code == 200
        assert "dismiss: 2 done, 1 not done" in answer.text
        assert "not a member of support" in answer.text
    statuses = {i["id"]: i["status"] for i in listed("-s", "all")}
    assert [statuses[i] for i in mine] == ["dismissed", "dismissed"] and statuses[other] == "new"


# -- safety ---------------------------------------------------------------------------------


def test_forms_without_the_sessions_csrf_token_are_refused(project: Path) -> None:
    item = item_of("101", "billing")
    with workspace(project) as (client, _store):
        sign_in(client, "bob")
        for data in ({}, {"csrf_token": "forged"}):
            answer = client.post(f"/items/{item}/claim", data=data)
            assert answer.status_code == 403 and "out of date or not from harken" in answer.text
        with workspace(project) as (other, _):
            their_token = sign_in(other, "admin")
        assert (
            client.post(f"/items/{item}/claim", data={"csrf_token": their_token}).status_code == 403
        )
        # The sign-in form needs its own token too (login CSRF).
        fresh = TestClient(client.app)
        refused = fresh.post("/login", data={"name": "bob", "password": PASSWORD})
        assert refused.status_code == 403 and "harken_session" not in refused.headers.get(
            "set-cookie", ""
        )
    assert listed("-d", "billing")[0]["status"] == "new"


def test_a_session_key_planted_before_sign_in_is_never_signed_in(on_both: Path) -> None:
    project = on_both
    with workspace(project) as (client, store):
        # Planted for this site (a sibling subdomain or a shared computer can do that).
        client.cookies.set("harken_session", "planted-by-an-attacker", "testserver.local", "/")
        sign_in(client, "bob")
        key = client.cookies.get("harken_session")
        assert key and key != "planted-by-an-attacker"
        attacker = TestClient(client.app)
        attacker.cookies.set("harken_session", "planted-by-an-attacker")
        assert attacker.get("/inbox", follow_redirects=False).status_code == 303
        # Signing out ends the session on the server, not only in this browser.
        stolen = TestClient(client.app)
        stolen.cookies.set("harken_session", key)
        assert stolen.get("/inbox").status_code == 200
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/inbox").text)[1]  # type: ignore[index]
        assert (
            client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code
            == 303
        )
        assert stolen.get("/inbox", follow_redirects=False).status_code == 303
        assert accounts.session_for(store, key) is None


def test_wrong_passwords_lock_the_account_and_one_address_is_slowed(project: Path) -> None:
    with workspace(project) as (client, store):
        for _ in range(accounts.LOCK_AFTER):
            form = client.get("/login").text
            token = re.search(r'name="login_token" value="([^"]+)"', form)[1]  # type: ignore[index]
            wrong = client.post(
                "/login", data={"name": "bob", "password": "guess-guess", "login_token": token}
            )
            assert wrong.status_code == 401 and "wrong name or password" in wrong.text
        form = client.get("/login").text
        token = re.search(r'name="login_token" value="([^"]+)"', form)[1]  # type: ignore[index]
        right = client.post(
            "/login", data={"name": "bob", "password": PASSWORD, "login_token": token}
        )
        # Locked: the right password is refused, in the words a wrong one gets (a stranger
        # cannot tell a locked account from a name that does not exist).
        assert right.status_code == 401 and "wrong name or password" in right.text
        later = accounts.utcnow() + accounts.LOCK_FOR + accounts.SESSION_FOR / 100
        assert accounts.sign_in(store, "bob", PASSWORD, now=later).name == "bob"
        # An unknown name fails the same way as a wrong password.
        with pytest.raises(accounts.AccountError, match="wrong name or password"):
            accounts.sign_in(store, "nobody", PASSWORD)
        client.app.state.sign_in_limit = SignInLimit(failures=2)
        for expected in (401, 401, 429):
            form = client.get("/login").text
            token = re.search(r'name="login_token" value="([^"]+)"', form)[1]  # type: ignore[index]
            answer = client.post(
                "/login", data={"name": "admin", "password": "nope-nope", "login_token": token}
            )
            assert answer.status_code == expected
        assert int(answer.headers["retry-after"]) > 0


def test_hostile_post_text_is_inert_in_every_page(project: Path) -> None:
    item = item_of("102", "legal")
    incident = json.loads(ok("queue", "show", str(item), "-f", "json"))["incident_id"]
    with workspace(project) as (client, _store):
        sign_in(client, "admin")
        for path in (
            "/inbox?status=all",
            f"/items/{item}",
            "/inbox?department=legal",
            f"/items/{item}/reply",
            "/incidents?since=30d",
            f"/incidents/{incident}",
            "/dashboard?since=30d&all=1",
            "/dashboard?since=30d&lang=ja&all=1",
        ):
            page = client.get(path).text
            assert "<script>alert" not in page, path
            shows_posts = not path.startswith(("/dashboard", f"/items/{item}/reply"))
            assert "&lt;script&gt;alert(&#39;pwned&#39;)" in page or not shows_posts
            assert "<!channel>" not in page
        page = client.get(f"/items/{item}").text
        assert "\u202egnp.exe" in page and "<bdi" in page  # shown, but isolated
        digest = client.get("/digests/2026-11-23").text
        assert "<script>alert" not in digest and "&lt;script&gt;" in digest
    assert safe_url("javascript:alert(1)") is None and safe_url("data:text/html,x") is None
    assert safe_url("https://x.com/a/status/1") == "https://x.com/a/status/1"
    assert HOSTILE.startswith("<script>")


def test_the_api_answers_with_the_contracts_fields_and_statuses(on_both: Path) -> None:
    project = on_both
    item, closed = item_of("105", "support"), item_of("101", "billing")
    ok("queue", "resolve", str(closed), "--as", "admin")
    with workspace(project) as (client, store):
        assert client.get("/api/v1/items").status_code == 401
        bad = client.get("/api/v1/items", headers={"authorization": "Bearer hk_nope"})
        assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
        headers = api(client, store)
        listed_api = client.get("/api/v1/items", headers=headers).json()
        assert [i["id"] for i in listed_api] == [i["id"] for i in listed()]
        assert set(listed_api[0]) == set(listed()[0])
        one = client.get(f"/api/v1/items/{item}", headers=headers).json()
        assert one["id"] == item and "events" in one and "author_history" in one
        assert client.get("/api/v1/items/99999", headers=headers).status_code == 404
        post = client.post
        claimed = post(f"/api/v1/items/{item}/claim", headers={**headers, "idempotency-key": "k1"})
        assert claimed.status_code == 200 and claimed.json()["item"]["status"] == "claimed"
        repeat = post(f"/api/v1/items/{item}/claim", headers={**headers, "idempotency-key": "k1"})
        assert repeat.status_code == 200 and repeat.json()["repeated"] is True
        moved = post(
            f"/api/v1/items/{item}/transfer", headers=headers, json={"department": "billing"}
        )
        assert moved.status_code == 200 and moved.json()["item"]["department"] == "billing"
        noted = post(f"/api/v1/items/{item}/note", headers=headers, json={"text": "called back"})
        assert noted.status_code == 200
        assert post(f"/api/v1/items/{closed}/claim", headers=headers).status_code == 409
        assert post(f"/api/v1/items/{item}/transfer", headers=headers, json={}).status_code == 422
        assert (
            post(
                f"/api/v1/items/{item}/transfer", headers=headers, json={"department": "x"}
            ).status_code
            == 422
        )
        assert (
            post(f"/api/v1/items/{item}/note", headers=headers, content=b"{not json").status_code
            == 422
        )
        assert post(f"/api/v1/items/{item}/explode", headers=headers).status_code == 404
        assert post("/api/v1/items/99999/resolve", headers=headers).status_code == 404
        dismissed = post(
            f"/api/v1/items/{item}/dismiss", headers=headers, json={"reason": "not ours"}
        )
        assert dismissed.status_code == 200 and dismissed.json()["item"]["status"] == "dismissed"
    events = json.loads(ok("queue", "show", str(item), "-f", "json"))["events"]
    assert [e["action"] for e in events if e["via"] == "api"] == [
        "claimed", "transferred", "noted", "dismissed",
    ]  # fmt: skip


def test_tokens_and_passwords_never_reach_the_logs(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with workspace(project) as (client, store):
        token = accounts.issue_token(store, "admin")
        client.get("/api/v1/items", headers={"authorization": f"Bearer {token}"})
        client.get("/api/v1/items", headers={"authorization": f"Bearer {token}x"})
        sign_in(client, "bob")
        key = client.cookies.get("harken_session")
        # A password typed into the name field is not logged either.
        form = client.get("/login").text
        login_token = re.search(r'name="login_token" value="([^"]+)"', form)[1]  # type: ignore[index]
        client.post(
            "/login",
            data={"name": "hunter2-typed-here", "password": "", "login_token": login_token},
        )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "web sign-in: bob" in logged and "web sign-in refused" in logged
    for secret in (token, PASSWORD, key, "hunter2-typed-here"):
        assert secret and secret not in logged


def test_harken_run_serves_the_workspace_beside_the_scheduler(tmp_path: Path) -> None:
    """web.enabled: WebBeside serves until the daemon's stop is set; a taken port is said,
    and the daemon is not stopped by it."""
    import socket
    import threading

    import httpx

    from harken.config import load_config
    from harken.web.beside import WebBeside

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "config.yaml").write_text(
        f"web: {{enabled: true, port: {port}}}\n", encoding="utf-8"
    )
    config = load_config(tmp_path / "config.yaml")
    store = Store(config.database.url)
    said: list[str] = []
    stop = threading.Event()
    web = WebBeside(config, store, stop, said.append)
    web.start()
    try:
        for _ in range(200):
            if web.server.started:
                break
            threading.Event().wait(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/login").status_code == 200
        taken = WebBeside(config, store, threading.Event(), said.append)
        taken.start()
        taken.thread.join(10)
        assert any("could not serve" in line for line in said), said
    finally:
        stop.set()
        web.join()
        store.close()
    assert not web.thread.is_alive() and said[-1] == "web workspace: stopped"


# -- dashboards, incidents, digests ------------------------------------------------------------


def test_the_dashboard_shows_the_reports_numbers_and_charts(on_both: Path) -> None:
    project = on_both
    with workspace(project) as (client, _store):
        sign_in(client, "vera")  # viewers read everything
        page = client.get("/dashboard?since=30d")
        assert page.status_code == 200
        panels = ""
        for name in ("trend", "departments", "share-of-voice", "authors", "topics"):
            assert f'data-panel="/dashboard/panels/{name}?since=30d"' in page.text
            panel = client.get(f"/dashboard/panels/{name}?since=30d")
            assert panel.status_code == 200 and f'src="/charts/{name}.png?since=30d"' in panel.text
            panels += panel.text
            chart = client.get(f"/charts/{name}.png?since=30d")
            assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
        whole = client.get("/dashboard?since=30d&all=1").text  # every panel in the page
        assert whole.count('<img class="chart"') == 5 and "data-panel" not in whole
        page = client.get("/dashboard?since=30d&all=1")
        # The departments table is `harken report departments`' table, cell for cell.
        report = json.loads(ok("report", "departments", "--since", "30d", "-f", "json"))
        for row in report["departments"]:
            assert f"<bdi>{row['department']}</bdi>" in page.text
        assert f"mentions {len(POSTS)}" in page.text  # the trend's totals line
        assert client.get("/dashboard?platform=myspace").status_code == 422
        assert client.get("/dashboard?since=soon").status_code == 422
        assert client.get("/charts/secrets.png").status_code == 404
        assert client.get("/dashboard/panels/secrets").status_code == 404
        assert panels.count("<section") == 5


def test_an_incident_page_shows_its_hours_posts_and_every_departments_item(on_both: Path) -> None:
    project = on_both
    item = json.loads(ok("queue", "show", str(item_of("101", "billing")), "-f", "json"))
    incident = item["incident_id"]
    with workspace(project) as (client, store):
        sign_in(client, "bob")
        listing = client.get("/incidents?since=30d")
        assert listing.status_code == 200 and f'href="/incidents/{incident}"' in listing.text
        page = client.get(f"/incidents/{incident}")
        assert page.status_code == 200 and "<progress" in page.text
        assert f'href="/items/{item["id"]}"' in page.text and "charged twice" in page.text
        assert client.get("/incidents/99999").status_code == 404
        data = client.get(f"/api/v1/incidents/{incident}", headers=api(client, store)).json()
        assert data["id"] == incident and data["items"][0]["id"] == item["id"]


def test_the_digest_archive_links_incidents_into_the_workspace(project: Path) -> None:
    config = (project / "config.yaml").read_text(encoding="utf-8")
    (project / "config.yaml").write_text(
        config.replace(
            "web: {timezone: Asia/Tokyo}", "web: {public_url: 'https://harken.example.com/'}"
        ),
        encoding="utf-8",
    )
    written = cli("digest", "--date", "2026-11-23", "--out", "d.html")
    assert written.exit_code == 0, written.output
    html = (project / "d.html").read_text(encoding="utf-8")
    assert 'href="https://harken.example.com/incidents/' in html
    with workspace(project) as (client, _store):
        sign_in(client, "vera")
        assert 'href="/digests/' in client.get("/digests").text
        page = client.get("/digests/2026-11-23")
        assert page.status_code == 200 and 'href="/incidents/' in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert "script-src 'self'" not in page.headers["content-security-policy"]
        assert client.get("/digests/2999-01-01").status_code == 404


def test_the_event_stream_says_what_changed(on_both: Path) -> None:
    project = on_both
    item = item_of("101", "billing")
    with workspace(project) as (client, _store):
        sign_in(client, "admin")
        with client.stream("GET", "/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines) == "retry: 2000"
            ok("queue", "claim", str(item), "--as", "bob")  # another face changes it
            for line in lines:
                if line.startswith("data: "):
                    changes = json.loads(line.removeprefix("data: "))
                    break
        assert [(c["item_id"], c["action"], c["actor"], c["status"]) for c in changes] == [
            (item, "claimed", "bob", "claimed")
        ]
        assert TestClient(client.app).get("/events", follow_redirects=False).status_code == 303


# -- languages ------------------------------------------------------------------------------


def test_the_workspace_speaks_japanese_to_who_asks(project: Path) -> None:
    made = cli(
        "users", "add", "haru", "--role", "social", "--language", "ja", "--timezone", "UTC",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    with workspace(project) as (client, _store):
        login = client.get("/login", headers={"accept-language": "ja-JP,ja;q=0.9,en;q=0.5"})
        assert '<html lang="ja">' in login.text and "harken にログイン" in login.text
        assert '<html lang="en">' in client.get("/login", headers={"accept-language": "fr"}).text
        sign_in(client, "bob")
        inbox = client.get("/inbox?department=billing&lang=ja")
        assert "受信箱" in inbox.text and "絞り込む" in inbox.text and "件" in inbox.text
        assert 'href="/inbox?department=billing&amp;lang=en"' in inbox.text  # the switch
        assert "受信箱" in client.get("/dashboard").text  # remembered (cookie)
        assert "Inbox" in client.get("/inbox?lang=en").text
    with workspace(project) as (client, _store):
        sign_in(client, "haru")  # their own language and zone
        page = client.get("/inbox")
        assert "受信箱" in page.text and "UTC" in page.text and " JST" not in page.text
    for args, said in (
        (("--language", "fr"), "unknown language 'fr'"),
        (("--timezone", "Mars/Olympus"), "unknown time zone"),
    ):
        result = cli("users", "add", "kai", "--role", "viewer", *args)
        assert result.exit_code == 1 and said in result.stderr


def test_every_label_of_every_template_has_a_japanese_translation() -> None:
    """The catalog is complete and compiled: a label added to a template without its
    translation (run `make messages`, translate, commit) fails here."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    import harken.web

    here = Path(harken.web.__file__).parent
    found = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(
            str(here / "templates"),
            method_map=[("**.html", "jinja2")],
            options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
        )
    }
    locale = here / "locale" / "ja" / "LC_MESSAGES"
    with (locale / "messages.po").open("rb") as po, (locale / "messages.mo").open("rb") as mo:
        written, compiled = read_po(po), read_mo(mo)
    untranslated = sorted(m for m in found if not (written.get(m) and written.get(m).string))
    assert untranslated == []
    assert {m.id: m.string for m in written if m.id} == {m.id: m.string for m in compiled if m.id}


def test_saved_views_are_checked_kept_shared_and_deleted(on_both: Path) -> None:
    project = on_both
    with workspace(project) as (client, _store):
        csrf = sign_in(client, "bob")
        query = "department=billing&priority=high"
        saved = client.post(
            "/views",
            data={"csrf_token": csrf, "name": "Billing, high", "query": query, "shared": "1"},
            follow_redirects=False,
        )
        assert saved.status_code == 303 and saved.headers["location"] == f"/inbox?{query}"
        mine = client.post("/views", data={"csrf_token": csrf, "name": "Mine", "query": ""})
        assert mine.status_code == 200
        bad = client.post(
            "/views", data={"csrf_token": csrf, "name": "Typo", "query": "department=bilings"}
        )
        assert bad.status_code == 422 and "unknown department" in bad.text
        twice = client.post(
            "/views", data={"csrf_token": csrf, "name": "Mine", "query": "status=all"}
        )
        assert twice.status_code == 422
        assert client.post("/views", data={"name": "x", "query": ""}).status_code == 403
        page = client.get("/inbox").text
        assert f'href="/inbox?{query.replace("&", "&amp;")}"' in page and ">Mine<" in page
    with workspace(project) as (other, _store):
        csrf = sign_in(other, "vera")
        page = other.get("/inbox").text
        assert "Billing, high" in page and "shared by bob" in page and ">Mine<" not in page
        view_id = re.search(r'action="/views/(\d+)/delete"', page)
        assert view_id is None  # not hers to delete
    with workspace(project) as (client, _store):
        csrf = sign_in(client, "bob")
        ids = re.findall(r'action="/views/(\d+)/delete"', client.get("/inbox").text)
        for view in ids:
            assert (
                client.post(f"/views/{view}/delete", data={"csrf_token": csrf}).status_code == 200
            )
        assert "Billing, high" not in client.get("/inbox").text


# -- what a hostile or careless client sends ---------------------------------------------------


def test_guesses_at_once_all_count_toward_the_lockout(on_both: Path) -> None:
    project = on_both
    import threading

    with workspace(project) as (_client, store):
        guesses = [
            threading.Thread(target=_guess, args=(store, f"guess-{i:04d}"))
            for i in range(accounts.LOCK_AFTER * 2)
        ]
        for guess in guesses:
            guess.start()
        for guess in guesses:
            guess.join()
        with pytest.raises(accounts.AccountError):
            accounts.sign_in(store, "bob", PASSWORD)  # locked by the guesses


def _guess(store: Store, password: str) -> None:
    with pytest.raises(accounts.AccountError):
        accounts.sign_in(store, "bob", password)


def test_a_slack_profile_name_never_takes_over_a_users_rights(project: Path) -> None:
    from harken.config import load_config
    from harken.slackapp.identity import actor_for

    config = load_config(project / "config.yaml")
    with workspace(project) as (_client, store):
        actor = actor_for(store, config, "UEVIL123", {"display_name": "carol"})
        assert actor.name == "carol"
    refused = cli("users", "add", "carol", "--role", "admin")
    assert refused.exit_code == 1 and "--slack-id UEVIL123" in refused.stderr
    assert cli("users", "add", "carol", "--role", "admin", "--slack-id", "UOTHER99").exit_code == 1
    made = cli("users", "add", "carol", "--role", "admin", "--slack-id", "UEVIL123")
    assert made.exit_code == 0, made.output  # said who they are: the same person
    assert cli("users", "add", "dora", "--role", "viewer", "--slack-id", "u-1").exit_code == 1


def test_odd_input_is_a_clear_refusal_never_a_crash(on_both: Path) -> None:
    project = on_both
    item = item_of("101", "billing")
    huge = str(2**64)
    with workspace(project) as (client, store):
        csrf = sign_in(client, "admin")
        headers = api(client, store)
        for path in (
            f"/items/{huge}",
            f"/incidents/{huge}",
            f"/inbox?offset={huge}",
            f"/inbox?incident={huge}",
            "/inbox?risk_gte=nan",
            "/inbox?tag=a%00b",
            "/inbox?assignee=%E2%80%AEevil",
            "/inbox?" + "&".join(f"status=s{i}" for i in range(60)),
        ):
            answer = client.get(path)
            assert answer.status_code == 422, (path, answer.status_code)
            assert "content-security-policy" in answer.headers
        assert client.get("/digests/0001-01-01").status_code == 404
        assert client.get(f"/api/v1/items/{huge}", headers=headers).status_code == 422
        post = client.post
        for body in ({"text": "a\x00b"}, {"text": {"a": 1}}, {"text": 5}):
            answer = post(f"/api/v1/items/{item}/note", headers=headers, json=body)
            assert answer.status_code == 422, body
        assert (
            post(f"/api/v1/items/{item}/tag", headers=headers, json={"tags": [None]}).status_code
            == 422
        )
        assert post(f"/api/v1/items/{item}/nothing", headers=headers).status_code == 404
        long_view = client.post(
            "/views", data={"csrf_token": csrf, "name": "big", "query": "status=new," * 30_000}
        )
        assert long_view.status_code == 422
        odd_ids = client.post(
            "/items/bulk",
            data={"csrf_token": csrf, "action": "claim", "ids": ["²", huge, str(item)]},
        )
        assert odd_ids.status_code == 200 and "claim: 1 done, 0 not done" in odd_ids.text
        many = client.post(
            "/items/bulk",
            data={"csrf_token": csrf, "action": "claim", "ids": [str(i) for i in range(1, 252)]},
        )
        assert "at most 200 items at once" in many.text
        back = client.post(
            "/items/bulk",
            data={
                "csrf_token": csrf,
                "action": "claim",
                "ids": [str(item)],
                "back": "/\t/evil.example",
            },
        )
        assert "evil.example" not in back.text
    ok("queue", "show", str(item))


def test_an_idempotency_key_is_for_one_request(project: Path) -> None:
    first, second = item_of("101", "billing"), item_of("105", "support")
    with workspace(project) as (client, store):
        headers = {**api(client, store), "idempotency-key": "same"}
        assert (
            client.post(f"/api/v1/items/{first}/claim", headers=headers).json()["repeated"] is False
        )
        other = client.post(f"/api/v1/items/{second}/claim", headers=headers).json()
        assert other["repeated"] is False and other["item"]["status"] == "claimed"
        again = client.post(f"/api/v1/items/{first}/claim", headers=headers).json()
        assert again["repeated"] is True


def test_a_viewer_cannot_even_check_a_reply(project: Path) -> None:
    item = item_of("101", "billing")
    with workspace(project) as (client, _store):
        csrf = sign_in(client, "vera")
        answer = client.post(
            f"/items/{item}/reply", data={"csrf_token": csrf, "step": "check", "text": "hi"}
        )
        assert answer.status_code == 403 and "viewer" in answer.text
