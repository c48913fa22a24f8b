"""Facebook and Instagram through harken's Graph API client against a local fake of the Graph
API (tests/fakes/meta.py): what is read and left out, comment counts that decide what is read
again, paging without gaps, Meta's usage headers and error codes, and replies."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from harken.cli import app
from harken.config import Config, load_config
from harken.errors import ConfigError, ReplyError
from harken.pipeline.collect import poll_source
from harken.platforms.meta.walk import GraphSource
from harken.platforms.registry import build_sources
from harken.platforms.replies import reply_problems, send_reply
from harken.platforms.reply import ReplyTarget
from harken.store import Store
from harken.store.tables import Mention, QueueItem
from tests.conftest import write_config
from tests.fakes.clock import FakeClock
from tests.fakes.http import Reply
from tests.fakes.meta import (
    TOKEN,
    FakeGraph,
    Media,
    Post,
    fb_comment,
    graph_error,
    ig_comment,
)
from tests.listening import stored_cursor, stored_ids

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
PAGE, IG = "1001", "17841400000000001"
ACME = (PAGE, "Acme")  # the Page itself, as comments' "from"
ALICE, BOB = ("501", "Alice Doe"), ("502", "Bob Roe")


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as api:
        yield api


@pytest.fixture
def db(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'h.db'}")


BUILT: list[GraphSource] = []


@pytest.fixture(autouse=True)
def closed() -> Iterator[None]:
    yield
    while BUILT:
        BUILT.pop().close()


def make_config(
    tmp_path: Path, fake: FakeGraph, facebook: str = "", instagram: str = "", token: str = TOKEN
) -> Config:
    """Both sources; ``facebook`` and ``instagram`` are more of their settings, one a line."""
    path = write_config(
        tmp_path,
        f"""
brands:
  - {{name: Acme, keywords: [acme], handles: ["@acme"]}}
