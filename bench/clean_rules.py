"""Quality-rule benchmark (issue 4): lmkiln.tasks.clean.quality.rules against datatrove 0.10.1's
filters.

    .venv/bin/python -m bench.clean_rules            # about 3500 documents: three minutes
    .venv/bin/python -m bench.clean_rules --limit 500   # a sample; results not written

Both run GopherRepetition, GopherQuality, C4Quality and FineWebQuality, in that order (the
FineWeb pipeline's), with the same thresholds (datatrove's defaults, checked against its
constructors), on the same documents, in one process on the same machine: the two take turns
batch by batch, so load from other processes falls on both alike. datatrove's filters are
called through `filter()`, as its pipeline calls them, minus its per-document stats. Its
English words come from spaCy (`spacy.blank("en")`, no model download), as datatrove 0.10.1
assigns them; NLTK is not involved for English.

Documents are real text found offline, plus noisy variants of it:
- docs: the main text of every page of five Sphinx sites from Debian's doc packages
  (bench/debian_docs.py), extracted with lmkiln.tasks.collect.extract.main_text;
- share-doc: README, NEWS, TODO, copyright and Debian changelog files of /usr/share/doc;
- pypi: the long descriptions of the packages installed in this environment;
- pydoc: the help topics of Python's own documentation (pydoc_data);
- noisy-*: real documents that pass every rule, with boilerplate, repeated lines,
  paragraphs and sentences, hashtags, truncated lines, bullets, one-word lists, number
  tables, lorem ipsum, stop words removed, long or short words, end punctuation removed,
  blobs, citations or code added, quoted or short lines, lists of names, at random
  strengths around each threshold, so that every rule fires on part of the set; one empty
  document and one past 100,000 words.

Speed: documents per CPU-second of this process (one core), and wall time. Agreement: the
share of documents both keep or both drop; then the same for the reason and, for documents
both keep, for the text after C4's line removal. Every disagreement is listed by class.
Results go to bench/results/clean_rules.md and stdout.
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import hashlib
import importlib.metadata
import inspect
import json
import platform
import random
import re
import statistics
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.debian_docs import SITES, WORK, publish, unpack
from lmkiln.tasks.clean.quality import rules as quality
from lmkiln.tasks.clean.quality import words as wordsplit
from lmkiln.tasks.config.clean import (
    C4Config,
    FineWebConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
    QualityConfig,
)

RESULTS = Path(__file__).resolve().parent / "results" / "clean_rules.md"
SHARE_DOC = Path("/usr/share/doc")
MAX_CHARS = 60_000  # a file's text is cut at a line boundary past this
CHANGELOGS = 300  # of about 800 Debian changelogs; they are much alike
NOISY = 1200
BATCH = 40  # documents per turn
SENTENCE_LINES = 100_000


@dataclass(frozen=True)
class Doc:
    id: str
    source: str
    text: str


def _tidy(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > MAX_CHARS:
        text = text[: text.rfind("\n", 0, MAX_CHARS) + 1 or MAX_CHARS]
    return text.strip()


def _sphinx_pages() -> list[Doc]:
    cache = WORK / "clean-rules-pages.json"
    if cache.is_file():
        return [Doc(**row) for row in json.loads(cache.read_text(encoding="utf-8"))]
    from lmkiln.tasks.collect.extract.main_text import extract

    docs = []
    for site in SITES:
        root = unpack(site)
        for path in sorted([*root.rglob("*.html"), *root.rglob("*.html.gz")]):
            if {"_static", "_sources", "_images", "_downloads"} & set(path.parts):
                continue
            data = path.read_bytes()
            html = (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")
            relative = path.relative_to(root).as_posix()
            text = extract(html, f"https://{site}.example/{relative}").text
            if text.strip():
                docs.append(Doc(f"docs/{site}/{relative}", "docs", text))
    cache.write_text(json.dumps([doc.__dict__ for doc in docs]), encoding="utf-8")
    return docs


def _share_doc() -> list[Doc]:
    paths = []
    for pattern in ("*/README*", "*/NEWS*", "*/TODO*", "*/copyright"):
        paths += sorted(SHARE_DOC.glob(pattern))
    changelogs = sorted(SHARE_DOC.glob("*/changelog.Debian.gz"))
    changelogs.sort(key=lambda p: hashlib.sha1(str(p).encode()).hexdigest())
    docs = []
    for path in [*paths, *changelogs[:CHANGELOGS]]:
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        text = data.decode("utf-8", "replace")
        docs.append(Doc(f"share-doc/{path.relative_to(SHARE_DOC)}", "share-doc", text))
    return docs


def _descriptions() -> list[Doc]:
    docs = []
    for dist in sorted(importlib.metadata.distributions(), key=lambda d: d.metadata["Name"]):
        text = dist.metadata.get_payload() or dist.metadata.get("Description") or ""
        docs.append(Doc(f"pypi/{dist.metadata['Name']}", "pypi", text))
    return docs


def _pydoc_topics() -> list[Doc]:
    from pydoc_data.topics import topics

    return [Doc(f"pydoc/{name}", "pydoc", text) for name, text in sorted(topics.items())]


def real_documents() -> list[Doc]:
    found = [*_sphinx_pages(), *_share_doc(), *_descriptions(), *_pydoc_topics()]
    seen, docs = set(), []
    for doc in found:
        text = _tidy(doc.text.encode("utf-8", "replace").decode("utf-8"))
        if len(text) >= 200 and text not in seen:
            seen.add(text)
            docs.append(Doc(doc.id, doc.source, text))
    return docs


# Noisy variants: each takes a real text and a random generator and returns the new text.

BOILERPLATE = [
    "Home | About | Contact | Blog",
    "Skip to main content",
    "Accept all cookies",
    "This website uses cookies to ensure you get the best experience on our website.",
    "Please enable JavaScript to view the comments powered by Disqus.",
    "By using this site you agree to our Privacy Policy and Terms of Use.",
    "Share this: Twitter Facebook LinkedIn",
    "Subscribe to our newsletter",
    "© 2024 Example Media. All rights reserved.",
    "Previous post",
    "Next post",
    "Log in or sign up to reply.",
]
SPAM = [
    "Buy cheap watches online today at the best price.",
    "Click here to download the free PDF now!",
    "Best casino bonus offers of the year, sign up now.",
    "Call now to get your free quote from our experts.",
]
LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor."
STOP = {"the", "be", "to", "of", "and", "that", "have", "with"}  # Gopher's


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _insert(lines: list[str], new: list[str], rng: random.Random) -> str:
    for line in new:
        lines.insert(rng.randrange(len(lines) + 1), line)
    return "\n".join(lines)


def boilerplate(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    count = max(1, int(len(lines) * rng.uniform(0.02, 1.5)))
    return _insert(lines, [rng.choice(BOILERPLATE) for _ in range(count)], rng)


def repeated_lines(text: str, rng: random.Random) -> str:
    lines = [line for line in _lines(text) if line.strip()]
    copies = [rng.choice(lines) for _ in range(int(len(lines) * rng.uniform(0.01, 0.8)) + 1)]
    return _insert(lines, copies, rng)


def repeated_paragraphs(text: str, rng: random.Random) -> str:
    paragraphs = text.split("\n\n")
    count = int(len(paragraphs) * rng.uniform(0.05, 0.9)) + 1
    for _ in range(count):
        paragraphs.insert(rng.randrange(len(paragraphs) + 1), rng.choice(paragraphs))
    return "\n\n".join(paragraphs)


def spam_sentence(text: str, rng: random.Random) -> str:
    sentence, size = rng.choice(SPAM), len(text)
    count = max(1, int(size * rng.uniform(0.02, 0.5) / len(sentence)))
    glue = rng.choice([" ", "\n"])
    return text + "\n" + glue.join([sentence] * count)


def hashtags(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(int(len(words) * rng.uniform(0.02, 0.3))):
        words.insert(rng.randrange(len(words) + 1), "#" + rng.choice(["news", "tech", "ai", "py"]))
    return " ".join(words)


def truncated_lines(text: str, rng: random.Random) -> str:
    share, mark = rng.uniform(0.05, 0.8), rng.choice(["...", "…"])
    lines = [
        line[: len(line) // 2].rstrip() + mark if line.strip() and rng.random() < share else line
        for line in _lines(text)
    ]
    return "\n".join(lines)


def bullets(text: str, rng: random.Random) -> str:
    share, mark = rng.uniform(0.5, 1.0), rng.choice(["- ", "• ", "-", "  - "])
    lines = [mark + line if rng.random() < share else line for line in _lines(text) if line]
    return "\n".join(lines)


def word_list(text: str, rng: random.Random) -> str:
    words = re.findall(r"[A-Za-z]{3,}", text)
    count = int(len(words) * rng.uniform(0.05, 0.6))
    items = [" ".join(rng.sample(words, rng.randint(1, 3))) for _ in range(count)]
    return _insert(_lines(text), items, rng)


def number_table(text: str, rng: random.Random) -> str:
    rows = int(len(text.split()) * rng.uniform(0.02, 0.4) / 4) + 1
    table = [" ".join(f"{rng.uniform(0, 1000):.2f}" for _ in range(4)) for _ in range(rows)]
    return _insert(_lines(text), table, rng)


def lorem_ipsum(text: str, rng: random.Random) -> str:
    return _insert(_lines(text), [LOREM], rng)


def no_stop_words(text: str, rng: random.Random) -> str:
    share = rng.choice([1.0, 1.0, rng.uniform(0.9, 1.0)])
    tokens = text.split(" ")
    return " ".join(t for t in tokens if t not in STOP or rng.random() > share)


def long_words(text: str, rng: random.Random) -> str:
    share = rng.uniform(0.1, 0.9)
    return " ".join(
        word + rng.choice(["ification", "internationalisation", "_configuration_manager"])
        if rng.random() < share
        else word
        for word in text.split(" ")
    )


def short_words(text: str, rng: random.Random) -> str:
    share = rng.uniform(0.1, 0.9)
    return " ".join(
        word[: rng.randint(1, 2)] if rng.random() < share else word for word in text.split(" ")
    )


def no_end_punctuation(text: str, rng: random.Random) -> str:
    share = rng.uniform(0.3, 1.0)
    return "\n".join(
        line.rstrip(".!?\"'") if rng.random() < share else line for line in _lines(text)
    )


def blob(text: str, rng: random.Random) -> str:
    data = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789+/") for _ in range(1200))
    return _insert(_lines(text), [f"Key: {data}."], rng)


def citations(text: str, rng: random.Random) -> str:
    marks = ["[1]", "[12]", "[edit]", "[citation needed]", "[]"]
    return "\n".join(
        line + rng.choice(marks) if line.strip() and rng.random() < 0.3 else line
        for line in _lines(text)
    )


def code(text: str, rng: random.Random) -> str:
    snippet = rng.choice(["if (x) { return y; }", "body { margin: 0 }.", 'data = {"a": 1}.'])
    return _insert(_lines(text), [snippet], rng)


def excerpt(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    return " ".join(words[: rng.randint(5, 120)])


def company_list(text: str, rng: random.Random) -> str:
    """A list of names, one a line: "Word Word Inc." is three words, so a line per three
    words, past FineWeb's list ratio, yet each line ends in a full stop and has three words
    for C4, and two in three are over 30 characters."""
    short = sorted(set(re.findall(r"\b[a-z]{4,8}\b", text))) or ["pear", "plum"]
    long = sorted(set(re.findall(r"\b[a-z]{13,16}\b", text))) or ["extraordinarily"]
    suffixes = ["Inc.", "Co.", "Corp.", "Ltd.", "Bros."]
    lines = ["pens and Co.", "in the Corp."]
    for i in range(rng.randint(20, 60)):
        words = long if i % 3 else short
        first, second = rng.choice(words).title(), rng.choice(words).title()
        lines.append(f"{first} {second} {rng.choice(suffixes)}")
    return "\n".join(dict.fromkeys(lines))


def quoted_lines(text: str, rng: random.Random) -> str:
    """Lines that end in a closing quote: C4 keeps them, FineWeb's line punctuation not."""
    share = rng.uniform(0.5, 1.0)
    return "\n".join(
        line[:-1] + '"' if line.endswith(".") and rng.random() < share else line
        for line in _lines(text)
    )


