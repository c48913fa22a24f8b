"""Exceptions raised by harken.

Every layer raises its own subclass of HarkenError; only the CLI turns them into a one-line
``Error: ...`` and a non-zero exit. The message says what happened, ``hint`` what to do.

HarkenError
 ├── ConfigError        bad or missing configuration
 ├── StoreError         the database cannot be opened, migrated or written
 ├── IngestError        an import cannot start (missing file, unknown platform)
 ├── PayloadError       one payload cannot be parsed (the batch goes on without it)
 ├── ClassifierError    the model or its heads cannot be loaded
 ├── NotifyError        an alert sink failed to deliver
 ├── SourceError        a live source failed for good (bad credentials, bad query, 4xx)
 │    ├── TransientSourceError  5xx, timeout, dropped connection, garbled page: worth a retry
 │    └── RateLimited           429 or quota spent; ``reset_at`` says when to come back
 ├── InputError         a value a person gave is wrong (an unknown brand or platform in a filter)
 ├── QueueError         a queue action cannot be done (the state does not allow it)
 │    ├── ItemNotFound          no such queue item
 │    └── QueueInputError       a wrong value (an unknown department, a bad tag); an InputError
 └── AccountError       a user cannot be added, signed in or found (``harken users``, the web)
"""

from __future__ import annotations

from datetime import datetime


class HarkenError(Exception):
    """Base class: ``str(err)`` is safe to show to the user."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message} ({self.hint})" if self.hint else message


class ConfigError(HarkenError):
    pass


class StoreError(HarkenError):
    pass


class IngestError(HarkenError):
    pass


class PayloadError(HarkenError):
    pass


class ClassifierError(HarkenError):
    pass


class NotifyError(HarkenError):
    pass


class SourceError(HarkenError):
    pass


class TransientSourceError(SourceError):
    pass


class RateLimited(SourceError):
    """The API said "not now"; ``reset_at`` (aware UTC, if it said) is when calls are allowed."""

    def __init__(self, message: str, reset_at: datetime | None = None, hint: str | None = None):
        super().__init__(message, hint)
        self.reset_at = reset_at


class InputError(HarkenError):
    """A value a person gave (an option, a filter, a query parameter) is not one harken knows:
    the web answers 422."""


class QueueError(HarkenError):
    """A queue action that cannot be done (unknown item, wrong status)."""


class ItemNotFound(QueueError):
    """No queue item has this id (the web API answers 404)."""


class QueueInputError(QueueError, InputError):
    """The action is possible but what was asked is not (an unknown department, a bad tag or
    dismissal reason): the web API answers 422, not 409."""


class AccountError(HarkenError):
    """A user cannot be added or changed, or a sign-in or token is refused."""


class ReplyError(HarkenError):
    """A reply could not be posted. ``maybe_posted`` is True when the platform may have
    received it anyway (a timeout after sending): check before trying again."""

    def __init__(self, message: str, hint: str | None = None, maybe_posted: bool = False):
        super().__init__(message, hint)
        self.maybe_posted = maybe_posted
