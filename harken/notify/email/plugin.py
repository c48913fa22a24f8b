"""The e-mail sink's plug-in: the digest only, by SMTP, when digest.email is set."""

from __future__ import annotations

from rich.console import Console

from harken.config import Config, DepartmentConfig
from harken.notify.contract import NoHandoffs, Sink, Switch
from harken.notify.email.sink import EmailSink


class EmailPlugin(NoHandoffs):
    name = "email"

    def serves_alerts(self, config: Config, department: DepartmentConfig | None) -> Switch:
        return False

    def serves_threads(self, config: Config, department: DepartmentConfig | None) -> bool:
        return False

    def serves_digests(self, config: Config, department: DepartmentConfig | None) -> Switch:
        return config.digest.email is not None

    def digest_forms(self, config: Config) -> tuple[str, ...]:
        return ("email",)  # the whole message, with its Message-ID: sent again, it is the same

    def build(self, config: Config, console: Console) -> Sink:
        return EmailSink(config)
