"""Crawl benchmark (issue 3): lmkiln's crawler against Scrapy, in pages per second, on a local
copy of a real multi-page site, at the same concurrency and politeness settings.

    .venv/bin/python -m bench.crawl                   # three settings, 3 runs of each crawler
    .venv/bin/python -m bench.crawl --pages 200 --concurrency 4 --delay-ms 0
    .venv/bin/python -m bench.crawl --profile         # also: where lmkiln's crawl spends time

The site is Python 3.11's documentation from Debian (bench/debian_docs.py), served by nginx
on 127.0.0.1 with a robots.txt that disallows /whatsnew/, which both crawlers obey. Every
crawl runs in a fresh process and is timed inside it, from the start of the crawl to its end
(imports and Scrapy's set-up are outside). Runs alternate, lmkiln and Scrapy in turn.

lmkiln extracts every page's main text (tasks/collect/extract/main_text.py) as it crawls; Scrapy is
measured twice: following links only (LinkExtractor, its usual speed) and also running lmkiln's own
`lmkiln.tasks.collect.extract.main_text.extract` in its callback, which produces the same output as
lmkiln. Results go to bench/results/crawl.md and stdout.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import hashlib
import importlib
import importlib.metadata
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.debian_docs import unpack
from bench.serve_site import WORK, serve, site_with_robots
from lmkiln.tasks.config.collect import WebSource
from lmkiln.tasks.core.caching import sources

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "crawl.md"
PACKAGE = "python3.11-doc"
DISALLOW = ["/whatsnew/"]  # robots.txt: a section both crawlers must skip
# (concurrency, delay_ms): unpaced at 1 and 4 requests in flight, then politeness-bound.
SETTINGS = ((1, 0), (4, 0), (1, 50))
# Of ~510 allowed pages; the first ~40 of a breadth-first crawl are the big index pages.
# 3 settings x 3 runs x 3 crawlers of 200 pages take about 5 minutes on 2 cores.
DEFAULT_PAGES = 200
MAX_DEPTH = 50  # no limit in practice: every page is within 3 hops of index.html
REPEATS = 3
MEASURED = (
    "tasks/collect/web/crawl.py",
    "tasks/collect/web/fetch.py",
    "tasks/collect/web/politeness.py",
    *(f"tasks/collect/extract/{name}" for name in sources("lmkiln.tasks.collect.extract")),
    "tasks/collect/http.py",
)
WORKER_TIMEOUT_S = 300
LMKILN_WORKER = "bench.crawl"  # this module, by name: run as a script it is __main__
CRAWLERS = {
    "lmkiln": (LMKILN_WORKER, {}),
    "scrapy, links only": ("bench.scrapy_spider", {"extract_text": False}),
    "scrapy + extract()": ("bench.scrapy_spider", {"extract_text": True}),
}
# lmkiln's stages, timed by wrapping functions in the profiling worker: label -> where the
# function may live ("module" or "module:Class", attribute), first found wins; a stage whose
# function is not found (tasks/ was refactored) is reported as not timed. Indented labels
# are part of the label above.
STAGES = {
    "HTTP request until headers (Session.send)": [("requests.sessions:Session", "send")],
    "body: read and gunzip (_read_capped)": [("lmkiln.tasks.collect.web.fetch", "_read_capped")],
    "decode (UnicodeDammit)": [("lmkiln.tasks.collect.web.fetch", "decode")],
    "extract": [("lmkiln.tasks.collect.web.fetch", "extract")],
    "  parse the HTML": [
        ("lmkiln.tasks.collect.extract.main_text", "parse"),
        ("lmkiln.tasks.collect.extract.main_text", "_parse"),
        ("lmkiln.tasks.collect.extract.main_text", "BeautifulSoup"),
    ],
    "  links (urljoin, canonical_url)": [("lmkiln.tasks.collect.extract.main_text", "_links")],
    "  furniture, landmark, main block": [
        ("lmkiln.tasks.collect.extract.main_text", "find_content"),
        ("lmkiln.tasks.collect.extract.main_text", "_landmark"),
    ],
    "  text": [
        ("lmkiln.tasks.collect.extract.main_text:_Renderer", "render"),
        ("lmkiln.tasks.collect.extract.main_text", "_render"),
    ],
    "robots.txt (fetched once, can_fetch per URL)": [
        ("lmkiln.tasks.collect.web.politeness:SitePolicy", "allowed"),
        ("lmkiln.tasks.collect.web.crawl:_Robots", "allowed"),
    ],
    "sleep (politeness pause, retry backoff)": [("time", "sleep")],
}
# Where the crawl's worker threads start on a page: profiled there too, as cProfile sees
# only the thread that enabled it.
PAGE_WORKER = ("lmkiln.tasks.collect.web.crawl", "fetch")
WAITING = "<method 'acquire' of '_thread.lock' objects>"


def lmkiln_crawl(config: dict) -> dict:
    """One crawl with lmkiln's crawler (tasks/collect/web/crawl.py), as the worker runs it."""
    import lmkiln.tasks.collect.web.crawl

    fields = {
        "name": "pydocs",
        "start_urls": [config["start_url"]],
        "max_pages": config["pages"],
        "max_depth": config["max_depth"],
        "allow_private_addresses": True,
        "delay_ms": config["delay_ms"],
    }
    # Passed where this version of WebSource has them; Scrapy's spider reads no sitemaps.
    optional = {"concurrency": config["concurrency"], "sitemaps": False}
    fields |= {key: value for key, value in optional.items() if key in WebSource.model_fields}
    source = WebSource(**fields)
    stages = _time_stages() if config.get("profile") == "stages" else None
    profilers = _profile_threads() if config.get("profile") == "cprofile" else None
    started_s = time.perf_counter()
    if profilers is not None:
        profilers[0].enable()
    outcome = lmkiln.tasks.collect.web.crawl.crawl(source, {})
    if profilers is not None:
        profilers[0].disable()
    wall_s = time.perf_counter() - started_s
    if isinstance(outcome, tuple):  # before the crawl returned a `Crawl`
        documents, counters = outcome
    else:
        documents, counters = outcome.documents, outcome.counters
    result = {
        "pages": counters["pages_fetched"],
        "bytes": counters["bytes"],
        "wall_s": wall_s,
        "documents": len(documents),
        "requests": sum(n for key, n in counters.items() if key.startswith("http_")),
        "counters": {key: n for key, n in counters.items() if n},
        "fields": sorted(optional.keys() & WebSource.model_fields.keys()),
    }
    if stages is not None:
        result["stages"] = stages
    if profilers is not None:
        result["top"] = _top_functions(profilers, WORK / "crawl.prof")
    return result


