"""The sink registry chooses the same sinks, in the same order, as the rules it replaced
(written out below as they were), over every combination of the settings that decide it."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from rich.console import Console

from harken.config import Config, DepartmentConfig
from harken.digest.job import FORMS
from harken.notify.registry import (
    active_sink_names,
    alert_sinks,
    build_sinks,
    digest_plugins,
    digest_sinks,
    plugins,
    thread_sinks,
)

# -- the rules as notify/sinks.py wrote them out by name, before the plug-ins ------------------


def old_slack_mode(config: Config, department: DepartmentConfig | None) -> str | None:
    slack = config.alerts.slack
    if slack is None or department is None:
        return None
    if slack.bot_token and department.slack_channel:
        return "bot"
    if department.slack_webhook_url or slack.webhook_url:
        return "webhook"
    return None


def old_console_on(config: Config) -> bool:
    slack_configured = any(old_slack_mode(config, d) for d in config.departments)
    console = config.alerts.console
    return not slack_configured if console == "auto" else bool(console)


def old_alert_sinks(config: Config, department: str) -> list[str]:
    found = next((d for d in config.departments if d.name == department), None)
    names = ["console"] if old_console_on(config) else []
    return names + (["slack"] if old_slack_mode(config, found) else [])


def old_thread_sinks(config: Config, department: str) -> list[str]:
    found = next((d for d in config.departments if d.name == department), None)
    return ["slack"] if old_slack_mode(config, found) == "bot" else []


def old_digest_sinks(config: Config) -> list[str]:
    names = old_alert_sinks(config, config.digest.department)
    return names + (["email"] if config.digest.email else [])


def old_active(config: Config) -> list[str]:
    names = ["console"] if old_console_on(config) else []
    names += ["slack"] if any(old_slack_mode(config, d) for d in config.departments) else []
    return names + (["email"] if config.digest.email else [])


def old_digest_keys(sink: str, config: Config) -> list[str]:
    if sink == "slack":
        return ["slack", "html"] if config.digest.upload else ["slack"]
    return ["email"] if sink == "email" else []


# -- every combination ------------------------------------------------------------------------

SLACK: list[dict[str, Any] | None] = [
    None,
    {"bot_token": "xoxb-1"},
    {"webhook_url": "https://hooks.example/default"},
    {"bot_token": "xoxb-1", "webhook_url": "https://hooks.example/default"},
    {},
]
DEPARTMENTS = [
    [{"name": "pr", "slack_channel": "#pr"}, {"name": "support"}],
    [{"name": "pr"}, {"name": "support", "slack_webhook_url": "https://hooks.example/s"}],
    [{"name": "pr", "slack_channel": "#pr"}, {"name": "support", "slack_channel": "#s"}],
    [{"name": "pr"}, {"name": "support"}],
]
EMAIL = {"host": "smtp.example", "from": "harken@example.com", "to": ["pr@example.com"]}


def configs() -> list[Config]:
    grid = itertools.product(
        ("auto", True, False), SLACK, DEPARTMENTS, (None, EMAIL), (False, True), ("pr", "support")
    )
    made = []
    for console, slack, departments, email, upload, digest_department in grid:
        alerts: dict[str, Any] = {"console": console}
        if slack is not None:
            alerts["slack"] = slack
        digest: dict[str, Any] = {"department": digest_department, "upload": upload}
        if email is not None:
            digest["email"] = email
        made.append(
            Config.model_validate(
                {
                    "departments": departments,
                    "routing": {"default": "support"},
                    "alerts": alerts,
                    "digest": digest,
                }
            )
        )
    return made


@pytest.mark.parametrize("config", configs())
def test_the_registry_chooses_the_sinks_the_old_rules_chose(config: Config) -> None:
    for department in ("pr", "support", "nobody"):
        assert alert_sinks(config, department) == old_alert_sinks(config, department)
        assert thread_sinks(config, department) == old_thread_sinks(config, department)
    assert digest_sinks(config) == old_digest_sinks(config)
    assert active_sink_names(config) == old_active(config)
    assert list(build_sinks(config, Console())) == old_active(config)
    for plugin in digest_plugins(config):
        assert list(plugin.digest_forms(config)) == old_digest_keys(plugin.name, config)


def test_every_digest_form_a_sink_asks_for_can_be_rendered() -> None:
    for config in configs()[:: len(DEPARTMENTS)]:
        for plugin in plugins(config):
            assert set(plugin.digest_forms(config)) <= set(FORMS), plugin.name