def short_lines(text: str, rng: random.Random) -> str:
    """Sentences broken into lines of a few words, each ending in a full stop."""
    words, share, out = re.findall(r"[A-Za-z]+", text), rng.uniform(0.3, 1.0), []
    while words:
        size = rng.randint(3, 5) if rng.random() < share else rng.randint(8, 16)
        out.append(" ".join(words[:size]).capitalize() + ".")
        words = words[size:]
    return "\n".join(out)


VARIANTS: dict[str, Callable[[str, random.Random], str]] = {
    fn.__name__.replace("_", "-"): fn
    for fn in (
        boilerplate,
        repeated_lines,
        repeated_paragraphs,
        spam_sentence,
        hashtags,
        truncated_lines,
        bullets,
        word_list,
        number_table,
        lorem_ipsum,
        no_stop_words,
        long_words,
        short_words,
        no_end_punctuation,
        blob,
        citations,
        code,
        excerpt,
        quoted_lines,
        short_lines,
        company_list,
    )
}


def noisy_documents(real: list[Doc], count: int, seed: int = 0) -> list[Doc]:
    rng = random.Random(seed)
    # Bases that pass every rule: a variant is dropped for its noise, not for its base.
    config = QualityConfig()
    bases = [doc for doc in real if quality.check(doc.text, config).reason is None]
    docs = []
    for i in range(count):
        kind = list(VARIANTS)[i % len(VARIANTS)]
        base = rng.choice(bases)
        docs.append(
            Doc(f"noisy-{kind}/{i}:{base.id}", f"noisy-{kind}", VARIANTS[kind](base.text, rng))
        )
    parts, size = [], 0
    for doc in bases:  # just past max_doc_words
        parts.append(doc.text)
        size += len(doc.text.split())
        if size > 130_000:
            break
    docs.append(Doc("noisy-long/0", "noisy-long", "\n\n".join(parts)))
    docs.append(Doc("noisy-empty/0", "noisy-empty", ""))
    return docs