def _find(candidates: list[tuple[str, str]]) -> tuple[object, str, object] | None:
    """(owner, attribute, function) for the first candidate that exists."""
    for where, attribute in candidates:
        module_name, _, class_name = where.partition(":")
        try:
            owner = importlib.import_module(module_name)
        except ImportError:
            continue
        owner = getattr(owner, class_name, None) if class_name else owner
        if (function := getattr(owner, attribute, None)) is not None:
            return owner, attribute, function
    return None


def _time_stages() -> dict[str, float]:
    """Wrap each of STAGES in a timer; the returned dict fills in as the crawl runs."""
    totals: dict[str, float] = {}
    lock = threading.Lock()  # a concurrent crawler calls these from several threads
    for label, candidates in STAGES.items():
        if (found := _find(candidates)) is None:
            continue
        owner, attribute, original = found
        totals[label] = 0.0

        def timed(*args, _original=original, _label=label, **kwargs):
            started_s = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                with lock:
                    totals[_label] += time.perf_counter() - started_s

        # updated=(): BeautifulSoup is a class, whose __dict__ a function should not take.
        setattr(owner, attribute, functools.update_wrapper(timed, original, updated=()))
    return totals


def _profile_threads() -> list[cProfile.Profile]:
    """[the calling thread's profiler, then one per worker thread as they start pages]."""
    profilers = [cProfile.Profile()]
    found = _find([PAGE_WORKER])
    if found is None:
        return profilers
    owner, attribute, original = found
    local = threading.local()
    main = threading.main_thread()

    def profiled(*args, **kwargs):
        if threading.current_thread() is main:  # a sequential crawler: already profiled
            return original(*args, **kwargs)
        if (profiler := getattr(local, "profiler", None)) is None:
            local.profiler = profiler = cProfile.Profile()
            profilers.append(profiler)
        profiler.enable()
        try:
            return original(*args, **kwargs)
        finally:
            profiler.disable()

    setattr(owner, attribute, functools.update_wrapper(profiled, original))
    return profilers


