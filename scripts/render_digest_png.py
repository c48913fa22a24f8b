"""Render a digest HTML file to a PNG (or a PDF print preview) with headless Chromium.

    python scripts/render_digest_png.py digest-2026-12-02.html /tmp/digest.png
    python scripts/render_digest_png.py digest-2026-12-02.html /tmp/digest.pdf   # print

A chore for looking at the page, not part of the tests. Chromium and a Japanese font come
from Debian: ``apt-get install -y chromium fonts-noto-cjk``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",  # root in a container has no user namespace for the sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit(
        "error: Chromium is not installed (looked for "
        + ", ".join(CANDIDATES)
        + "); install it with: apt-get install -y chromium fonts-noto-cjk"
    )


def render(page: Path, out: Path, width: int, height: int, timeout: float) -> None:
    if not page.is_file():
        raise SystemExit(f"error: {page} does not exist")
    out.parent.mkdir(parents=True, exist_ok=True)
    output = (
        [f"--print-to-pdf={out}", "--no-pdf-header-footer"]
        if out.suffix.lower() == ".pdf"
        else [f"--screenshot={out}", f"--window-size={width},{height}"]
    )
    # A fresh profile each time: no state from earlier runs, nothing left behind.
    with tempfile.TemporaryDirectory(prefix="harken-chromium-") as profile:
        command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *output]
        command.append(page.resolve().as_uri())
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SystemExit(f"error: Chromium did not finish within {timeout:.0f} s") from None
    if result.returncode != 0 or not out.is_file():
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"error: Chromium failed (exit {result.returncode}):\n{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="the digest HTML file")
    parser.add_argument("out", type=Path, help="the PNG to write (.pdf: a print preview)")
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    render(args.page, args.out, args.width, args.height, args.timeout)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
