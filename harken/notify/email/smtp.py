"""Sending the digest e-mail over SMTP (smtplib): STARTTLS, implicit TLS or plain.

Failures become ``DeliveryError``s the outbox can act on:

* transient (retried with backoff): connection refused, timeouts, DNS failures, a dropped
  connection, and any 4xx reply (greylisting, "451 try again later", "454 auth unavailable");
* permanent (the alert fails at once, the hint names the key to fix): authentication refused
  (535), 5xx refusals of the sender or the recipients, TLS that cannot be set up, a server
  without AUTH when credentials are configured.

A dropped connection or a timeout while the message is being sent leaves its delivery in
doubt (``in_doubt``). The password never appears in a message: server replies are scrubbed
of it (and of its base64 forms, which an AUTH exchange could echo).
"""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.message import EmailMessage

from harken.config import EmailConfig
from harken.net.deadline import DEADLINE_FACTOR, DeadlineExceeded, deadline
from harken.notify.contract import DeliveryError

HOST_HINT = "check digest.email.host and digest.email.port"
AUTH_HINT = "check digest.email.username and digest.email.password"
SECURITY_HINT = (
    "check digest.email.security (ssl on port 465, starttls on 587) and digest.email.port"
)


def send_email(message: EmailMessage, email: EmailConfig) -> None:
    """Deliver ``message`` to ``email.to`` from ``email.sender``, or raise DeliveryError."""
    where = f"SMTP {email.host}:{email.port}"
    stage = "connecting"
    # smtplib's timeout is per read: the whole delivery gets DEADLINE_FACTOR times it.
    total = DEADLINE_FACTOR * email.timeout.total_seconds()
    try:
        with deadline(total, where), _connect(email) as smtp:
            stage = "greeting"
            smtp.ehlo_or_helo_if_needed()
            if email.security == "starttls":
                stage = "starting TLS"
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if email.username:
                stage = "logging in"
                _login(smtp, email)
            stage = "sending"
            refused = smtp.send_message(message, from_addr=email.sender, to_addrs=email.to)
    except smtplib.SMTPException as err:
        raise _smtp_error(err, email, where, stage) from None
    except ssl.SSLError as err:
        raise DeliveryError(
            f"{where}: TLS failed while {stage}: {_scrub(str(err.reason or err), email)}",
            transient=False,
            hint=SECURITY_HINT,
        ) from None
    except socket.gaierror as err:
        raise DeliveryError(
            f"{where}: cannot resolve the host ({err.strerror})", transient=True, hint=HOST_HINT
        ) from None
    except (TimeoutError, OSError) as err:
        doubt = stage == "sending"
        what = "timed out" if isinstance(err, TimeoutError) else (err.strerror or str(err))
        if isinstance(err, DeadlineExceeded):
            what = f"no complete answer within {total:g}s"
        raise DeliveryError(
            f"{where}: {what} while {stage}", transient=True, in_doubt=doubt, hint=HOST_HINT
        ) from None
    if refused:  # some recipients took it, others did not: retrying would send it twice
        raise DeliveryError(
            f"{where}: delivered, but refused for {_refusals(refused, email)}",
            transient=False,
            hint="check digest.email.to",
        )


@contextmanager
def _connect(email: EmailConfig) -> Iterator[smtplib.SMTP]:
    timeout = email.timeout.total_seconds()
    smtp: smtplib.SMTP
    if email.security == "ssl":
        smtp = smtplib.SMTP_SSL(
            email.host, email.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(email.host, email.port, timeout=timeout)
    try:
        yield smtp
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()  # the server is gone already: the error that matters is raised


def _login(smtp: smtplib.SMTP, email: EmailConfig) -> None:
    if not email.password:
        raise DeliveryError(
            "digest.email.username is set but the password is empty",
            transient=False,
            hint='set digest.email.password (e.g. "${SMTP_PASSWORD}") and the variable',
        )
    smtp.login(email.username or "", email.password)


def _smtp_error(
    err: smtplib.SMTPException, email: EmailConfig, where: str, stage: str
) -> DeliveryError:
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in err.recipients.values()]
        return DeliveryError(
            f"{where}: every recipient refused: {_refusals(err.recipients, email)}",
            transient=all(400 <= c < 500 for c in codes),
            hint="check digest.email.to",
        )
    if isinstance(err, smtplib.SMTPServerDisconnected):
        # smtplib reports a timeout waiting for a reply as a disconnection.
        what = "timed out" if "timed out" in str(err) else "the server closed the connection"
        return DeliveryError(
            f"{where}: {what} while {stage}",
            transient=True,
            in_doubt=stage == "sending",
            hint=HOST_HINT,
        )
    if isinstance(err, smtplib.SMTPNotSupportedError):
        hint = AUTH_HINT if stage == "logging in" else SECURITY_HINT
        return DeliveryError(
            f"{where}: {_scrub(str(err), email)} (while {stage})", transient=False, hint=hint
        )
    if isinstance(err, smtplib.SMTPResponseException):
        return _reply_error(err, email, where, stage)
    return DeliveryError(f"{where}: {_scrub(str(err), email)} while {stage}", transient=True)


def _reply_error(
    err: smtplib.SMTPResponseException, email: EmailConfig, where: str, stage: str
) -> DeliveryError:
    code = err.smtp_code
    reply = _scrub(_text(err.smtp_error), email)
    transient = 400 <= code < 500
    hint: str | None = None
    if isinstance(err, smtplib.SMTPAuthenticationError) or stage == "logging in":
        what, hint = "login refused", AUTH_HINT
    elif isinstance(err, smtplib.SMTPSenderRefused):
        what, hint = f"sender {err.sender} refused", "check digest.email.from"
    elif isinstance(err, smtplib.SMTPDataError):
        what = "message refused"
    else:
        what, hint = f"error while {stage}", HOST_HINT
    return DeliveryError(
        f"{where}: {what}: {code} {reply}",
        transient=transient,  # a reply, even to the message, means it was not taken
        hint=None if transient else hint,
    )


def _refusals(refused: Mapping[str, tuple[int, bytes | str]], email: EmailConfig) -> str:
    return "; ".join(
        f"{address} ({code} {_scrub(_text(reply), email)})"
        for address, (code, reply) in refused.items()
    )


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _scrub(text: str, email: EmailConfig) -> str:
    """The password, and the base64 forms an AUTH exchange sends it in, replaced."""
    secret = email.password
    if not secret:
        return text
    user = email.username or ""
    forms = [
        secret,
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"\0{user}\0{secret}".encode()).decode(),
    ]
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text
