"""Replies through the real client libraries (tweepy, praw, atproto, Mastodon.py) against local
fakes of each platform: what reaches the platform, what comes back, and every failure as a
ReplyError that says whether anything may have been posted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harken.config import Config, load_config
from harken.errors import ReplyError
from harken.platforms.replies import (
    MAX_LENGTH,
    ReplyTarget,
    SentReply,
    reply_problems,
    send_reply,
)
from tests.conftest import write_config
from tests.fakes import bluesky as bsky
from tests.fakes import reddit as rdt
from tests.fakes import x as xfake
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.http import Reply
from tests.fakes.mastodon import FakeMastodon, status
from tests.fakes.reddit import FakeReddit, comment, submission
from tests.fakes.x import FakeX, tweet

MASTODON_TOKEN = "test-mastodon-access-token-77aa"
REDDIT_USER, REDDIT_PASSWORD = "acme_support", "reddit-password-3c2b1a"
SECRETS = [
    xfake.CONSUMER_KEY,
    xfake.CONSUMER_SECRET,
    xfake.ACCESS_TOKEN,
    xfake.ACCESS_TOKEN_SECRET,
    rdt.CLIENT_SECRET,
    REDDIT_PASSWORD,
    bsky.APP_PASSWORD,
    MASTODON_TOKEN,
]
ENV = {
    **xfake.ENV,
    "REDDIT_CLIENT_ID": rdt.CLIENT_ID,
    "REDDIT_CLIENT_SECRET": rdt.CLIENT_SECRET,
    "REDDIT_USERNAME": REDDIT_USER,
    "REDDIT_PASSWORD": REDDIT_PASSWORD,
    "BLUESKY_APP_PASSWORD": bsky.APP_PASSWORD,
    "MASTODON_ACCESS_TOKEN": MASTODON_TOKEN,
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return ENV


def sources_config(tmp_path: Path, sources: str) -> Config:
    return load_config(write_config(tmp_path, f"brands: [{{name: Acme}}]\nsources:\n{sources}"))


def x_source(url: str) -> str:
    return f"""  x:
    bearer_token: "${{X_BEARER_TOKEN}}"
    api_base_url: "{url}"
    consumer_key: "${{X_CONSUMER_KEY}}"
    consumer_secret: "${{X_CONSUMER_SECRET}}"
    access_token: "${{X_ACCESS_TOKEN}}"
    access_token_secret: "${{X_ACCESS_TOKEN_SECRET}}"
"""


def reddit_source(url: str) -> str:
    return f"""  reddit:
    client_id: "${{REDDIT_CLIENT_ID}}"
    client_secret: "${{REDDIT_CLIENT_SECRET}}"
    username: "${{REDDIT_USERNAME}}"
    password: "${{REDDIT_PASSWORD}}"
    user_agent: "harken-tests/0.1 (by u/acme_support)"
    api_base_url: "{url}"
"""


def bluesky_source(url: str) -> str:
    return f"""  bluesky:
    handle: "{bsky.HANDLE}"
    app_password: "${{BLUESKY_APP_PASSWORD}}"
    api_base_url: "{url}"
"""


def mastodon_source(url: str) -> str:
    return f"""  mastodon:
    api_base_url: "{url}"
    access_token: "${{MASTODON_ACCESS_TOKEN}}"
