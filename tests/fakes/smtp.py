"""A tiny threaded SMTP server for tests: real sockets, smtplib on the other end.

    with FakeSMTP(user="digest", password="s3cret") as smtp:   # AUTH PLAIN/LOGIN required
        smtp.fail("RCPT", 550, "5.1.1 no such user")           # the next RCPT TO is refused
        send_email(message, EmailConfig(host="127.0.0.1", port=smtp.port, security="none", ...))
        smtp.messages[0].message["Subject"]

Speaks EHLO/HELO, AUTH PLAIN and LOGIN, MAIL FROM, RCPT TO, DATA, RSET, NOOP and QUIT.
``fail(command, code, text)`` scripts one reply ("AUTH", "MAIL", "RCPT", "DATA", or "END" for
the reply after the message); code None drops the connection instead. No STARTTLS: tests
use ``security: none``. (The stdlib's smtpd is deprecated, and warnings are errors here.)
"""

from __future__ import annotations

import base64
import email
import email.policy
import socketserver
import threading
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    message: EmailMessage
    user: str | None  # who logged in, if anyone


@dataclass
class _Script:
    command: str
    code: int | None
    text: str


@dataclass
class _Session:
    user: str | None = None
    mail_from: str | None = None
    rcpt_to: list[str] = field(default_factory=list)


class _Dropped(Exception):
    pass


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        fake = self.server.fake
        session = _Session()
        self.reply(220, "fake.smtp ESMTP ready")
        try:
            while line := self.rfile.readline():
                verb, _, argument = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
                if not self.dispatch(fake, session, verb.upper(), argument):
                    return
        except (_Dropped, ConnectionError):
            return

    def dispatch(self, fake: FakeSMTP, session: _Session, verb: str, argument: str) -> bool:
        fake.commands.append(f"{verb} {argument}".strip())
        scripted = fake.scripted(verb)
        if scripted is not None and verb not in ("DATA",):
            self.scripted_reply(scripted)
            return True
        if verb == "EHLO":
            lines = ["fake.smtp", "8BITMIME", "SIZE 10485760"]
            if fake.user is not None:
                lines.append("AUTH " + " ".join(fake.auth_methods))
            self.reply(250, *lines)
        elif verb == "HELO":
            self.reply(250, "fake.smtp")
        elif verb == "AUTH":
            self.auth(fake, session, argument)
        elif verb == "MAIL":
            if fake.user is not None and session.user is None:
                self.reply(530, "5.7.0 Authentication required")
            else:
                session.mail_from, session.rcpt_to = _address(argument), []
                self.reply(250, "2.1.0 OK")
        elif verb == "RCPT":
            session.rcpt_to.append(_address(argument))
            self.reply(250, "2.1.5 OK")
        elif verb == "DATA":
            self.data(fake, session, scripted)
        elif verb == "RSET":
            session.mail_from, session.rcpt_to = None, []
            self.reply(250, "2.0.0 OK")
        elif verb == "NOOP":
            self.reply(250, "2.0.0 OK")
        elif verb == "QUIT":
            self.reply(221, "2.0.0 Bye")
            return False
        else:
            self.reply(502, "5.5.2 Command not recognized")
        return True

    def auth(self, fake: FakeSMTP, session: _Session, argument: str) -> None:
        method, _, initial = argument.partition(" ")
        method = method.upper()
        if fake.user is None or method not in fake.auth_methods:
            self.reply(504, "5.5.4 Unrecognized authentication type")
            return
        if method == "PLAIN":
            token = initial or self.challenge("")
            _, user, password = _b64(token).split("\0", 2)
        else:
            user = _b64(initial) if initial else _b64(self.challenge("VXNlcm5hbWU6"))
            password = _b64(self.challenge("UGFzc3dvcmQ6"))
        if (user, password) == (fake.user, fake.password):
            session.user = user
            self.reply(235, "2.7.0 Authentication successful")
        else:
            self.reply(535, "5.7.8 Authentication credentials invalid")

    def challenge(self, prompt: str) -> str:
        self.reply(334, prompt)
        return self.rfile.readline().decode("ascii", "replace").strip()

    def data(self, fake: FakeSMTP, session: _Session, scripted: _Script | None) -> None:
        if scripted is not None:
            self.scripted_reply(scripted)
            return
        if session.mail_from is None or not session.rcpt_to:
            self.reply(503, "5.5.1 Bad sequence of commands")
            return
        self.reply(354, "End data with <CR><LF>.<CR><LF>")
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)  # undo dot-stuffing
        after = fake.scripted("END")
        if after is not None:
            self.scripted_reply(after)
            return
        raw = b"".join(lines)
        message = email.message_from_bytes(raw, _class=EmailMessage, policy=email.policy.default)
        with fake.lock:
            fake.messages.append(
                Received(session.mail_from, list(session.rcpt_to), raw, message, session.user)
            )
        session.mail_from, session.rcpt_to = None, []
        self.reply(250, "2.0.0 OK queued")

    def scripted_reply(self, script: _Script) -> None:
        if script.code is None:
            raise _Dropped
        self.reply(script.code, script.text)

    def reply(self, code: int, *lines: str) -> None:
        lines = lines or ("",)
        out = [f"{code}-{line}" for line in lines[:-1]] + [f"{code} {lines[-1]}"]
        self.wfile.write(("\r\n".join(out) + "\r\n").encode("utf-8"))
        self.wfile.flush()


def _address(argument: str) -> str:
    """ "FROM:<a@b> SIZE=123" -> "a@b"."""
    _, _, rest = argument.partition(":")
    return rest.strip().split(" ")[0].strip("<>")


def _b64(token: str) -> str:
    return base64.b64decode(token).decode("utf-8")


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False  # a client that never says QUIT must not hang the test

    def __init__(self, fake: FakeSMTP) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class FakeSMTP:
    def __init__(
        self,
        user: str | None = None,
        password: str | None = None,
        auth_methods: tuple[str, ...] = ("PLAIN", "LOGIN"),
    ) -> None:
        self.user, self.password, self.auth_methods = user, password, auth_methods
        self.messages: list[Received] = []
        self.commands: list[str] = []
        self.lock = threading.Lock()
        self._scripts: deque[_Script] = deque()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "start the server first (with FakeSMTP() as smtp)"
        return int(self._server.server_address[1])

    def fail(self, command: str, code: int | None, text: str = "") -> None:
        """The next ``command`` is answered ``code text`` (None: the connection is dropped)."""
        with self.lock:
            self._scripts.append(_Script(command.upper(), code, text))

    def scripted(self, command: str) -> _Script | None:
        with self.lock:
            for script in self._scripts:
                if script.command == command:
                    self._scripts.remove(script)
                    return script
        return None

    def __enter__(self) -> FakeSMTP:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
