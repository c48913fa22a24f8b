"""The web workspace inside ``harken run`` (``web.enabled``): uvicorn in a thread beside the
scheduler, so that one process polls, alerts and serves the workspace.

The workspace never stops the scheduler: a port already taken or a crash is said and logged,
and the daemon goes on without it. The thread ends when the daemon's ``stop`` is set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import uvicorn

from harken.config import Config
from harken.store import Store
from harken.web.app import create_app

log = logging.getLogger(__name__)
JOIN_S = 10.0
GRACE_S = 5


class WebBeside:
    """``start()`` serves; ``join()`` after ``stop`` is set waits for the server to close."""

    def __init__(
        self, config: Config, store: Store, stop: threading.Event, say: Callable[[str], None]
    ) -> None:
        self.config, self.stop, self.say = config, stop, say
        web = config.web
        self.where = f"http://{web.host}:{web.port}/"
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(config, store),
                host=web.host,
                port=web.port,
                proxy_headers=True,
                log_level="warning",
                timeout_graceful_shutdown=GRACE_S,  # open live streams end with the daemon
            )
        )
        self.thread = threading.Thread(target=self._serve, name="harken-web", daemon=True)
        self.watch = threading.Thread(
            target=self._stop_when_told, name="harken-web-stop", daemon=True
        )

    def start(self) -> None:
        self.say(f"web workspace: serving {self.where}")
        self.thread.start()
        self.watch.start()

    def join(self) -> None:
        if self.thread.ident is None:
            return
        self.server.should_exit = True
        self.thread.join(timeout=JOIN_S)
        self.say("web workspace: stopped")

    def _serve(self) -> None:
        try:
            self.server.run()
        except BaseException as error:  # a taken port ends uvicorn with SystemExit
            log.exception("web workspace failed")
            self.say(f"web workspace: could not serve {self.where} ({type(error).__name__})")
            return
        if not self.stop.is_set() and not self.server.started:
            self.say(f"web workspace: could not serve {self.where} (is the port taken?)")

    def _stop_when_told(self) -> None:
        self.stop.wait()
        self.server.should_exit = True
