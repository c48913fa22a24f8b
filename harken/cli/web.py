"""``harken web`` (the workspace, harken.web) and ``harken users`` (who may sign in to it or
call its API; harken.queue.accounts)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from harken.cli.common import Format, HarkenGroup, open_store, out, print_json, root_state

users_app = typer.Typer(
    cls=HarkenGroup,
    no_args_is_help=True,
    help="People who sign in to the web workspace or call its API.",
)

GRACE_S = 5  # seconds a stopping server waits for open requests (live streams) to end

RoleOption = Annotated[str, typer.Option("--role", help="admin, social, department or viewer.")]


def web(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: web.host, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default: web.port, 8080).", min=1, max=65535)
    ] = None,
) -> None:
    """Serve the web workspace (inbox, items, API) until Ctrl-C. Behind a TLS proxy, see
    docs/web.md."""
    import uvicorn

    from harken.web.app import create_app

    config = root_state(ctx).config()
    host, port = host or config.web.host, port or config.web.port
    _can_listen(host, port)
    store = open_store(config)
    out.print(f"harken web: http://{host}:{port}/ (Ctrl-C stops)")
    # proxy_headers: behind a TLS proxy on this host, cookies are Secure and links https.
    uvicorn.run(
        create_app(config, store),
        host=host,
        port=port,
        proxy_headers=True,
        log_level="info",
        # Open live-update streams would otherwise hold Ctrl-C for up to their 5 minutes.
        timeout_graceful_shutdown=GRACE_S,
    )


def _can_listen(host: str, port: int) -> None:
    """A taken port or an address not of this machine, said in one line before starting
    (uvicorn would log a traceback and exit 3)."""
    import socket

    from harken.errors import HarkenError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except (OSError, UnicodeError) as error:
        raise HarkenError(
            f"cannot listen on {host}:{port}: {getattr(error, 'strerror', None) or error}",
            hint="choose another --port, or stop what is using it",
        ) from None


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Their name, as queue events record it.")],
    role: RoleOption = "department",
    department: Annotated[
        list[str] | None,
        typer.Option("--department", "-d", help="Repeatable; for --role department."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
    language: Annotated[
        str | None, typer.Option("--language", help="en or ja (default: their browser's).")
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="e.g. Asia/Tokyo (default: web.timezone, digest's)."),
    ] = None,
    slack_id: Annotated[
        str | None,
        typer.Option("--slack-id", help="Their Slack member id: the same person in Slack."),
    ] = None,
) -> None:
    """Add a user who signs in with a password (without --password-stdin, harken makes one
    and prints it once)."""
    from harken.queue.accounts import add_user, new_password

    config = root_state(ctx).config()
    password = _stdin_password() if password_stdin else new_password()
    account = add_user(
        open_store(config),
        config,
        name,
        role,
        department or (),
        password,
        language,
        timezone,
        slack_id,
    )
    where = f" ({', '.join(account.departments)})" if account.departments else ""
    out.print(Text(f"added {account.name}: {account.role}{where}"))
    if not password_stdin:
        out.print(Text(f"password (shown once): {password}"))


def _stdin_password() -> str:
    line = sys.stdin.readline()
    return line.removesuffix("\n").removesuffix("\r")


@users_app.command("password")
def users_password(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
) -> None:
    """Set a new password (signs the user out everywhere, lifts a lockout)."""
    from harken.queue.accounts import new_password, set_password

    config = root_state(ctx).config()
    password = _stdin_password() if password_stdin else new_password()
    set_password(open_store(config), name, password)
    out.print(Text(f"new password set for {name}"))
    if not password_stdin:
        out.print(Text(f"password (shown once): {password}"))


@users_app.command("list")
def users_list(
    ctx: typer.Context,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Every user: role, departments, whether they can sign in or call the API."""
    from harken.queue.accounts import list_accounts

    accounts = list_accounts(open_store(root_state(ctx).config()))
    if format is Format.json:
        print_json(
            [
                {
                    "name": a.name,
                    "role": a.role,
                    "departments": list(a.departments),
                    "slack_id": a.slack_id,
                    "password": a.has_password,
                    "token": a.has_token,
                    "locked_until": a.locked_until.isoformat() if a.locked_until else None,
                    "language": a.language,
                    "timezone": a.timezone,
                    "created_at": a.created_at.isoformat(),
                }
                for a in accounts
            ]
        )
        return
    table = Table("name", "role", "departments", "slack", "sign-in", "API token")
    for a in accounts:
        table.add_row(
            Text(a.name),
            a.role,
            Text(", ".join(a.departments)),
            a.slack_id or "",
            ("locked" if a.locked_until else "yes") if a.has_password else "no",
            "yes" if a.has_token else "no",
        )
    out.print(table)


@users_app.command("token")
def users_token(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """A new API token for NAME (the old one stops working), alone on the last line."""
    from harken.queue.accounts import issue_token

    token = issue_token(open_store(root_state(ctx).config()), name)
    out.print(Text(f"API token for {name} (shown once; send it as Authorization: Bearer ...):"))
    sys.stdout.write(token + "\n")


def register(app: typer.Typer) -> None:
    """Adds the web command and the users group to ``app``."""
    app.command()(web)
    app.add_typer(users_app, name="users")
