"""Real documentation sites from Debian packages, unpacked under bench/.work/.

`apt-get download` fetches a package without installing it (no root needed), and
`dpkg-deb -x` unpacks it, so the benchmarks need only Debian's package mirror.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work"

# package -> the HTML root inside it; each is a Sphinx site whose _sources/ holds the text.
# One theme each, so an extractor is not tuned to one page template; about 17 MB together.
SITES = {
    "python3.11-doc": "usr/share/doc/python3.11/html",  # python_docs_theme, 13 MB
    "sphinx-doc": "usr/share/doc/sphinx-doc/html",  # sphinx13 theme, 2.3 MB
    "python-flask-doc": "usr/share/doc/python-flask-doc/html",  # pallets theme, 0.7 MB
    "python-requests-doc": "usr/share/doc/python-requests-doc/html",  # alabaster, 0.2 MB
    "python-cryptography-doc": "usr/share/doc/python-cryptography-doc/html",  # RTD, 0.4 MB
}


def unpack(package: str) -> Path:
    """The HTML root of `package`, downloading and unpacking it on first use."""
    target = WORK / package
    root = target / SITES[package]
    if root.is_dir():
        return root
    downloads = WORK / "debs"
    downloads.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", package], cwd=downloads, check=True)
    deb = max(downloads.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    if not root.is_dir():
        raise RuntimeError(f"{deb.name} has no {SITES[package]}; update SITES in {__file__}")
    return root


def publish(text: str, path: Path, write: bool = True) -> None:
    """Print a benchmark's results table, and keep it under bench/results/ unless told not."""
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(text)


def fastest_seconds(
    texts: list[str], runs: list[Callable[[str], object]], passes: int
) -> list[float]:
    """Seconds per runner over all `texts`, the fastest of `passes` passes. The runners take
    turns in each pass, so load from other work on the shared machine falls on all alike."""
    best = [float("inf")] * len(runs)
    for _ in range(passes):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            for text in texts:
                run(text)
            best[i] = min(best[i], time.perf_counter() - start)
    return best
