"""WARC memory benchmark (issue 8): peak RSS while `lmkiln.tasks.collect.corpora.warc.read_warc`
streams a generated 1 GB gzip WARC through the extraction, and fastwarc against warcio on the same
file.

    .venv/bin/python -m bench.warc_memory                 # 1 GB: tens of minutes on two cores
    .venv/bin/python -m bench.warc_memory --size-mb 100   # a quick look

The file (bench/.work/warc/bench-<size>MB.warc.gz, kept for the next run) is written the way
Common Crawl writes its WARCs: one gzip member per record, a warcinfo record, then for each
page a request, a response and a metadata record. The pages come from four layouts (article,
documentation, forum thread, shop listing) filled with seeded random sentences, with
navigation, sidebars and footers around the main text, so the extractor does real work; one
response in twenty is a redirect, one in forty an image, as in a crawl.

Each measurement runs in a fresh process: peak RSS is that process's VmHWM (/proc/self/status,
the kernel's high-water mark of its resident set, reset after the imports through
/proc/self/clear_refs, read when the reader has consumed 10%, 50%
and 100% of the compressed file); getrusage's maxrss is not used because Linux carries the
parent's across exec. Time is wall time of the loop, the file read from the page cache after
the first pass. The library rows iterate every record and read every payload into memory, as
a reader must: fastwarc (ArchiveIterator, parse_http on) and warcio (ArchiveIterator,
content_stream().read()). Results go to bench/results/warc.md and stdout.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import json
import os
import platform
import random
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

WORK = Path(__file__).parent / ".work" / "warc"
RESULTS = Path(__file__).parent / "results" / "warc.md"
CHECKPOINTS = (0.1, 0.5, 1.0)
WORDS = (
    "kiln clay glaze fire heat pot vessel potter wheel studio bisque stoneware porcelain "
    "earthenware slip throw trim dry crack shrink oxide cone temperature reduction oxidation "
    "ash wood gas electric chamber shelf wadding stilt crawl pinhole craze shiver bloat "
    "the a of to and in is it that was for on are with as his they be at one have this "
    "from by hot word but what some we can out other were all there when up use your how "
    "said an each she which do their time if will way about many then them write would "
    "like so these her long make thing see him two has look more day could go come did "
    "number sound no most people my over know water than call first who may down side been"
).split()
LAYOUTS = {
    "article": (
        '<header class="site-header"><a href="/">Home</a> <nav><a href="/news">News</a> '
        '<a href="/about">About</a> <a href="/contact">Contact</a></nav></header>'
        "<main><article><h1>{title}</h1><p class=byline>By {author}</p>{paragraphs}</article>"
        '</main><aside class="sidebar"><h3>Related</h3><ul>{links}</ul></aside>'
        '<footer class="site-footer">Copyright {author}. <a href="/privacy">Privacy</a></footer>'
    ),
    "docs": (
        '<div class="wy-nav-side"><ul>{links}</ul></div><div role="main" class="document">'
        "<h1>{title}</h1>{paragraphs}<pre>for shelf in kiln.shelves:\n    shelf.load()</pre>"
        '</div><div class="footer">Built with a generator.</div>'
    ),
    "forum": (
        '<div id="navbar"><a href="/">Forum</a> | <a href="/new">New</a> | <a href="/top">Top'
        '</a></div><h1>{title}</h1><div class="posts">{posts}</div>'
        '<div class="pagination"><a href="?p=2">2</a> <a href="?p=3">3</a></div>'
    ),
    "shop": (
        '<div class="cookie-banner">We use cookies. <button>OK</button></div>'
        "<main><h1>{title}</h1><table>{rows}</table>{paragraphs}</main>"
        '<div class="newsletter">Subscribe to our newsletter</div>'
    ),
}


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 24))
    return " ".join(words).capitalize() + "."


def _page(rng: random.Random, url: str) -> bytes:
    layout = rng.choice(list(LAYOUTS))
    title = " ".join(rng.choices(WORDS, k=5)).title()
    paragraphs = "".join(
        "<p>" + " ".join(_sentence(rng) for _ in range(rng.randint(3, 9))) + "</p>"
        for _ in range(rng.randint(4, 16))
    )
    links = "".join(
        f'<li><a href="/p/{rng.randrange(10**6)}">{_sentence(rng)[:30]}</a></li>' for _ in range(12)
    )
    posts = "".join(
        f'<div class="post"><span class="author">user{rng.randrange(999)}</span>'
        f"<p>{' '.join(_sentence(rng) for _ in range(rng.randint(2, 6)))}</p></div>"
        for _ in range(rng.randint(3, 12))
    )
    rows = "".join(
        f"<tr><td>{_sentence(rng)[:40]}</td><td>{rng.randint(5, 500)}.00</td></tr>"
        for _ in range(rng.randint(3, 10))
    )
    body = LAYOUTS[layout].format(
        title=title,
        author=rng.choice(WORDS).title(),
        paragraphs=paragraphs,
        links=links,
        posts=posts,
        rows=rows,
    )
    # Real pages carry kilobytes of inline CSS and script that the extractor must skip.
    style = "".join(
        f".c{rng.randrange(10**5)} {{ margin: {rng.randint(0, 40)}px; "
        f"color: #{rng.randrange(16**6):06x}; }}\n"
        for _ in range(rng.randint(40, 160))
    )
    script = "".join(
        f"window.t{rng.randrange(10**6)} = "
        f"{{id: {rng.randrange(10**9)}, on: {rng.random() < 0.5}}};\n"
        for _ in range(rng.randint(40, 160))
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<link rel="canonical" href="{url}"><style>{style}</style>'
        f'<script>var page = "{layout}";\n{script}</script></head>'
        f"<body>{body}</body></html>"
    ).encode()


def _record(kind: str, url: str, block: bytes, content_type: str) -> bytes:
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    head = (
        f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Date: {date}\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
        + (f"WARC-Target-URI: {url}\r\n" if url else "")
        + f"Content-Type: {content_type}\r\nContent-Length: {len(block)}\r\n\r\n"
    )
    return gzip.compress(head.encode() + block + b"\r\n\r\n", compresslevel=6)


def generate(path: Path, size_bytes: int, seed: int = 8) -> dict:
    """A gzip WARC of at least `size_bytes` (compressed); returns its page counts."""
    rng = random.Random(seed)
    counts = {"pages": 0, "redirects": 0, "images": 0, "records": 1}
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        out.write(_record("warcinfo", "", b"software: lmkiln bench\r\n", "application/warc-fields"))
        while out.tell() < size_bytes:
            n = counts["records"]
            url = f"https://site{n % 997}.example/{rng.choice(LAYOUTS_KEYS)}/{n}"
            request = f"GET /{n} HTTP/1.1\r\nHost: site{n % 997}.example\r\n\r\n".encode()
            out.write(_record("request", url, request, "application/http; msgtype=request"))
            roll = rng.random()
            if roll < 0.05:
                http = b"HTTP/1.1 301 Moved Permanently\r\nLocation: /elsewhere\r\n\r\n"
                counts["redirects"] += 1
            elif roll < 0.075:
                body = rng.randbytes(rng.randint(2_000, 40_000))
                http = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n\r\n" + body
                counts["images"] += 1
            else:
                html = _page(rng, url)
                http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
                counts["pages"] += 1
            out.write(_record("response", url, http, "application/http; msgtype=response"))
            metadata = f"fetchTimeMs: {rng.randint(20, 900)}\r\n".encode()
            out.write(_record("metadata", url, metadata, "application/warc-fields"))
            counts["records"] += 3
    partial.rename(path)
    path.with_suffix(".json").write_text(json.dumps(counts))
    return counts


LAYOUTS_KEYS = tuple(LAYOUTS)


class _Progress:
    """The stored file, read through; notes VmHWM as the reader passes each checkpoint."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("rb")
        self.size = path.stat().st_size
        self.position = 0
        self.peaks: dict[str, float] = {}
        self._next = 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.position += len(data)
        self._note()
        return data

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        pass

    def _note(self) -> None:
        while (
            self._next < len(CHECKPOINTS) - 1
            and self.position >= CHECKPOINTS[self._next] * self.size
        ):
            self.peaks[f"{CHECKPOINTS[self._next]:.0%}"] = _memory_mb("VmHWM")
            self._next += 1

    def finish(self) -> None:
        self.peaks["100%"] = _memory_mb("VmHWM")
        self.file.close()


