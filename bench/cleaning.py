"""The cleaning benchmarks of issue 4 in one run, and the whole clean stage from 10k to 100k
documents.

    .venv/bin/python -m bench.cleaning                  # all three: about 20 minutes
    .venv/bin/python -m bench.cleaning --stage-only     # the stage scaling alone

One after another, on the same machine, in one run:
1. bench.clean_rules: Gopher, C4 and FineWeb decisions and speed against datatrove
(bench/results/clean_rules.md); 2. bench.neardup: near-duplicate precision and recall against
datatrove and datasketch, and the index alone from 10k to 100k documents (bench/results/neardup.md);
3. the whole clean stage, `lmkiln.tasks.clean.tasks.clean_stage` with the default `CleanConfig`
(normalise, PII, language, quality rules on both cores; exact dedup, decontamination and near dedup
against the persisted index; quarantine and lake commits every 8,192 documents), over 10k, 30k and
100k documents of the scaling stream of bench/neardup_data.py (web-page sized documents sharing
paragraphs, every fifth a 3% edit of an earlier one). Each size runs in a fresh process on a fresh
data folder, the raw table written first (not timed). Measured: wall time of the stage; CPU time of
the process tree; peak RSS of the main process (VmHWM) and of the whole tree (main process,
forkserver and workers: the sum of their VmRSS, sampled every 0.2 s, so a peak shorter than that can
be missed). Writes bench/results/cleaning.md: the three headline comparisons and the stage table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench import clean_rules, neardup
from bench import neardup_data as data

RESULTS = Path(__file__).resolve().parent / "results" / "cleaning.md"
SIZES = (10_000, 30_000, 100_000)
RAW_CHUNK = 5_000  # raw rows written per commit before the stage runs
RSS_GOAL_MB = 1536
STAGE_NOTE = (
    "The stream is technical documentation, which datatrove's Gopher defaults mostly drop as "
    "not prose (`gopher_below_alpha_threshold`: punctuation and code tokens are words without"
    " a letter), as they drop it in bench/results/clean_rules.md; every document still goes "
    "through normalisation, PII, language ID and the rules up to its reason. Time per 10k "
    "falls with size because starting the workers and loading the language model is a fixed "
    "cost. Above 'RSS before', the main process grows by about 1 MB per thousand documents of "
    "the night; not yet pinned down (the index's page cache fills towards its 64 MB; Deep "
    "Lake's reader and writer are the other suspects): the groups of 8,192 decisions are "
    "released at each commit."
)


def _status_kb(pid: int | str, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # the process ended
        return 0
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(found[1]) if found else 0


def _cpu_seconds(pid: int | str) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


class TreeSampler(threading.Thread):
    """Peak summed RSS of this process and its descendants, and their CPU seconds (each
    process's last reading before it ended)."""

    def __init__(self, every_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.every_s, self.peak_kb = every_s, 0
        self.cpu: dict[int, float] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.every_s)

    def sample(self) -> None:
        pids = [os.getpid(), *_descendants(os.getpid())]
        self.peak_kb = max(self.peak_kb, sum(_status_kb(pid, "VmRSS") for pid in pids))
        for pid in pids[1:]:
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu_seconds(pid))

    def stop(self) -> None:
        self._done.set()
        self.join()
        self.sample()


def stage_run(count: int) -> dict:
    """One size, in this process: write the raw table, then time the clean stage."""
    from lmkiln.tasks.clean.tasks import clean_stage
    from lmkiln.tasks.config.clean import CleanConfig
    from lmkiln.tasks.config.split import SplitConfig
    from lmkiln.tasks.config.storage import StorageConfig
    from lmkiln.tasks.core import lake
    from lmkiln.tasks.core.records import Document

    work = Path(tempfile.mkdtemp(prefix="clean-stage-"))
    try:
        storage = StorageConfig(data_root=str(work))
        raw_path, rows, raw = storage.lake("raw"), [], None
        for i, text in enumerate(data.stream(count)):
            doc = Document(text=text, kind="file", source="stream", url=f"bench://doc/{i}")
            rows.append(doc.to_row())
            if len(rows) == RAW_CHUNK or i == count - 1:
                raw = lake.append(raw_path, rows, lake.DOCUMENT_TABLE, f"raw {i + 1}")
                rows = []
        rss_before = _status_kb("self", "VmRSS") / 1024
        sampler = TreeSampler()
        sampler.start()
        wall, cpu = time.perf_counter(), time.process_time()
        result = clean_stage(raw, CleanConfig(), SplitConfig(), storage)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        sampler.stop()
        lake_mb = sum(f.stat().st_size for f in work.rglob("*") if f.is_file()) / 1e6
    finally:
        shutil.rmtree(work, ignore_errors=True)
    reasons = Counter(
        {k.removeprefix("dropped_"): v for k, v in result.counters.items() if "dropped_" in k}
    )
    return {
        "docs": count,
        "kept": result.counters.get("kept", 0),
        "reasons": dict(reasons.most_common(4)),
        "wall_s": wall,
        "cpu_s": cpu + sum(sampler.cpu.values()),
        "rss_main_mb": _status_kb("self", "VmHWM") / 1024,
        "rss_tree_mb": sampler.peak_kb / 1024,
        "rss_before_mb": rss_before,
        "data_mb": lake_mb,
    }


