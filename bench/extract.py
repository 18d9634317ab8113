"""Extraction benchmark (issue 3): lmkiln's `tasks.extract.extract` against trafilatura, in
bag-of-tokens precision, recall and F1 and in documents per second, on the annotated dev set
of bench/devset.py (Sphinx pages whose gold text is rebuilt from their `_sources/`).

    .venv/bin/python -m bench.extract                 # 219 pages, 3 variants: about a minute
    .venv/bin/python -m bench.extract --per-site 20   # a quick look

Every page is scored three times: as published; with its main landmark removed (`<main>`,
`<article>` and `role="main"` made plain `<div>`s), the usual case on the open web where an
extractor has to find the content by itself; and as plain markup, with all ARIA roles gone
too and `<nav>`, `<aside>`, `<header>`, `<footer>` made `<div>`s, like a page from before
HTML5, where only class names, ids and link density are left to tell furniture from text.

Scores, per page then averaged over pages (macro) and over tokens (micro):
- precision, recall, F1: overlap of the multisets of lowercased word tokens of the output
  and of the gold text; punctuation and markup do not count, repeated words do.
- snippets found: share of up to 5 runs of 8 gold tokens per page found verbatim in the
  output, the trafilatura evaluation's "with" check (order and block integrity).
- furniture kept: share of up to 5 text runs per page from outside the page's main landmark
  (menus, sidebars, footers; 3+ tokens, not in the gold) found in the output.

Speed is the time of the extraction calls only, over HTML already in memory (parsing
included, no I/O), summed over pages; extractors take turns page by page so that load from
other processes falls on all of them alike. lmkiln's `extract` also collects title and links.
trafilatura runs with the settings in TRAFILATURA_SETTINGS: text output, tables kept, no
formatting markup, no comments section, no links or images, no deduplication across pages
(it would penalise pages of one site that share text), its fallback extractors on (default).
Results go to bench/results/extract.md and stdout.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree
from lxml import html as lxml_html

from bench.debian_docs import publish
from bench.devset import PAGES_PER_SITE, DevPage, load
from tasks.extract import extract

RESULTS = Path(__file__).resolve().parent / "results" / "extract.md"
SNIPPETS_PER_PAGE = 5
SNIPPET_TOKENS = 8  # long enough to be unique in a page, short enough to fit one paragraph
SNIPPET_STRIDE = 40  # tokens between candidate runs in a block
FURNITURE_MIN_TOKENS = 3  # "Quick search", "Navigation" alone would match body words
TRAFILATURA_SETTINGS = {
    "output_format": "txt",
    "include_tables": True,
    "include_formatting": False,
    "include_comments": False,
    "include_links": False,
    "include_images": False,
    "deduplicate": False,
}
TOKEN = re.compile(r"\w+")
LANDMARK = re.compile(r"<(/?)(main|article)\b|\srole=[\"']?main[\"']?", re.IGNORECASE)
ROLE = re.compile(r"\srole=(\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)
SECTIONING = re.compile(r"<(/?)(nav|aside|header|footer)\b", re.IGNORECASE)

Extractor = Callable[[str], str]


def tokens(text: str) -> list[str]:
    """Lowercased word tokens; punctuation separates them and is not one."""
    return TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Overlap:
    matched: int  # tokens in both, counted with multiplicity
    predicted: int
    gold: int

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else float(not self.gold)

    @property
    def recall(self) -> float:
        return self.matched / self.gold if self.gold else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def __add__(self, other: Overlap) -> Overlap:
        return Overlap(
            self.matched + other.matched, self.predicted + other.predicted, self.gold + other.gold
        )


def overlap(predicted: str, gold: str) -> Overlap:
    """Bag-of-tokens overlap of an extractor's output with the gold text."""
    predicted_bag, gold_bag = Counter(tokens(predicted)), Counter(tokens(gold))
    matched = sum((predicted_bag & gold_bag).values())
    return Overlap(matched, sum(predicted_bag.values()), sum(gold_bag.values()))


