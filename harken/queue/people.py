"""Who people are: the config's ``users:`` (name, Slack member id, departments, role), the
users harken made for people the config does not list (the ``users`` table), and the rule
that says who may act on a department's items.

    departments[].may_act    who may act on that department's items
    members                  users whose ``departments`` list it
    social                   users with role ``social`` (the social team)
    admins                   users with role ``admin``

Membership and roles come from the config: a user harken made from a Slack profile is stored
as a member of nothing with no role, so they may act nowhere until an admin lists them under
``users:``. A face never matches people by display name (anyone can call themselves "admin"
on Slack): only by their id there.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from harken.config import Config, UserConfig
from harken.errors import QueueError
from harken.queue.actors import MAX_ACTOR, Actor, Permission, QueuePermissionError
from harken.store import Store
from harken.store.tables import QueueItem, User

EVERYONE = ("members", "social", "admins")  # departments[].may_act's default
WHO = {"members": "its members", "social": "the social team", "admins": "admins"}
NAME_ATTEMPTS = 3  # a first action racing another person's first action under the same name


@dataclass(frozen=True)
class Person:
    """What decides whether someone may act: their role and their departments."""

    name: str
    role: str = "member"
    departments: tuple[str, ...] = ()


def configured(config: Config, actor: Actor) -> UserConfig | None:
    """The ``users:`` entry of the actor: by Slack member id for a Slack actor, else by name."""
    if actor.via == "slack":
        return listed_slack_user(config, actor.ref or "")
    return next((u for u in config.users if u.name == actor.name), None)


def listed_slack_user(config: Config, slack_id: str) -> UserConfig | None:
    """The ``users:`` entry with this Slack member id."""
    return next((u for u in config.users if u.slack_id and u.slack_id == slack_id), None)


def person_of(config: Config, store: Store, actor: Actor) -> Person | None:
    """The actor as the config lists them, else as harken stored them, else None."""
    entry = configured(config, actor)
    if entry is not None:
        return Person(entry.name, entry.role, tuple(entry.departments))
    with store.session() as session:
        if actor.via == "slack":
            row = _by_slack_id(session, actor.ref) if actor.ref else None
        else:  # the web and its API sign people in by their harken name (harken users)
            row = session.execute(select(User).where(User.name == actor.name)).scalar_one_or_none()
        return Person(row.name, row.role, tuple(row.departments)) if row else None


# -- users made on their first action -------------------------------------------------------


def slack_user_name(store: Store, config: Config, slack_id: str, wanted: str) -> str:
    """The name of the harken user made for the Slack user ``slack_id``, made now (named
    ``wanted``, or ``wanted-<slack id>`` where that name is taken) if there is none yet.

    Two first actions of one person at once both try to insert; the unique ``slack_id``
    lets one in, and the other reads what it wrote."""
    for _ in range(NAME_ATTEMPTS):
        with store.session() as session:
            row = _by_slack_id(session, slack_id)
            if row is not None:
                return _distinct(config, row.name, slack_id)
            name = _free_name(session, config, wanted, slack_id)
        try:
            with store.session() as session:
                session.add(User(name=name, slack_id=slack_id))
            return name
        except IntegrityError:
            continue  # the same person's other action, or someone else took the name: look again
    raise QueueError(f"could not record Slack user {slack_id} as a harken user", hint="try again")


def _by_slack_id(session: Session, slack_id: str) -> User | None:
    return session.execute(select(User).where(User.slack_id == slack_id)).scalar_one_or_none()


def _free_name(session: Session, config: Config, wanted: str, slack_id: str) -> str:
    """``wanted`` unless the config or another stored user has it: then with the id."""
    taken = session.execute(select(User.id).where(User.name == wanted)).first()
    return _with_id(wanted, slack_id) if taken or _in_config(config, wanted) else wanted


def _distinct(config: Config, name: str, slack_id: str) -> str:
    """A stored name the config has since given to someone else gets the id, so that two
    people never appear as one in a history."""
    return _with_id(name, slack_id) if _in_config(config, name) else name


def _in_config(config: Config, name: str) -> bool:
    return any(u.name == name for u in config.users)


def _with_id(name: str, slack_id: str) -> str:
    suffix = f"-{slack_id}"
    return name[: MAX_ACTOR - len(suffix)] + suffix


# -- who may act ------------------------------------------------------------------------------


def department_permission(config: Config, store: Store) -> Permission:
    """The permission hook of ``may_act``: members of the item's department, the social team
    and admins, as far as the department lets each of them; anyone else is refused."""

    def may(actor: Actor, action: str, item: QueueItem) -> None:
        refused = refusal(config, store, actor, item.department)
        if refused is not None:
            raise refused

    return may


def refusal(
    config: Config, store: Store, actor: Actor, department: str
) -> QueuePermissionError | None:
    """Why ``actor`` may not act on ``department``'s items (the hook's rule; a face asks it to
    show only the actions a person may take), or None when they may."""
    allowed = _may_act(config, department)
    person = person_of(config, store, actor) or Person(actor.name)
    if person.role == "viewer":
        return QueuePermissionError(
            f"not allowed: {actor.name} is a viewer (read-only)",
            hint="an admin can give them another role",
        )
    member = department in person.departments
    if (
        ("members" in allowed and member)
        or ("social" in allowed and person.role == "social")
        or ("admins" in allowed and person.role == "admin")
    ):
        return None
    return _refusal(actor, department, allowed, member)


def _may_act(config: Config, department: str) -> tuple[str, ...]:
    # An item of a department removed from the config since: as a department that says nothing.
    known = config.find_department(department)
    return tuple(known.may_act) if known else EVERYONE


def _refusal(
    actor: Actor, department: str, allowed: tuple[str, ...], member: bool
) -> QueuePermissionError:
    names = [WHO[a] for a in allowed]
    who = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    if member:
        said = f"{actor.name} is a member of {department}, but its items are for {who} only"
    else:
        said = f"{actor.name} is not a member of {department} (its items are for {who})"
    return QueuePermissionError(
        f"not allowed: {said}",
        hint="an admin lists your departments or role under users: in harken's config",
    )
