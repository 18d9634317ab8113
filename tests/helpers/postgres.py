"""A throwaway PostgreSQL cluster for tests: Debian's server binaries, a temporary folder,
127.0.0.1 on an unused port, and its unix socket in that folder.

PostgreSQL refuses to run as root, and CI runs the tests as root: the server then runs as
the `postgres` system user that Debian's package creates, owning the cluster's folder.
`make system` (a prerequisite of `make test`) installs the package when it is missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.routes import unused_port

PG_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"  # created by Debian's postgresql-common
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    user: str
    socket_dir: Path
    bin_dir: Path

    def url(self, database: str, driver: str = "postgresql") -> str:
        """A SQLAlchemy URL; `driver` is e.g. postgresql+asyncpg or postgresql+psycopg2."""
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def query(self, database: str, sql: str) -> list[list[str]]:
        """Rows of `sql`, as psql prints them unaligned: a list of columns per row."""
        done = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-F", "\t"]
            + ["-h", str(self.socket_dir), "-p", str(self.port), "-U", self.user, "-d", database]
            + ["-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"psql on {database!r} failed for {sql!r}: {done.stderr.strip()}")
        return [line.split("\t") for line in done.stdout.splitlines() if line]


def server_bin_dir() -> Path:
    """The newest installed major's bin folder (initdb, pg_ctl, postgres)."""
    found = sorted(
        (p.parent for p in PG_ROOT.glob("*/bin/initdb")),
        key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit() else 0,
    )
    if not found:
        raise RuntimeError(
            f"no PostgreSQL server under {PG_ROOT}/<major>/bin: run `make system` (as root) "
            "to install Debian's postgresql package"
        )
    return found[-1]


def _as_server_user() -> list[str]:
    """A command prefix that drops root for the server; nothing when not root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise RuntimeError(
            f"PostgreSQL will not run as root and there is no {SERVER_USER!r} user to run it "
            "as: install Debian's postgresql package (`make system`), which creates it"
        ) from None
    return ["runuser", "-u", SERVER_USER, "--"]


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stderr or done.stdout}")


@contextmanager
def postgres_cluster(databases: tuple[str, ...] = ()) -> Iterator[Cluster]:
    """Start a cluster, create `databases`, and stop and remove it at the end, failing test
    or not. Connections from 127.0.0.1 and the socket are trusted: it is a test's cluster."""
    bin_dir = server_bin_dir()
    prefix = _as_server_user()
    # Its own folder in the temporary directory, not under pytest's: the server user must
    # reach it, and pytest's folders are private to root.
    folder = Path(tempfile.mkdtemp(prefix="lmkiln-postgres-"))
    data, sockets = folder / "data", folder / "run"
    sockets.mkdir()
    if prefix:
        entry = pwd.getpwnam(SERVER_USER)
        for path in (folder, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    user = SERVER_USER if prefix else pwd.getpwuid(os.geteuid()).pw_name
    port = unused_port()
    log = folder / "server.log"
    options = f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off -c full_page_writes=off"
    try:
        _run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust"]
            + ["--encoding=UTF8", "--locale=C", "--no-sync"],
            "initdb",
        )
        try:
            _run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options]
                + ["-w", "-t", str(START_TIMEOUT_S), "start"],
                "pg_ctl start",
            )
        except RuntimeError as exc:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{exc}\nserver log:\n{tail}") from None
        cluster = Cluster("127.0.0.1", port, user, sockets, bin_dir)
        for name in databases:
            cluster.query("postgres", f'CREATE DATABASE "{name}"')
        yield cluster
    finally:
        if (data / "postmaster.pid").exists():
            # Immediate: a test cluster needs no clean shutdown, and nothing waits on clients.
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)
