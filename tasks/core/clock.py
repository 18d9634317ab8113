"""The calendar clock of lmkiln's own code: the one place that says what day and time it is.

Everything lmkiln decides by the calendar reads it: the collection bucket a night belongs to
(fetch and synth cache keys, a corpus source's nightly cap, the synthetic budget), the stamps
of the generations it pays for, and the times it writes into rows, tags and run names. A test
that fixes a date sets this clock, with `using(ManualClock(...))` or by handing a ManualClock
to the code that takes one, so that the night it judges and the stamps it counts come from
one clock and the test passes on any day.

Not this clock's business: durations and deadlines (time.monotonic), the age of a file
(its mtime is stamped by the system clock, so it is compared with time.time()), and the
times that Prefect, MLflow and Deep Lake stamp themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until it is moved: a test's night, and the next one."""

    def __init__(self, at: datetime) -> None:
        self._at = _aware(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = _aware(at)

    def advance(self, by: timedelta) -> None:
        self._at += by


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"clock time {at.isoformat()} has no timezone (give tzinfo=UTC)")
    return at.astimezone(UTC)


SYSTEM = SystemClock()
# A plain global, not a context variable: lmkiln's own thread pools (the crawl's, the
# synthetic source's requests) do not copy the context, and their threads must see it.
_current: Clock = SYSTEM
_swap = threading.Lock()


def current() -> Clock:
    return _current


def now() -> datetime:
    return _current.now()


def iso_now() -> str:
    """Now, as written into rows and tags: `2026-11-27T02:00:05+00:00`."""
    return now().isoformat(timespec="seconds")


@contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """Every reader of `now()` in this process sees `clock` inside the block. Blocks nest;
    one left out of order (two threads swapping clocks at once) is an error, not a clock
    left behind."""
    global _current
    with _swap:
        before, _current = _current, clock
    try:
        yield clock
    finally:
        with _swap:
            if _current is not clock:
                raise RuntimeError("clock.using blocks were left out of order")
            _current = before
