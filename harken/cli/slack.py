"""``harken slack serve``: the Slack app, in Socket Mode (default) or over HTTP. The work is in
harken.slackapp."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer

from harken.cli.common import HarkenGroup, err, from_signal_handler, open_store, root_state

if TYPE_CHECKING:  # imported when the command runs: the CLI starts without slack_bolt
    from slack_bolt import App

    from harken.config import Config
    from harken.store import Store

slack_app = typer.Typer(
    cls=HarkenGroup,
    no_args_is_help=True,
    help="The Slack app: act on queue items from the alerts (claim, resolve, transfer...).",
)


@slack_app.command()
def serve(
    ctx: typer.Context,
    http: Annotated[
        bool,
        typer.Option(
            "--http", help="Serve POST /slack/events (signing secret) instead of Socket Mode."
        ),
    ] = False,
    port: Annotated[int, typer.Option(help="HTTP mode: the port.", min=1, max=65535)] = 3000,
    host: Annotated[str, typer.Option(help="HTTP mode: the address to listen on.")] = "0.0.0.0",
) -> None:
    """Answer the buttons of harken's Slack alerts until Ctrl-C or SIGTERM."""
    from harken.slackapp.app import build_app, settings
    from harken.slackapp.serve import serve_http, serve_socket_mode

    config = root_state(ctx).config()
    found = settings(config, http=http)  # a missing token fails before anything starts
    store = open_store(config)
    stop = threading.Event()
    previous = _stop_on_sigterm(stop)
    try:
        app = build_app(config, store, http=http)
        if http:
            where = f"POST http://{host}:{port}/slack/events"
            serve_http(app, host, port, stop, lambda: _ready(where, app, store, config))
        else:
            assert found.app_token is not None
            serve_socket_mode(
                app, found.app_token, stop, lambda: _ready("Socket Mode", app, store, config)
            )
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        store.close()
    err.print("harken Slack app: stopped")


def _ready(where: str, app: App, store: Store, config: Config) -> None:
    """Connected: bring up to date the alerts acted on while the app was down (clicks are
    answered meanwhile), then say it listens."""
    from harken.slackapp.catchup import catch_up

    updated = catch_up(app.client, store, config)
    if updated:
        err.print(f"harken Slack app: brought {updated} alert message(s) up to date")
    err.print(f"harken Slack app: listening ({where}); Ctrl-C stops it")


def _stop_on_sigterm(stop: threading.Event) -> Any:
    def handle(signum: int, frame: Any) -> None:
        from_signal_handler(stop.set)

    return signal.signal(signal.SIGTERM, handle)


def register(app: typer.Typer) -> None:
    """Adds the slack group to ``app``."""
    app.add_typer(slack_app, name="slack")
