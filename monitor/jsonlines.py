"""JSON-lines files for the offline commands (``newswatch tag``, ``newswatch stories``).

In: a path or ``-`` (standard input / output), one JSON object per line. Out: the objects, or
a :class:`ValueError` per bad line saying what is wrong with it, for the command to report as
``FILE:LINE: what`` and skip. Nothing here knows what the objects mean.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson


def read_object(line: bytes) -> dict[str, Any]:
    """Decode one line that must hold a JSON object with an ``id`` (a string or number)."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    ident = data.get("id")
    if ident is None or isinstance(ident, (dict, list, bool)):
        raise ValueError("missing 'id' (a string or number)")
    return data


def open_input(path: Path) -> IO[bytes]:
    """Open ``path`` for reading, ``-`` being standard input; ``OSError`` if it cannot be."""
    return sys.stdin.buffer if str(path) == "-" else path.open("rb")


@contextlib.contextmanager
def output(path: str) -> Iterator[IO[bytes]]:
    """Write to ``path``, ``-`` being standard output (flushed, never closed)."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with open(path, "wb") as sink:
        yield sink
