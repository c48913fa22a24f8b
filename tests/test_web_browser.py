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
from pathlib import Path

import pytest
import uvicorn

from harken.config import load_config
from harken.store import Store
from harken.web.app import create_app
from tests.cli import import_tweets, ok
from tests.conftest import chromium_path
from tests.web import CONFIG, PASSWORD, POSTS, add_users

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("HARKEN_SCREENSHOTS")  # read at import: tests run without HARKEN_*


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The workspace of a fresh project, served by uvicorn on a free local port."""
    import_tweets(tmp_path, CONFIG.format(db=f"sqlite:///{tmp_path / 'h.db'}"), POSTS)
    add_users()
    config = load_config(tmp_path / "config.yaml")
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


def shot(page: object, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_a_department_user_works_the_inbox_in_a_browser(served: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
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
        expect(rows).to_have_count(2)
        shot(page, "inbox")

        # The keyboard: j to the first row, o to open it, c to claim.
        page.keyboard.press("j")
        expect(rows.first).to_have_class("item current")
        page.keyboard.press("o")
        expect(page.locator("h1")).to_contain_text("billing")
        page.keyboard.press("c")
        expect(page.locator("h1")).to_contain_text("claimed")
        page.fill("form[data-action=resolve] input[name=note]", "refunded the double charge")
        page.click("form[data-action=resolve] button")
        expect(page.locator("h1")).to_contain_text("resolved")
        expect(page.locator("section.history")).to_contain_text("refunded the double charge")
        shot(page, "item")

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
        browser.close()

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
