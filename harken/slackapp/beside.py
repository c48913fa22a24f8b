"""The Slack app inside ``harken run``: Socket Mode in a thread beside the scheduler, so that
one process polls, alerts and answers the alerts' buttons.

Slack is never allowed to stop the scheduler: a refused or unreachable Slack at start is
said, logged and tried again (backing off); once connected, slack_sdk's Socket Mode client
reconnects by itself. The thread ends when the daemon's ``stop`` is set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from slack_bolt import App

from harken.config import Config
from harken.errors import HarkenError
from harken.logs import redact
from harken.slackapp.app import build_app, settings
from harken.slackapp.catchup import catch_up
from harken.slackapp.serve import serve_socket_mode
from harken.store import Store

log = logging.getLogger(__name__)

FIRST_RETRY_S = 5.0
MAX_RETRY_S = 300.0
JOIN_S = 10.0


def check(config: Config) -> None:
    """The settings the app needs, checked before the daemon starts: a missing bot token or
    an app token of the wrong kind is a config error (SlackAppError), not a connection one."""
    settings(config, http=False)


class SlackBeside:
    """The app's thread: ``start()`` once the scheduler holds its lock, ``join()`` after it
    stopped."""

    def __init__(
        self, config: Config, store: Store, stop: threading.Event, say: Callable[[str], None]
    ) -> None:
        self.config, self.store, self.stop, self.say = config, store, stop, say
        self.thread = threading.Thread(target=self._serve, name="harken-slack-app", daemon=True)

    def start(self) -> None:
        self.say("Slack app: connecting over Socket Mode (answers the alerts' buttons)")
        self.thread.start()

    def join(self) -> None:
        if self.thread.ident is None:  # never started: the scheduler lock was not taken
            return
        self.thread.join(timeout=JOIN_S)
        self.say("Slack app: stopped")

    def _serve(self) -> None:
        delay = FIRST_RETRY_S
        while not self.stop.is_set():
            try:
                self._connect_and_wait()
                return
            except HarkenError as error:  # refused at start, or Slack out of reach
                why = str(error)
            except Exception as error:  # anything else in the app: logged, never fatal
                log.exception("Slack app failed")
                why = redact(f"{type(error).__name__}: {error}")[:300]
            self.say(f"Slack app: {why}; trying again in {delay:.0f}s")
            self.stop.wait(delay)
            delay = min(delay * 2, MAX_RETRY_S)

    def _connect_and_wait(self) -> None:
        found = settings(self.config, http=False)
        assert found.app_token is not None  # settings() refuses Socket Mode without it
        app = build_app(self.config, self.store, http=False)
        serve_socket_mode(app, found.app_token, self.stop, lambda: self._connected(app))

    def _connected(self, app: App) -> None:
        """Connected: say so, then bring up to date the alerts acted on meanwhile."""
        self.say("Slack app: connected (Socket Mode)")
        updated = catch_up(app.client, self.store, self.config)
        if updated:
            self.say(f"Slack app: brought {updated} alert message(s) up to date")