def _top_functions(profilers: list[cProfile.Profile], path: Path, count: int = 15) -> list[dict]:
    merged = pstats.Stats(*profilers)
    merged.dump_stats(path)  # for snakeviz or `python -m pstats`
    rows = sorted(merged.stats.items(), key=lambda item: item[1][2], reverse=True)
    # The crawl's own thread waiting on its page workers: time spent elsewhere, not a cost.
    rows = [row for row in rows if row[0][2] != WAITING][:count]
    top = []
    for (file, line, name), (_, calls, own_s, cumulative_s, _) in rows:
        where = file.split("site-packages/")[-1].replace(str(REPO) + "/", "")
        function = f"{where}:{line} {name}" if line else name
        top.append({"function": function, "calls": calls, "own_s": own_s, "cum_s": cumulative_s})
    return top


def run_worker(module: str, config: dict) -> dict:
    command = [sys.executable, "-m", module]
    command += ["--worker"] if module == LMKILN_WORKER else []
    command.append(json.dumps(config))
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(
            f"{module} exited with code {done.returncode}: {done.stderr.strip()[-2000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(base_url: str, settings, pages: int, repeats: int) -> list[dict]:
    """Each crawler `repeats` times per setting, alternating, in the same server session."""
    rows = []
    for concurrency, delay_ms in settings:
        config = _config(base_url, pages, concurrency, delay_ms)
        runs: dict[str, list[dict]] = {name: [] for name in CRAWLERS}
        for repeat in range(repeats):
            # Alternate the order too, so a drift in the machine's load hits all sides alike.
            names = list(CRAWLERS) if repeat % 2 == 0 else list(CRAWLERS)[::-1]
            for name in names:
                module, extra = CRAWLERS[name]
                result = run_worker(module, {**config, **extra})
                runs[name].append(result)
                print(
                    f"c={concurrency} delay={delay_ms}ms run {repeat + 1}/{repeats} {name}: "
                    f"{result['pages']} pages in {result['wall_s']:.2f} s = "
                    f"{result['pages'] / result['wall_s']:.1f} pages/s",
                    file=sys.stderr,
                )
        rows.append({"concurrency": concurrency, "delay_ms": delay_ms, "runs": runs})
    return rows


def _config(base_url: str, pages: int, concurrency: int, delay_ms: int) -> dict:
    defaults = WebSource.model_fields
    return {
        "start_url": base_url + "index.html",
        "scope": base_url,
        "pages": pages,
        "max_depth": MAX_DEPTH,
        "concurrency": concurrency,
        "delay_ms": delay_ms,
        "user_agent": defaults["user_agent"].default,
        "timeout_s": defaults["timeout_s"].default,
        "retries": defaults["retries"].default,
    }


def profile(base_url: str, pages: int) -> dict:
    """lmkiln at concurrency 1, no delay: stage timers in one run, cProfile in another."""
    config = _config(base_url, pages, 1, 0)
    timed = run_worker(LMKILN_WORKER, {**config, "profile": "stages"})
    profiled = run_worker(LMKILN_WORKER, {**config, "profile": "cprofile"})
    return {"stages": timed, "cprofile": profiled}


def render(rows: list[dict], profiled: dict | None, meta: dict) -> str:
    lines = [
        "# Crawl benchmark: lmkiln against Scrapy (issue 3)",
        "",
        f"- Date: {meta['date']}; command: `{meta['command']}`",
        f"- Machine: {meta['machine']}; load average at start {meta['load']}, at the end {_load()}",
        f"- Versions: {meta['versions']}",
        f"- lmkiln: {meta['lmkiln']}",
        f"- Server: {meta['server']} on 127.0.0.1",
        f"- Site: Python 3.11 documentation from Debian's `{PACKAGE}` ({meta['site_pages']} HTML "
        f"pages); robots.txt disallows {', '.join(DISALLOW)}; start at index.html, breadth-first "
        f"on both sides, at most {meta['pages']} pages, depth limit {MAX_DEPTH}",
        "- Same on both sides: user agent, requests in flight (Scrapy's CONCURRENT_REQUESTS and "
        "_PER_DOMAIN), delay between requests to the site (Scrapy's DOWNLOAD_DELAY, not "
        "randomized), robots.txt obeyed, no cookies, no cache, no autothrottle, "
        f"timeout {meta['timeout_s']:g} s, {meta['retries']} retries",
        "- pages/s: pages answered 200 with HTML, over the crawl's wall time (from start to "
        f"end, inside its own process); median of {meta['repeats']} runs, min-max beside it",
        "",
        "| in flight | delay ms | crawler | pages | MB | pages/s | min-max | lmkiln / this |",
        "|---:|---:|---|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        runs = row["runs"]
        ours = _median_rate(runs["lmkiln"])
        for name, results in runs.items():
            rates = [r["pages"] / r["wall_s"] for r in results]
            pages = statistics.median(r["pages"] for r in results)
            megabytes = statistics.median(r["bytes"] for r in results) / 1e6
            ratio = "" if name == "lmkiln" else f"{ours / statistics.median(rates):.2f}x"
            lines.append(
                f"| {row['concurrency']} | {row['delay_ms']} | {name} | {pages:.0f} | "
                f"{megabytes:.1f} | {statistics.median(rates):.1f} | "
                f"{min(rates):.1f}-{max(rates):.1f} | {ratio} |"
            )
    if profiled is not None:
        lines += _render_profile(profiled)
    return "\n".join(lines) + "\n"


def _median_rate(results: list[dict]) -> float:
    return statistics.median(r["pages"] / r["wall_s"] for r in results)


def _render_profile(profiled: dict) -> list[str]:
    timed, top = profiled["stages"], profiled["cprofile"]["top"]
    wall_s, pages = timed["wall_s"], timed["pages"]
    lines = [
        "",
        f"## Where lmkiln's crawl spends its time (1 in flight, no delay, {pages} pages)",
        "",
        f"Stage timers (functions wrapped with perf_counter, no profiler): {wall_s:.2f} s, "
        f"{pages / wall_s:.1f} pages/s. Indented rows are part of the row above.",
        "",
        "| stage | s | % of crawl | ms/page |",
        "|---|---:|---:|---:|",
    ]

    def row(name: str, seconds: float) -> str:
        share, per_page_ms = 100 * seconds / wall_s, 1000 * seconds / max(pages, 1)
        return f"| {name} | {seconds:.2f} | {share:.0f}% | {per_page_ms:.1f} |"

    # Each top-level stage, its parts, then what its parts leave out (helpers not listed).
    groups: list[tuple[str, float, list[tuple[str, float]]]] = []
    for label, seconds in timed["stages"].items():
        if label.startswith(" ") and groups:
            groups[-1][2].append((label.strip(), seconds))
        else:
            groups.append((label, seconds, []))
    for label, seconds, parts in groups:
        lines.append(row(label, seconds))
        lines += [row(f"&nbsp;&nbsp;{part}", part_s) for part, part_s in parts]
        if parts:
            other = seconds - sum(part_s for _, part_s in parts)
            lines.append(row(f"&nbsp;&nbsp;rest of {label}", other))
    missing = [label.strip() for label in STAGES if label not in timed["stages"]]
    lines.append(row("rest (crawl loop, gate, Document)", wall_s - sum(g[1] for g in groups)))
    if missing:
        lines.append(f"\nNot found in this version of tasks/, so not timed: {', '.join(missing)}.")
    lines += [
        "",
        f"cProfile, another run ({profiled['cprofile']['wall_s']:.2f} s with the profiler's "
        "overhead, which inflates code made of many small Python calls), every "
        "thread: top functions by own time, leaving out threads waiting on locks. "
        "bench/.work/crawl.prof holds the whole profile.",
        "",
        "| function | calls | own s | cumulative s |",
        "|---|---:|---:|---:|",
    ]
    for row in top:
        lines.append(
            f"| `{row['function']}` | {row['calls']} | {row['own_s']:.2f} | {row['cum_s']:.2f} |"
        )
    return lines


def _meta(args: argparse.Namespace, server: str, site_pages: int) -> dict:
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("scrapy", "twisted", "requests", "urllib3", "beautifulsoup4", "protego")
    )
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.partition(":")[2].strip()
            break
    # Other work may have the crawler open: name the exact files measured.
    edited = [
        f"{path} (sha256 {hashlib.sha256((REPO / path).read_bytes()).hexdigest()[:12]})"
        for path in MEASURED
        if (REPO / path).exists() and _git("status", "--porcelain", "--", path)
    ]
    commit = _git("rev-parse", "--short", "HEAD")
    fields = WebSource.model_fields
    concurrency = (
        f"WebSource.concurrency set to the setting (default {fields['concurrency'].default})"
        if "concurrency" in fields
        else "WebSource has no concurrency field: one request at a time whatever the setting"
    )
    if "sitemaps" in fields:
        concurrency += "; sitemaps off, as Scrapy's spider reads none"
    lmkiln = f"commit {commit}" + (f" with uncommitted {', '.join(edited)}" if edited else "")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python -m bench.crawl", *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} shared vCPUs ({cpu}, {platform.machine()}), "
        f"Linux {platform.release()}, Python {platform.python_version()}",
        "load": _load(),
        "versions": versions,
        "lmkiln": f"{lmkiln}; {concurrency}",
        "server": server,
        "site_pages": site_pages,
        "pages": args.pages,
        "repeats": args.repeats,
        "timeout_s": WebSource.model_fields["timeout_s"].default,
        "retries": WebSource.model_fields["retries"].default,
    }


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=DEFAULT_PAGES, help="page cap per crawl")
    parser.add_argument("--concurrency", type=int, help="requests in flight (default: 1 and 4)")
    parser.add_argument("--delay-ms", type=int, help="pause between requests (default: 0, 50)")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--server", choices=("nginx", "http.server"), default="nginx")
    parser.add_argument("--profile", action="store_true", help="then profile lmkiln at c=1")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one crawl, in a child process
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(lmkiln_crawl(json.loads(args.worker))))
        return
    if args.concurrency is None and args.delay_ms is None:
        settings = SETTINGS
    else:
        settings = ((args.concurrency or 1, args.delay_ms or 0),)
    started_s = time.perf_counter()
    root = unpack(PACKAGE)
    site_pages = sum(1 for _ in root.rglob("*.html"))
    with serve(site_with_robots(root, DISALLOW), prefer=args.server) as server:
        meta = _meta(args, server.description, site_pages)
        print(f"serving {root} at {server.base_url} ({server.description})", file=sys.stderr)
        rows = measure(server.base_url, settings, args.pages, args.repeats)
        profiled = profile(server.base_url, args.pages) if args.profile else None
    report = render(rows, profiled, meta)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print(report)
    print(f"wrote {args.output} in {time.perf_counter() - started_s:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
