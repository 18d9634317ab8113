"""A static site on 127.0.0.1 for the crawl benchmark: nginx in a subprocess, or Python's
threading http.server where nginx cannot be had.

    with serve(site_with_robots(root, ["/whatsnew/"])) as server:
        server.base_url  # "http://127.0.0.1:PORT/"

nginx is installed with apt-get on first use when running as root on Debian. On a host with
systemd, Debian's package also starts the system nginx on port 80; the benchmark never uses
that one (`systemctl disable --now nginx` stops it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0

NGINX_CONF = """\
worker_processes 1;  # plenty for 4 connections, and leaves the 2nd core to the crawler
pid {work}/nginx.pid;
error_log {work}/error.log warn;
daemon off;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    # As Debian's stock nginx.conf: HTML is gzipped for clients that accept it (both do).
    gzip on;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


@dataclass(frozen=True)
class Server:
    base_url: str
    description: str  # for the results: which server, which version


def site_with_robots(root: Path, disallow: list[str]) -> Path:
    """bench/.work/site: links to each entry of `root` plus a robots.txt that disallows the
    given path prefixes for every user agent. Rebuilt on each call; nothing is copied."""
    site = WORK / "site"
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    for entry in root.iterdir():
        (site / entry.name).symlink_to(entry)
    rules = "".join(f"Disallow: {prefix}\n" for prefix in disallow)
    (site / "robots.txt").write_text(f"User-agent: *\n{rules}", encoding="utf-8")
    return site


@contextmanager
def serve(site: Path, prefer: str = "nginx") -> Iterator[Server]:
    """Serve `site` on a free port of 127.0.0.1 until the block exits."""
    nginx = find_nginx() if prefer == "nginx" else None
    port = free_port()
    if nginx is not None:
        work = WORK / "nginx"
        work.mkdir(parents=True, exist_ok=True)
        conf = work / "nginx.conf"
        conf.write_text(NGINX_CONF.format(work=work, port=port, root=site), encoding="utf-8")
        command = [nginx, "-p", str(work), "-c", str(conf), "-e", str(work / "error.log")]
        description = f"nginx {nginx_version(nginx)} (1 worker, gzip on)"
    else:
        command = [sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d", str(site)]
        command.append(str(port))
        description = f"python {sys.version.split()[0]} http.server (ThreadingHTTPServer)"
    # A file, not a pipe: http.server logs every request and would block on a full pipe.
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / "server.log"
    with log.open("wb") as stderr:
        # Its own session: Ctrl-C in the terminal reaches the harness, which stops the server.
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
        )
    try:
        _wait_listening(process, port, log)
        yield Server(f"http://127.0.0.1:{port}/", description)
    finally:
        _stop(process)


def find_nginx() -> str | None:
    """The nginx binary, installed from Debian's mirror if missing and we may; else None."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    print("installing nginx-light with apt-get (once)", file=sys.stderr)
    for package in ("nginx-light", "nginx"):  # nginx-light is gone after Debian 12
        done = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", package],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if done.returncode == 0:
            break
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def nginx_version(nginx: str) -> str:
    banner = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr
    return banner.strip().rpartition("/")[2] or "unknown"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_listening(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = log.read_text(errors="replace").strip()
            raise RuntimeError(
                f"site server exited with code {process.returncode}: {error} "
                f"(see {WORK / 'nginx' / 'error.log'}; --server http.server avoids nginx)"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"site server did not listen on 127.0.0.1:{port} in {START_TIMEOUT_S} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()  # nginx: fast shutdown, the master stops its worker
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
