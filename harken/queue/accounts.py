"""People who sign in to the web workspace or call its API (``harken users``, ``harken web``).

Each is a row of ``users`` (the table that also keeps people harken made from Slack profiles,
``harken.queue.people``), with a role and departments:

    admin        everything, and users
    social       the social team: every department's items
    department   the items of their departments; everything else read-only
    viewer       read-only: dashboards, incidents, queues

What is stored is never a secret: the password as an argon2 hash, the API token and each
browser's session key as SHA-256 digests (both are 256 random bits, so a fast hash is enough;
a password needs a slow one). Five failed sign-ins in a row lock the account for 15 minutes;
the lock and the count live in the row, so every replica of the web server sees them.

Where the config's ``users:`` lists the same name, the config is the record of their role and
departments (as it is for Slack): ``add_user`` refuses a role or departments that disagree.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from harken.config import Config
from harken.config.web import SsoConfig
from harken.errors import AccountError
from harken.queue.actors import MAX_ACTOR
from harken.store import Store
from harken.store.tables import User, WebSession, utcnow

ROLES = ("admin", "social", "department", "viewer")
LANGUAGES = ("en", "ja")  # the workspace's (harken/web/locale)
# The config's ``users:`` says "member" where this says "department": the same thing.
SAME_ROLE = {"member": "department"}
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 hashes any length; a megabyte "password" is a denial of service
LOCK_AFTER = 5  # failed sign-ins in a row
LOCK_FOR = timedelta(minutes=15)
SESSION_FOR = timedelta(hours=12)
SEEN_EVERY = timedelta(minutes=1)  # how often a session's seen_at is written
TOKEN_PREFIX = "hk_"  # says what a leaked string is, in a log or a scanner's report

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the name is unknown, so that a wrong name takes as long as a wrong
    password (made on first use: hashing at import would slow every command that imports
    this module)."""
    return _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Account:
    """A user as the web and the CLI show them (no secrets)."""

    id: int
    name: str
    role: str
    departments: tuple[str, ...]
    slack_id: str | None
    has_password: bool
    has_token: bool
    locked_until: datetime | None
    created_at: datetime
    language: str | None = None
    timezone: str | None = None

    @property
    def may_act(self) -> bool:
        """Whether this person may change anything at all (viewers may not)."""
        return self.role != "viewer"


@dataclass(frozen=True)
class SignedIn:
    """A browser's session: who, its CSRF token, when it ends."""

    account: Account
    csrf_token: str
    expires_at: datetime


def _account(row: User) -> Account:
    assert row.id is not None
    return Account(
        id=row.id,
        name=row.name,
        role=SAME_ROLE.get(row.role, row.role),
        departments=tuple(row.departments or ()),
        slack_id=row.slack_id,
        has_password=bool(row.password_hash),
        has_token=bool(row.token_hash),
        locked_until=row.locked_until,
        created_at=row.created_at,
        language=row.language,
        timezone=row.timezone,
    )


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# -- adding and listing ---------------------------------------------------------------------


def add_user(
    store: Store,
    config: Config,
    name: str,
    role: str,
    departments: Sequence[str] = (),
    password: str | None = None,
    language: str | None = None,
    timezone: str | None = None,
    slack_id: str | None = None,
) -> Account:
    """A new user who may sign in with ``password``. ``language`` (en, ja) and ``timezone``
    are what the workspace shows them (default: their browser's language, the config's zone).

    ``slack_id`` makes them the same person as that Slack user: a user harken made from that
    Slack profile (no password yet) gets the role, departments and password. A name harken
    gave a Slack user is never taken over without their id: anyone can call themselves
    "carol" on Slack, and would get carol's rights there."""
    name = check_name(name)
    slack_id = _check_slack_id(slack_id)
    _check_preferences(language, timezone)
    role, wanted = _check_role(config, role, departments)
    _agrees_with_config(config, name, role, wanted)
    hashed = _hasher.hash(check_password(password)) if password is not None else None
    with store.session() as session:
        row = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
        if row is not None and row.password_hash:
            raise AccountError(
                f"user {name!r} already exists",
                hint=f"`harken users password {name} --password-stdin` changes the password",
            )
        if row is not None and row.slack_id and row.slack_id != slack_id:
            raise AccountError(
                f"{name!r} is the name harken gave the Slack user {row.slack_id} from their "
                "Slack profile, which anyone can set",
                hint=f"if it is them, add --slack-id {row.slack_id}; else choose another name",
            )
        if row is None:
            row = User(name=name, slack_id=slack_id)
        row.role, row.departments, row.password_hash = role, list(wanted), hashed
        row.language, row.timezone = language, timezone
        session.add(row)
        try:
            session.flush()
        except IntegrityError as err:  # the name or the Slack id, taken at the same moment
            raise AccountError(
                f"user {name!r} already exists"
                + (f", or another user has Slack id {slack_id}" if slack_id else "")
            ) from err
        return _account(row)


