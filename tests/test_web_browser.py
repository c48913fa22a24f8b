"""The workspace in a real browser: Playwright driving the system Chromium against uvicorn
serving the app, as `harken web` does. One walk through what a department user does: sign
in, filter the inbox, open an item with the keyboard, claim and resolve it, bulk-dismiss two
others; and what the CSP must not break (the page's script runs, none inline).

HARKEN_SCREENSHOTS=DIR keeps a screenshot of each page there (the README's come from it).
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from harken.config import load_config
from harken.store import Store
from harken.web.app import create_app
from tests.cli import import_tweets, ok
from tests.conftest import chromium_path
from tests.web import CONFIG, PASSWORD, POSTS, add_users, cli

pytestmark = pytest.mark.browser
# Read (and made absolute) at import: tests run without HARKEN_*, in a temporary directory.
SHOTS = (
    Path(os.environ["HARKEN_SCREENSHOTS"]).resolve()
    if os.environ.get("HARKEN_SCREENSHOTS")
    else None
)


@contextmanager
def serving(config_path: Path) -> Iterator[str]:
    """The workspace of ``config_path``, served by uvicorn on a free local port."""
    config = load_config(config_path)
    store = Store(config.database.url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(config, store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A fresh project's workspace (five posts, the users of tests/web.py)."""
    import_tweets(tmp_path, CONFIG.format(db=f"sqlite:///{tmp_path / 'h.db'}"), POSTS)
    add_users()
    with serving(tmp_path / "config.yaml") as url:
        yield url


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Any, name: str, full: bool = True) -> None:
    if SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


def test_a_department_user_works_the_inbox_in_a_browser(served: str) -> None:
    from playwright.sync_api import expect

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        page.goto(served + "/inbox")
        expect(page).to_have_url(served + "/login?next=/inbox")
        page.fill("input[name=name]", "bob")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(served + "/inbox")

        page.select_option("select[name=department]", "billing")
        page.click("form#filters button[type=submit]")
        expect(page).to_have_url(served + "/inbox?department=billing")
        rows = page.locator("tr.item")
        expect(rows).to_have_count(3)

        # The keyboard: j to the first row, o to open it, c to claim.
        page.keyboard.press("j")
        expect(rows.first).to_have_class("item current")
        page.keyboard.press("o")
        expect(page.locator("h1")).to_contain_text("billing")
        page.keyboard.press("c")
        expect(page.locator("h1")).to_contain_text("claimed")

        # A reply, checked but not sent (a dry run): the template filled in, then edited.
        page.click("text=Reply on x")
        reply = page.locator("textarea[name=text]")
        expect(reply).to_have_value(re.compile("sorry about this: we will DM you"))
        reply.fill("Hi, the double charge is refunded today.")
        page.click("button[value=check]")
        expect(page.locator("textarea[name=text]")).to_have_value(
            "Hi, the double charge is refunded today."
        )
        page.locator("h1 a").click()

        page.fill("form[data-action=resolve] input[name=note]", "refunded the double charge")
        page.click("form[data-action=resolve] button")
        expect(page.locator("h1")).to_contain_text("resolved")
        expect(page.locator("section.history")).to_contain_text("refunded the double charge")

        # A transfer: Globex's refund is support's.
        page.goto(served + "/inbox?department=billing")
        page.locator("tr.item", has_text="globex").locator("a").first.click()
        page.select_option("form[data-action=transfer] select[name=department]", "support")
        page.click("form[data-action=transfer] button")
        expect(page.locator("h1")).to_contain_text("support")
        expect(page.locator("p.readonly")).to_be_visible()  # not billing's any more

        # Bulk: select everything open in billing and legal, dismiss; legal's is refused.
        page.goto(served + "/inbox?department=billing&department=legal")
        page.check("#select-all")
        page.select_option("select[name=action]", "dismiss")
        page.select_option("select[name=reason]", "spam or bot")
        page.click("text=Apply to selected")
        expect(page.locator("h1")).to_contain_text("dismiss: 1 done, 1 not done")
        expect(page.locator("li.error")).to_contain_text("not a member of legal")

        # Live: another face claims an item; the open inbox shows it without a reload.
        page.goto(served + "/inbox?department=support")
        expect(page.locator("#live")).to_be_visible()
        first = page.locator("tr.item").first
        item = first.get_attribute("data-id")
        assert item and "new" in first.inner_text()
        ok("queue", "claim", item, "--as", "admin")
        row = page.locator(f"tr[data-id='{item}']")
        expect(row).to_contain_text("claimed · admin", timeout=10_000)
        expect(row).to_have_class(re.compile("fresh"))

        # The Japanese UI, from the header's switch; the filters stay.
        page.click("a.lang")
        expect(page).to_have_url(served + "/inbox?department=support&lang=ja")
        expect(page.locator("header nav")).to_contain_text("受信箱")
        expect(page.locator("form#filters button[type=submit]")).to_have_text("絞り込む")
        shot(page, "inbox-ja")

    assert problems == []
    statuses = sorted(
        (i["department"], i["status"], i["assignee"])
        for i in json.loads(ok("queue", "list", "-f", "json", "-s", "all"))
        if i["department"] in ("billing", "legal")
    )
    assert statuses == [
        ("billing", "dismissed", None),
        ("billing", "resolved", "bob"),
        ("legal", "new", None),
    ]


def test_the_demo_in_a_browser_inbox_incident_and_dashboard(tmp_path: Path) -> None:
    """What a newcomer sees after `make demo`: the printed sign-in works, the outage is one
    incident, the impostor is flagged, the dashboard's charts load. The README's screenshots
    are these pages (HARKEN_SCREENSHOTS=docs/images)."""
    from playwright.sync_api import expect

    demo = cli("demo", "--dir", "demo")
    assert demo.exit_code == 0, demo.output
    login = re.search(r"sign in as (\S+) / (\S+)", demo.stdout)
    assert login
    with serving(tmp_path / "demo" / "config.yaml") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/inbox")
        page.fill("input[name=name]", login[1])
        page.fill("input[name=password]", login[2])
        page.click("button[type=submit]")
        expect(page.locator("tr.item").first).to_be_visible()
        expect(page.locator("table.inbox")).to_contain_text("possible impostor")
        shot(page, "web-inbox", full=False)

        page.goto(url + "/incidents?since=3d")
        largest = page.locator("table.report").first.locator("tbody tr").first
        posts = int(largest.locator("td").nth(2).inner_text())
        assert posts >= 50  # the outage, reported by dozens of people in their own words
        largest.locator("a").first.click()
        expect(page.locator("h1")).to_contain_text(f"{posts} posts")
        expect(page.locator("progress").first).to_be_visible()
        expect(page.locator("section", has_text="Departments")).to_contain_text("engineering")
        shot(page, "web-incident", full=False)

        page.goto(url + "/dashboard?since=3d")
        charts = page.locator("img.chart")
        expect(charts).to_have_count(5)
        for i in range(5):
            charts.nth(i).scroll_into_view_if_needed()
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=charts.nth(i).element_handle()
            )
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "web-dashboard", full=False)
