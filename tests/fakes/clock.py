"""A clock that only moves when a source sleeps: rate-limit waits are asserted, not endured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from harken.platforms.source import Runtime


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC).replace(microsecond=0)
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)

    def runtime(self) -> Runtime:
        return Runtime(sleep=self.sleep, clock=lambda: self.now)
