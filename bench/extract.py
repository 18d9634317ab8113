"""Extraction benchmark (issue 16): main-text extractors on several development sets, each
split once into a tuning half and a test half, in word-level and shingle F1 and in documents
per CPU-second, all extractors in one run.

    .venv/bin/python -m bench.extract       # every set, extractor and half; writes the results
    .venv/bin/python -m bench.extract --sets zyte,own --extractors lmkiln,trafilatura
    .venv/bin/python -m bench.extract --sets zyte --worst 10
    .venv/bin/python -m bench.extract --sets readability --half test

The sets and their split are in bench/extract_sets.py (the halves are recorded in
bench/extract_split.json), the scores in bench/extract_metrics.py. Tune on the tuning half
only: a run given any of --sets, --extractors or --worst scores the tuning half unless told
`--half test`, and --worst, the tuning loop's view of where lmkiln loses most F1 against
trafilatura (with the words it adds and misses), refuses the test half. Only the full run
(every set, every extractor, both halves) writes bench/results/extract.md, and beside it
extract_pages.json, every page's scores for error analysis.

Extractors (EXTRACTORS; a candidate is one line there) get the same decoded HTML, held in memory,
and the page's URL where known. lmkiln, trafilatura and resiliparse run as the pipeline runs them
for a page's text, `lmkiln.tasks.collect.extract.extractors.extract_text(html, url, name)`:
- lmkiln: `lmkiln.tasks.collect.extract.main_text.extract(html, url, links=False).text`; the page's
  links, which a crawl collects with lmkiln's parser whichever extractor takes the text, are left
  out for every extractor (they cost lmkiln about a tenth of its time on the Zyte pages);
- trafilatura with TRAFILATURA_SETTINGS (tasks/collect/extract/extractors.py): text output, tables
  kept, no formatting markup, no comment section, no links or images, no deduplication across pages
  (it would penalise pages of one site that share text), its fallback extractors on (its default);
  then the same with `favor_precision` and with `favor_recall` added;
- resiliparse's `extract_plain_text(main_content=True)` with RESILIPARSE_SETTINGS: like
  trafilatura's, no comment section, no alt texts, links or form fields, no `<noscript>`
  content, no list bullets (markup, not text); article metadata kept (its default);
- BeautifulSoup's `get_text("\\n")` of the whole `<body>` (lxml's parser): every piece of
  text the page has, script and style left out; the floor any extractor must beat.

Speed: `time.process_time()` and wall time around each call, parsing included, no I/O; per
set, documents / summed CPU seconds. Extractors take turns page by page (the order rotates)
so that load from the other work on the shared machine falls on all of them alike; each runs
once on one page before timing starts, to pay for imports and caches. Compare speeds as
ratios to trafilatura within one run, not across runs. An extractor that raises on a page
scores it as an empty output; the report counts such failures.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import trafilatura
from bs4 import BeautifulSoup

from bench.debian_docs import publish
from bench.extract_metrics import (
    Overlap,
    Shingles,
    excess,
    micro_scores,
    overlap,
    shingle_scores,
    shingles,
    tokens,
    word_scores,
)
from bench.extract_sets import HALVES, SETS, Page, SetMissing, split
from lmkiln.tasks.collect.extract.extractors import TRAFILATURA_SETTINGS, extract_text

RESULTS = Path(__file__).resolve().parent / "results" / "extract.md"
PAGE_SCORES = RESULTS.with_name("extract_pages.json")
BASELINE = "trafilatura"  # speeds are reported as ratios to it
OURS = "lmkiln"
WORST_LINES = 4  # lines of added and of missing text shown per page by --worst
WORST_WORDS = 12

Extractor = Callable[[str, str | None], str]


def _trafilatura(**options: bool) -> Extractor:
    def run(html: str, url: str | None) -> str:
        return trafilatura.extract(html, url=url, **{**TRAFILATURA_SETTINGS, **options}) or ""

    return run


def _get_text(html: str, url: str | None) -> str:
    soup = BeautifulSoup(html, "lxml")
    return (soup.body or soup).get_text("\n")


def _pipeline(name: str) -> Extractor:
    def run(html: str, url: str | None) -> str:
        return extract_text(html, url or "", name)

    return run


EXTRACTORS: dict[str, Extractor] = {
    "lmkiln": _pipeline("lmkiln"),
    "trafilatura": _pipeline("trafilatura"),
    "trafilatura precision": _trafilatura(favor_precision=True),
    "trafilatura recall": _trafilatura(favor_recall=True),
    "resiliparse": _pipeline("resiliparse"),
    "bs4 get_text": _get_text,
}


@dataclass(frozen=True)
class Result:
    """One extractor on one page."""

    page: Page
    half: str
    extractor: str
    text: str
    words: Overlap
    shingles: Shingles
    cpu_s: float
    wall_s: float
    error: str | None


def measure(name: str, page: Page, half: str) -> Result:
    cpu_s, wall_s = time.process_time(), time.perf_counter()
    try:
        text, error = EXTRACTORS[name](page.html, page.url), None
    except Exception as exc:  # one page's failure is a score of that page, not of the run
        text, error = "", f"{type(exc).__name__}: {exc}"
    cpu_s, wall_s = time.process_time() - cpu_s, time.perf_counter() - wall_s
    return Result(
        page,
        half,
        name,
        text,
        overlap(text, page.gold),
        shingles(text, page.gold),
        cpu_s,
        wall_s,
        error,
    )


def run(pages: Sequence[Page], sides: dict[tuple[str, str], str], names: list[str]) -> list[Result]:
    """Every extractor on every page, taking turns."""
    for name in names:  # first calls pay for imports and caches
        EXTRACTORS[name](pages[0].html, pages[0].url)
    results: list[Result] = []
    for index, page in enumerate(pages):
        turn = index % len(names)
        for name in names[turn:] + names[:turn]:
            results.append(measure(name, page, sides[(page.set, page.id)]))
    return results


def _select(results: Sequence[Result], **match: str) -> list[Result]:
    return [r for r in results if all(getattr(r, key) == value for key, value in match.items())]


def _of_set(results: Sequence[Result], set_name: str) -> list[Result]:
    return [result for result in results if result.page.set == set_name]


def speed(results: Sequence[Result]) -> float:
    """Documents per CPU-second."""
    cpu_s = sum(result.cpu_s for result in results)
    return len(results) / cpu_s if cpu_s else float("inf")


def _ratio(results: Sequence[Result], name: str) -> str:
    baseline = speed(_select(results, extractor=BASELINE))
    return f"{speed(_select(results, extractor=name)) / baseline:.2f}x" if baseline else "-"


def set_table(results: Sequence[Result], halves: list[str], names: list[str]) -> list[str]:
    """One row per extractor: P, R, F1 per half; micro and shingle F1 of the last half."""
    last = halves[-1]
    header = [f"{half} {column}" for half in halves for column in ("P", "R", "F1")]
    header += [f"{last} F1 micro", f"{last} shingle F1", "docs/CPU-s", "speed vs trafilatura"]
    header += ["docs/s wall"]
    lines = [f"| extractor | {' | '.join(header)} |", "|---|" + "---:|" * len(header)]
    for name in names:
        mine = _select(results, extractor=name)
        cells = []
        for half in halves:
            scores = word_scores([r.words for r in _select(mine, half=half)])
            cells += [f"{scores.precision:.3f}", f"{scores.recall:.3f}", f"**{scores.f1:.3f}**"]
        in_last = _select(mine, half=last)
        cells.append(f"{micro_scores([r.words for r in in_last]).f1:.3f}")
        cells.append(f"{shingle_scores([r.shingles for r in in_last]).f1:.3f}")
        cells.append(f"{speed(mine):.1f}")
        cells.append(_ratio(results, name) if BASELINE in names else "-")
        cells.append(f"{len(mine) / sum(r.wall_s for r in mine):.1f}")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return lines


def summary(results: Sequence[Result], sets: list[str], half: str, names: list[str]) -> list[str]:
    header = [f"{set_name} F1" for set_name in sets] + ["docs/CPU-s", "speed vs trafilatura"]
    lines = [f"| extractor | {' | '.join(header)} |", "|---|" + "---:|" * len(header)]
    for name in names:
        mine = _select(results, extractor=name, half=half)
        cells = [f"{word_scores([r.words for r in _of_set(mine, s)]).f1:.3f}" for s in sets]
        cells += [f"{speed(_select(results, extractor=name)):.1f}"]
        cells += [_ratio(results, name) if BASELINE in names else "-"]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return lines


def failures(results: Sequence[Result]) -> list[str]:
    failed = [result for result in results if result.error]
    return [f"- {r.extractor} failed on {r.page.set} {r.page.id}: {r.error}" for r in failed]


def report(
    results: Sequence[Result],
    sets: list[str],
    halves: list[str],
    names: list[str],
    notes: list[str],
    command: str,
) -> str:
    versions = ", ".join(
        f"{package} {importlib.metadata.version(package)}"
        for package in ("trafilatura", "resiliparse", "beautifulsoup4", "lxml")
    )
    counts = []
    for set_name in sets:
        mine = _select(_of_set(results, set_name), extractor=names[0])
        by_half = ", ".join(f"{len(_select(mine, half=half))} {half}" for half in halves)
        counts.append(f"{set_name} {len(mine)} ({by_half})")
    half = halves[-1]
    lines = [
        "# Extraction benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), one process, shared with other work; "
        f"Python {platform.python_version()}, {versions}. Made by `{command}`: method, "
        "settings and extractors in bench/extract.py's docstring, the sets and their gold "
        "texts in bench/extract_sets.py, the metrics in bench/extract_metrics.py.",
        "",
        "Pages: " + "; ".join(counts) + ". " + " ".join(notes),
        "",
        f"Word-level F1 on the {half} half (bag of lowercased words, mean over pages), and "
        "documents per CPU-second over all pages of all sets:",
        "",
        *summary(results, sets, half, names),
    ]
    for set_name in sets:
        lines += ["", f"## {set_name}", "", *set_table(_of_set(results, set_name), halves, names)]
    if failed := failures(results):
        lines += ["", "Failures, scored as empty outputs:", "", *failed]
    return "\n".join(lines) + "\n"


def page_scores(results: Sequence[Result]) -> list[dict]:
    return [
        {
            "set": r.page.set,
            "id": r.page.id,
            "half": r.half,
            "language": r.page.language,
            "url": r.page.url,
            "extractor": r.extractor,
            "precision": round(r.words.precision, 4),
            "recall": round(r.words.recall, 4),
            "f1": round(r.words.f1, 4),
            "tokens": [r.words.matched, r.words.predicted, r.words.gold],
            "shingles": [round(r.shingles.tp, 4), round(r.shingles.fp, 4), round(r.shingles.fn, 4)],
            "cpu_s": round(r.cpu_s, 5),
            "wall_s": round(r.wall_s, 5),
            "error": r.error,
        }
        for r in results
    ]


def _lines_apart(text: str, other: str) -> list[str]:
    """Lines of `text` (3+ words) with most of their words absent from `other`."""
    vocabulary = set(tokens(other))
    found = []
    for line in text.splitlines():
        words = tokens(line)
        if len(words) >= 3 and sum(word in vocabulary for word in words) < len(words) / 2:
            found.append(line.strip()[:110])
    return found


def worst(results: Sequence[Result], count: int) -> str:
    """The tuning pages where lmkiln's F1 falls furthest below trafilatura's, and why."""
    ours = {(r.page.set, r.page.id): r for r in _select(results, extractor=OURS)}
    theirs = {(r.page.set, r.page.id): r for r in _select(results, extractor=BASELINE)}
    losses = sorted(ours, key=lambda key: ours[key].words.f1 - theirs[key].words.f1)
    lines = []
    for key in losses[:count]:
        mine, peer = ours[key], theirs[key]
        extra, missing = excess(mine.text, mine.page.gold)
        lines += [
            f"{key[0]} {key[1]} ({mine.page.url or '-'}): {OURS} F1 {mine.words.f1:.3f} "
            f"(P {mine.words.precision:.3f} R {mine.words.recall:.3f}), {BASELINE} F1 "
            f"{peer.words.f1:.3f} (P {peer.words.precision:.3f} R {peer.words.recall:.3f})",
            f"  extra {extra.total()} words: "
            + " ".join(word for word, _ in extra.most_common(WORST_WORDS)),
            *(f"    + {line}" for line in _lines_apart(mine.text, mine.page.gold)[:WORST_LINES]),
            f"  missing {missing.total()} words: "
            + " ".join(word for word, _ in missing.most_common(WORST_WORDS)),
            *(f"    - {line}" for line in _lines_apart(mine.page.gold, mine.text)[:WORST_LINES]),
        ]
    return "\n".join(lines)


def _names(value: str | None, known: Sequence[str], what: str) -> list[str]:
    if value is None:
        return list(known)
    names = [name.strip() for name in value.split(",") if name.strip()]
    if unknown := [name for name in names if name not in known]:
        sys.exit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", help=f"comma-separated, of {', '.join(SETS)} (default all)")
    parser.add_argument("--extractors", help=f"comma-separated, of {', '.join(EXTRACTORS)}")
    parser.add_argument(
        "--half",
        choices=(*HALVES, "both"),
        help="default: both for the full run, tuning once --sets, --extractors or --worst is given",
    )
    parser.add_argument(
        "--worst",
        type=int,
        metavar="N",
        help=f"the N tuning pages where {OURS} loses most F1 against {BASELINE}",
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    args = parser.parse_args(argv)
    tuning_loop = args.sets is not None or args.extractors is not None or args.worst is not None
    half = args.half or ("tuning" if tuning_loop else "both")
    if args.worst is not None and half != "tuning":
        parser.error("--worst looks at the tuning half only; tune on it, publish the test half")
    set_names = _names(args.sets, list(SETS), "set")
    names = _names(args.extractors, list(EXTRACTORS), "extractor")
    if args.worst is not None:
        names += [name for name in (OURS, BASELINE) if name not in names]
    halves = list(HALVES) if half == "both" else [half]

    pages: list[Page] = []
    notes: list[str] = []
    for set_name in list(set_names):
        try:
            pages += SETS[set_name]()
        except SetMissing as missing:
            if args.sets is not None:  # asked for by name
                sys.exit(str(missing))
            print(f"skipped: {missing}", file=sys.stderr)
            notes.append(f"Not run: {missing}.")
            set_names.remove(set_name)
    sides = split(pages)
    pages = [page for page in pages if sides[(page.set, page.id)] in halves]
    if not pages:
        sys.exit(f"no pages in the {half} half of {', '.join(set_names) or 'any set'}")
    results = run(pages, sides, names)

    if args.worst is not None:
        print(worst(results, args.worst))
        return
    command = "python -m bench.extract" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    text = report(results, set_names, halves, names, notes, command)
    full = not tuning_loop and half == "both"
    publish(text, RESULTS, write=full and not args.no_write)
    if full and not args.no_write:
        PAGE_SCORES.write_text(json.dumps(page_scores(results), indent=0) + "\n", "utf-8")


if __name__ == "__main__":
    main()
