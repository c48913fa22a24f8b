"""FakeSlack driven by the real slack_sdk clients: proof that it speaks what they send."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, FixedValueRetryIntervalCalculator
from slack_sdk.webhook import WebhookClient

from tests.fakes.http import Reply
from tests.fakes.slack import BOT_USER_ID, TOKEN, FakeSlack

METADATA = {"event_type": "harken_mention", "event_payload": {"mention_id": "x:42"}}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_channel("#cs-social")
        yield fake


@pytest.fixture(autouse=True)
def quiet_sdk_logs() -> Iterator[None]:
    """slack_sdk logs every transport failure at ERROR; the tests provoke them on purpose."""
    logger = logging.getLogger("slack_sdk")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def client(slack: FakeSlack, **kwargs: object) -> WebClient:
    kwargs.setdefault("retry_handlers", [])
    return WebClient(token=TOKEN, base_url=slack.api_url, timeout=2, **kwargs)  # type: ignore[arg-type]


def section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_post_by_name_reply_in_thread_and_update(slack: FakeSlack) -> None:
    web = client(slack)
    channel = slack.channel("#cs-social").id
    posted = web.chat_postMessage(
        channel="#cs-social",
        text="Outage mention",
        blocks=[section("*Outage* mention")],
        metadata=METADATA,
        unfurl_links=False,
    )
    assert posted["channel"] == channel and posted["message"]["user"] == BOT_USER_ID
    reply = web.chat_postMessage(channel=channel, text="details", thread_ts=posted["ts"])
    assert float(reply["ts"]) > float(posted["ts"])
    updated = web.chat_update(channel=channel, ts=posted["ts"], text="Outage mention (handled)")
    assert updated["message"]["edited"]["user"] == BOT_USER_ID
    assert updated["message"]["blocks"][0]["text"]["text"] == "*Outage* mention"  # kept

    [parent, child] = slack.thread("#cs-social", posted["ts"])
    assert (parent.text, parent.metadata, parent.unfurl_links) == (
        "Outage mention (handled)",
        METADATA,
        False,
    )
    assert (child.text, child.thread_ts, parent.edits) == ("details", posted["ts"], 1)
    assert slack.post_count == 2


def test_history_shows_metadata_only_when_asked_and_no_thread_replies(slack: FakeSlack) -> None:
    web = client(slack)
    first = web.chat_postMessage(channel="#cs-social", text="one", metadata=METADATA)
    web.chat_postMessage(channel="#cs-social", text="in thread", thread_ts=first["ts"])
    web.chat_postMessage(
        channel="#cs-social", text="broadcast", thread_ts=first["ts"], reply_broadcast=True
    )
    channel = first["channel"]

    plain = web.conversations_history(channel=channel)
    assert [m["text"] for m in plain["messages"]] == ["broadcast", "one"]  # newest first
    assert "metadata" not in plain["messages"][1]
    assert plain["messages"][1]["reply_count"] == 2
    assert plain["messages"][0]["subtype"] == "thread_broadcast"
    full = web.conversations_history(channel=channel, include_all_metadata=True)
    assert full["messages"][1]["metadata"] == METADATA

    thread = web.conversations_replies(channel=channel, ts=first["ts"])
    assert [m["text"] for m in thread["messages"]] == ["one", "in thread", "broadcast"]


def test_history_pages_with_cursor_and_bounds(slack: FakeSlack) -> None:
    web = client(slack)
    stamps = [web.chat_postMessage(channel="#cs-social", text=str(i))["ts"] for i in range(5)]
    channel = slack.channel("cs-social").id

    # A SlackResponse pages by changing itself: read each page as it comes.
    pages = [
        ([m["text"] for m in p["messages"]], p["has_more"])
        for p in web.conversations_history(channel=channel, limit=2)
    ]
    assert pages == [(["4", "3"], True), (["2", "1"], True), (["0"], False)]

    window = web.conversations_history(channel=channel, oldest=stamps[1], latest=stamps[3])
    assert [m["text"] for m in window["messages"]] == ["2"]
    inclusive = web.conversations_history(
        channel=channel, oldest=stamps[1], latest=stamps[3], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["3", "2", "1"]


def test_conversations_list_pages_and_filters_types(slack: FakeSlack) -> None:
    slack.add_channel("#cs-billing")
    slack.add_channel("#cs-private", is_private=True)
    web = client(slack)
    names = [c["name"] for p in web.conversations_list(limit=1) for c in p["channels"]]
    assert names == ["cs-social", "cs-billing"]
    both = web.conversations_list(types="public_channel,private_channel")
    assert [c["name"] for c in both["channels"]][-1] == "cs-private"


def test_errors_as_slack_answers_them(slack: FakeSlack) -> None:
    web = client(slack)
    with pytest.raises(SlackApiError) as unknown:
        web.chat_postMessage(channel="#nowhere", text="x")
    assert unknown.value.response.status_code == 200
    assert unknown.value.response["error"] == "channel_not_found"

    with pytest.raises(SlackApiError) as long_section:
        web.chat_postMessage(channel="#cs-social", text="x", blocks=[section("y" * 3001)])
    assert long_section.value.response["error"] == "invalid_blocks"
    assert "[json-pointer:/blocks/0/text/text]" in long_section.value.response["errors"][0]

    # api_call: chat_postMessage itself warns (an error here) before sending a message without text
    with pytest.raises(SlackApiError, match="no_text"):
        web.api_call("chat.postMessage", json={"channel": "#cs-social"})

    bad = WebClient(token="xoxb-other", base_url=slack.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError, match="invalid_auth"):
        bad.auth_test()
    with pytest.raises(SlackApiError, match="not_authed"):
        WebClient(base_url=slack.api_url, retry_handlers=[]).auth_test()

    theirs = slack.add_message("#cs-social", "a teammate's note")
    with pytest.raises(SlackApiError, match="cant_update_message"):
        web.chat_update(channel=theirs.channel, ts=theirs.ts, text="no")
    with pytest.raises(SlackApiError, match="message_not_found"):
        web.chat_update(channel=theirs.channel, ts="1.000001", text="no")
    assert slack.messages("#cs-social") == [theirs]


def test_files_upload_v2_shares_the_file_in_a_thread(slack: FakeSlack) -> None:
    web = client(slack)
    parent = web.chat_postMessage(channel="#cs-social", text="weekly report")
    done = web.files_upload_v2(
        channel=parent["channel"],
        content="id,topic\n1,outage\n",
        filename="mentions.csv",
        title="Mentions",
        initial_comment="This week's mentions",
        thread_ts=parent["ts"],
    )
    assert done["file"]["title"] == "Mentions"
    [upload] = slack.uploads
    assert (upload.content, upload.completed) == (b"id,topic\n1,outage\n", True)
    assert (upload.channels, upload.thread_ts) == ([parent["channel"]], parent["ts"])
    share = slack.thread("#cs-social", parent["ts"])[-1]
    assert share.text == "This week's mentions" and share.files[0]["id"] == upload.id


def test_webhook_posts_and_errors(slack: FakeSlack) -> None:
    url = slack.add_webhook("#cs-social")
    hook = WebhookClient(url, retry_handlers=[])
    sent = hook.send(text="Outage mention", blocks=[section("*Outage*")])
    assert (sent.status_code, sent.body) == (200, "ok")
    [message] = slack.messages("#cs-social")
    assert (message.via, message.user, message.text) == ("webhook", None, "Outage mention")

    assert hook.send_dict({"blocks": []}).body == "missing_text_or_fallback_or_attachments"
    gone = WebhookClient(url.rsplit("/", 3)[0] + "/B000/C000/nope", retry_handlers=[])
    missing = gone.send(text="x")
    assert (missing.status_code, missing.body) == (404, "no_service")
    raw = urllib.request.Request(url, data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(raw, timeout=2)
    assert (bad.value.code, bad.value.read()) == (400, b"invalid_payload")
    bad.value.close()
    slack.archive("#cs-social")
    assert hook.send(text="x").status_code == 410
    assert len(slack.webhook_calls(url)) == 4


def test_rate_limit_down_and_unreachable(slack: FakeSlack) -> None:
    web = client(slack)
    slack.fail_next(
        Reply(429, json={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "30"})
    )
    with pytest.raises(SlackApiError) as limited:
        web.chat_postMessage(channel="#cs-social", text="x")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["retry-after"] == "30"  # slack_sdk adds both cases

    slack.down = True
    with pytest.raises(SlackApiError) as down:
        web.auth_test()
    assert down.value.response.status_code == 503
    slack.down = False

    slack.unreachable = True
    with pytest.raises(urllib.error.URLError) as refused:
        web.auth_test()
    assert isinstance(refused.value.reason, ConnectionRefusedError)
    slack.unreachable = False
    assert web.chat_postMessage(channel="#cs-social", text="back")["ok"]
    arrivals = slack.arrivals("chat.postMessage")
    assert len(arrivals) == 2 and arrivals[0] <= arrivals[1] <= time.time()


def test_fail_method_leaves_other_methods_alone(slack: FakeSlack) -> None:
    web = client(slack)
    slack.fail_method("chat.postMessage", Reply(500, body="<html>oops</html>"))
    assert web.auth_test()["ok"]
    with pytest.raises(SlackApiError) as failed:
        web.chat_postMessage(channel="#cs-social", text="x")
    assert failed.value.response.status_code == 500
    assert slack.messages("#cs-social") == []


def test_accept_then_fail_stores_what_the_client_never_learns_of(slack: FakeSlack) -> None:
    slack.accept_then_fail()  # stored, then the connection is reset
    with pytest.raises(ConnectionResetError):
        client(slack).chat_postMessage(channel="#cs-social", text="once")
    assert [m.text for m in slack.messages("#cs-social")] == ["once"]

    slack.accept_then_fail(delay=0.5)  # stored, answered after the client gave up
    impatient = WebClient(token=TOKEN, base_url=slack.api_url, timeout=0.2, retry_handlers=[])  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        impatient.chat_postMessage(channel="#cs-social", text="late")
    assert len(slack.messages("#cs-social")) == 2

    # slack_sdk's default handler retries a POST after a reset: Slack then holds it twice.
    retrying = ConnectionErrorRetryHandler(interval_calculator=FixedValueRetryIntervalCalculator(0))
    slack.accept_then_fail()
    web = client(slack, retry_handlers=[retrying])
    assert web.chat_postMessage(channel="#cs-social", text="twice")["ok"]
    assert [m.text for m in slack.messages("#cs-social")][-2:] == ["twice", "twice"]


def test_timestamps_follow_the_given_clock() -> None:
    with FakeSlack(clock=lambda: 1_764_640_000.0) as slack:
        slack.add_channel("#cs-social")
        web = client(slack)
        stamps = [web.chat_postMessage(channel="#cs-social", text="x")["ts"] for _ in range(3)]
    assert stamps == ["1764640000.000000", "1764640000.000001", "1764640000.000002"]
