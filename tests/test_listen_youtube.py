"""YouTube through the real google-api-python-client against a local fake of the Data API v3
(tests/fakes/youtube.py): own-channel comments, video search, paging without gaps, the daily
quota, and the API's errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from harken.cli import app
from harken.config import Config, load_config
from harken.errors import ConfigError
from harken.pipeline.collect import poll_source
from harken.platforms.registry import build_sources
from harken.platforms.youtube.source import YouTubeSource, quota_reset
from harken.store import Store
from harken.store.tables import Author, Mention, QueueItem
from tests.conftest import write_config
from tests.fakes.clock import FakeClock
from tests.fakes.youtube import (
    CLIENT_ID,
    CLIENT_SECRET,
    KEY,
    REFRESH_TOKEN,
    FakeYouTube,
    Video,
    thread,
)
from tests.listening import stored_cursor, stored_ids

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeYouTube]:
    with FakeYouTube() as api:
        yield api


@pytest.fixture
def db(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'h.db'}")


def make_config(tmp_path: Path, fake: FakeYouTube, extra: str = "", key: str = KEY) -> Config:
    path = write_config(
        tmp_path,
        f"""
brands:
  - {{name: Acme, keywords: [acme, acme cloud], handles: ["@acme"]}}
sources:
  youtube:
    enabled: true
    api_base_url: "{fake.url}"
    api_key: "${{YOUTUBE_API_KEY}}"
{extra}
""",
    )
    return load_config(path, environ={"YOUTUBE_API_KEY": key})


BUILT: list[YouTubeSource] = []


@pytest.fixture(autouse=True)
def closed() -> Iterator[None]:
    """Every source a test builds is closed after it (httplib2 keeps its sockets open)."""
    yield
    while BUILT:
        BUILT.pop().close()


def youtube(config: Config, clock: FakeClock) -> YouTubeSource:
    (source,) = build_sources(config, runtime=clock.runtime())
    assert isinstance(source, YouTubeSource)
    BUILT.append(source)
    return source


def comments(video: Video, start: int, count: int, text: str = "the update broke my login") -> None:
    """``count`` threads, a minute apart, the newest first."""
    for i in range(start + count - 1, start - 1, -1):
        at = video.published + timedelta(minutes=i)
        video.threads.append(thread(f"c{i}", f"{text} {i}", at, video.id))


def test_own_channel_comments_are_kept_whether_or_not_they_name_the_brand(
    tmp_path: Path, fake: FakeYouTube, db: Store
) -> None:
    video = fake.video(Video("V1", "UCacme", "Acme Cloud 3.0 is here", NOW - timedelta(days=1)))
    video.threads.append(
        thread("T1", "the new update broke my login", NOW - timedelta(hours=2), "V1",
               replies=(("same here, since this morning", "@bob"),))
    )  # fmt: skip
    config = make_config(tmp_path, fake, "    search: false\n    channels: {Acme: [UCacme]}")
    source = youtube(config, FakeClock(NOW))
    report = poll_source(db, config, source)
    assert report.ok and report.stored == 2, report
    (call,) = fake.requests
    assert call.path == "/youtube/v3/commentThreads"
    assert call.query["allThreadsRelatedToChannelId"] == "UCacme" and call.query["key"] == KEY
    assert call.query["order"] == "time" and call.query["textFormat"] == "plainText"
    with db.session() as session:
        rows = session.execute(select(Mention, Author).join(Author)).all()
    by_id = {m.external_id: (m, a) for m, a in rows}
    top, author = by_id["T1"]
    assert top.brand == "Acme" and top.url == "https://www.youtube.com/watch?v=V1&lc=T1"
    assert author.handle == "alice" and by_id["T1.0"][0].brand == "Acme"
    assert source.quota is not None and source.quota.remaining == 9_999
    assert stored_cursor(db, "youtube")["quota"]["used"] == 1


def test_walks_newest_first_and_resumes_from_its_page_token_without_gaps(
    tmp_path: Path, fake: FakeYouTube, db: Store
) -> None:
    video = fake.video(Video("V1", "UCacme", "Acme", NOW - timedelta(days=3)))
    comments(video, 0, 250, text="acme is slow")
    extra = "    search: false\n    videos: {Acme: [V1]}\n    max_pages: 1"
    config = make_config(tmp_path, fake, extra)
    source = youtube(config, FakeClock(NOW))
    first = poll_source(db, config, source)
    assert first.stored == 100  # a first walk: the newest page, not the whole history
    comments(video, 1000, 150, text="acme is down")  # more than a page came in
    second = poll_source(db, config, source)  # one page a poll: cut short
    assert second.stored == 100 and "page" in stored_cursor(db, "youtube")["streams"]["video:V1"]
    third = poll_source(db, config, source)  # resumes from the token: the other 50, then done
    assert third.stored == 50
    state = stored_cursor(db, "youtube")["streams"]["video:V1"]
    assert "page" not in state and state["newest"].startswith("2026-12-04T07:09")  # c1149
    new_ids = {f"c{i}" for i in range(1000, 1150)}
    assert new_ids <= set(stored_ids(db))  # no gap
    assert poll_source(db, config, source).stored == 0  # caught up: one page read, nothing new


def test_search_finds_the_brands_recent_videos_every_search_every(
    tmp_path: Path, fake: FakeYouTube, db: Store
) -> None:
    new = fake.video(Video("V2", "UCfan", "My ACME CLOUD review", NOW - timedelta(days=2)))
    old = fake.video(Video("V3", "UCfan", "acme cloud unboxing", NOW - timedelta(days=30)))
    fake.video(Video("V4", "UCfan", "cooking pasta", NOW - timedelta(days=1)))
    comments(new, 0, 2, text="acme cloud crashes on upload for me too")
    new.threads.append(thread("x1", "great video, subscribed", NOW - timedelta(days=1), "V2"))
    comments(old, 0, 3)
    config = make_config(tmp_path, fake)
    clock = FakeClock(NOW)
    source = youtube(config, clock)
    report = poll_source(db, config, source)
    # the review's comments that name the brand (not another channel's "great video"); the
    # old video is not watched
    assert report.ok and report.stored == 2 and report.skipped == 1
    search = fake.calls("/youtube/v3/search")[0]
    assert search.query["q"] == '"acme"|"acme cloud"'  # keywords and handles, once each
    assert search.query["type"] == "video" and search.query["order"] == "date"
    assert search.query["publishedAfter"] == "2026-11-29T12:00:00Z"  # search_window: 7 days
    assert stored_cursor(db, "youtube")["quota"]["used"] == 101 and fake.used == 101
    clock.now += timedelta(hours=1)
    poll_source(db, config, source)
    assert len(fake.calls("/youtube/v3/search")) == 1  # not again before search_every
    clock.now += timedelta(hours=6)
    poll_source(db, config, source)
    assert len(fake.calls("/youtube/v3/search")) == 2


def test_the_daily_quota_ends_a_poll_until_midnight_pacific(
    tmp_path: Path, fake: FakeYouTube, db: Store
) -> None:
    video = fake.video(Video("V1", "UCacme", "Acme", NOW - timedelta(days=1)))
    comments(video, 0, 5)
    channel = "    search: false\n    channels: {Acme: [UCacme]}\n"
    extra = channel + "    daily_quota: 2\n    quota_reserve: 1"
    config = make_config(tmp_path, fake, extra)
    source = youtube(config, FakeClock(NOW))
    assert poll_source(db, config, source).stored == 5
    report = poll_source(db, config, source)  # 1 of 2 used, 1 kept in reserve
    assert report.rate_limited_until == quota_reset(NOW) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert "1 of the 2 daily units used" in (report.error or "")
    assert len(fake.requests) == 1  # the call was not made
    # the API's own quotaExceeded (another tool spent the key's units) says the same
    config = make_config(tmp_path, fake, "    search: false\n    channels: {Acme: [UCacme]}")
    fake.quota = fake.used
    report = poll_source(db, config, youtube(config, FakeClock(NOW)))
    assert report.rate_limited_until == quota_reset(NOW) and "quotaExceeded" in (report.error or "")


def test_a_video_with_comments_off_is_let_go_and_a_bad_key_says_what_to_fix(
    tmp_path: Path, fake: FakeYouTube, db: Store, caplog: pytest.LogCaptureFixture
) -> None:
    off = fake.video(Video("V1", "UCx", "Acme", NOW - timedelta(days=1), comments_off=True))
    on = fake.video(Video("V2", "UCx", "Acme", NOW - timedelta(days=1)))
    comments(on, 0, 2, text="acme support never answers")
    del off
    extra = "    search: false\n    videos: {Acme: [V1, V2, GONE1]}"
    config = make_config(tmp_path, fake, extra)
    with caplog.at_level(logging.WARNING):
        report = poll_source(db, config, youtube(config, FakeClock(NOW)))
    assert report.ok and report.stored == 2
    assert "video V1: commentsDisabled; no longer watched" in caplog.text
    assert "video GONE1: videoNotFound; no longer watched" in caplog.text
    wrong = make_config(tmp_path, fake, extra, key="AIza-wrong")
    report = poll_source(db, wrong, youtube(wrong, FakeClock(NOW)))
    assert "HTTP 400 (badRequest)" in (report.error or "") and "AIza-wrong" not in report.error


def test_settings_are_checked_when_the_config_loads(tmp_path: Path, fake: FakeYouTube) -> None:
    with pytest.raises(ConfigError, match="YouTube needs an API key"):
        build_sources(make_config(tmp_path, fake, key=""))
    config = make_config(tmp_path, fake, "    channels: {Globex: [UCglobex]}")
    with pytest.raises(ConfigError, match="'Globex' is not a brand"):
        build_sources(config)


def test_the_brands_own_answers_are_marked_own_and_a_bad_cursor_is_not_fatal(
    tmp_path: Path, fake: FakeYouTube, db: Store, caplog: pytest.LogCaptureFixture
) -> None:
    video = fake.video(Video("V1", "UCacme", "Acme", NOW - timedelta(days=1)))
    video.threads.append(
        thread("T1", "upload stuck at 99%", NOW - timedelta(hours=1), "V1",
               replies=(("Sorry! DM us your account email", "@acme"),))
    )  # fmt: skip
    video.threads[0]["replies"]["comments"][0]["snippet"]["authorChannelId"]["value"] = "UCacme"
    config = make_config(tmp_path, fake, "    search: false\n    channels: {Acme: [UCacme]}")
    source = youtube(config, FakeClock(NOW))
    assert poll_source(db, config, source).stored == 2  # the customer's and the answer
    with db.session() as session:
        rows = session.execute(select(Mention).order_by(Mention.created_at)).scalars().all()
        # the channel's answer, kept to mark T1 answered (harken.pipeline.ingest)
        assert [(m.flags, m.ref_external_id) for m in rows] == [([], None), (["own"], "T1")]
    bad = '{"streams": {"channel:UCacme": [], "video:V9": {"newest": "soon"}}, "quota": {"day": 3}}'
    with caplog.at_level(logging.WARNING):
        pages = list(source.pages(bad))
    assert pages and "2 unreadable entries of the stored cursor dropped" in caplog.text


def test_a_channel_the_key_cannot_read_is_an_error_not_a_silent_drop(
    tmp_path: Path, fake: FakeYouTube, db: Store
) -> None:
    from tests.fakes.youtube import error

    config = make_config(tmp_path, fake, "    search: false\n    channels: {Acme: [UCacme]}")
    fake.fail_next(
        error(403, "forbidden", "The request is not properly authorized.", "youtube.commentThread")
    )
    report = poll_source(db, config, youtube(config, FakeClock(NOW)))
    assert "HTTP 403 (forbidden)" in (report.error or "")
    assert report.pages == 0 and stored_cursor(db, "youtube") == {}  # nothing was let go


# -- replies ----------------------------------------------------------------------------------

OAUTH = {"YOUTUBE_CLIENT_ID": CLIENT_ID, "YOUTUBE_CLIENT_SECRET": CLIENT_SECRET}


def reply_config(tmp_path: Path, fake: FakeYouTube, refresh: str = REFRESH_TOKEN) -> Path:
    extra = f"""    search: false
    channels: {{Acme: [UCacme]}}
    client_id: "${{YOUTUBE_CLIENT_ID}}"
    client_secret: "${{YOUTUBE_CLIENT_SECRET}}"
    refresh_token: "{refresh}"
    token_uri: "{fake.url}/token"
