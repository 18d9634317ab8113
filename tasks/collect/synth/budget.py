"""What a synthetic source may spend tonight, and what it has paid for: the generation cache
(every completion by key, with the night that paid for it and whether its document was
collected), the budget of requests and tokens left, and the pace of request starts.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from lmkiln.tasks.collect.synth.backends import Completion
from lmkiln.tasks.config.collect import SynthSpec
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core.clock import Clock, current


class GenerationCache:
    """Generations by key, with the night (collection bucket) that paid for each, when it was
    paid (lmkiln's clock, or `clock`) and whether its document was collected. The budget
    counts a night's generations by the night recorded with them, not by their stamps, so a
    night that runs past the bucket's end spends its own budget, not the next night's.
    Thread-safe: one connection, one lock."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, source TEXT, "
            "generator TEXT, completion TEXT, tokens INTEGER, created REAL, "
            "collected INTEGER DEFAULT 0, night TEXT)"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(generations)")}
        if "night" not in columns:  # a cache written before nights were recorded
            self._db.execute("ALTER TABLE generations ADD COLUMN night TEXT")
        self._db.execute("CREATE INDEX IF NOT EXISTS by_source ON generations (source, created)")
        self._db.execute("CREATE INDEX IF NOT EXISTS by_night ON generations (source, night)")
        self._db.commit()
        self._lock = threading.Lock()

    @classmethod
    def of(cls, storage: StorageConfig) -> GenerationCache:
        return cls(storage.root / "synth" / "generations.sqlite")

    def get(self, key: str) -> tuple[Completion, bool] | None:
        """(the completion, whether its document was collected), or None."""
        with self._lock:
            found = self._db.execute(
                "SELECT completion, collected FROM generations WHERE key = ?", (key,)
            ).fetchone()
        if found is None:
            return None
        return Completion(**json.loads(found[0])), bool(found[1])

    def put(
        self, key: str, source: str, generator: str, completion: Completion, night: datetime
    ) -> None:
        paid = (self._clock or current()).now()
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO generations VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                (
                    key,
                    source,
                    generator,
                    json.dumps(asdict(completion)),
                    completion.tokens,
                    paid.timestamp(),
                    night.isoformat(),
                ),
            )

    def spent_in(self, source: str, night: datetime) -> tuple[int, int]:
        """(requests, tokens) the source paid for in `night`. Generations cached before
        nights were recorded count by when they were paid."""
        with self._lock:
            count, tokens = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(tokens), 0) FROM generations WHERE source = ? "
                "AND (night = ? OR (night IS NULL AND created >= ?))",
                (source, night.isoformat(), night.timestamp()),
            ).fetchone()
        return int(count), int(tokens)

    def mark_collected(self, keys: Sequence[str]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "UPDATE generations SET collected = 1 WHERE key = ?", [(k,) for k in keys]
            )

    def close(self) -> None:
        self._db.close()


class Budget:
    """Requests and tokens left tonight. A request is reserved before it is sent, with the
    tokens it may spend (its prompt's, estimated, and max_new_tokens), so requests in flight
    at once cannot overrun the budget together; the server's count replaces the estimate."""

    def __init__(self, spec: SynthSpec, requests: int, tokens: int) -> None:
        self.max_requests, self.max_tokens = spec.budget.max_requests, spec.budget.max_tokens
        self.requests, self.tokens = requests, tokens
        self.in_flight, self.reserved_tokens = 0, 0
        self._lock = threading.Lock()

    def reserve(self, tokens: int) -> bool:
        with self._lock:
            asked = self.requests + self.in_flight
            if self.max_requests is not None and asked >= self.max_requests:
                return False
            spent = self.tokens + self.reserved_tokens
            # The first request of a night always goes: a budget below one request's
            # estimate would otherwise never spend anything.
            if self.max_tokens is not None and spent and spent + tokens > self.max_tokens:
                return False
            if self.max_tokens is not None and self.tokens >= self.max_tokens:
                return False
            self.in_flight += 1
            self.reserved_tokens += tokens
            return True

    def settle(self, reserved: int, completion: Completion | None) -> None:
        with self._lock:
            self.in_flight -= 1
            self.reserved_tokens -= reserved
            self.requests += 1
            self.tokens += completion.tokens if completion else 0


class Pace:
    """At most `per_second` request starts a second, across threads."""

    def __init__(self, per_second: float | None) -> None:
        self.interval_s = 1 / per_second if per_second else 0.0
        self._next_at = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_at)
            self._next_at = start + self.interval_s
        time.sleep(max(0.0, start - now))
