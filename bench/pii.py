"""PII benchmark (issue 4): what `lmkiln.tasks.clean.pii.redact` replaces in text that holds no
personal data, and how fast, against the two patterns of datatrove's PIIFormatter.

    .venv/bin/python -m bench.pii        # about 30 seconds

The text is every page of Python 3.11's documentation (bench/corpora.py): technical English
full of version numbers, dates, times, hex constants, byte dumps, UUIDs, example addresses
and assignments in code, the strings a PII pattern must leave alone. Each replacement is
listed with its kind, so a person can tell a true find (a real e-mail address of the Python
project) from a false positive. The multilingual catalog samples add non-ASCII text for the
speed figures.

datatrove 0.10.1's PIIFormatter (src/datatrove/pipeline/formatters/pii.py) has two
patterns, e-mail addresses and IPv4 addresses that `ipaddress` calls global; they are
copied here (DATATROVE_EMAIL, DATATROVE_IPV4) so that its finds and its speed are measured
on the same text without installing datatrove. Results go to bench/results/pii.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import platform
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.corpora import python_docs, translations
from bench.debian_docs import fastest_seconds, publish
from lmkiln.tasks.clean.pii import PLACEHOLDERS, find, redact

RESULTS = Path(__file__).resolve().parent / "results" / "pii.md"
DATATROVE_EMAIL = re.compile(
    r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9](?:["
    r"A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|["
    r"01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)])"
)
DATATROVE_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
)
PASSES = 3
# What the lists above showed when this was written; rerun and read them again after a
# change to tasks/clean/pii.py.
READING = [
    "Reading the lists: every e-mail address lmkiln replaces is a real address (authors, "
    "mailing lists; one Message-ID, which has an address's form); the ones it keeps are at "
    "example.com/.org. Every IP address it replaces is an address in an example; the 58 "
    "distinct dotted quads datatrove replaces and lmkiln keeps are section numbers "
    '("4.8.3.1. Recap"), versions ("zlib 1.2.3.4", "tix-8.4.3.6", "Firefox/2.0.0.11"), an '
    "SNMP OID prefix (1.3.6.1) and reversed addresses in in-addr.arpa names; datatrove's "
    "e-mail pattern also eats the code before an address (`author_email='...`) and matches "
    "`127.0.0.1#@evil.com`. The phone numbers are the four of the re module's phonebook "
    "example, written as North American numbers; no version, date, time, table row or "
    "sequence matched (before the whole-run rule, a Fibonacci row, an itertools output and a "
    "ZIP+4 code did). The one secret is an example password assigned in urllib.request's "
    "docs (`passwd='kadidd!ehopper'`); the placeholder PEM block in the ssl docs is kept.",
]


def datatrove_pii(text: str, found: list[tuple[str, str]] | None = None) -> str:
    """datatrove's PIIFormatter.format with its defaults: e-mails, then public IPv4."""

    def email(match: re.Match[str]) -> str:
        if found is not None:
            found.append(("email", match.group(0)))
        return "email@example.com"

    def ip(match: re.Match[str]) -> str:
        try:
            public = ipaddress.ip_address(match.group(0)).is_global
        except ValueError:
            public = False
        if not public:
            return match.group(0)
        if found is not None:
            found.append(("ip_address", match.group(0)))
        return "22.214.171.124"

    return DATATROVE_IPV4.sub(ip, DATATROVE_EMAIL.sub(email, text))


def _speeds(texts: list[str], runs: list[Callable[[str], object]]) -> list[tuple[float, float]]:
    """(documents/s, MB/s) per runner, the fastest of PASSES passes, runners taking turns."""
    size_mb = sum(len(t.encode()) for t in texts) / 1e6
    best = fastest_seconds(texts, runs, PASSES)
    return [(len(texts) / seconds, size_mb / seconds) for seconds in best]


def report(pages: list[tuple[str, str]], other: list[str]) -> str:
    docs = [text for _, text in pages]
    ours: list[tuple[str, str]] = []
    theirs: list[tuple[str, str]] = []
    for text in docs:
        ours += [(kind, text[start:end]) for start, end, kind in find(text)]
        datatrove_pii(text, found=theirs)
    size_mb = sum(len(t.encode()) for t in docs) / 1e6
    lines = [
        "# PII benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores "
        f"({platform.machine()}), one process, single-threaded, machine shared with other "
        f"work; Python {platform.python_version()}. Made by `.venv/bin/python -m bench.pii` "
        "(method in its docstring).",
        "",
        f"Text: the {len(docs)} pages of the Python 3.11 docs ({size_mb:.1f} MB of extracted "
        f"text), and {len(other)} long samples of the multilingual catalog set (32 languages).",
        "",
        "## What is replaced in the Python docs",
        "",
        "| kind | lmkiln | distinct | datatrove PIIFormatter | distinct |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind in PLACEHOLDERS:
        ours_kind = [t for k, t in ours if k == kind]
        theirs_kind = [t for k, t in theirs if k == kind]
        dt = f"{len(theirs_kind)} | {len(set(theirs_kind))}" if kind in dict(theirs) else "- | -"
        lines.append(f"| {kind} | {len(ours_kind)} | {len(set(ours_kind))} | {dt} |")
    lines += ["", "Every distinct text lmkiln replaces (count):", ""]
    for kind in PLACEHOLDERS:
        found = Counter(t for k, t in ours if k == kind)
        shown = ", ".join(f"`{_short(t)}` ({n})" for t, n in sorted(found.items()))
        lines.append(f"- {kind}: {shown or 'none'}")
    lines += ["", "Every distinct text datatrove's patterns replace that lmkiln keeps:", ""]
    ours_set = {t for _, t in ours}
    for kind in ("email", "ip_address"):
        found = Counter(t for k, t in theirs if k == kind and t not in ours_set)
        shown = ", ".join(f"`{_short(t)}` ({n})" for t, n in sorted(found.items()))
        lines.append(f"- {kind}: {shown or 'none'}")
    lines += [
        "",
        "## Speed",
        "",
        f"Single-threaded, taking turns, the fastest of {PASSES} passes.",
        "",
        "| text | lmkiln, all four kinds: docs/s | MB/s "
        "| datatrove, e-mail + IPv4: docs/s | MB/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, texts in (("Python docs", docs), ("multilingual samples", other)):
        ours_speed, theirs_speed = _speeds(texts, [redact, datatrove_pii])
        lines.append(
            f"| {name} | {ours_speed[0]:,.0f} | {ours_speed[1]:.1f} "
            f"| {theirs_speed[0]:,.0f} | {theirs_speed[1]:.1f} |"
        )
    lines += ["", "## Reading", "", *READING]
    return "\n".join(lines) + "\n"


def _short(text: str) -> str:
    text = text.replace("\n", " ").replace("`", "'")
    return text if len(text) <= 60 else text[:57] + "..."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    args = parser.parse_args(argv)
    other = [s.text for s in translations(short=0, long=40)]
    text = report(python_docs(), other)
    publish(text, RESULTS, write=not args.no_write)


if __name__ == "__main__":
    main()