# The two implementations.


def datatrove_filters(config: QualityConfig) -> list:
    """datatrove's filters with `config`'s thresholds; None becomes each one's "off"."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    inf = float("inf")
    filters = []
    if (r := config.gopher_repetition) is not None:
        kwargs = r.model_dump(exclude={"top_n_grams", "dup_n_grams"})
        top = tuple((n, f) for n, f in r.top_n_grams.items() if f is not None)
        dup = tuple((n, f) for n, f in r.dup_n_grams.items() if f is not None)
        filters.append(GopherRepetitionFilter(**kwargs, top_n_grams=top, dup_n_grams=dup))
    if (q := config.gopher_quality) is not None:
        filters.append(
            GopherQualityFilter(
                **q.model_dump(exclude={"stop_words"}), stop_words=list(q.stop_words)
            )
        )
    if (c := config.c4) is not None:
        off = {k: -1 if v is None else v for k, v in c.model_dump().items()}
        filters.append(C4QualityFilter(**off))
    if (f := config.fineweb) is not None:
        kwargs = {k: inf if v is None else v for k, v in f.model_dump().items()}
        kwargs["line_punct_thr"] = f.line_punct_thr or 0.0
        kwargs["stop_chars"] = f.stop_chars
        filters.append(FineWebQualityFilter(**kwargs))
    return filters


def default_mismatches() -> list[str]:
    """Our defaults against datatrove's constructor defaults, by field."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS

    ours = {
        GopherRepetitionFilter: GopherRepetitionConfig(),
        GopherQualityFilter: GopherQualityConfig(),
        C4QualityFilter: C4Config(),
        FineWebQualityFilter: FineWebConfig(),
    }
    mismatches = []
    for cls, config in ours.items():
        theirs = {
            name: p.default
            for name, p in inspect.signature(cls.__init__).parameters.items()
            if name not in ("self", "exclusion_writer", "language", "split_paragraph")
        }
        mine = config.model_dump()
        for name, default in theirs.items():
            value = mine.get(name, "<missing>")
            if name in ("top_n_grams", "dup_n_grams"):
                value = tuple(value.items())
            if name == "stop_words":  # None there: its STOP_WORDS
                default, value = tuple(STOP_WORDS), tuple(value)
            if value != default:
                mismatches.append(f"{cls.__name__}.{name}: datatrove {default!r}, ours {value!r}")
        mismatches += [f"{cls.__name__}: extra field {k}" for k in set(mine) - set(theirs)]
    return mismatches