database: {{url: "sqlite:///{tmp_path / "h.db"}"}}
departments: [{{name: support}}]"""
    make_config(tmp_path, fake, extra)
    return tmp_path / "config.yaml"


def test_a_reply_is_posted_in_the_thread_as_the_brands_channel(
    tmp_path: Path, fake: FakeYouTube
) -> None:
    video = fake.video(Video("V1", "UCacme", "Acme", NOW - timedelta(days=1)))
    video.threads.append(
        thread("T1", "where is my refund??", NOW - timedelta(hours=1), "V1",
               replies=(("same, 3 weeks now", "@bob"),))
    )  # fmt: skip
    path = reply_config(tmp_path, fake)
    env = {"YOUTUBE_API_KEY": KEY, **OAUTH}
    runner = CliRunner()
    listened = runner.invoke(app, ["--config", str(path), "listen", "--once"], env=env)
    assert listened.exit_code == 0, listened.output
    with Store(f"sqlite:///{tmp_path / 'h.db'}").session() as session:
        item_id = session.execute(select(QueueItem.id).order_by(QueueItem.id)).scalars().first()
    sent = runner.invoke(
        app,
        ["--config", str(path), "queue", "reply", str(item_id), "--text", "Sorry! Check your DMs.",
         "--send"],
        env=env,
    )  # fmt: skip
    assert sent.exit_code == 0, sent.output
    (reply,) = fake.replies
    assert reply["snippet"]["parentId"] == "T1"  # a reply to a reply goes in its thread
    assert reply["snippet"]["textOriginal"] == "Sorry! Check your DMs."
    assert "youtube.com/watch?v=V1&lc=T1.r0" in sent.output
    token_calls = fake.calls("/token")
    assert len(token_calls) == 1 and REFRESH_TOKEN not in sent.output


def test_a_refused_sign_in_posts_nothing_and_says_what_to_fix(
    tmp_path: Path, fake: FakeYouTube
) -> None:
    from harken.errors import ReplyError
    from harken.platforms.replies import send_reply
    from harken.platforms.reply import ReplyTarget

    config = load_config(
        reply_config(tmp_path, fake, refresh="1//revoked"),
        environ={"YOUTUBE_API_KEY": KEY, **OAUTH},
    )
    target = ReplyTarget("youtube", "T1", None, "alice", "T1", {})
    with pytest.raises(ReplyError) as caught:
        send_reply(config, target, "hello")
    assert "refused the sign-in (invalid_grant)" in str(caught.value)
    assert not caught.value.maybe_posted and fake.calls("/youtube/v3/comments") == []
    assert "1//revoked" not in str(caught.value) + str(caught.value.hint)


def test_a_dropped_answer_to_the_post_is_one_post_that_may_have_gone_out(
    tmp_path: Path, fake: FakeYouTube
) -> None:
    from harken.errors import ReplyError
    from harken.platforms.replies import send_reply
    from harken.platforms.reply import ReplyTarget
    from tests.fakes.http import Reply

    video = fake.video(Video("V1", "UCacme", "Acme", NOW - timedelta(days=1)))
    video.threads.append(thread("T1", "acme refund?", NOW - timedelta(hours=1), "V1"))
    environ = {"YOUTUBE_API_KEY": KEY, **OAUTH}
    config = load_config(reply_config(tmp_path, fake), environ=environ)
    target = ReplyTarget("youtube", "T1", None, "alice", "T1", {})

    def take_then_drop(request: Any) -> Reply:
        if request.path == "/token":
            return fake._token(request)
        fake._reply(request)  # the comment is made; the connection drops before the answer
        return Reply(reset=True)

    fake.fail_next(take_then_drop, take_then_drop)
    with pytest.raises(ReplyError) as caught:
        send_reply(config, target, "Sorry, DMing you now")
    assert caught.value.maybe_posted and len(fake.calls("/youtube/v3/comments")) == 1
    fake.fail_next(Reply(200, body="<html>captive portal</html>"))  # the sign-in's answer
    with pytest.raises(ReplyError) as caught:
        send_reply(config, target, "Sorry, DMing you now")
    assert "nothing was posted" in str(caught.value) and not caught.value.maybe_posted
    assert len(fake.calls("/youtube/v3/comments")) == 1


def test_a_thread_with_more_replies_than_its_page_carries_is_read_whole(
    tmp_path: Path, fake: FakeYouTube, db: Store
) -> None:
    video = fake.video(Video("V1", "UCacme", "Acme", NOW - timedelta(days=1)))
    replies = tuple((f"same problem here {i}", f"@user{i}") for i in range(8))
    video.threads.append(
        thread("T1", "app won't sync", NOW - timedelta(hours=1), "V1", replies=replies)
    )
    config = make_config(tmp_path, fake, "    search: false\n    channels: {Acme: [UCacme]}")
    report = poll_source(db, config, youtube(config, FakeClock(NOW)))
    assert report.stored == 9 and report.duplicates == 5  # the page's five, read again
    (more,) = fake.calls("/youtube/v3/comments")
    assert more.query["parentId"] == "T1" and stored_cursor(db, "youtube")["quota"]["used"] == 2


def test_a_reply_added_later_to_an_old_thread_is_read_by_the_hourly_recheck(
    tmp_path: Path, fake: FakeYouTube, db: Store
) -> None:
    video = fake.video(Video("V1", "UCacme", "Acme", NOW - timedelta(days=2)))
    comments(video, 0, 150)  # threads c0..c149: two pages, read by the first walk
    extra = "    search: false\n    channels: {Acme: [UCacme]}\n    first_poll_pages: 2"
    config = make_config(tmp_path, fake, extra)
    clock = FakeClock(NOW)
    source = youtube(config, clock)
    assert poll_source(db, config, source).stored == 150
    old = next(t for t in video.threads if t["id"] == "c0")  # the oldest: on page 2
    late = thread("c0", "", clock.now, "V1", replies=(("still broken for me, acme", "@dan"),))
    old["replies"] = late["replies"]
    old["replies"]["comments"][0]["id"] = "c0.late"
    old["snippet"]["totalReplyCount"] = 1
    clock.now += timedelta(minutes=15)
    assert poll_source(db, config, source).stored == 0  # the walk stops at what it stored
    clock.now += timedelta(hours=1)
    fake.requests.clear()
    report = poll_source(db, config, source)
    assert report.stored == 1 and "c0.late" in stored_ids(db), report
    # The walk's first page, then the recheck from where the walk stopped (page 2).
    assert len(fake.calls("/youtube/v3/commentThreads")) == 2
    clock.now += timedelta(minutes=15)
    bad = stored_cursor(db, "youtube")
    bad["streams"]["channel:UCacme"] |= {"threads": {"c1": "x", "c2": [1]}, "rechecked": 7}
    assert list(source.pages(json.dumps(bad)))  # odd entries are dropped, not the poll