"""


def assert_no_secrets(err: ReplyError) -> None:
    shown = f"{err} {err.hint}"
    assert not [s for s in SECRETS if s in shown]


# -- X ------------------------------------------------------------------------------------------


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    fake = FakeX()
    fake.add(tweet(1900, "@acmesupport charged twice for acme cloud"))
    with fake.api:
        yield fake


@pytest.fixture
def x_config(tmp_path: Path, fake_x: FakeX, env: dict[str, str]) -> Config:
    return sources_config(tmp_path, x_source(fake_x.api.url))


def x_target(tweet_id: str = "1900", **raw: Any) -> ReplyTarget:
    payload = {**tweet(tweet_id, "@acmesupport charged twice"), **raw}
    return ReplyTarget("x", tweet_id, None, "kenji_t", tweet_id, payload)


def test_x_reply_is_a_signed_tweet_in_reply_to_the_mention(fake_x: FakeX, x_config: Config) -> None:
    assert reply_problems(x_config, x_target(), "Sorry! DM us your order number.") == []

    sent = send_reply(x_config, x_target(), "Sorry! DM us your order number.")

    # The fake checks the OAuth 1.0a HMAC signature made with both secret halves.
    assert fake_x.posted == [
        {"text": "Sorry! DM us your order number.", "reply": {"in_reply_to_tweet_id": "1900"}}
    ]
    assert sent == SentReply(str(fake_x.next_id), f"https://x.com/i/status/{fake_x.next_id}")
    assert "authorization" not in {k for r in fake_x.searches for k in r.headers}


def test_x_retweet_is_answered_on_the_tweet_it_retweets(fake_x: FakeX, x_config: Config) -> None:
    target = x_target("2500", referenced_tweets=[{"type": "retweeted", "id": "1900"}])
    send_reply(x_config, target, "We're on it")
    assert fake_x.posted[0]["reply"] == {"in_reply_to_tweet_id": "1900"}


def test_x_429_says_when_it_resets_and_is_not_retried(fake_x: FakeX, x_config: Config) -> None:
    fake_x.api.fail_next(
        Reply(
            429,
            json={"title": "Too Many Requests", "detail": "Too Many Requests"},
            headers={
                "x-rate-limit-remaining": "12",
                "x-rate-limit-reset": "2000000000",
                "x-user-limit-24hour-remaining": "0",
                "x-user-limit-24hour-reset": "2000003600",
            },
        )
    )
    with pytest.raises(ReplyError) as caught:
        send_reply(x_config, x_target(), "Sorry about that")
    err = caught.value
    assert "rate limited" in str(err) and "nothing was posted" in str(err)
    assert "2033-05-18 04:33 UTC" in str(err)  # the spent 24-hour limit's reset
    assert not err.maybe_posted
    assert len(fake_x.posts) == 1 and fake_x.posted == []


def test_x_401_names_the_credentials_without_showing_them(
    fake_x: FakeX, tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_ACCESS_TOKEN_SECRET", "a-wrong-secret-that-is-long")
    config = sources_config(tmp_path, x_source(fake_x.api.url))
    with pytest.raises(ReplyError) as caught:
        send_reply(config, x_target(), "hello")
    err = caught.value
    assert "HTTP 401" in str(err) and "sources.x.access_token_secret" in str(err)
    assert "a-wrong-secret-that-is-long" not in str(err)
    assert_no_secrets(err)
    assert not err.maybe_posted and len(fake_x.posts) == 1


def test_x_5xx_may_have_posted_and_is_not_retried(fake_x: FakeX, x_config: Config) -> None:
    fake_x.api.fail_next(Reply(503, json={"title": "Service Unavailable"}))
    with pytest.raises(ReplyError, match="HTTP 503") as caught:
        send_reply(x_config, x_target(), "hello")
    assert caught.value.maybe_posted
    assert "look at the thread" in str(caught.value)
    assert len(fake_x.posts) == 1


def test_x_timeout_after_sending_may_have_posted(fake_x: FakeX, x_config: Config) -> None:
    fake_x.api.fail_next(Reply(201, json={"data": {"id": "1", "text": "x"}}, delay=1.0))
    with pytest.raises(ReplyError, match="no answer") as caught:
        send_reply(x_config, x_target(), "hello", timeout=0.2)
    assert caught.value.maybe_posted
    assert len(fake_x.posts) == 1


def test_x_unreachable_means_nothing_was_posted(tmp_path: Path, env: dict[str, str]) -> None:
    config = sources_config(tmp_path, x_source("http://127.0.0.1:9"))
    with pytest.raises(ReplyError, match="cannot reach the server") as caught:
        send_reply(config, x_target(), "hello")
    assert not caught.value.maybe_posted  # no connection was made: the POST never left


def test_x_reply_to_a_deleted_tweet(fake_x: FakeX, x_config: Config) -> None:
    with pytest.raises(ReplyError, match="no longer exists") as caught:
        send_reply(x_config, x_target("1234"), "hello")
    assert not caught.value.maybe_posted


def test_x_without_user_credentials_lists_them_and_sends_nothing(
    fake_x: FakeX, tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("X_ACCESS_TOKEN")
    source = (
        f'  x:\n    bearer_token: "${{X_BEARER_TOKEN}}"\n    api_base_url: "{fake_x.api.url}"\n'
    )
    config = sources_config(tmp_path, source + '    access_token: "${X_ACCESS_TOKEN}"\n')

    problems = reply_problems(config, x_target(), "hello")

    assert len(problems) == 1
    problem = problems[0]
    assert problem.startswith("X replies need OAuth 1.0a user credentials")
    assert 'add consumer_key: "${X_CONSUMER_KEY}" to sources.x' in problem
    assert "set X_ACCESS_TOKEN (read by sources.x.access_token)" in problem
    assert "X_ACCESS_TOKEN_SECRET" in problem
    with pytest.raises(ReplyError, match="X replies need") as caught:
        send_reply(config, x_target(), "hello")
    assert not caught.value.maybe_posted
    assert fake_x.api.requests == []


def test_x_counts_length_the_way_x_does(x_config: Config) -> None:
    latin = "a" * 280
    japanese = "返金" * 70 + "。"  # 141 CJK characters weigh 282
    link = "see https://status.acme.example/incidents/2026-11-22/very/long/path " + "a" * 252
    family = "👨‍👩‍👧" * 140  # a ZWJ sequence is one emoji: 2 each
    assert reply_problems(x_config, x_target(), latin) == []
    assert reply_problems(x_config, x_target(), link) == []
    assert reply_problems(x_config, x_target(), family) == []
    assert reply_problems(x_config, x_target(), japanese) == [
        "the reply is 282 characters as X counts them (a link 23, CJK characters and emoji 2); "
        "X allows 280"
    ]
    assert MAX_LENGTH["x"] == 280


# -- Reddit -------------------------------------------------------------------------------------


@pytest.fixture
def fake_reddit() -> Iterator[FakeReddit]:
    fake = FakeReddit(username=REDDIT_USER, password=REDDIT_PASSWORD)
    fake.add(
        submission(1, "Acme cloud down again?", rdt.T0),
        comment(7, "acme billed me twice", rdt.T0 + 60, link="t3_p1"),
    )
    with fake.api:
        yield fake


@pytest.fixture
def reddit_config(tmp_path: Path, fake_reddit: FakeReddit, env: dict[str, str]) -> Config:
    return sources_config(tmp_path, reddit_source(fake_reddit.api.url))


def reddit_target(thing: dict[str, Any]) -> ReplyTarget:
    data = thing["data"]
    return ReplyTarget("reddit", data["name"], None, data["author"], data.get("link_id"), thing)


@pytest.mark.parametrize(
    ("thing", "parent"),
    [
        (comment(7, "acme billed me twice", rdt.T0 + 60, link="t3_p1"), "t1_c7"),
        (submission(1, "Acme cloud down again?", rdt.T0), "t3_p1"),
    ],
)
def test_reddit_reply_goes_to_the_comment_or_submission(
    fake_reddit: FakeReddit, reddit_config: Config, thing: dict[str, Any], parent: str
) -> None:
    sent = send_reply(reddit_config, reddit_target(thing), "Sorry! **DM us**, we'll fix it.")

    assert [(r["thing_id"], r["text"], r["api_type"]) for r in fake_reddit.replies] == [
        (parent, "Sorry! **DM us**, we'll fix it.", "json")
    ]
    assert [r.form["grant_type"] for r in fake_reddit.calls("token")] == ["password"]
    assert sent == SentReply("t1_r1", "https://www.reddit.com/r/sysadmin/comments/p1/slug/r1/")


def test_reddit_429_is_not_retried(fake_reddit: FakeReddit, reddit_config: Config) -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-used": "600", "x-ratelimit-reset": "90"}
    fake_reddit.fail("comment", Reply(429, json={"message": "Too Many Requests"}, headers=headers))
    with pytest.raises(ReplyError) as caught:
        send_reply(reddit_config, reddit_target(comment(7, "x", rdt.T0)), "hello")
    assert "rate limited" in str(caught.value) and "(in 2 min)" in str(caught.value)
    assert not caught.value.maybe_posted
    assert len(fake_reddit.calls("comment")) == 1 and fake_reddit.replies == []


def test_reddit_ratelimit_answer_is_not_slept_on_and_posted_again(
    fake_reddit: FakeReddit, reddit_config: Config
) -> None:
    # praw would sleep 3 s and post again (its ratelimit_seconds defaults to 5).
    errors = [["RATELIMIT", "Take a break for 2 seconds before trying again.", "ratelimit"]]
    fake_reddit.fail("comment", Reply(json={"json": {"errors": errors}}))
    with pytest.raises(ReplyError, match=r"rate limited.*Take a break for 2 seconds"):
        send_reply(reddit_config, reddit_target(comment(7, "x", rdt.T0)), "hello")
    assert len(fake_reddit.calls("comment")) == 1


def test_reddit_5xx_is_not_retried_and_may_have_posted(
    fake_reddit: FakeReddit, reddit_config: Config
) -> None:
    fake_reddit.fail("comment", Reply(500, json={"message": "Internal Server Error"}))
    with pytest.raises(ReplyError, match="HTTP 500") as caught:
        send_reply(reddit_config, reddit_target(comment(7, "x", rdt.T0)), "hello")
    assert caught.value.maybe_posted
    assert len(fake_reddit.calls("comment")) == 1  # prawcore would have tried three times


def test_reddit_refused_login_posts_nothing(
    fake_reddit: FakeReddit, tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDDIT_PASSWORD", "not-the-password-at-all")
    config = sources_config(tmp_path, reddit_source(fake_reddit.api.url))
    with pytest.raises(ReplyError, match="Reddit refused the login") as caught:
        send_reply(config, reddit_target(comment(7, "x", rdt.T0)), "hello")
    assert not caught.value.maybe_posted
    assert "not-the-password-at-all" not in f"{caught.value}"
    assert_no_secrets(caught.value)
    assert fake_reddit.calls("comment") == []


def test_reddit_deleted_parent(fake_reddit: FakeReddit, reddit_config: Config) -> None:
    with pytest.raises(ReplyError, match=r"no longer exists.*DELETED_COMMENT"):
        send_reply(reddit_config, reddit_target(comment(99, "gone", rdt.T0)), "hello")


def test_reddit_without_a_user_login_says_so(
    fake_reddit: FakeReddit, tmp_path: Path, env: dict[str, str]
) -> None:
    source = reddit_source(fake_reddit.api.url).replace(
        '    username: "${REDDIT_USERNAME}"\n    password: "${REDDIT_PASSWORD}"\n', ""
    )
    config = sources_config(tmp_path, source)
    assert reply_problems(config, reddit_target(comment(7, "x", rdt.T0)), "hello") == [
        "Reddit replies need a script app's account (app-only OAuth cannot post): "
        'add username: "${REDDIT_USERNAME}" to sources.reddit and set REDDIT_USERNAME; '
        'add password: "${REDDIT_PASSWORD}" to sources.reddit and set REDDIT_PASSWORD'
    ]
    with pytest.raises(ReplyError):
        send_reply(config, reddit_target(comment(7, "x", rdt.T0)), "hello")
    assert fake_reddit.api.requests == []


# -- Bluesky ------------------------------------------------------------------------------------


@pytest.fixture
def fake_bluesky() -> Iterator[FakeBluesky]:
    fake = FakeBluesky()
    top = bsky.post(1, "acme cloud is down")
    reply = bsky.post(2, "@acme.com still down for me", author="bigvoice.com")
    reply["record"]["reply"] = {
        "root": {"uri": top["uri"], "cid": top["cid"]},
        "parent": {"uri": top["uri"], "cid": top["cid"]},
    }
    reply["record"]["langs"] = ["ja"]
    fake.add(top, reply)
    with fake.api:
        yield fake


@pytest.fixture
def bluesky_config(tmp_path: Path, fake_bluesky: FakeBluesky, env: dict[str, str]) -> Config:
    return sources_config(tmp_path, bluesky_source(fake_bluesky.api.url))


def ref(strong: dict[str, Any]) -> dict[str, Any]:
    """A strongRef as the lexicon has it ($type is optional in a record)."""
    return {k: v for k, v in strong.items() if k != "$type"}


def bluesky_target(post: dict[str, Any]) -> ReplyTarget:
    handle = post["author"]["handle"]
    return ReplyTarget("bluesky", post["uri"], None, handle, post["uri"], post)


def test_bluesky_reply_to_a_top_level_post_has_it_as_parent_and_root(
    fake_bluesky: FakeBluesky, bluesky_config: Config
) -> None:
    top = fake_bluesky.posts[0]
    sent = send_reply(bluesky_config, bluesky_target(top), "Sorry! Status: https://acme.example")

    [created] = fake_bluesky.created
    record = created["record"]
    assert created["repo"] == bsky.HANDLE and created["collection"] == "app.bsky.feed.post"
    strong = {"uri": top["uri"], "cid": top["cid"]}
    assert ref(record["reply"]["parent"]) == strong and ref(record["reply"]["root"]) == strong
    assert record["text"] == "Sorry! Status: https://acme.example"
    assert record["facets"][0]["features"][0]["uri"] == "https://acme.example"
    assert record["langs"] == ["en"]
    rkey = "3lreply000001"
    assert sent == SentReply(
        f"at://{bsky.ACCOUNT_DID}/app.bsky.feed.post/{rkey}",
        f"https://bsky.app/profile/{bsky.HANDLE}/post/{rkey}",
    )
    assert len(fake_bluesky.logins) == 1


def test_bluesky_reply_to_a_reply_keeps_the_thread_root(
    fake_bluesky: FakeBluesky, bluesky_config: Config
) -> None:
    top, reply = fake_bluesky.posts
    send_reply(bluesky_config, bluesky_target(reply), "すみません、確認します")
    record = fake_bluesky.created[0]["record"]
    assert ref(record["reply"]["parent"]) == {"uri": reply["uri"], "cid": reply["cid"]}
    assert ref(record["reply"]["root"]) == {"uri": top["uri"], "cid": top["cid"]}
    assert record["langs"] == ["ja"]


def test_bluesky_429_on_posting_is_not_retried(
    fake_bluesky: FakeBluesky, bluesky_config: Config
) -> None:
    original = fake_bluesky.api.routes[("POST", "/xrpc/com.atproto.repo.createRecord")]
    limited = Reply(
        429,
        json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        headers={"ratelimit-remaining": "0", "ratelimit-reset": "2000000000"},
    )
    fake_bluesky.api.route("POST", "/xrpc/com.atproto.repo.createRecord")(lambda req: limited)
    with pytest.raises(ReplyError) as caught:
        send_reply(bluesky_config, bluesky_target(fake_bluesky.posts[0]), "hello")
    assert "rate limited (HTTP 429 RateLimitExceeded" in str(caught.value)
    assert "2033-05-18 03:33 UTC" in str(caught.value)
    assert not caught.value.maybe_posted
    assert len(fake_bluesky.calls("com.atproto.repo.createRecord")) == 1
    assert original is not None


def test_bluesky_5xx_on_posting_may_have_posted(
    fake_bluesky: FakeBluesky, bluesky_config: Config
) -> None:
    fake_bluesky.api.route("POST", "/xrpc/com.atproto.repo.createRecord")(
        lambda req: Reply(502, body="Bad Gateway", headers={"Content-Type": "text/plain"})
    )
    with pytest.raises(ReplyError, match="HTTP 502") as caught:
        send_reply(bluesky_config, bluesky_target(fake_bluesky.posts[0]), "hello")
    assert caught.value.maybe_posted
    assert len(fake_bluesky.calls("com.atproto.repo.createRecord")) == 1


def test_bluesky_wrong_app_password_posts_nothing(
    fake_bluesky: FakeBluesky, tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", "wxyz-wxyz-wxyz-wxyz")
    config = sources_config(tmp_path, bluesky_source(fake_bluesky.api.url))
    with pytest.raises(ReplyError, match=r"Bluesky refused the login.*401") as caught:
        send_reply(config, bluesky_target(fake_bluesky.posts[0]), "hello")
    assert "app_password" in str(caught.value) and "wxyz-wxyz" not in str(caught.value)
    assert_no_secrets(caught.value)
    assert not caught.value.maybe_posted
    assert fake_bluesky.calls("com.atproto.repo.createRecord") == []


def test_bluesky_deleted_parent_is_not_answered(
    fake_bluesky: FakeBluesky, bluesky_config: Config
) -> None:
    target = bluesky_target(fake_bluesky.posts[0])
    fake_bluesky.posts.clear()
    with pytest.raises(ReplyError, match="no longer exists") as caught:
        send_reply(bluesky_config, target, "hello")
    assert not caught.value.maybe_posted
    assert fake_bluesky.created == []


def test_bluesky_counts_graphemes_and_needs_a_login(
    fake_bluesky: FakeBluesky, tmp_path: Path, env: dict[str, str]
) -> None:
    config = sources_config(tmp_path, bluesky_source(fake_bluesky.api.url))
    target = bluesky_target(fake_bluesky.posts[0])
    assert reply_problems(config, target, "👍🏽" * 300) == []  # 600 code points, 300 graphemes
    assert reply_problems(config, target, "a" * 301) == [
        "the reply is 301 characters (graphemes); Bluesky allows 300"
    ]
    anonymous = sources_config(
        tmp_path, f'  bluesky:\n    api_base_url: "{fake_bluesky.api.url}"\n'
    )
    assert reply_problems(anonymous, target, "hello") == [
        "Bluesky replies need an account to post as (its handle and an app password): "
        "add handle to sources.bluesky; "
        'add app_password: "${BLUESKY_APP_PASSWORD}" to sources.bluesky and set '
        "BLUESKY_APP_PASSWORD"
    ]
    with pytest.raises(ReplyError):
        send_reply(anonymous, target, "hello")
    assert fake_bluesky.api.requests == []


# -- Mastodon -----------------------------------------------------------------------------------


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    fake = FakeMastodon(token=MASTODON_TOKEN)
    fake.add(status(110, "#acme is down", acct="alice"))
    with fake.api:
        yield fake


@pytest.fixture
def mastodon_config(tmp_path: Path, fake_mastodon: FakeMastodon, env: dict[str, str]) -> Config:
    return sources_config(tmp_path, mastodon_source(fake_mastodon.url))


def mastodon_target(entity: dict[str, Any]) -> ReplyTarget:
    acct = entity["account"]["acct"]
    return ReplyTarget("mastodon", entity["uri"], entity["url"], acct, None, entity)


def test_mastodon_reply_to_a_status_of_this_instance(
    fake_mastodon: FakeMastodon, mastodon_config: Config
) -> None:
    parent = fake_mastodon.statuses[0]
    sent = send_reply(mastodon_config, mastodon_target(parent), "Sorry! Looking into it.")

    [form] = fake_mastodon.posted
    assert form["in_reply_to_id"] == "110"
    assert form["status"] == "@alice Sorry! Looking into it."  # Mastodon notifies mentions only
    assert form["visibility"] == "public"
    [post] = fake_mastodon.posts
    assert post.headers["idempotency-key"].startswith("harken-")
    assert fake_mastodon.searches == []  # the stored id was this instance's: no resolve
    new = fake_mastodon.statuses[-1]
    assert sent == SentReply(new["uri"], new["url"])


def test_mastodon_status_from_another_instance_is_resolved_first(
    fake_mastodon: FakeMastodon, mastodon_config: Config
) -> None:
    # Read on fosstodon.org, where it has id 555; this instance has never seen it.
    elsewhere = status(555, "acme lost my data", acct="bob", origin="fosstodon.org")
    fake_mastodon.add_remote(elsewhere)

    send_reply(mastodon_config, mastodon_target(elsewhere), "@bob@fosstodon.org so sorry, DM us")

    [search] = fake_mastodon.searches
    assert search.query["q"] == elsewhere["uri"] and search.query["resolve"] in ("1", "true")
    resolved = next(s for s in fake_mastodon.statuses if s["uri"] == elsewhere["uri"])
    [form] = fake_mastodon.posted
    assert form["in_reply_to_id"] == resolved["id"] != "555"
    assert form["status"] == "@bob@fosstodon.org so sorry, DM us"  # already mentioned


def test_mastodon_keeps_a_private_conversation_private(
    fake_mastodon: FakeMastodon, mastodon_config: Config
) -> None:
    secret = status(111, "my acme invoice", acct="carol", visibility="direct", spoiler_text="bill")
    fake_mastodon.add(secret)
    send_reply(mastodon_config, mastodon_target(secret), "We'll refund you")
    form = fake_mastodon.posted[0]
    assert (form["visibility"], form["spoiler_text"]) == ("direct", "bill")


def test_mastodon_429_says_when_and_is_not_retried(
    fake_mastodon: FakeMastodon, mastodon_config: Config
) -> None:
    original = fake_mastodon.api.routes[("POST", "/api/v1/statuses")]
    reset = "2033-05-18T03:33:20.000Z"
    fake_mastodon.api.route("POST", "/api/v1/statuses")(
        lambda req: Reply(
            429,
            json={"error": "Too many requests"},
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
        )
    )
    with pytest.raises(ReplyError) as caught:
        send_reply(mastodon_config, mastodon_target(fake_mastodon.statuses[0]), "hello")
    assert "rate limited" in str(caught.value) and "2033-05-18 03:33 UTC" in str(caught.value)
    assert not caught.value.maybe_posted
    assert len(fake_mastodon.posts) == 1
    assert original is not None


def test_mastodon_bad_token_and_5xx(
    fake_mastodon: FakeMastodon,
    mastodon_config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = mastodon_target(fake_mastodon.statuses[0])
    fake_mastodon.api.route("POST", "/api/v1/statuses")(
        lambda req: Reply(500, json={"error": "oops"})
    )
    with pytest.raises(ReplyError, match="HTTP 500") as caught:
        send_reply(mastodon_config, target, "hello")
    assert caught.value.maybe_posted and len(fake_mastodon.posts) == 1

    monkeypatch.setenv("MASTODON_ACCESS_TOKEN", "some-other-token-entirely")
    config = sources_config(tmp_path, mastodon_source(fake_mastodon.url))
    with pytest.raises(ReplyError, match="refused the access token") as caught:
        send_reply(config, target, "hello")
    assert "write:statuses" in str(caught.value)
    assert "some-other-token-entirely" not in str(caught.value)
    assert_no_secrets(caught.value)
    assert not caught.value.maybe_posted and len(fake_mastodon.posts) == 1  # failed at lookup


def test_mastodon_error_texts_never_show_the_token(
    fake_mastodon: FakeMastodon, mastodon_config: Config
) -> None:
    echo = {"error": f"Validation failed: token {MASTODON_TOKEN} may not post here"}
    fake_mastodon.api.route("POST", "/api/v1/statuses")(lambda req: Reply(422, json=echo))
    with pytest.raises(ReplyError, match=r"HTTP 422: Validation failed: token \*\*\* may not"):
        send_reply(mastodon_config, mastodon_target(fake_mastodon.statuses[0]), "hello")


def test_mastodon_needs_a_token_and_counts_the_mention(
    fake_mastodon: FakeMastodon, tmp_path: Path
) -> None:
    config = sources_config(tmp_path, mastodon_source(fake_mastodon.url))  # variable unset
    target = mastodon_target(fake_mastodon.statuses[0])
    assert reply_problems(config, target, "hello") == [
        "Mastodon replies need an access token of the account to post as, on the first of its "
        "instances (scopes read and write:statuses): set MASTODON_ACCESS_TOKEN (read by "
        "sources.mastodon.access_token) in the environment or .env"
    ]
    with pytest.raises(ReplyError):
        send_reply(config, target, "hello")
    assert fake_mastodon.api.requests == []
    # "@alice " (7) + 493 = 500; a link counts 23 however long.
    assert not [p for p in reply_problems(config, target, "a" * 493) if "characters" in p]
    assert [p for p in reply_problems(config, target, "a" * 494) if "characters" in p] == [
        "the reply is 501 characters as Mastodon counts them (a link 23, the author's @mention "
        "included); Mastodon allows 500"
    ]
    long_link = "https://acme.example/" + "x" * 600
    assert not [p for p in reply_problems(config, target, long_link) if "characters" in p]


# -- every platform -----------------------------------------------------------------------------


def test_rss_mentions_are_not_answerable(tmp_path: Path) -> None:
    config = sources_config(tmp_path, "  rss: {feeds: [https://example.com/feed.xml]}\n")
    target = ReplyTarget("rss", "https://example.com/post/1", None, "Example News", None, {})
    assert reply_problems(config, target, "thanks") == [
        "rss mentions cannot be answered: a feed has no reply (answer on the site itself)"
    ]
    with pytest.raises(ReplyError, match="cannot send the reply: rss mentions"):
        send_reply(config, target, "thanks")


def test_empty_text_and_a_platform_with_no_source(tmp_path: Path) -> None:
    config = sources_config(tmp_path, "  rss: {feeds: [https://example.com/feed.xml]}\n")
    assert reply_problems(config, x_target(), "  ") == [
        "the reply is empty",
        "no x source in the config: add sources.x with consumer_key and consumer_secret and "
        "access_token and access_token_secret (OAuth 1.0a user credentials (the app-only "
        "bearer token cannot post))",
    ]


def test_a_source_named_otherwise_is_found_by_its_type(
    fake_mastodon: FakeMastodon, tmp_path: Path, env: dict[str, str]
) -> None:
    source = mastodon_source(fake_mastodon.url).replace(
        "  mastodon:\n", "  fedi:\n    type: mastodon\n"
    )
    config = sources_config(tmp_path, source)
    send_reply(config, mastodon_target(fake_mastodon.statuses[0]), "hello")
    assert len(fake_mastodon.posted) == 1


def test_a_hint_naming_where_a_secret_goes_is_shown_and_a_secret_is_not() -> None:
    from harken.logs import redact

    hint = 'add access_token: "${MASTODON_ACCESS_TOKEN}" to sources.mastodon'
    assert redact(hint) == hint  # a reference says where the secret goes: not a secret
    assert redact('access_token: "tok-123456789"') == 'access_token: "***"'