def run_datatrove(filters: list, texts: list[str]) -> list[tuple[str, str | None]]:
    from datatrove.data import Document

    out = []
    for i, text in enumerate(texts):
        doc, reason = Document(text=text, id=str(i)), None
        for f in filters:
            result = f.filter(doc)
            if result is not True:
                reason = result[1] if isinstance(result, tuple) else "dropped"
                break
        out.append((doc.text, reason))
    return out


def run_ours(config: QualityConfig, texts: list[str]) -> list[tuple[str, str | None]]:
    return [tuple(quality.check(text, config)) for text in texts]


@dataclass
class Timing:
    cpu_s: float = 0.0
    wall_s: float = 0.0


def compare(docs: list[Doc], config: QualityConfig) -> tuple[list, list, Timing, Timing]:
    filters = datatrove_filters(config)
    run_datatrove(filters, ["Warm up: load spaCy. " * 60])  # its import and model load
    wordsplit.reset()
    theirs, ours = [], []
    t_theirs, t_ours = Timing(), Timing()
    for start in range(0, len(docs), BATCH):
        texts = [doc.text for doc in docs[start : start + BATCH]]
        for runner, results, timing in (
            (lambda t: run_datatrove(filters, t), theirs, t_theirs),
            (lambda t: run_ours(config, t), ours, t_ours),
        ):
            cpu, wall = time.process_time(), time.perf_counter()
            results.extend(runner(texts))
            timing.cpu_s += time.process_time() - cpu
            timing.wall_s += time.perf_counter() - wall
    return theirs, ours, t_theirs, t_ours