def _memory_mb(field: str) -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)[1]) / 1024


def measure(system: str, path: Path) -> dict:
    """One measurement, in this process."""
    # Imported first, so that "RSS before" holds the code and only the reading follows.
    import fastwarc.warc
    import warcio.archiveiterator

    import lmkiln.tasks.collect.extract.main_text  # noqa: F401  (read_warc imports it on its first page)
    from lmkiln.tasks.collect.corpora.base import Entry
    from lmkiln.tasks.collect.corpora.warc import read_warc

    progress = _Progress(path)
    # Writing 5 to clear_refs resets the high-water mark (Linux 4.0+): the peaks below are
    # the reading's, not the imports'.
    Path("/proc/self/clear_refs").write_text("5")
    rss_before = _memory_mb("VmRSS")
    records = entries = 0
    started = time.perf_counter()
    if system == "read_warc":
        for _, item in read_warc(progress, path.name, 0):
            records += 1
            entries += isinstance(item, Entry)
    elif system == "fastwarc":
        for record in fastwarc.warc.ArchiveIterator(progress, parse_http=True):
            record.reader.read()
            records += 1
    elif system == "warcio":
        for record in warcio.archiveiterator.ArchiveIterator(progress):
            record.content_stream().read()
            records += 1
    else:
        raise ValueError(f"unknown system {system!r}: read_warc, fastwarc or warcio")
    seconds = time.perf_counter() - started
    progress.finish()
    return {
        "system": system,
        "seconds": seconds,
        "records": records,
        "entries": entries,
        "rss_before_mb": rss_before,
        "peaks_mb": progress.peaks,
    }


