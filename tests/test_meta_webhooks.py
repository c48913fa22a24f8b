"""Meta webhooks at ``harken web``'s /hooks/meta, against the local Graph API fake: Meta's
subscription check, signatures, Instagram @mentions fetched by id and answered through
/{ig-user-id}/mentions, Page feed and Instagram comment deliveries, retries on a failed fetch
(nothing lost, nothing twice), and the daemon's minute check that processes what was stored."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from harken.classify.classifier import Classifier
from harken.config import Config
from harken.errors import ConfigError
from harken.pipeline.scheduler import Daemon
from harken.platforms.replies import reply_problems, send_reply
from harken.platforms.reply import ReplyTarget
from harken.store import Store, repo
from harken.store.tables import Mention, QueueItem
from harken.web.app import create_app
from tests.fakes.http import Reply
from tests.fakes.meta import TOKEN, FakeGraph, graph_error
from tests.test_listen_meta import make_config as listen_config

SECRET, VERIFY = "app-secret-for-tests", "verify-me-please"
PAGE, IG = "1001", "17841400000000001"
AT = int(datetime(2026, 12, 6, 12, 0, tzinfo=UTC).timestamp())


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as api:
        yield api


def make_config(tmp_path: Path, fake: FakeGraph, hooks: str = "", signed: bool = True) -> Config:
    """Both sources (tests/test_listen_meta.py's config), signed and with ``hooks``."""
    lines = (f'app_secret: "{SECRET}"\n' if signed else "") + hooks
    return listen_config(tmp_path, fake, facebook=lines, instagram=lines)


HOOKS = f'webhook_verify_token: "{VERIFY}"'


@pytest.fixture
def web(tmp_path: Path, fake: FakeGraph) -> Iterator[tuple[TestClient, Store, Config]]:
    config = make_config(tmp_path, fake, HOOKS)
    store = Store(config.database.url)
    app = create_app(config, store)
    with TestClient(app) as client:
        yield client, store, config
    app.state.meta_hooks.close()
    store.close()


def signed(payload: Any, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"x-hub-signature-256": f"sha256={digest}", "content-type": "application/json"}


def deliver(client: TestClient, payload: Any, secret: str = SECRET) -> Any:
    body, headers = signed(payload, secret)
    return client.post("/hooks/meta", content=body, headers=headers)


def instagram(*changes: dict[str, Any], account: str = IG) -> dict[str, Any]:
    return {"object": "instagram", "entry": [{"id": account, "time": AT, "changes": list(changes)}]}


def mention_of(comment: str | None, media: str) -> dict[str, Any]:
    value = {"media_id": media, **({"comment_id": comment} if comment else {})}
    return {"field": "mentions", "value": value}


def stored(store: Store) -> dict[str, Mention]:
    with store.session() as session:
        return {m.external_id: m for m in session.execute(select(Mention)).scalars()}


def test_the_subscription_check_and_signatures_guard_the_door(
    web: tuple[TestClient, Store, Config], fake: FakeGraph
) -> None:
    client, store, _ = web
    check = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    answer = client.get("/hooks/meta", params=check)
    assert (answer.status_code, answer.text) == (200, "1158201444")
    wrong = client.get("/hooks/meta", params={**check, "hub.verify_token": "guess"})
    assert wrong.status_code == 403 and "1158201444" not in wrong.text
    fake.mentioned["900"] = {
        "id": "900",
        "text": "@acme hi",
        "timestamp": "2026-12-06T12:00:00+0000",
    }
    payload = instagram(mention_of("900", "800"))
    body, _ = signed(payload)
    assert client.post("/hooks/meta", content=body).status_code == 401  # unsigned
    assert deliver(client, payload, secret="another app's secret").status_code == 401
    tampered = {"x-hub-signature-256": signed(payload)[1]["x-hub-signature-256"]}
    assert client.post("/hooks/meta", content=body + b" ", headers=tampered).status_code == 401
    assert deliver(client, payload, secret="x").status_code == 401
    odd = {"x-hub-signature-256": ("sha256=é" + "0" * 63).encode("latin-1")}  # not a 500
    assert client.post("/hooks/meta", content=body, headers=odd).status_code == 401
    other = deliver(client, {"object": "user", "entry": []})  # no source takes it: not retried
    assert other.status_code == 200 and other.json()["skipped"] == 1
    assert client.post("/hooks/meta", content=b"x" * (1024 * 1024 + 1)).status_code == 413
    assert stored(store) == {} and not [r for r in fake.requests if r.path.endswith(IG)]


def test_no_source_with_webhooks_is_a_404_that_says_what_to_set(
    tmp_path: Path, fake: FakeGraph
) -> None:
    config = make_config(tmp_path, fake)
    with TestClient(create_app(config, Store(config.database.url))) as client:
        answer = client.post("/hooks/meta", content=b"{}")
    assert answer.status_code == 404 and "webhook_verify_token" in answer.json()["hint"]
    unsigned = make_config(tmp_path, fake, HOOKS, signed=False)
    with pytest.raises(ConfigError, match="webhook_verify_token needs app_secret"):
        create_app(unsigned, Store(unsigned.database.url))


def test_an_instagram_mention_is_fetched_stored_once_and_answered_where_it_was_made(
    web: tuple[TestClient, Store, Config], fake: FakeGraph
) -> None:
    client, store, config = web
    fake.mentioned["17900000000000900"] = {
        "id": "17900000000000900",
        "text": "@acme my order never came <!channel> =cmd|' /C calc'!A0",
        "timestamp": "2026-12-06T11:58:00+0000",
        "like_count": 3,
        "media": {"id": "18000000000000800", "permalink": "https://www.instagram.com/p/Other1/"},
    }
    fake.mentioned["18000000000000801"] = {
        "id": "18000000000000801",
        "caption": "unboxing my acme anvil (it arrived broken) @acme",
        "timestamp": "2026-12-06T11:50:00+0000",
        "username": "wile.e",
        "permalink": "https://www.instagram.com/p/Other2/",
    }
    payload = instagram(
        mention_of("17900000000000900", "18000000000000800"),
        mention_of(None, "18000000000000801"),
        mention_of("17900000000000999", "18000000000000800"),  # deleted since: skipped
    )
    answer = deliver(client, payload)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": 2, "duplicates": 0, "skipped": 1}
    fetched = [r for r in fake.requests if r.path == f"/v24.0/{IG}"]
    assert fetched[0].query["fields"].startswith("mentioned_comment.comment_id(17900000000000900){")
    assert fetched[1].query["fields"].startswith("mentioned_media.media_id(18000000000000801){")
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in fetched)
    assert all("appsecret_proof" in r.query and "access_token" not in r.query for r in fetched)
    rows = stored(store)
    comment, media = rows["17900000000000900"], rows["18000000000000801"]
    assert (comment.brand, comment.source, comment.url) == (
        "Acme", "instagram", "https://www.instagram.com/p/Other1/"
    )  # fmt: skip
    assert comment.text.startswith("@acme my order never came <!channel>")  # data, kept as is
    assert media.ref_kind is None and media.raw["username"] == "wile.e"
    # Meta delivers at least once: the same delivery again stores nothing twice, and what it
    # stored is not fetched again (a retry progresses past it).
    calls = len(fake.requests)
    assert deliver(client, payload).json() == {"stored": 0, "duplicates": 0, "skipped": 1}
    assert [r.query["fields"][:30] for r in fake.requests[calls:]] == [
        "mentioned_comment.comment_id(1"  # the deleted one only: it is asked again
    ]
    # The answer goes where Instagram allows it: /{ig-user-id}/mentions, with the ids.
    target = ReplyTarget("instagram", comment.external_id, comment.url, "unknown",
                         comment.conversation_id, comment.raw)  # fmt: skip
    assert reply_problems(config, target, "Sorry! DMing you") == []
    send_reply(config, target, "Sorry! DMing you")
    caption = ReplyTarget("instagram", media.external_id, media.url, "wile.e", None, media.raw)
    assert reply_problems(config, caption, "Oh no") == []  # not "cannot comment": a mention
    send_reply(config, caption, "Oh no, DM us")
    assert fake.mention_replies == [
        {"account": IG, "media_id": "18000000000000800", "comment_id": "17900000000000900",
         "message": "Sorry! DMing you"},
        {"account": IG, "media_id": "18000000000000801", "message": "Oh no, DM us"},
    ]  # fmt: skip
    assert fake.replies == []