# Where the two tokenizations differ.


def ours_words(text: str) -> list[str]:
    """The words the quality rules measure, as strings."""
    return [wordsplit.TOKENS[i] for i in wordsplit.token_ids(text)]


def word_agreement(docs: list[Doc]) -> tuple[int, int, int, Counter]:
    """Tokens in all, tokens equal in place, documents with equal word lists, differences.
    Neither tokenizer joins words across a line, so differing documents are compared line
    by line."""
    from datatrove.utils.text import split_into_words

    total = same = equal_docs = 0
    differences: Counter = Counter()
    for doc in docs:
        theirs, ours = split_into_words(doc.text), ours_words(doc.text)
        total += len(theirs)
        if theirs == ours:
            same += len(theirs)
            equal_docs += 1
            continue
        for line in doc.text.splitlines():
            theirs, ours = split_into_words(line), ours_words(line)
            if theirs == ours:
                same += len(theirs)
                continue
            matcher = difflib.SequenceMatcher(a=theirs, b=ours, autojunk=False)
            for op, i1, i2, j1, j2 in matcher.get_opcodes():
                if op == "equal":
                    same += i2 - i1
                else:
                    differences[(" ".join(theirs[i1:i2]), " ".join(ours[j1:j2]))] += 1
    return total, same, equal_docs, differences