def _in_fresh_process(system: str, path: Path) -> dict:
    command = [sys.executable, "-m", "bench.warc_memory", "--measure", system, str(path)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{system}: {result}", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--measure", nargs=2, metavar=("SYSTEM", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]))))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"bench-{args.size_mb}MB.warc.gz"
    if not path.exists():
        started = time.perf_counter()
        generate(path, args.size_mb * 2**20)
        print(f"generated {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    counts = json.loads(path.with_suffix(".json").read_text())
    libraries = [_in_fresh_process(s, path) for s in ("fastwarc", "warcio", "fastwarc")]
    reader = _in_fresh_process("read_warc", path)
    _write(path, counts, libraries, reader)


def _write(path: Path, counts: dict, libraries: list[dict], reader: dict) -> None:
    versions = {p: importlib.metadata.version(p) for p in ("fastwarc", "warcio", "lxml")}
    size_mb = path.stat().st_size / 2**20
    lines = [
        "# WARC reading: memory and speed",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores ({platform.machine()}), "
        "machine shared with other work; Python "
        f"{platform.python_version()}, fastwarc {versions['fastwarc']}, warcio "
        f"{versions['warcio']}, lxml {versions['lxml']}. Made by `.venv/bin/python -m "
        "bench.warc_memory` (method in its docstring).",
        "",
        f"File: {path.name}, {size_mb:,.0f} MiB gzip, {counts['records']:,} records "
        f"({counts['pages']:,} HTML pages, {counts['redirects']:,} redirects, "
        f"{counts['images']:,} images, each with a request and a metadata record).",
        "",
        "## Streaming through read_warc and the extraction",
        "",
        "| read | records yielded | documents | seconds | documents/s | RSS before (MB) "
        "| peak RSS at 10% / 50% / 100% of the file (MB) |",
        "|---|---:|---:|---:|---:|---:|---|",
        _row(reader, reader["entries"]),
        "",
        "## Library: every record, every payload read",
        "",
        "| library | records | seconds | records/s | RSS before (MB) "
        "| peak RSS at 10% / 50% / 100% of the file (MB) |",
        "|---|---:|---:|---:|---:|---|",
        *(_row(r) for r in libraries),
        "",
        _choice(libraries),
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


def _choice(libraries: list[dict]) -> str:
    best = {}
    for r in libraries:
        best[r["system"]] = min(best.get(r["system"], float("inf")), r["seconds"])
    ratio = best["warcio"] / best["fastwarc"]
    return (
        f"fastwarc reads the file {ratio:.1f}x as fast as warcio (best runs), both flat in "
        "memory: tasks/collect/corpora/warc.py uses fastwarc; warcio stays in the dev extra (the "
        "tests write WARC files with it) and the bench extra."
    )


def _row(result: dict, entries: int | None = None) -> str:
    peaks = " / ".join(
        f"{result['peaks_mb'].get(k, float('nan')):.0f}" for k in ("10%", "50%", "100%")
    )
    if entries is None:
        rate = result["records"] / result["seconds"]
        return (
            f"| {result['system']} | {result['records']:,} | {result['seconds']:.1f} "
            f"| {rate:,.0f} | {result['rss_before_mb']:.0f} | {peaks} |"
        )
    rate = entries / result["seconds"]
    return (
        f"| {result['system']} | {result['records']:,} | {entries:,} | {result['seconds']:.0f} "
        f"| {rate:,.0f} | {result['rss_before_mb']:.0f} | {peaks} |"
    )


if __name__ == "__main__":
    main()
