"""Progress: a rich bar with rate and ETA on a terminal, a periodic log line elsewhere."""

from __future__ import annotations

import logging
import sys
import threading
import time
from types import TracebackType

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

log = logging.getLogger("imagehost.jobs")


class JobProgress:
    def __init__(self, title: str, *, every: int = 100, interactive: bool | None = None) -> None:
        self.title = title
        self.every = max(1, every)
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.total = 0
        self.finished = 0
        self.failed = 0
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._bar: Progress | None = None
        self._task = None

    def __enter__(self) -> JobProgress:
        if self.interactive:
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TaskProgressColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                                 TimeRemainingColumn(), transient=False)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.title, total=None, rate="")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, trace)
        self.line()

    def set_total(self, total: int, finished: int, failed: int | None = None) -> None:
        """Absolute counts (listing, resume, or a coordinator reading the catalog)."""
        with self._lock:
            crossed = finished // self.every > self.finished // self.every
            self.total, self.finished = total, finished
            if failed is not None:
                self.failed = failed
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, total=total, completed=finished,
                             rate=f"{self.rate():.1f}/s")
        elif crossed:
            self.line()

    def advance(self, failed: bool) -> None:
        with self._lock:
            self.finished += 1
            self.failed += int(failed)
            finished = self.finished
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=finished, rate=f"{self.rate():.1f}/s")
        elif finished % self.every == 0:
            self.line()

    def rate(self) -> float:
        return self.finished / max(time.monotonic() - self._started, 1e-6)

    def line(self) -> None:
        rate = self.rate()
        left = max(self.total - self.finished, 0)
        eta = f", ETA {left / rate:.0f} s" if rate > 0 and left else ""
        percent = f" ({100 * self.finished / self.total:.1f}%)" if self.total else ""
        log.info("%s: %d / %d%s, %d failed, %.1f items/s%s", self.title, self.finished,
                 self.total, percent, self.failed, rate, eta)
