"""Reading the text files a person names for classifying and evaluating (``classify --input``,
``eval --data``): UTF-8, and bounded, so that a device or a wrong file (``/dev/zero``, a disk
image) is refused with an error instead of filling the memory."""

from __future__ import annotations

import sys
from pathlib import Path

from harken.errors import HarkenError

# Hundreds of thousands of posts: more than one run of the classifier should take on.
MAX_INPUT_BYTES = 64 * 1024 * 1024


def read_text_input(path: Path) -> str:
    """The whole file as text ('-': standard input), or a HarkenError saying what is wrong."""
    try:
        if str(path) == "-":
            text = sys.stdin.read(MAX_INPUT_BYTES + 1)
            data = text.encode("utf-8", "surrogateescape")
        else:
            with path.open("rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
        if len(data) > MAX_INPUT_BYTES:
            raise HarkenError(
                f"{str(path)!r} is over {MAX_INPUT_BYTES // (1024 * 1024)} MiB",
                hint="split it into smaller files",
            )
        return data.decode("utf-8-sig")
    except OSError as error:
        raise HarkenError(f"cannot read {str(path)!r}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise HarkenError(
            f"cannot read {str(path)!r}: not UTF-8 text (byte {error.start + 1})",
            hint="save it as UTF-8",
        ) from None
