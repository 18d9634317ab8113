"""Normalisation benchmark (issue 4): the cost of ftfy's mojibake repair in
`lmkiln.tasks.clean.normalize.normalize`, what it repairs, and what it changes that was not broken.

    .venv/bin/python -m bench.normalize      # about a minute

Text: the pages of Python 3.11's docs and the long multilingual catalog samples
(bench/corpora.py), as they are ("clean") and as mojibake: their UTF-8 bytes decoded as
Windows-1252 (the commonest damage on the web: "cafÃ©", "â€œ"), as Latin-1, as Mac Roman,
as DOS cp437, and, for the Cyrillic languages, as Windows-1251. Measured:
- repaired: share of damaged documents that come out exactly as the clean one does;
- changed: share of clean documents that come out differently with ftfy than without it
  (each such change is listed, to tell a fix from a false change);
- documents/s of `normalize` with fix_mojibake on and off, and with ftfy.fix_text run on
  every line of every non-ASCII text (what `normalize` saves by giving ftfy only the lines
  that may need it), the fastest of three passes; and whether the two give the same text.
Results go to bench/results/normalize.md and stdout.
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import ftfy

from bench.corpora import python_docs, translations
from bench.debian_docs import fastest_seconds, publish
from lmkiln.tasks.clean.normalize import FTFY, normalize
from lmkiln.tasks.config.clean import NormalizeConfig

RESULTS = Path(__file__).resolve().parent / "results" / "normalize.md"
PASSES = 3
ON, OFF = NormalizeConfig(fix_mojibake=True), NormalizeConfig(fix_mojibake=False)
CYRILLIC = {"ru", "uk", "bg", "sr"}
# Windows-1252 is the commonest; Latin-1 loses its C1 bytes; Windows-1251 for Cyrillic;
# Mac Roman ("√©") and DOS cp437 ("ΓÇÖ") are rarer, and undone by ftfy all the same.
ENCODINGS = ("cp1252", "latin-1", "cp1251", "mac_roman", "cp437")


def normalize_every_line(text: str) -> str:
    """normalize as it would be if ftfy saw every line of every non-ASCII text."""
    return normalize(text if text.isascii() else ftfy.fix_text(text, FTFY), OFF)


def damage(text: str, encoding: str) -> str | None:
    """The text's UTF-8 bytes read as `encoding`; None where that cannot happen (a byte
    the encoding leaves undefined, or nothing but ASCII)."""
    if text.isascii():
        return None
    try:
        return text.encode("utf-8").decode(encoding)
    except UnicodeDecodeError:
        return None


def _speeds(texts: list[str], runs: list[Callable[[str], object]]) -> list[float]:
    """Documents/s per runner, the fastest of PASSES passes, runners taking turns."""
    return [len(texts) / seconds for seconds in fastest_seconds(texts, runs, PASSES)]


def report(sets: dict[str, list[tuple[str, str]]]) -> str:
    lines = [
        "# Normalisation benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores "
        f"({platform.machine()}), one process, single-threaded, machine shared with other "
        f"work; Python {platform.python_version()}, ftfy {version('ftfy')}. Made by "
        "`.venv/bin/python -m bench.normalize` (method in its docstring).",
        "",
        "| text | documents | pure ASCII | docs/s, ftfy on | docs/s, ftfy off "
        "| docs/s, ftfy on every line | MB/s on / off | clean changed by ftfy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    changes: list[tuple[str, str, str]] = []
    for name, docs in sets.items():
        texts = [text for _, text in docs]
        size_mb = sum(len(t.encode()) for t in texts) / 1e6
        on, off, every = _speeds(
            texts, [lambda t: normalize(t, ON), lambda t: normalize(t, OFF), normalize_every_line]
        )
        changed = 0
        for label, text in docs:
            fixed, plain = normalize(text, ON), normalize(text, OFF)
            if fixed != plain:
                changed += 1
                changes.append((name, label, _first_difference(plain, fixed)))
        ascii_share = sum(t.isascii() for t in texts) / len(texts)
        mb = f"{on * size_mb / len(texts):.1f} / {off * size_mb / len(texts):.1f}"
        lines.append(
            f"| {name} | {len(texts)} | {ascii_share:.0%} | {on:,.0f} | {off:,.0f} "
            f"| {every:,.0f} | {mb} "
            f"| {changed} ({changed / len(texts):.1%}) |"
        )
    lines += [
        "",
        "ftfy sees only the lines where a UTF-8 lead byte, as a single-byte encoding "
        "decodes it, is followed by the continuation bytes it announces "
        "(tasks/clean/normalize.py); "
        "'ftfy on every line' is ftfy.fix_text on every non-ASCII text. What ftfy changed in "
        "clean text (the first difference, as it was -> as it came out):",
        "",
    ]
    lines += [f"- {name} `{label}`: {diff}" for name, label, diff in changes[:20]] or ["- none"]
    lines += [
        "",
        "## Mojibake repaired",
        "",
        "| damage | text | documents | repaired exactly | docs/s "
        "| differs from ftfy on every line |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for encoding in ENCODINGS:
        for name, docs in sets.items():
            pairs = []
            for label, text in docs:
                if encoding == "cp1251" and label.split("/")[0] not in CYRILLIC:
                    continue
                broken = damage(text, encoding)
                if broken is not None:
                    pairs.append((normalize(text, OFF), broken))
            if not pairs:
                continue
            repaired = sum(normalize(broken, ON) == clean for clean, broken in pairs)
            (speed,) = _speeds([broken for _, broken in pairs], [lambda t: normalize(t, ON)])
            differs = sum(normalize(b, ON) != normalize_every_line(b) for _, b in pairs)
            lines.append(
                f"| {encoding} | {name} | {len(pairs)} | {repaired / len(pairs):.1%} "
                f"| {speed:,.0f} | {differs} |"
            )
    return "\n".join(lines) + "\n"


def _first_difference(before: str, after: str) -> str:
    i = next(
        (i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b),
        min(len(before), len(after)),
    )
    return f"`{before[max(0, i - 15) : i + 15]!r}` -> `{after[max(0, i - 15) : i + 15]!r}`"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    args = parser.parse_args(argv)
    samples = translations(short=0, long=40)
    sets = {
        "Python docs": python_docs(),
        "multilingual samples": [(f"{s.lang}/{s.source}", s.text) for s in samples],
    }
    text = report(sets)
    publish(text, RESULTS, write=not args.no_write)


if __name__ == "__main__":
    main()