def test_a_failed_fetch_is_answered_503_and_the_retry_loses_nothing(
    web: tuple[TestClient, Store, Config], fake: FakeGraph
) -> None:
    client, store, _ = web
    fake.mentioned["900"] = {
        "id": "900",
        "text": "@acme down again",
        "timestamp": "2026-12-06T11:00:00+0000",
    }
    comment = {
        "field": "comments",
        "value": {"id": "17865799348089039", "text": "acme where is my refund",
                  "from": {"id": "ig-5", "username": "kai"}, "media": {"id": "17890000000000001"}},
    }  # fmt: skip
    payload = instagram(comment, mention_of("900", "800"))
    fake.usernames[IG] = "acme"
    fake.fail_next(graph_error(500, 2, "Service temporarily unavailable", kind="OAuthException"))
    first = deliver(client, payload)
    assert first.status_code == 503 and "send it again" in first.json()["error"]
    assert set(stored(store)) == {"17865799348089039"}  # what was read is stored
    fake.fail_next(Reply(502, body="<html>Bad gateway</html>"))
    assert deliver(client, payload).status_code == 503
    again = deliver(client, payload)
    assert again.json() == {"stored": 1, "duplicates": 1, "skipped": 0}
    assert set(stored(store)) == {"17865799348089039", "900"}
    unknown = deliver(client, instagram(comment, account="17841499999999999"))
    assert unknown.json() == {"stored": 0, "duplicates": 0, "skipped": 1}  # not ours: 200
    # A permission Meta refuses will not pass by retrying: skipped (and logged), not a 503
    # that Meta would send for 36 hours while nothing else of the delivery is stored.
    fake.mentioned["901"] = {"id": "901", "text": "@acme hello", "timestamp": "2026-12-06T11:00Z"}
    fake.fail_next(graph_error(403, 10, "(#10) Application does not have permission"))
    refused = deliver(client, instagram(mention_of("901", "800")))
    assert refused.status_code == 200 and refused.json()["skipped"] == 1
    # The account's own reply comes by its username (a webhook names people by scoped ids).
    own = {
        "field": "comments",
        "value": {"id": "17865799348089040", "text": "So sorry! DM us",
                  "parent_id": "17865799348089039", "media": {"id": "17890000000000001"},
                  "from": {"id": "9912345", "username": "acme"}},
    }  # fmt: skip
    assert deliver(client, instagram(own)).json()["stored"] == 1
    assert stored(store)["17865799348089040"].flags == ["own"]


