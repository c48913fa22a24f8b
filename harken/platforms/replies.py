"""Replies: answer a stored mention on its own platform, through the client its listener uses.

``reply_problems`` says, without any network I/O, why a reply could not be sent as it is (the
dry run); ``send_reply`` posts it. Both find the platform's reply client in the registry
(``harken/platforms/<name>/reply.py`` says how each platform is answered) and the account that
posts from the config; ``harken.platforms.reply`` holds the contract and the attempt rules
every client follows (nothing is retried; ``maybe_posted`` says whether a failed reply may
have been posted anyway).

Credentials come from the ``sources`` entry of the mention's platform (its ``type``, else its
name; the first with every credential set), enabled or not: ``enabled`` is about polling.
Messages never show them: whatever the config's ``${VAR}`` references resolved to is masked.
"""

from __future__ import annotations

from pydantic import SecretStr, ValidationError

from harken.config import Config
from harken.errors import ReplyError
from harken.net.deadline import DEADLINE_FACTOR, DeadlineExceeded, deadline
from harken.platforms.registry import (
    PLATFORMS,
    max_reply_lengths,
    reply_client,
    settings_problem,
)
from harken.platforms.reply import Account, ReplyClient, ReplyTarget, SentReply, secret_value

__all__ = ["MAX_LENGTH", "ReplyTarget", "SentReply", "reply_problems", "send_reply"]

MAX_LENGTH: dict[str, int] = max_reply_lengths()
MASK = "***"
_PLAIN_SECRETS = ("password", "client_secret", "bearer_token", "access_token")  # str settings


def reply_problems(config: Config, target: ReplyTarget, text: str) -> list[str]:
    """Why this reply could not be sent as is, in plain words (empty: it can): empty text,
    too long for the platform, platform not answerable (rss), missing credentials (naming the
    config keys / env vars to set). Used by the dry run; does no network I/O."""
    problems = [] if text.strip() else ["the reply is empty"]
    client = reply_client(target.platform)
    if client is None:
        return [*problems, _not_answerable(target.platform)]
    if text.strip():
        problems += client.text_problems(target, text)
    problems += client.target_problems(target)
    return problems + _find_account(config, client)[1]


def send_reply(
    config: Config, target: ReplyTarget, text: str, timeout: float | None = None
) -> SentReply:
    """Post the reply through the platform's client (see the module docstring). Raises
    ReplyError; ``maybe_posted`` says whether it may have been posted anyway."""
    problems = reply_problems(config, target, text)
    client = reply_client(target.platform)
    account = _find_account(config, client)[0] if client else None
    if problems or client is None or account is None:
        raise _masked(
            ReplyError(
                "cannot send the reply: " + "; ".join(problems),
                hint="nothing was sent; docs/listeners.md (Replies) lists what each platform needs",
            ),
            config,
            None,
        )
    seconds = timeout if timeout is not None else account.settings.timeout.total_seconds()
    try:
        with deadline(DEADLINE_FACTOR * seconds, f"{target.platform} reply"):
            return client.post(account, target, text, seconds)
    except ReplyError as err:
        raise _masked(err, config, account) from None
    except DeadlineExceeded as err:
        # Cut off mid-call: posted unless the platform said it was not.
        cause = err.__cause__
        maybe = cause.maybe_posted if isinstance(cause, ReplyError) else True
        check = "check the post before sending again" if maybe else "nothing was posted"
        raise ReplyError(str(err), hint=check, maybe_posted=maybe) from None


# -- accounts -------------------------------------------------------------------------------------


def _find_account(config: Config, client: ReplyClient) -> tuple[Account | None, list[str]]:
    """The first entry of the platform with every credential set, else what the first lacks."""
    entries = [
        (name, entry)
        for name, entry in config.sources.items()
        if ((entry.model_extra or {}).get("type") or name) == client.name
    ]
    if not entries:
        keys = " and ".join(client.credentials)
        return None, [
            f"no {client.name} source in the config: add sources.{client.name} with "
            f"{keys} ({client.needs})"
        ]
    first: list[str] | None = None
    for name, entry in entries:
        values = entry.model_dump()
        values.pop("type", None)
        try:
            settings = client.settings_class().model_validate(values)
        except ValidationError as err:
            problems = [_invalid(config, name, err)]
        else:
            account = Account(name, settings, config.brands)
            problems = _missing_credentials(config, client, account)
            if not problems:
                return account, []
        first = problems if first is None else first
    return None, first or []


def _invalid(config: Config, source: str, err: ValidationError) -> str:
    problem, var = settings_problem(config, source, err)
    return problem + (f" (set {var} in the environment or .env)" if var else "")


def _missing_credentials(config: Config, client: ReplyClient, account: Account) -> list[str]:
    missing = [
        key for key in client.credentials if not secret_value(getattr(account.settings, key))
    ]
    if not missing:
        return []
    steps = [_how_to_set(config, account, key, client.credentials[key]) for key in missing]
    return [f"{client.label} replies need {client.needs}: " + "; ".join(steps)]


def _how_to_set(config: Config, account: Account, key: str, variable: str | None) -> str:
    path = account.key(key)
    referenced = config.env_refs.get(path)
    if referenced:
        return f"set {referenced} (read by {path}) in the environment or .env"
    if variable:
        return f'add {key}: "${{{variable}}}" to sources.{account.source} and set {variable}'
    return f"add {key} to sources.{account.source}"


def _masked(err: ReplyError, config: Config, account: Account | None) -> ReplyError:
    """The error with every credential value masked (servers echo what they were sent)."""
    secrets = set(config.secret_values)
    if account is not None:
        for name, value in account.settings:
            if isinstance(value, SecretStr) or name in _PLAIN_SECRETS:
                secrets.add(secret_value(value) or "")
    secrets = {s for s in secrets if len(s) >= 8}  # as the log filter: shorter ones are not keys

    def mask(text: str | None) -> str | None:
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, MASK) if text else text
        return text

    message = mask(str(err.args[0]) if err.args else "") or ""
    return ReplyError(message, hint=mask(err.hint), maybe_posted=err.maybe_posted)


def _not_answerable(platform: str) -> str:
    known = PLATFORMS.get(platform)
    if known is not None and known.no_reply:
        return f"{platform} mentions cannot be answered: {known.no_reply}"
    answerable = ", ".join(name for name, p in PLATFORMS.items() if p.reply is not None)
    return f"{platform} mentions cannot be answered (replies go to: {answerable})"