def stage_table(rows: list[dict]) -> list[str]:
    first = rows[0]
    lines = [
        "| documents | kept | top drop reasons | wall s | wall s per 10k | CPU s (tree) "
        "| peak RSS main MB | peak RSS tree MB | RSS before MB | data on disk MB |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        reasons = ", ".join(f"{k} {v:,}" for k, v in r["reasons"].items())
        lines.append(
            f"| {r['docs']:,} | {r['kept']:,} | {reasons} | {r['wall_s']:.0f} "
            f"| {r['wall_s'] / r['docs'] * 1e4:.1f} | {r['cpu_s']:.0f} | {r['rss_main_mb']:.0f} "
            f"| {r['rss_tree_mb']:.0f} | {r['rss_before_mb']:.0f} | {r['data_mb']:.0f} |"
        )
    last, growth = rows[-1], _growth(rows)
    peak = max(r["rss_tree_mb"] for r in rows)
    lines += [
        "",
        f"Time per document at {last['docs']:,} is {growth:.2f}x that at {first['docs']:,} "
        f"(1.00 is linear). Peak RSS of the whole tree: {peak:.0f} MB, "
        f"goal under {RSS_GOAL_MB} MB: {'met' if peak < RSS_GOAL_MB else 'not met'}.",
        "",
        STAGE_NOTE,
    ]
    return lines


def _growth(rows: list[dict]) -> float:
    """Time per document of the largest size over that of the smallest."""
    return (rows[-1]["wall_s"] / rows[-1]["docs"]) / (rows[0]["wall_s"] / rows[0]["docs"])


def report(rules: dict | None, near: list[dict] | None, stage: list[dict], began: str) -> str:
    lines = [
        "# Cleaning benchmarks, one run",
        "",
        f"Started {began} UTC, finished {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; 2 shared cores "
        f"({platform.machine()}); Python {platform.python_version()}. Made by "
        "`.venv/bin/python -m bench.cleaning`; method in its docstring and in those of "
        "bench/clean_rules.py and bench/neardup.py, whose full tables this run wrote.",
        "",
    ]
    if rules and near:
        ours = next(s for s in near if s["system"] == "lmkiln")
        theirs = next(s for s in near if s["system"] == "datatrove")
        sketch = next(s for s in near if s["system"] == "datasketch")
        lines += [
            "| comparison | goal | result |",
            "|---|---|---|",
            f"| quality rules vs datatrove 0.10.1, {rules['documents']:,} documents "
            f"([clean_rules.md](clean_rules.md)) | >= 10x documents/s per core, >= 99% the "
            f"same keep/drop | **{rules['speed']:.1f}x**, "
            f"{rules['keep_agreement']:.2%} the same decision, "
            f"{rules['reason_agreement']:.2%} the same reason |",
            f"| near dedup vs datatrove MinHash and datasketch ([neardup.md](neardup.md)) "
            "| recall >= 0.95 on 3% edits, no more false merges than datatrove, >= 10x its "
            f"documents/s | recall **{ours['sub3']:.3f}** (datatrove {theirs['sub3']:.3f}, "
            f"datasketch {sketch['sub3']:.3f}); false merges {ours['false_merges']} "
            f"(datatrove {theirs['false_merges']}); "
            f"**{ours['docs_per_s'] / theirs['docs_per_s']:.0f}x** datatrove per core |",
            f"| whole clean stage, {stage[0]['docs']:,} to {stage[-1]['docs']:,} documents "
            "(below) | linear time, RSS under 1.5 GB | "
            f"{_growth(stage):.2f}x the time per document, peak "
            f"{max(r['rss_tree_mb'] for r in stage):.0f} MB |",
            "",
        ]
    lines += ["## The whole clean stage", "", *stage_table(stage), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage-only", action="store_true", help="the stage scaling alone")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--stage-run", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage_run:
        print(json.dumps(stage_run(args.stage_run)))
        return
    began = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    rules = near = None
    if not args.stage_only:
        rules = clean_rules.main([])
        near = neardup.main([])
    text = report(rules, near, neardup.scaling(args.sizes, "bench.cleaning", "--stage-run"), began)
    if not args.stage_only and tuple(args.sizes) == SIZES:
        RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