departments: [{{name: support}}]
database: {{url: "sqlite:///{tmp_path / "h.db"}"}}
sources:
  facebook:
    enabled: true
    api_base_url: "{fake.url}"
    access_token: "${{FACEBOOK_PAGE_TOKEN}}"
    pages: {{Acme: ["{PAGE}"]}}
{_indented(facebook)}
  instagram:
    enabled: true
    api_base_url: "{fake.url}"
    access_token: "${{INSTAGRAM_ACCESS_TOKEN}}"
    accounts: {{Acme: ["{IG}"]}}
{_indented(instagram)}
""",
    )
    env = {"FACEBOOK_PAGE_TOKEN": token, "INSTAGRAM_ACCESS_TOKEN": token}
    return load_config(path, environ=env)


def _indented(settings: str) -> str:
    return "".join(f"    {line}\n" for line in settings.splitlines())


def source(config: Config, clock: FakeClock, only: str) -> GraphSource:
    (built,) = build_sources(config, only=only, runtime=clock.runtime())
    assert isinstance(built, GraphSource)
    BUILT.append(built)
    return built


def page_with_comments(fake: FakeGraph) -> Post:
    post = fake.page_post(
        PAGE, Post(f"{PAGE}_1", "Our new app is out!", NOW - timedelta(days=2), ACME)
    )
    post.comments += [
        fb_comment("1_c1", "the update broke my login", NOW - timedelta(hours=5), ALICE),
        fb_comment("1_c2", "Sorry! Sending you a DM now", NOW - timedelta(hours=4), ACME, "1_c1"),
        fb_comment("1_c3", "same here since this morning", NOW - timedelta(hours=3), BOB, "1_c1"),
    ]
    return post


def test_facebook_reads_comments_visitors_posts_and_tags_and_marks_the_pages_own_answers(
    tmp_path: Path, fake: FakeGraph, db: Store
) -> None:
    page_with_comments(fake)
    fake.page_post(
        PAGE, Post(f"{PAGE}_2", "Where is my refund? 3 weeks!", NOW - timedelta(hours=2), ALICE)
    )
    fake.page_post(PAGE, Post(f"{PAGE}_3", None, NOW - timedelta(hours=1), BOB))  # a photo
    fake.tagged[PAGE] = [
        Post("77_9", "stuck at the airport, thanks a lot", NOW - timedelta(hours=1), BOB)
    ]
    config = make_config(tmp_path, fake)
    report = poll_source(db, config, source(config, FakeClock(NOW), "facebook"))
    assert report.ok and report.stored == 5, report
    assert stored_ids(db) == ["1001_2", "1_c1", "1_c2", "1_c3", "77_9"]
    with db.session() as session:
        rows = {m.external_id: m for m in session.execute(select(Mention)).scalars()}
    # The Page's reply is its own answer, whatever its name: it marks 1_c1's items responded.
    answer = rows["1_c2"]
    assert (answer.flags, answer.brand, answer.ref_external_id) == (["own"], "Acme", "1_c1")
    assert all(rows[i].flags == [] for i in ("1001_2", "1_c1", "1_c3", "77_9"))
    reply = rows["1_c3"]
    assert reply.brand == "Acme" and reply.ref_kind == "reply" and reply.ref_external_id == "1_c1"
    assert reply.conversation_id == "1001_1" and reply.url == "https://www.facebook.com/1_c3"
    assert rows["1001_2"].ref_kind is None and rows["1001_2"].brand == "Acme"
    calls = fake.requests
    assert all(c.headers["authorization"] == f"Bearer {TOKEN}" for c in calls)
    assert not any("access_token" in c.query for c in calls)  # never in a URL, nor `next`
    comments_call = next(c for c in calls if c.path.endswith("/comments"))
    assert comments_call.query["filter"] == "stream"
    assert comments_call.query["order"] == "reverse_chronological"


def test_a_late_reply_on_an_old_post_is_read_and_unchanged_posts_cost_nothing(
    tmp_path: Path, fake: FakeGraph, db: Store
) -> None:
    post = page_with_comments(fake)
    quiet = fake.page_post(PAGE, Post(f"{PAGE}_4", "Holiday hours", NOW - timedelta(days=3), ACME))
    quiet.comments.append(fb_comment("4_c1", "see you then", NOW - timedelta(days=2), BOB))
    config = make_config(tmp_path, fake, "tagged: false")
    clock = FakeClock(NOW)
    facebook = source(config, clock, "facebook")
    assert poll_source(db, config, facebook).stored == 4  # with the Page's own answer
    clock.now += timedelta(minutes=10)
    fake.requests.clear()
    assert poll_source(db, config, facebook).stored == 0
    assert not [c for c in fake.requests if c.path.endswith("/comments")]  # counts did not move
    clock.now += timedelta(minutes=10)
    post.comments.append(
        fb_comment(
            "1_c4", "still broken, 2 days later", clock.now - timedelta(minutes=1), ALICE, "1_c1"
        )
    )
    fake.requests.clear()
    assert poll_source(db, config, facebook).stored == 1
    (read,) = [c for c in fake.requests if c.path.endswith("/comments")]
    assert read.path == "/v24.0/1001_1/comments"
    clock.now += timedelta(hours=1)  # recheck_every: read again even though nothing moved
    fake.requests.clear()
    assert poll_source(db, config, facebook).stored == 0
    assert len([c for c in fake.requests if c.path.endswith("/comments")]) == 2


def test_instagram_reads_threads_to_the_end_for_a_late_reply_without_sending_old_ones_again(
    tmp_path: Path, fake: FakeGraph, db: Store
) -> None:
    media = fake.ig_media(IG, Media("M1", "Autumn drop", NOW - timedelta(days=1), "acme"))
    for i in range(60):  # two pages of threads (50 a page), newest first
        media.comments.append(
            ig_comment(f"C{i}", f"love it {i}", NOW - timedelta(hours=20, minutes=-i), "fan")
        )
    media.comments[0]["replies"] = [
        ig_comment("R0", "Thank you!", NOW - timedelta(hours=19), "acme_jp", "C0", IG)
    ]
    fake.ig_tags[IG] = [Media("T1", "my acme order never came", NOW - timedelta(hours=2), "carol")]
    config = make_config(tmp_path, fake, instagram="first_poll_pages: 2")
    clock = FakeClock(NOW)
    instagram = source(config, clock, "instagram")
    report = poll_source(db, config, instagram)
    # 60 comments, the tagging post and the account's own answer
    assert report.ok and report.stored == 62, report
    with db.session() as session:  # the account's own answer, kept to mark C0 answered
        own = session.execute(select(Mention).where(Mention.external_id == "R0")).scalar_one()
    assert (own.flags, own.ref_external_id) == (["own"], "C0")
    clock.now += timedelta(minutes=10)
    late = ig_comment(
        "R1", "mine still has not shipped", clock.now - timedelta(minutes=2), "dan", "C0"
    )
    media.comments[0]["replies"].append(late)  # in the oldest thread: the last page
    fake.requests.clear()
    report = poll_source(db, config, instagram)
    # The old threads are read again (a reply can sit in any of them, and a comment held
    # for review shows up late with its old time): the store absorbs them, as it does the
    # tagging post on the first page of its edge.
    assert report.stored == 1 and report.duplicates == 62 and report.skipped == 0, report
    assert len([c for c in fake.requests if c.path == "/v24.0/M1/comments"]) == 2
    with db.session() as session:
        row = session.execute(select(Mention).where(Mention.external_id == "R1")).scalar_one()
    assert row.ref_external_id == "C0" and row.conversation_id == "M1"
    assert row.url == "https://www.instagram.com/p/M1/" and row.brand == "Acme"


def test_instagram_knows_the_accounts_own_replies_by_username_and_waits_for_it(
    tmp_path: Path, fake: FakeGraph, db: Store
) -> None:
    media = fake.ig_media(IG, Media("M1", "Autumn drop", NOW - timedelta(days=1), "acme"))
    media.comments.append(ig_comment("C0", "where is my order", NOW - timedelta(hours=2), "kai"))
    media.comments[0]["replies"] = [  # the account's reply, named by a scoped id
        ig_comment("R0", "DM us!", NOW - timedelta(hours=1), "acme_jp", "C0", "9988")
    ]
    fake.usernames[IG] = "acme_jp"
    fake.username_fails = 1
    config = make_config(tmp_path, fake, instagram="tags: false")
    clock = FakeClock(NOW)
    instagram = source(config, clock, "instagram")
    first = poll_source(db, config, instagram)
    assert not first.ok and "username" in (first.error or "") and stored_ids(db) == []
    clock.now += timedelta(minutes=10)
    assert poll_source(db, config, instagram).stored == 2
    with db.session() as session:
        reply = session.execute(select(Mention).where(Mention.external_id == "R0")).scalar_one()
    assert reply.flags == ["own"]


def test_a_walk_cut_short_resumes_from_its_cursor_without_gaps(
    tmp_path: Path, fake: FakeGraph, db: Store
) -> None:
    post = fake.page_post(PAGE, Post(f"{PAGE}_1", "New app!", NOW - timedelta(hours=30), ACME))
    config = make_config(tmp_path, fake, "tagged: false\nmax_pages: 1")
    clock = FakeClock(NOW)
    facebook = source(config, clock, "facebook")
    poll_source(db, config, facebook)
    clock.now += timedelta(minutes=10)
    for i in range(250):  # 3 pages of 100
        at = clock.now - timedelta(seconds=250 - i)
        post.comments.append(fb_comment(f"1_n{i}", f"acme app crashes {i}", at, ALICE))
    stored = [poll_source(db, config, facebook).stored for _ in range(3)]
    assert stored == [100, 100, 50]
    assert len(stored_ids(db)) == 250
    assert "page" not in stored_cursor(db, "facebook")["streams"]["comments:1001_1"]


def test_usage_headers_stop_the_poll_at_the_ceiling_until_access_comes_back(
    tmp_path: Path, fake: FakeGraph, db: Store
) -> None:
    page_with_comments(fake)
    fake.usage = {"call_count": 12, "total_cputime": 5, "total_time": 7}
    fake.business_usage = {
        PAGE: [{"type": "pages", "call_count": 95, "total_cputime": 10, "total_time": 20,
                "estimated_time_to_regain_access": 17}]
    }  # fmt: skip
    config = make_config(tmp_path, fake)
    facebook = source(config, FakeClock(NOW), "facebook")
    report = poll_source(db, config, facebook)
    assert len(fake.requests) == 1  # the listing said 95%: nothing more was asked
    assert report.rate_limited_until == NOW + timedelta(minutes=17)
    assert "95% of an allowance used (x-business-use-case-usage pages)" in (report.error or "")
    assert facebook.quota is not None and facebook.quota.remaining == 5


def test_metas_error_codes_say_what_happened_and_what_to_do(
    tmp_path: Path, fake: FakeGraph, db: Store, caplog: pytest.LogCaptureFixture
) -> None:
    page_with_comments(fake)
    wrong = make_config(tmp_path, fake, token="EAAG-wrong-token-987654321")
    report = poll_source(db, wrong, source(wrong, FakeClock(NOW), "facebook"))
    assert "access token was refused" in (report.error or "") and "code 190" in report.error
    assert "wrong-token" not in report.error
    config = make_config(tmp_path, fake)
    fake.fail_next(graph_error(403, 4, "(#4) Application request limit reached"))
    clock = FakeClock(NOW)
    report = poll_source(db, config, source(config, clock, "facebook"))
    # Meta did not say when: an hour's window is not waited out inside a poll, nor hammered.
    assert report.rate_limited_until == NOW + timedelta(minutes=15)
    assert "code 4" in (report.error or "") and clock.sleeps == []
    fake.fail_next(graph_error(500, 2, "An unexpected error has occurred.", kind="OAuthException"))
    report = poll_source(db, config, source(config, clock, "facebook"))
    # Retried; the earlier polls stored nothing (two comments and the Page's answer)
    assert report.ok and report.stored == 3
    fake.deleted.add(f"{PAGE}_1")  # deleted after the listing named it
    fake.feeds[PAGE][0].comments.append(fb_comment("1_c9", "hello?", NOW, BOB))
    with caplog.at_level(logging.WARNING):
        report = poll_source(db, config, source(config, clock, "facebook"))
    assert report.ok and "comments on 1001_1: gone" in caplog.text
    assert "1001_1" not in stored_cursor(db, "facebook")["posts"]


def test_settings_are_checked_when_the_config_loads(tmp_path: Path, fake: FakeGraph) -> None:
    with pytest.raises(ConfigError, match="FACEBOOK_PAGE_TOKEN"):
        build_sources(make_config(tmp_path, fake, token=""), only="facebook")
    config = make_config(tmp_path, fake, 'pages: {Acme: ["facebook.com/acme"]}')
    with pytest.raises(ConfigError, match="is not a Page id"):
        build_sources(config, only="facebook")


# -- replies ----------------------------------------------------------------------------------


def test_replies_go_to_the_thread_and_say_what_cannot_be_answered(
    tmp_path: Path, fake: FakeGraph
) -> None:
    page_with_comments(fake)
    config = make_config(tmp_path, fake)
    answer = ReplyTarget("facebook", "1_c3", None, "Bob Roe", "1001_1", {"parent": {"id": "1_c1"}})
    sent = send_reply(config, answer, "Sorry Bob, DMing you")
    assert fake.replies == [("1_c1", "Sorry Bob, DMing you")]  # threads are one level deep
    assert sent.external_id == "1_c1_reply1"
    visitor = ReplyTarget("facebook", "1001_2", None, "Alice Doe", "1001_2", {})
    send_reply(config, visitor, "Hi Alice")
    assert fake.replies[-1] == ("1001_2", "Hi Alice")
    ig_reply = ReplyTarget("instagram", "R1", None, "dan", "M1", {"text": "x", "parent_id": "C0"})
    send_reply(config, ig_reply, "On its way!")
    assert fake.replies[-1] == ("C0", "On its way!")
    tagged = ReplyTarget("instagram", "T1", None, "carol", "T1", {"caption": "my acme order"})
    assert "cannot comment on" in " ".join(reply_problems(config, tagged, "hello"))
    assert "allows 2200" in " ".join(reply_problems(config, ig_reply, "x" * 2201))
    fake.fail_next(graph_error(400, 190, "Error validating access token: Session has expired"))
    with pytest.raises(ReplyError, match="refused the access token") as refused:
        send_reply(config, ig_reply, "again")
    assert not refused.value.maybe_posted and "INSTAGRAM_ACCESS_TOKEN" in (refused.value.hint or "")
    fake.fail_next(Reply(502, body="<html>Bad gateway</html>"))
    with pytest.raises(ReplyError) as lost:
        send_reply(config, ig_reply, "again")
    assert lost.value.maybe_posted


def test_a_facebook_comment_is_answered_from_the_queue(tmp_path: Path, fake: FakeGraph) -> None:
    page_with_comments(fake)
    config = make_config(tmp_path, fake, "tagged: false")
    path = tmp_path / "config.yaml"
    env = {"FACEBOOK_PAGE_TOKEN": TOKEN, "INSTAGRAM_ACCESS_TOKEN": TOKEN}
    runner = CliRunner()
    listened = runner.invoke(
        app, ["--config", str(path), "listen", "--once", "--source", "facebook"], env=env
    )
    assert listened.exit_code == 0, listened.output
    del config
    with Store(f"sqlite:///{tmp_path / 'h.db'}").session() as session:
        item = session.execute(
            select(QueueItem.id).join(Mention).where(Mention.external_id == "1_c1")
        ).scalar_one()
    sent = runner.invoke(
        app, ["--config", str(path), "queue", "reply", str(item), "--text", "Fixed now!", "--send"],
        env=env,
    )  # fmt: skip
    assert sent.exit_code == 0, sent.output
    assert fake.replies == [("1_c1", "Fixed now!")] and TOKEN not in sent.output


# -- what Meta's API does that its documents do not promise -----------------------------------


def test_usage_is_forgotten_once_access_comes_back_and_odd_listings_lose_nothing(
    tmp_path: Path, fake: FakeGraph, db: Store
) -> None:
    post = page_with_comments(fake)
    fake.business_usage = {PAGE: [{"type": "pages", "call_count": 95,
                                   "estimated_time_to_regain_access": 17}]}  # fmt: skip
    config = make_config(tmp_path, fake, "tagged: false")
    clock = FakeClock(NOW)
    facebook = source(config, clock, "facebook")
    assert poll_source(db, config, facebook).rate_limited_until == NOW + timedelta(minutes=17)
    fake.business_usage = None  # next to nothing used: Meta sends no header
    clock.now += timedelta(minutes=18)
    assert poll_source(db, config, facebook).stored == 3  # it asked again
    watched = stored_cursor(db, "facebook")["posts"]
    fake.fail_next(Reply(json={}))  # a listing without data: a passing fault, retried
    post.comments.append(fb_comment("1_c5", "any news, acme?", clock.now, BOB))
    clock.now += timedelta(minutes=10)
    assert poll_source(db, config, facebook).stored == 1
    fake.fail_next(Reply(json={"data": [{"id": "1001_1", "created_time": NOW.isoformat(),
                                         "comments": "x"}]}))  # fmt: skip
    clock.now += timedelta(minutes=10)
    report = poll_source(db, config, facebook)
    assert report.ok and stored_cursor(db, "facebook")["posts"].keys() == watched.keys()


def test_refused_cursors_refused_posts_and_an_ignored_order_lose_nothing(
    tmp_path: Path, fake: FakeGraph, db: Store
) -> None:
    bad = fake.page_post(
        PAGE, Post(f"{PAGE}_7", "Poll: favourite feature?", NOW - timedelta(days=1), ACME)
    )
    good = fake.page_post(
        PAGE, Post(f"{PAGE}_8", "Maintenance tonight", NOW - timedelta(hours=20), ACME)
    )
    config = make_config(tmp_path, fake, "tagged: false\nmax_pages: 2")
    clock = FakeClock(NOW)
    facebook = source(config, clock, "facebook")
    poll_source(db, config, facebook)
    clock.now += timedelta(minutes=10)
    fake.refused.add(bad.id)  # Meta will not read this one's comments
    bad.comments.append(fb_comment("7_c1", "acme search", clock.now, ALICE))
    fake.ignore_order = True  # comments come oldest first, whatever `order` says
    for i in range(150):
        at = clock.now - timedelta(seconds=150 - i)
        good.comments.append(fb_comment(f"8_n{i}", f"acme outage again {i}", at, ALICE))
    report = poll_source(db, config, facebook)
    assert report.ok and report.stored == 150, report  # read to the end, the bad one let go
    clock.now += timedelta(minutes=10)
    fake.refuse_cursors = 1  # an expired cursor mid-walk: read again from the top
    for i in range(150, 260):
        at = clock.now - timedelta(seconds=300 - i)
        good.comments.append(fb_comment(f"8_n{i}", f"acme outage again {i}", at, ALICE))
    fake.ignore_order = False
    assert poll_source(db, config, facebook).ok
    clock.now += timedelta(minutes=10)
    assert poll_source(db, config, facebook).ok
    assert {f"8_n{i}" for i in range(150, 260)} <= set(stored_ids(db))


def test_a_first_walk_spread_over_polls_keeps_its_budget_and_a_future_time_moves_no_cursor(
    tmp_path: Path, fake: FakeGraph, db: Store
) -> None:
    post = fake.page_post(PAGE, Post(f"{PAGE}_1", "Launch day", NOW - timedelta(days=2), ACME))
    for i in range(1000):
        at = NOW - timedelta(days=1, seconds=-i)
        post.comments.append(fb_comment(f"1_o{i}", f"acme old {i}", at, ALICE))
    future = datetime(2150, 1, 1, tzinfo=UTC)  # an author's clock, or a forgery
    post.comments.append(fb_comment("1_f", "from the future", future, BOB))
    config = make_config(tmp_path, fake, "tagged: false\nfirst_poll_pages: 3\nmax_pages: 1")
    clock = FakeClock(NOW)
    facebook = source(config, clock, "facebook")
    for poll in range(5):  # a page a poll: the first walk's three pages, then the rest
        poll_source(db, config, facebook)
        clock.now += timedelta(minutes=10)
        if poll == 0:  # written while the first walk is under way: a mention, not history
            post.comments.append(fb_comment("1_mid", "acme?", clock.now, BOB))
    assert "1_mid" in stored_ids(db)
    # About the newest 300 (the fake's cursors count places, so the new one shifts a page by
    # one), not the 1,002 of the whole history.
    assert 300 <= len(stored_ids(db)) <= 301
    stream = stored_cursor(db, "facebook")["streams"]["comments:1001_1"]
    assert stream["newest"] < "2027" and "floor" in stream
    post.comments.append(fb_comment("1_new", "acme still broken", clock.now, ALICE))
    assert poll_source(db, config, facebook).stored == 1
    assert "1_new" in stored_ids(db)


def test_instagram_threads_longer_than_fifty_replies_are_read_whole(
    tmp_path: Path, fake: FakeGraph, db: Store
) -> None:
    media = fake.ig_media(IG, Media("M1", "Drop", NOW - timedelta(hours=5), "acme"))
    thread = ig_comment("C0", "acme shipping?", NOW - timedelta(hours=4), "fan")
    thread["replies"] = [
        ig_comment(f"R{i}", f"same {i}", NOW - timedelta(hours=3, seconds=-i), "x", "C0")
        for i in range(80)
    ]
    media.comments.append(thread)
    config = make_config(tmp_path, fake, instagram="tags: false")
    report = poll_source(db, config, source(config, FakeClock(NOW), "instagram"))
    assert report.ok and report.stored == 81, report
    assert fake.calls("/v24.0/C0/replies")[0].query["after"] == "cursor-50"


def test_an_id_that_is_no_id_is_never_sent() -> None:
    from harken.platforms.meta.graph import GraphClient, GraphError, GraphSettings

    client = GraphClient(GraphSettings(access_token=TOKEN), 5)
    try:
        for bad in ("../me/feed", "1/../2", "1?x=y", "1%2F2"):
            with pytest.raises(GraphError, match="not a Graph API id"):
                client.url(f"{bad}/comments")
        assert client.url("1001_2/comments").endswith("/v24.0/1001_2/comments")
    finally:
        client.close()


def test_a_refused_cursor_with_one_page_a_poll_and_a_lost_permission(
    tmp_path: Path, fake: FakeGraph, db: Store
) -> None:
    post = fake.page_post(PAGE, Post(f"{PAGE}_1", "New app!", NOW - timedelta(hours=30), ACME))
    config = make_config(tmp_path, fake, "tagged: false\nmax_pages: 1")
    clock = FakeClock(NOW)
    facebook = source(config, clock, "facebook")
    poll_source(db, config, facebook)
    for i in range(150):
        at = NOW + timedelta(seconds=i)
        post.comments.append(fb_comment(f"1_n{i}", f"acme {i}", at, ALICE))
    clock.now += timedelta(minutes=10)
    poll_source(db, config, facebook)  # page 1 of 2; the cursor for page 2 is stored
    fake.refuse_cursors = 1
    clock.now += timedelta(minutes=10)
    assert poll_source(db, config, facebook).ok  # refused: from the top, in the same poll
    clock.now += timedelta(minutes=10)
    poll_source(db, config, facebook)
    assert len(stored_ids(db)) == 150
    fake.fail_next(Reply(json={"data": [{"id": post.id, "created_time": NOW.isoformat(),
                                         "comments": {"summary": {"total_count": 151}}}]}),
                   graph_error(400, 200, "(#200) Permissions error"))  # fmt: skip
    clock.now += timedelta(minutes=10)
    report = poll_source(db, config, facebook)
    assert "lacks a permission" in (report.error or "")  # said, not taken for a deleted post
    assert post.id in stored_cursor(db, "facebook")["posts"]
