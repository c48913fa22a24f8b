"""The command line: ``harken`` and its command groups (``common`` holds what they share)."""

from harken.cli.root import app, main

__all__ = ["app", "main"]