def test_a_page_feed_delivery_is_stored_marked_and_processed_by_the_daemon_within_a_minute(
    web: tuple[TestClient, Store, Config], fake: FakeGraph, classifier: Classifier
) -> None:
    client, store, config = web
    visitor = {"id": "501", "name": "Alice Doe"}

    def change(
        item_id: str, message: str, sender: dict[str, str], parent: str | None = None
    ) -> Any:
        value = {"item": "comment", "verb": "add", "comment_id": item_id, "post_id": f"{PAGE}_7",
                 "message": message, "created_time": AT, "from": sender}  # fmt: skip
        return {"field": "feed", "value": {**value, **({"parent_id": parent} if parent else {})}}

    payload = {
        "object": "page",
        "entry": [{"id": PAGE, "time": AT, "changes": [
            change("7_1", "the app logs me out every hour", visitor),
            change("7_2", "Sorry Alice! DMing you", {"id": PAGE, "name": "Acme"}, parent="7_1"),
            {"field": "feed", "value": {"item": "reaction", "verb": "add", "post_id": f"{PAGE}_7"}},
        ]}],
    }  # fmt: skip
    answer = deliver(client, payload)
    assert answer.json() == {"stored": 2, "duplicates": 0, "skipped": 0}, answer.text
    rows = stored(store)
    assert rows["7_1"].flags == [] and rows["7_1"].brand == "Acme"  # named or not: the Page's
    assert (rows["7_2"].flags, rows["7_2"].ref_external_id) == (["own"], "7_1")
    # `harken run`'s minute check finds what another process stored, and passes on it.
    said: list[str] = []
    daemon = Daemon(store, config, [], {}, threading.Event(), said.append, classifier)
    daemon.watch_queues()
    with store.session() as session:
        assert not repo.any_unrouted(session)
        (item,) = session.execute(select(QueueItem)).scalars()
    assert (item.mention_id, item.status) == (rows["7_1"].id, "responded")  # the Page answered
    assert said == ["pipeline: classified 2 · 1 queue items · 0 alerts sent"]
    daemon.watch_queues()  # nothing waits: no pass, nothing said
    assert len(said) == 1
