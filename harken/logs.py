"""Logging for the CLI and the daemon: one stderr handler that never shows a secret.

Client libraries log generously at debug level (tweepy logs every request's headers, the
bearer token included). The handler's filter masks credentials by shape (``Bearer ...``,
``Authorization:`` headers, ``token=``/``secret=``/``password=`` pairs) and by value (every
``${VAR}`` the config resolved), so ``-vv`` is safe to paste into an issue.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

from harken.text import strip_controls

MASK = "***"
_SHAPES = [
    re.compile(r"(hooks\.slack\.com/services/|/services/T[A-Z0-9]+/)[A-Za-z0-9/]+"),
    # A URL's password: scheme://user:PASSWORD@host
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?=@)"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=%-]+"),
    re.compile(r"(?i)('?authorization'?\s*[:=]\s*'?)[^',}\s]+(\s+[^',}\s]+)?"),
    re.compile(
        r"(?i)(\b(?:access_token|refresh_token|client_secret|app_password|password|token|secret"
        r"|appsecret_proof|api_?key|key|sig|signature)"
        # A ${VAR} reference (a hint saying where a secret goes) is not a secret.
        r"['\"]?\s*[:=]\s*['\"]?)(?!\$\{)[^'\"&,}\s]+"
    ),
]
NOISY = ("transformers", "huggingface_hub", "alembic", "sentence_transformers")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        # Short values (a port, "true") would mask half the log; real credentials are long.
        self.secrets |= {s for s in secrets if s and len(s) >= 8}

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return redact_shapes(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        # Log lines quote strangers' text (API error messages): no terminal escapes either.
        record.msg, record.args = strip_controls(self.redact(message)), None
        if record.exc_text:
            record.exc_text = strip_controls(self.redact(record.exc_text))
        return True


_handler: logging.Handler | None = None
_filter = RedactSecrets()


def configure_logging(verbose: int) -> None:
    """-v: info, -vv: debug (client libraries included); warnings otherwise. Idempotent."""
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    _handler.addFilter(_filter)
    root.addHandler(_handler)
    root.setLevel(
        logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    )
    for noisy in NOISY:
        level = logging.NOTSET if verbose >= 2 else logging.WARNING if verbose else logging.ERROR
        logging.getLogger(noisy).setLevel(level)


def redact(text: str) -> str:
    """Text with every registered secret and credential-shaped value masked."""
    return _filter.redact(text)


def redact_shapes(text: str) -> str:
    """Text with credential-shaped values masked (URL passwords, webhooks, tokens)."""
    for shape in _SHAPES:
        text = shape.sub(lambda m: m.group(1) + MASK, text)
    return text


def register_secrets(values: Iterable[str]) -> None:
    """Values that must never be logged (the config's resolved ``${VAR}`` references)."""
    _filter.add(values)
