"""tests/faketime/run, the clock of the calendar tests' second pass: it moves the calendar a
year ahead for a process and its children, keeps the stopwatch real, and catches a planted
time bomb (a test that fixes a date while the code reads the real clock).

The children start from the real clock (`real_clock`), so these tests hold when the whole
suite itself runs with a moved clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.moves_the_clock]

RUN = Path(__file__).parents[1] / "faketime" / "run"

TODAY = "from datetime import UTC, datetime; print(datetime.now(UTC).date())"
PROBE = f"""
import json, subprocess, sys, threading, time
from datetime import UTC, datetime
started = time.monotonic()
time.sleep(0.2)
threading.Event().wait(0.2)  # a lock wait with a timeout must time out
child = subprocess.run([sys.executable, "-c", "{TODAY}"],
                       capture_output=True, text=True, check=True).stdout.strip()
print(json.dumps({{"year": datetime.now(UTC).year, "child": child,
                  "waited_s": time.monotonic() - started}}))
"""

BOMB = """
from datetime import UTC, datetime, timedelta


def spent_since(stamps, since):  # the code under test reads the real clock for its stamps
    return sum(1 for stamp in stamps if stamp >= since)


def test_tonight_has_spent_nothing_yet():
    tonight = datetime(YEAR, MONTH, DAY, tzinfo=UTC)  # the day the test was written
    stamps = [datetime.now(UTC) - timedelta(days=2)]  # something paid for two days ago
    assert spent_since(stamps, tonight) == 0
"""


def real_clock() -> dict[str, str]:
    """This process's environment without a moved clock in it."""
    moved = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC")
    return {k: v for k, v in os.environ.items() if k not in moved}


def probe(*prefix: str) -> dict:
    command = [*prefix, sys.executable, "-c", PROBE]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=real_clock())
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_calendar_moves_a_year_and_the_stopwatch_does_not() -> None:
    today, ahead = probe(), probe(str(RUN))
    moved = date.fromisoformat(ahead["child"]) - date.fromisoformat(today["child"])
    assert moved.days in (365, 366)  # faketime's year is 365 days; 366 across a midnight
    assert str(ahead["year"]) == ahead["child"][:4]  # this process and its child agree
    assert 0.4 <= ahead["waited_s"] < 30  # a wait that never timed out would take a year


def test_a_test_that_fixes_today_fails_a_year_ahead(tmp_path) -> None:
    year, month, day = probe()["child"].split("-")
    bomb = tmp_path / "test_bomb.py"
    bomb.write_text(
        textwrap.dedent(BOMB)
        .replace("YEAR", year)
        .replace("MONTH", str(int(month)))
        .replace("DAY", str(int(day)))
    )
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(bomb)]
    options = dict(capture_output=True, text=True, timeout=120, cwd=tmp_path, env=real_clock())
    assert subprocess.run(pytest_cmd, **options).returncode == 0  # today, it passes
    ahead = subprocess.run([str(RUN), *pytest_cmd], **options)
    assert ahead.returncode == 1 and "1 failed" in ahead.stdout
