"""A progress bar on standard error, for files large enough to wait for.

Not tqdm: it is not among the project's dependencies, and one redrawn line is all an import needs.
On a terminal the line is redrawn in place (at most ten times a second); when standard error is a
file or a pipe, a plain line is written at every tenth of the way, so logs stay short. Files of
fewer than ``MIN_ROWS`` rows show nothing: they are done before a bar would help.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["MIN_ROWS", "Progress"]

MIN_ROWS = 500
_WIDTH = 30
_REDRAW_SECONDS = 0.1


class Progress:
    def __init__(self, label: str, total: int, *, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and total >= MIN_ROWS
        self.interactive = self.enabled and self.stream.isatty()
        self.started = time.monotonic()
        self._drawn_at = 0.0
        self._tenths_shown = 0

    def advance(self, count: int = 1) -> None:
        self.done = min(self.total, self.done + count)
        if not self.enabled:
            return
        if self.interactive:
            now = time.monotonic()
            if now - self._drawn_at >= _REDRAW_SECONDS or self.done == self.total:
                self._drawn_at = now
                self.stream.write("\r" + self.line())
                self.stream.flush()
            return
        tenths = self.done * 10 // self.total if self.total else 10
        if tenths > self._tenths_shown:
            self._tenths_shown = tenths
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = round(fraction * _WIDTH)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        return (
            f"{self.label} [{'#' * filled}{'.' * (_WIDTH - filled)}] "
            f"{self.done:,}/{self.total:,} ({fraction:4.0%}) {rate:,.0f}/s"
        )

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
