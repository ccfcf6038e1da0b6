"""Console: a notice in, one line out on the worker's standard output (or a given stream).

In: a notice rendered by :func:`monitor.alerting.render.console`. Out: that text and a newline,
flushed at once so it shows even when output is piped. Nothing to classify: it raises no
delivery error, and returns None (a line has no thread).
"""

from __future__ import annotations

import sys
from typing import TextIO

from monitor.alerting import render
from monitor.alerting.notice import Console, Notice


class ConsoleChannel:
    """Prints each notice on ``stream``; ``sys.stdout`` (as it is at send time) when None."""

    kind = "console"

    def __init__(self, config: Console, stream: TextIO | None = None) -> None:
        self.id = config.id
        self._stream = stream

    async def send(self, notice: Notice, *, key: str, thread: str | None) -> str | None:
        """Write ``notice`` as one line and flush."""
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(render.console(notice) + "\n")
        stream.flush()
        return None

    async def aclose(self) -> None:
        """Nothing to close: the stream belongs to the caller."""