def sentence_agreement(docs: list[Doc]) -> tuple[int, int, Counter]:
    """C4's per-line sentence counts on up to SENTENCE_LINES lines of 3 words or more (one
    spaCy call each): lines, lines counted alike, example differences."""
    from datatrove.utils.text import split_into_sentences

    candidates = [
        line.strip() for doc in docs for line in doc.text.splitlines() if len(line.split()) >= 3
    ]
    step = max(1, len(candidates) // SENTENCE_LINES)
    lines = same = 0
    differences: Counter = Counter()
    for line in candidates[::step]:
        lines += 1
        theirs = len(split_into_sentences(line))
        ours = wordsplit.sentence_count(line)
        if theirs == ours:
            same += 1
        else:
            differences[(line[:80], theirs, ours)] += 1
    return lines, same, differences


def _versions() -> str:
    names = ("datatrove", "spacy", "pydantic")
    found = ", ".join(f"{n} {importlib.metadata.version(n)}" for n in names)
    return f"Python {platform.python_version()}, {found}"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "n/a"


def report(docs: list[Doc], theirs: list, ours: list, t_theirs: Timing, t_ours: Timing) -> str:
    n = len(docs)
    keep_agree = sum((a[1] is None) == (b[1] is None) for a, b in zip(theirs, ours, strict=True))
    reason_agree = sum(a[1] == b[1] for a, b in zip(theirs, ours, strict=True))
    both_kept = [(a, b) for a, b in zip(theirs, ours, strict=True) if a[1] is None and b[1] is None]
    text_agree = sum(a[0] == b[0] for a, b in both_kept)
    rate_theirs, rate_ours = n / t_theirs.cpu_s, n / t_ours.cpu_s
    words = sum(len(doc.text.split()) for doc in docs)
    lines = [
        "# Quality rules benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: 2 shared cores ({platform.machine()}), "
        f"one process; {_versions()}. Made by `.venv/bin/python -m bench.clean_rules`; method "
        "in its docstring.",
        "",
        "## Documents",
        "",
        "| source | documents | median words |",
        "|---|---:|---:|",
    ]
    by_source: dict[str, list[Doc]] = defaultdict(list)
    for doc in docs:
        by_source[doc.source].append(doc)
    for source, group in sorted(by_source.items()):
        median = statistics.median(len(d.text.split()) for d in group)
        lines.append(f"| {source} | {len(group)} | {median:.0f} |")
    lines += [
        f"| all | {n} | {statistics.median(len(d.text.split()) for d in docs):.0f} |",
        "",
        "## Speed and agreement",
        "",
        f"{words:,} whitespace-separated words in all. Same thresholds: datatrove's defaults.",
        "",
        "| implementation | CPU s | wall s | documents/s per core | speed vs datatrove |",
        "|---|---:|---:|---:|---:|",
        f"| datatrove 0.10.1 | {t_theirs.cpu_s:.1f} | {t_theirs.wall_s:.1f} "
        f"| {rate_theirs:.1f} | 1× |",
        f"| lmkiln (tasks/clean/quality) | {t_ours.cpu_s:.1f} | {t_ours.wall_s:.1f} "
        f"| {rate_ours:.1f} "
        f"| **{rate_ours / rate_theirs:.1f}×** |",
        "",
        f"Goal at least 10x: {'met' if rate_ours >= 10 * rate_theirs else 'not met'}; "
        f"agreement at least 99%: {'met' if keep_agree >= 0.99 * n else 'not met'}.",
        "",
        f"- keep/drop decisions in agreement: **{_pct(keep_agree, n)}** "
        f"({n - keep_agree} of {n} differ)",
        f"- same reason: {_pct(reason_agree, n)}",
        f"- kept by both with the same text after C4's line removal: "
        f"{_pct(text_agree, len(both_kept))} of {len(both_kept)}",
        "",
        "## Reasons",
        "",
        "| reason | datatrove | lmkiln |",
        "|---|---:|---:|",
    ]
    counts_theirs = Counter(r or "kept" for _, r in theirs)
    counts_ours = Counter(r or "kept" for _, r in ours)
    for reason in sorted(set(counts_theirs) | set(counts_ours), key=lambda r: -counts_theirs[r]):
        lines.append(f"| {reason} | {counts_theirs[reason]} | {counts_ours[reason]} |")
    classes: dict[tuple[str, str], list[str]] = defaultdict(list)
    for doc, a, b in zip(docs, theirs, ours, strict=True):
        if a[1] != b[1]:
            classes[(a[1] or "kept", b[1] or "kept")].append(doc.id)
    lines += ["", "## Disagreements (datatrove → lmkiln)", ""]
    if not classes:
        lines.append("None in this run. " + WHERE_THEY_CAN_DIFFER)
    for (a, b), ids in sorted(classes.items(), key=lambda item: -len(item[1])):
        decision = "same decision" if (a == "kept") == (b == "kept") else "**decision differs**"
        lines.append(f"- {a} → {b}: {len(ids)} ({decision}); e.g. {', '.join(ids[:3])}")
    return "\n".join(lines) + "\n"


# Written from reading both implementations; the run above counts how often each happens.
WHERE_THEY_CAN_DIFFER = """Where the two can differ, by construction:

1. Word splitting. tasks/clean/quality/words.py applies spaCy 3.8's English rules chunk by chunk but
   does not re-join an exception split across a space in spaCy's second pass, and its letter
   classes stop at the Basic Multilingual Plane. The counts below show how often words differ.
2. n-gram identity. datatrove compares the n-grams of its duplicate count as their words
   joined without spaces, so ("ab", "c") equals ("a", "bc"); lmkiln's features.py compares
   word sequences. Only text whose same characters are split into words differently can tell.
3. Degenerate input and thresholds. Where datatrove divides by zero (no words, with
   min_doc_words turned off), lmkiln returns "empty"; datatrove reads a threshold of 0 as off,
   lmkiln as 0 (None is off). Neither occurs with the defaults."""


def word_report(docs: list[Doc]) -> str:
    total, same, equal_docs, differences = word_agreement(docs)
    lines_n, lines_same, sentence_diffs = sentence_agreement(docs)
    out = [
        "",
        "## Words and sentences against spaCy",
        "",
        f"- word tokens equal in place: {_pct(same, total)} of {total:,}; documents with "
        f"identical word lists: {_pct(equal_docs, len(docs))}",
        f"- C4 sentence counts equal: {_pct(lines_same, lines_n)} of {lines_n:,} lines of 3+ words",
    ]
    for (theirs, ours), count in differences.most_common(10):
        out.append(f"  - word difference ×{count}: spaCy `{theirs}` / ours `{ours}`")
    for (line, theirs, ours), count in sentence_diffs.most_common(5):
        out.append(f"  - sentences ×{count}: spaCy {theirs} / ours {ours}: `{line}`")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> dict:
    """Run the comparison, write its table; returns the headline figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="documents, for a quick look")
    parser.add_argument("--noisy", type=int, default=NOISY, help="noisy variants")
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    args = parser.parse_args(argv)
    real = real_documents()
    docs = real + noisy_documents(real, args.noisy)
    if args.limit:
        docs = random.Random(1).sample(docs, min(args.limit, len(docs)))
    mismatches = default_mismatches()
    config = QualityConfig()
    theirs, ours, t_theirs, t_ours = compare(docs, config)
    cpu = time.process_time()
    run_ours(config, [doc.text for doc in docs])  # again, every chunk's words cached
    warm_s = time.process_time() - cpu
    text = report(docs, theirs, ours, t_theirs, t_ours) + word_report(docs)
    text += (
        f"\nlmkiln again over the same documents, every chunk's words cached: {warm_s:.1f} CPU s "
        f"({len(docs) / warm_s:.0f} documents/s); the difference from the first pass is the "
        f"cost of splitting chunks seen for the first time "
        f"({len({chunk for doc in docs for chunk in doc.text.split()}):,} of them).\n"
    )
    if mismatches:
        text += "\nDefaults that differ from datatrove's: " + "; ".join(mismatches) + "\n"
    else:
        text += "\nEvery default equals datatrove 0.10.1's constructor default.\n"
    publish(text, RESULTS, write=not (args.limit or args.no_write))
    pairs = list(zip(theirs, ours, strict=True))
    return {
        "documents": len(docs),
        "speed": (len(docs) / t_ours.cpu_s) / (len(docs) / t_theirs.cpu_s),
        "keep_agreement": sum((a[1] is None) == (b[1] is None) for a, b in pairs) / len(docs),
        "reason_agreement": sum(a[1] == b[1] for a, b in pairs) / len(docs),
    }


if __name__ == "__main__":
    main()
