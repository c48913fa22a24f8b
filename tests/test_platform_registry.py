"""The registry is the one list of platforms: parsers, sources, reply clients, reply length
limits, the `.env` template and the demo all read it, and each platform folder's declaration
agrees with the modules beside it."""

from __future__ import annotations

import pytest

from harken.config import load_config
from harken.pipeline.demo import DEMO_PLATFORMS
from harken.platforms import registry
from harken.platforms.platform import Platform
from harken.platforms.registry import (
    PARSERS,
    PLATFORMS,
    SOURCES,
    env_template,
    max_reply_lengths,
    platform_names,
    reply_client,
    source_class,
)
from harken.platforms.replies import MAX_LENGTH, ReplyTarget, reply_problems

# The .env `harken init` writes: as before the registry held the platforms, plus the Slack
# app's two variables (issue 20).
ENV_BEFORE = """\
# Secrets for harken, read when the config beside this file references ${VAR}.
# Variables already set in the environment win over this file. Never commit it.
X_BEARER_TOKEN=
REDDIT_CLIENT_ID=
REDDIT_CLIENT_SECRET=
YOUTUBE_API_KEY=
FACEBOOK_PAGE_TOKEN=
INSTAGRAM_ACCESS_TOKEN=
SLACK_BOT_TOKEN=
# The Slack app (`harken slack serve`): Socket Mode, or HTTP mode's request signatures.
SLACK_APP_TOKEN=
SLACK_SIGNING_SECRET=
# Only to answer from `harken queue reply --send` (see the sources section of config.yaml).
X_CONSUMER_KEY=
X_CONSUMER_SECRET=
X_ACCESS_TOKEN=
X_ACCESS_TOKEN_SECRET=
REDDIT_USERNAME=
REDDIT_PASSWORD=
BLUESKY_APP_PASSWORD=
MASTODON_ACCESS_TOKEN=
YOUTUBE_CLIENT_ID=
YOUTUBE_CLIENT_SECRET=
YOUTUBE_REFRESH_TOKEN=
# Hand-offs, as config.yaml's commented examples name them (alerts: webhooks, teams,
# pagerduty; tickets:). A Teams Workflows URL carries its own signature: a secret too.
OPS_WEBHOOK_URL=
OPS_WEBHOOK_SECRET=
TEAMS_WEBHOOK_URL=
TEAMS_ENGINEERING_URL=
PAGERDUTY_ENGINEERING_KEY=
PAGERDUTY_LEGAL_KEY=
JIRA_API_TOKEN=
ZENDESK_API_TOKEN=
"""


def compose_env() -> str:
    """The .env as the CLI composes it: its own header and sink line around the platforms'."""
    platforms = env_template()
    return (
        "# Secrets for harken, read when the config beside this file references ${VAR}.\n"
        "# Variables already set in the environment win over this file. Never commit it.\n"
        + platforms.listening
        + "SLACK_BOT_TOKEN=\n"
        + "# The Slack app (`harken slack serve`): Socket Mode, or HTTP mode's request "
        "signatures.\n"
        + "SLACK_APP_TOKEN=\n"
        + "SLACK_SIGNING_SECRET=\n"
        + "# Only to answer from `harken queue reply --send` (see the sources section of "
        "config.yaml).\n" + platforms.replying + ENV_BEFORE[ENV_BEFORE.index("# Hand-offs") :]
    )


def test_names_come_from_the_registry_in_order() -> None:
    assert platform_names() == [
        "x", "reddit", "bluesky", "mastodon", "rss", "youtube", "facebook", "instagram"
    ]  # fmt: skip
    assert list(PARSERS) == list(SOURCES) == list(PLATFORMS) == platform_names()
    assert tuple(platform_names()) == DEMO_PLATFORMS


def test_env_template_is_unchanged_and_names_every_declared_variable() -> None:
    text = compose_env()
    assert text == ENV_BEFORE
    lines = text.splitlines()
    for platform in PLATFORMS.values():
        for var in (*platform.listen_env, *platform.reply_env):
            assert f"{var}=" in lines, (platform.name, var)
    # Listening lines come before the sink's, reply lines after the reply comment.
    template = env_template()
    assert template.listening.splitlines() == [
        f"{var}=" for p in PLATFORMS.values() for var in p.listen_env
    ]
    listening = {var for p in PLATFORMS.values() for var in p.listen_env}
    assert template.replying.splitlines() == [  # a token that reads and answers: listed once
        f"{var}=" for p in PLATFORMS.values() for var in p.reply_env if var not in listening
    ]


def test_reply_variables_are_the_reply_clients_credentials() -> None:
    assert PLATFORMS["x"].reply_env == (
        "X_CONSUMER_KEY",
        "X_CONSUMER_SECRET",
        "X_ACCESS_TOKEN",
        "X_ACCESS_TOKEN_SECRET",
    )
    assert PLATFORMS["bluesky"].reply_env == ("BLUESKY_APP_PASSWORD",)  # handle: no variable
    assert PLATFORMS["rss"].reply_env == ()


def test_a_new_platform_is_one_registry_line(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = Platform(
        name="forum",
        parser=PARSERS["rss"],
        source="harken.platforms.rss.source:RSSSource",
        no_reply="the forum has no API to post with",
        listen_env=("FORUM_TOKEN",),
    )
    monkeypatch.setitem(PLATFORMS, "forum", extra)
    assert platform_names()[-1] == "forum"
    assert env_template().listening.endswith("FORUM_TOKEN=\n")
    assert "forum" not in max_reply_lengths()
    config = load_config(environ={})
    target = ReplyTarget("forum", "1", None, "someone", None, {})
    assert reply_problems(config, target, "hello") == [
        "forum mentions cannot be answered: the forum has no API to post with"
    ]


@pytest.mark.parametrize("name", platform_names())
def test_each_folder_declares_what_its_modules_say(name: str) -> None:
    platform = PLATFORMS[name]
    assert platform.parser is PARSERS[name]
    assert source_class(name).platform == name
    client = reply_client(name)
    if client is None:
        assert platform.no_reply, "a platform that cannot be answered says why"
    else:
        assert client.name == name
        assert client.max_length == MAX_LENGTH[name]
        assert set(platform.reply_env) <= set(client.credentials.values())


def test_reply_length_limits_are_unchanged() -> None:
    assert MAX_LENGTH == {
        "x": 280,
        "bluesky": 300,
        "mastodon": 500,
        "reddit": 10000,
        "youtube": 10000,
        "facebook": 8000,
        "instagram": 2200,
    }
    assert registry.reply_client("unknown") is None
