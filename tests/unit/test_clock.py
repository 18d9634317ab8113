"""lmkiln's clock: the one place its code reads the date from, which a test can set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from lmkiln.flows.naming import dated
from lmkiln.tasks.collect.synth.backends import Completion
from lmkiln.tasks.collect.synth.budget import GenerationCache
from lmkiln.tasks.core import clock
from lmkiln.tasks.core.caching import bucket_start
from lmkiln.tasks.core.clock import ManualClock
from lmkiln.tasks.core.records import Document

NIGHT = datetime(2031, 2, 3, 2, 30, tzinfo=UTC)


def test_a_manual_clock_stands_still_until_moved_and_speaks_utc() -> None:
    manual = ManualClock(datetime(2031, 2, 3, 11, 30, tzinfo=timezone(timedelta(hours=9))))
    assert manual.now() == NIGHT and manual.now().tzinfo == UTC
    manual.advance(timedelta(days=1))
    assert manual.now() == NIGHT + timedelta(days=1)
    with pytest.raises(ValueError, match="has no timezone"):
        ManualClock(datetime(2031, 2, 3))


def test_every_calendar_reader_of_lmkiln_sees_the_clock_it_is_given() -> None:
    with clock.using(ManualClock(NIGHT)):
        assert bucket_start(24) == datetime(2031, 2, 3, tzinfo=UTC)
        assert Document(text="t", kind="web", source="s").fetched_at == "2031-02-03T02:30:00+00:00"
        assert dated("nightly")() == "nightly-2031-02-03-0230"
    assert clock.current() is clock.SYSTEM
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_the_generation_cache_stamps_with_its_clock_or_lmkiln_s(tmp_path) -> None:
    import sqlite3

    paid = Completion(text="x", finish_reason="stop", prompt_tokens=2, completion_tokens=3)
    night = bucket_start(24, NIGHT)
    given = GenerationCache(tmp_path / "given.sqlite", ManualClock(NIGHT))
    given.put("k1", "s", "g", paid, night)
    default = GenerationCache(tmp_path / "default.sqlite")
    with clock.using(ManualClock(NIGHT + timedelta(days=400))):
        default.put("k2", "s", "g", paid, night)
    given.close()
    default.close()

    def stamp(path):
        with sqlite3.connect(path) as db:
            return db.execute("SELECT created FROM generations").fetchone()[0]

    assert stamp(tmp_path / "given.sqlite") == NIGHT.timestamp()
    assert stamp(tmp_path / "default.sqlite") == (NIGHT + timedelta(days=400)).timestamp()