def spread(items: Sequence[str], count: int) -> list[str]:
    """`count` items evenly spaced through `items` (all of them when there are fewer)."""
    if len(items) <= count:
        return list(items)
    return [items[i * len(items) // count] for i in range(count)]


def gold_snippets(gold: str) -> list[str]:
    """Runs of SNIPPET_TOKENS tokens, each from within one gold block."""
    runs = []
    for block in gold.split("\n\n"):
        words = tokens(block)
        starts = range(0, len(words), SNIPPET_STRIDE)
        runs += [" ".join(words[i : i + SNIPPET_TOKENS]) for i in starts]
    return spread([run for run in runs if run.count(" ") == SNIPPET_TOKENS - 1], SNIPPETS_PER_PAGE)


def furniture_snippets(html: str, gold: str) -> list[str]:
    """Text runs that the page shows outside its main landmark and the gold does not have."""
    root = lxml_html.document_fromstring(html)
    main = root.xpath('//*[@role="main"] | //main')
    inside = set(main[0].iter()) if main else set()
    # Numbers left out of the comparison: section numbers and |release| are not in the gold.
    gold_words = f" {' '.join(_words(tokens(gold)))} "
    found = []
    for element in root.iter(etree.Element):
        if element in inside or element.tag in ("script", "style", "head", "title"):
            continue
        for text in (element.text, element.tail):
            run = tokens(text or "")
            if len(run) >= FURNITURE_MIN_TOKENS and f" {' '.join(_words(run))} " not in gold_words:
                found.append(" ".join(run))
    return spread(sorted(set(found), key=found.index), SNIPPETS_PER_PAGE)


def _words(run: list[str]) -> list[str]:
    return [token for token in run if not token.isdigit()]


def contains(text_tokens: str, run: str) -> bool:
    return f" {run} " in text_tokens


def strip_landmarks(html: str) -> str:
    """The page with no `<main>`, `<article>` or `role="main"`: content must be found."""
    return LANDMARK.sub(lambda m: f"<{m.group(1)}div" if m.group(2) else "", html)


def plain_markup(html: str) -> str:
    """The page with no landmarks, no roles and no HTML5 sectioning tags."""
    return SECTIONING.sub(r"<\1div", ROLE.sub("", strip_landmarks(html)))


VARIANTS: dict[str, Callable[[str], str]] = {
    "as published": lambda html: html,
    "landmarks removed": strip_landmarks,
    "plain markup": plain_markup,
}


@dataclass
class Tally:
    """One extractor's scores on a set of pages."""

    pages: list[Overlap]
    snippets: list[bool]
    furniture: list[bool]
    seconds: float = 0.0

    def macro(self, measure: str) -> float:
        return statistics.fmean(getattr(page, measure) for page in self.pages)

    def micro(self) -> Overlap:
        return sum(self.pages, Overlap(0, 0, 0))


def extractors() -> dict[str, Extractor]:
    import trafilatura  # a bench extra, not a pipeline dependency

    def lmkiln(html: str) -> str:
        return extract(html, "http://docs.test/page.html").text

    def trafilatura_default(html: str) -> str:
        return trafilatura.extract(html, **TRAFILATURA_SETTINGS) or ""

    def trafilatura_recall(html: str) -> str:
        return trafilatura.extract(html, favor_recall=True, **TRAFILATURA_SETTINGS) or ""

    return {
        "lmkiln": lmkiln,
        "trafilatura": trafilatura_default,
        "trafilatura, favor_recall": trafilatura_recall,
    }


def run(pages: Sequence[DevPage], variant: str, chosen: dict[str, Extractor]) -> dict:
    """Scores of every extractor on every page: {(site, extractor): Tally}."""
    tallies: dict[tuple[str, str], Tally] = {}
    for index, page in enumerate(pages):
        html = VARIANTS[variant](page.html)
        with_runs = gold_snippets(page.gold)
        without_runs = furniture_snippets(page.html, page.gold)
        names = list(chosen)
        names = names[index % len(names) :] + names[: index % len(names)]  # take turns first
        for name in names:
            started = time.perf_counter()
            text = chosen[name](html)
            elapsed = time.perf_counter() - started
            text_tokens = f" {' '.join(tokens(text))} "
            for key in ((page.site, name), ("all", name)):
                tally = tallies.setdefault(key, Tally([], [], []))
                tally.pages.append(overlap(text, page.gold))
                tally.snippets += [contains(text_tokens, run) for run in with_runs]
                tally.furniture += [contains(text_tokens, run) for run in without_runs]
                tally.seconds += elapsed
    return tallies


def _percent(flags: Iterable[bool]) -> str:
    flags = list(flags)
    return f"{100 * sum(flags) / len(flags):.0f}%" if flags else "-"


def summary(results: dict[str, dict], names: list[str]) -> list[str]:
    lines = [
        "| variant | extractor | P | R | F1 | F1 micro | snippets found | furniture kept "
        "| docs/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for variant, tallies in results.items():
        for name in names:
            tally = tallies[("all", name)]
            lines.append(
                f"| {variant} | {name} | {tally.macro('precision'):.3f} "
                f"| {tally.macro('recall'):.3f} | **{tally.macro('f1'):.3f}** "
                f"| {tally.micro().f1:.3f} | {_percent(tally.snippets)} "
                f"| {_percent(tally.furniture)} | {len(tally.pages) / tally.seconds:.1f} |"
            )
    return lines


def per_site(results: dict[str, dict], sites: list[str], names: list[str]) -> list[str]:
    lines = [
        "| variant | site | "
        + " | ".join(f"F1 {name}" for name in names)
        + " | "
        + " | ".join(f"docs/s {name}" for name in names)
        + " |",
        "|---|---|" + "---:|" * 2 * len(names),
    ]
    for variant, tallies in results.items():
        for site in sites:
            row = [tallies[(site, name)] for name in names]
            f1 = [f"{tally.macro('f1'):.3f}" for tally in row]
            rate = [f"{len(tally.pages) / tally.seconds:.0f}" for tally in row]
            lines.append(f"| {variant} | {site} | " + " | ".join(f1 + rate) + " |")
    return lines


def landmark_text(html: str) -> str:
    """The plain text of the page's main landmark: what the gold should match."""
    root = lxml_html.document_fromstring(html)
    main = root.xpath('//*[@role="main"] | //main')[0]
    for permalink in main.xpath('.//a[contains(@class, "headerlink")]'):
        permalink.drop_tree()
    return main.text_content()


def title_share(pages: Sequence[DevPage]) -> float:
    """Share of pages whose `extract` title holds the page's first heading."""
    found = 0
    for page in pages:
        title = f" {' '.join(tokens(extract(page.html, 'http://docs.test/').title))} "
        found += f" {' '.join(tokens(page.title))} " in title
    return found / len(pages)


def report(results: dict[str, dict], pages: Sequence[DevPage], names: list[str]) -> str:
    sites = sorted({page.site for page in pages})
    composition = Counter(page.site for page in pages)
    versions = ", ".join(
        f"{package} {importlib.metadata.version(package)}"
        for package in ("beautifulsoup4", "lxml", "trafilatura")
    )
    lines = [
        "# Extraction benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), one process, shared with other work; "
        f"Python {platform.python_version()}, {versions}. "
        "Made by `.venv/bin/python -m bench.extract`: method, settings and metrics in its "
        "docstring, the gold text and its biases in bench/devset.py.",
        "",
        "Dev set: " + ", ".join(f"{site} {composition[site]}" for site in sites) + " pages "
        f"({len(pages)}; up to {PAGES_PER_SITE} a site, a fixed sample). "
        "P, R, F1: bag-of-tokens, mean over pages; F1 micro: over all tokens.",
        "",
        *summary(results, names),
        "",
        f"lmkiln's title holds the page's first heading on {100 * title_share(pages):.0f}% "
        "of pages. The gold against the plain text of each page's main landmark: F1 "
        f"{statistics.fmean(overlap(landmark_text(p.html), p.gold).f1 for p in pages):.3f} "
        "(its own noise). Per site:",
        "",
        *per_site(results, sites, names),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-site", type=int, default=PAGES_PER_SITE)
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    args = parser.parse_args(argv)
    pages = load(args.per_site)
    chosen = extractors()
    for extractor in chosen.values():  # first calls pay for imports and caches
        extractor(pages[0].html)
    results = {variant: run(pages, variant, chosen) for variant in VARIANTS}
    text = report(results, pages, list(chosen))
    publish(text, RESULTS, write=not args.no_write)


if __name__ == "__main__":
    main()
