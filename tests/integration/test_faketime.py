"""tests/faketime/run, the clock of the calendar tests' second pass: it moves the calendar a
year ahead for a process and its children, keeps the stopwatch real, and catches a planted
time bomb (a test that fixes a date while the code reads the real clock)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.moves_the_clock]

RUN = Path(__file__).parents[1] / "faketime" / "run"

PROBE = """
import json, subprocess, sys, threading, time
from datetime import UTC, datetime
started = time.monotonic()
time.sleep(0.2)
threading.Event().wait(0.2)  # a lock wait with a timeout must time out
child = subprocess.run([sys.executable, "-c", "import datetime; print(datetime.date.today())"],
                       capture_output=True, text=True, check=True).stdout.strip()
print(json.dumps({"year": datetime.now(UTC).year, "child": child,
                  "waited_s": time.monotonic() - started}))
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


def test_the_calendar_moves_a_year_and_the_stopwatch_does_not() -> None:
    import json

    done = subprocess.run(
        [str(RUN), sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    year = datetime.now(UTC).year
    assert seen["year"] in (year + 1, year + 2)  # +365 days, around New Year the next
    assert seen["child"].startswith(str(seen["year"]))
    assert 0.4 <= seen["waited_s"] < 5


def test_a_test_that_fixes_today_fails_a_year_ahead(tmp_path) -> None:
    today = datetime.now(UTC).date()
    bomb = tmp_path / "test_bomb.py"
    bomb.write_text(
        textwrap.dedent(BOMB)
        .replace("YEAR", str(today.year))
        .replace("MONTH", str(today.month))
        .replace("DAY", str(today.day))
    )
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(bomb)]
    options = dict(capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert subprocess.run(pytest_cmd, **options).returncode == 0  # today, it passes
    ahead = subprocess.run([str(RUN), *pytest_cmd], **options)
    assert ahead.returncode == 1 and "1 failed" in ahead.stdout