def _check_slack_id(slack_id: str | None) -> str | None:
    if slack_id is None:
        return None
    if not re.fullmatch(r"[A-Z0-9]{2,64}", slack_id.strip()):
        raise AccountError(
            f"{slack_id[:70]!r} is not a Slack member id",
            hint="like U0123ABC (their Slack profile → ⋮ → Copy member ID)",
        )
    return slack_id.strip()


def _check_preferences(language: str | None, timezone: str | None) -> None:
    if language is not None and language not in LANGUAGES:
        raise AccountError(f"unknown language {language!r}", hint="en or ja")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise AccountError(
                f"unknown time zone {timezone[:60]!r}", hint="e.g. Asia/Tokyo, Europe/London, UTC"
            ) from None


def check_name(name: str) -> str:
    """A name people can read and the store can keep: printable, 1 to 255 characters."""
    cleaned = name.strip()
    if not cleaned or not cleaned.isprintable() or len(cleaned) > MAX_ACTOR:
        raise AccountError(
            f"{name[:80]!r} is not a user name",
            hint=f"1 to {MAX_ACTOR} printable characters (no control or direction characters)",
        )
    return cleaned


def check_password(password: str | None) -> str:
    if password is None or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(
            f"a password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters",
            hint="leave out --password-stdin and harken makes one for you",
        )
    return password


def _check_role(config: Config, role: str, departments: Sequence[str]) -> tuple[str, list[str]]:
    role = SAME_ROLE.get(role, role)
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}", hint="one of: " + ", ".join(ROLES))
    wanted = list(dict.fromkeys(d.strip() for d in departments))
    for department in wanted:
        config.known_department(department)  # ConfigError with the known names
    if role == "department" and not wanted:
        raise AccountError(
            "a department user needs --department (one or more)",
            hint="or --role social for someone who works every department's items",
        )
    if role != "department" and wanted:
        raise AccountError(
            f"--department is for --role department; a {role} user works "
            + ("no items" if role == "viewer" else "every department's items")
        )
    return role, wanted


def _agrees_with_config(config: Config, name: str, role: str, departments: list[str]) -> None:
    listed = next((u for u in config.users if u.name == name), None)
    if listed is None:
        return
    their_role = SAME_ROLE.get(listed.role, listed.role)
    if their_role != role or sorted(listed.departments) != sorted(departments):
        said = ", ".join(listed.departments) or "no departments"
        raise AccountError(
            f"{name} is listed under users: in the config as {their_role} ({said}), "
            "and the config decides their role",
            hint="give the same --role and --department, or change the config",
        )


def set_password(store: Store, name: str, password: str) -> Account:
    """A new password; the user's browser sessions end (whoever had it is signed out)."""
    hashed = _hasher.hash(check_password(password))
    with store.session() as session:
        row = _row(session, name)
        row.password_hash, row.failed_logins, row.locked_until = hashed, 0, None
        session.execute(delete(WebSession).where(WebSession.user_id == row.id))  # type: ignore[arg-type]
        return _account(row)


def list_accounts(store: Store) -> list[Account]:
    with store.session() as session:
        rows = session.execute(select(User).order_by(User.name)).scalars().all()
        return [_account(r) for r in rows]


def account_named(store: Store, name: str) -> Account | None:
    with store.session() as session:
        row = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
        return _account(row) if row else None


def _row(session, name: str) -> User:  # type: ignore[no-untyped-def]
    row = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if row is None:
        raise AccountError(f"no user {name!r}", hint="`harken users list` shows them")
    return row


# -- single sign-on (web.sso) ------------------------------------------------------------------


def sso_account(store: Store, config: Config, sso: SsoConfig, claims: dict[str, Any]) -> Account:
    """The harken user an ID token's verified claims name (harken.web.sso checked them):
    found by issuer and subject, else by their e-mail as a harken name (then linked), else
    made; their role and departments from their groups, at every sign-in."""
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    if email is not None and claims.get("email_verified") is False:
        raise AccountError("the sign-in provider has not verified this e-mail address")
    if sso.allowed_domains:
        domain = (email or "").rpartition("@")[2].lower()
        allowed = {d.lower() for d in sso.allowed_domains}
        if domain not in allowed and str(claims.get("hd", "")).lower() not in allowed:
            raise AccountError(
                "not allowed: single sign-on is for " + ", ".join(sorted(allowed)) + " only"
            )
    wanted = email or claims.get("preferred_username") or claims.get("sub")
    name = check_name(str(wanted))
    role, departments = _sso_role(config, sso, name, claims)
    subject = f"{claims['iss']}|{claims['sub']}"[:512]
    with store.session() as session:
        row = (
            session.execute(select(User).where(User.sso_subject == subject)).scalar_one_or_none()
            or session.execute(select(User).where(User.name == name)).scalar_one_or_none()
        )
        if row is None:
            row = User(name=name)
        elif row.sso_subject not in (None, subject):
            raise AccountError(
                f"{name!r} signs in as another person of the provider",
                hint="an admin renames one of them",
            )
        row.sso_subject, row.role, row.departments = subject, role, departments
        session.add(row)
        try:
            session.flush()
        except IntegrityError as err:  # the same person's first sign-in, twice at once
            raise AccountError("signing in at the same moment twice: try again") from err
        return _account(row)


def _sso_role(
    config: Config, sso: SsoConfig, name: str, claims: dict[str, Any]
) -> tuple[str, list[str]]:
    listed = next((u for u in config.users if u.name == name), None)
    if listed is not None:  # the config is the record, as for passwords
        return SAME_ROLE.get(listed.role, listed.role), list(listed.departments)
    found = claims.get(sso.groups_claim)
    groups = {str(g) for g in found} if isinstance(found, list) else set()
    if groups & set(sso.admins):
        return "admin", []
    if groups & set(sso.social):
        return "social", []
    departments = [d for d, members in sso.departments.items() if groups & set(members)]
    if departments:
        return "department", departments
    if groups & set(sso.viewers) or sso.default_role == "viewer":
        return "viewer", []
    raise AccountError(
        f"{name} is in no harken role's group ({', '.join(sorted(groups)) or 'no groups'})",
        hint="an admin maps the groups under web.sso in the config",
    )


def new_password() -> str:
    """A password for someone who did not choose one: 16 random URL-safe characters."""
    return secrets.token_urlsafe(12)


# -- API tokens -----------------------------------------------------------------------------


def issue_token(store: Store, name: str) -> str:
    """A new API token for ``name``; the one they had stops working. Shown once: only its
    digest is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.session() as session:
        row = _row(session, name)
        row.token_hash, row.token_created_at = digest(token), utcnow()
    return token


def account_for_token(store: Store, token: str) -> Account | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    with store.session() as session:
        row = session.execute(
            select(User).where(User.token_hash == digest(token))
        ).scalar_one_or_none()
        return _account(row) if row else None


# -- signing in -----------------------------------------------------------------------------


WRONG = "wrong name or password"
WRONG_HINT = "five wrong in a row lock an account for 15 minutes"


def sign_in(store: Store, name: str, password: str, now: datetime | None = None) -> Account:
    """The account, if ``password`` is theirs and they are not locked out; else AccountError
    saying "wrong name or password", the same words and the same time (argon2 runs whatever
    happens) for an unknown name, a wrong password and a locked account: the answer never
    tells a stranger which names exist."""
    now = now or utcnow()
    wrong = AccountError(WRONG, hint=WRONG_HINT)
    name = name.strip()
    if len(password) > MAX_PASSWORD or not 0 < len(name) <= MAX_ACTOR or not name.isprintable():
        _verify(_dummy_hash(), password)
        raise wrong
    with store.session() as session:
        row = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
        good = _verify(row.password_hash if row and row.password_hash else _dummy_hash(), password)
        if row is None or not row.password_hash:
            raise wrong
        locked = row.locked_until is not None and row.locked_until > now
        if locked or not good:
            if not locked:
                _count_failure(session, row.id, now)
            session.commit()
            raise wrong
        row.failed_logins, row.locked_until = 0, None
        if _hasher.check_needs_rehash(row.password_hash):
            row.password_hash = _hasher.hash(password)
        return _account(row)


def _count_failure(session: Any, user_id: int | None, now: datetime) -> None:
    """One more failed sign-in, counted by the database (guesses at once all count)."""
    count = session.execute(
        update(User)
        .where(User.id == user_id)  # type: ignore[arg-type]
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
    ).scalar_one()
    if count >= LOCK_AFTER:
        session.execute(
            update(User)
            .where(User.id == user_id)  # type: ignore[arg-type]
            .values(locked_until=now + LOCK_FOR, failed_logins=0)
        )


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def start_session(store: Store, account: Account, now: datetime | None = None) -> tuple[str, str]:
    """A new session for ``account``: the cookie's key (given to the browser, never stored)
    and the session's CSRF token."""
    now = now or utcnow()
    key, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with store.session() as session:
        # Ended sessions of anyone go now: the table holds live sessions only.
        session.execute(delete(WebSession).where(WebSession.expires_at < now))  # type: ignore[arg-type]
        session.add(
            WebSession(
                key_hash=digest(key),
                user_id=account.id,
                csrf_token=csrf,
                created_at=now,
                seen_at=now,
                expires_at=now + SESSION_FOR,
            )
        )
    return key, csrf


def session_for(store: Store, key: str, now: datetime | None = None) -> SignedIn | None:
    """Who holds the session ``key``, if it is live."""
    now = now or utcnow()
    if not key or len(key) > 200:
        return None
    with store.session() as session:
        found = session.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.key_hash == digest(key))
        ).first()
        if found is None:
            return None
        web, user = found
        if web.expires_at <= now or not (user.password_hash or user.sso_subject):
            return None
        if now - web.seen_at > SEEN_EVERY:
            web.seen_at = now
        return SignedIn(_account(user), web.csrf_token, web.expires_at)


def end_session(store: Store, key: str) -> None:
    with store.session() as session:
        session.execute(delete(WebSession).where(WebSession.key_hash == digest(key)))  # type: ignore[arg-type]
