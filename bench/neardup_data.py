"""A labelled near-duplicate set and a scaling stream, generated from real offline text.

Text: the main text of every page of the five Debian documentation sites of bench/debian_docs.py
(extracted with tasks/collect/extract/main_text.py; Python, Sphinx, Flask, Requests, cryptography
manuals) and the long descriptions of the Python packages installed here (READMEs in Markdown and
reStructuredText). Pages are cut at paragraph breaks into sections of 60 to 1,500 words, so that
documents are web-page sized, and sections that already resemble each other (Jaccard similarity of
their word 3-gram sets of 0.2 or more: release notes that repeat, licence texts shared by packages)
are dropped, so that two families never start out alike.

The labelled set: each base section comes with variants that are its near-duplicates (the
labels are families: a base and its variants), and other documents that are not:
- exact: the same text; header/footer: a line of site navigation before it and a copyright
  line after it (a few fixed templates, the same for many documents, as on a real site);
- sub1, sub3, sub5: 1%, 3%, 5% of the words (at least one) replaced by words drawn from the
  text's vocabulary, at random positions; cut10: the last 10% of the lines (at least one) cut;
- sub10, sub20, sub30: looser copies, not labelled either way; only how often each system
  merges them is reported (where the systems' thresholds lie);
- half: the first half of a base's words followed by the second half of another section's
  (cut at a line break when one is within a tenth of the words); a family of its own,
  like the unrelated sections: a merge of either with another family is a false merge.
Documents arrive as two nights: the bases first, then everything else, each in a seeded random
order: the copies are tomorrow's pages, checked against today's corpus and each other.

The scaling stream: documents of 3 to 8 paragraphs drawn at random from all sections' paragraphs
(so they share paragraphs, as pages of one site share boilerplate), and every fifth document a
3% edit of an earlier one; generated lazily, so the stream itself holds no memory.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from bench.debian_docs import SITES, WORK, unpack

CACHE = WORK / "neardup-texts.json.gz"
MIN_WORDS, MAX_WORDS = 60, 1500
TARGET_WORDS = 400  # median section length, about that of a web page's main text
RELATED_JACCARD = 0.2
HEADERS = (
    "Skip to main content Home Docs Blog Download Community Search",
    "Menu Products Solutions Pricing Documentation Sign in",
    "You are here: Home > Documentation > Guides",
)
FOOTERS = (
    "© 2024 Example Project. All rights reserved. Privacy policy | Terms of use",
    "Copyright 2001-2024 the contributors. Licensed under CC BY-SA 4.0. Last updated today.",
    "Found a bug? Edit this page on GitHub. Built with Sphinx using a theme by the community.",
)
LABELLED = ("exact", "header/footer", "sub1", "sub3", "sub5", "cut10")
LOOSE = ("sub10", "sub20", "sub30")
NEGATIVE = ("half", "unrelated")
_SUBSTITUTE = {"sub1": 0.01, "sub3": 0.03, "sub5": 0.05, "sub10": 0.1, "sub20": 0.2, "sub30": 0.3}


@dataclass(frozen=True)
class Doc:
    text: str
    family: int  # documents of one family are near-duplicates of each other
    variant: str  # "base", one of LABELLED or LOOSE, or one of NEGATIVE


def real_texts() -> list[str]:
    """Every page's main text and every installed package's long description, cached."""
    if CACHE.exists():
        with gzip.open(CACHE, "rt", encoding="utf-8") as handle:
            return json.load(handle)
    from lmkiln.tasks.collect.extract.main_text import extract

    texts = []
    for site in SITES:
        root = unpack(site)
        for path in sorted(root.rglob("*.html")):
            if "_sources" not in path.parts:
                html = path.read_text(encoding="utf-8", errors="replace")
                texts.append(extract(html, f"file://{path}").text)
    descriptions = {}
    for dist in importlib.metadata.distributions():
        description = dist.metadata.get_payload() or dist.metadata.get("Description") or ""
        descriptions[dist.metadata["Name"]] = description
    texts += [descriptions[name] for name in sorted(descriptions)]
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(CACHE, "wt", encoding="utf-8") as handle:
        json.dump(texts, handle)
    return texts


def sections(texts: list[str], rng: random.Random) -> list[str]:
    """Texts cut at paragraph breaks into sections of about TARGET_WORDS words."""
    out = []
    for text in texts:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
        current: list[str] = []
        words, target = 0, _target(rng)
        for paragraph in paragraphs:
            current.append(paragraph)
            words += len(paragraph.split())
            if words >= target:
                out.append("\n\n".join(current))
                current, words, target = [], 0, _target(rng)
        if current:
            out.append("\n\n".join(current))
    return [s for s in out if MIN_WORDS <= len(s.split()) <= MAX_WORDS]


def _target(rng: random.Random) -> int:
    return int(min(MAX_WORDS, max(MIN_WORDS, rng.lognormvariate(np.log(TARGET_WORDS), 0.6))))


def _trigrams(text: str) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


def distinct(candidates: list[str]) -> list[str]:
    """Sections in order, each dropped if it resembles an earlier kept one (exact Jaccard)."""
    from scipy import sparse

    vocabulary: dict[str, int] = {}
    rows, cols = [], []
    for i, text in enumerate(candidates):
        for gram in _trigrams(text):
            rows.append(i)
            cols.append(vocabulary.setdefault(gram, len(vocabulary)))
    shape = (len(candidates), len(vocabulary))
    matrix = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    overlap = (matrix @ matrix.T).tocsr()  # shared 3-grams of every pair
    kept: list[int] = []
    kept_mask = np.zeros(len(candidates), dtype=bool)
    for i in range(len(candidates)):
        row = overlap.getrow(i)
        others = row.indices[kept_mask[row.indices]]
        shared = row.toarray().ravel()[others]
        jaccard = shared / (sizes[i] + sizes[others] - shared)
        if not len(jaccard) or jaccard.max() < RELATED_JACCARD:
            kept.append(i)
            kept_mask[i] = True
    return [candidates[i] for i in kept]


def pool(seed: int = 0) -> list[str]:
    """Distinct real sections in a seeded random order, cached."""
    cache = WORK / f"neardup-pool-{seed}.json.gz"
    if cache.exists():
        with gzip.open(cache, "rt", encoding="utf-8") as handle:
            return json.load(handle)
    rng = random.Random(seed)
    found = sections(real_texts(), rng)
    rng.shuffle(found)
    kept = distinct(found)
    with gzip.open(cache, "wt", encoding="utf-8") as handle:
        json.dump(kept, handle)
    return kept


def substitute(text: str, share: float, vocabulary: list[str], rng: random.Random) -> str:
    lines = [line.split(" ") for line in text.split("\n")]
    places = [(i, j) for i, line in enumerate(lines) for j, word in enumerate(line) if word]
    for i, j in rng.sample(places, max(1, round(share * len(places)))):
        lines[i][j] = rng.choice(vocabulary)
    return "\n".join(" ".join(line) for line in lines)


def variant(text: str, name: str, vocabulary: list[str], rng: random.Random) -> str:
    if name == "exact":
        return text
    if name == "header/footer":
        return f"{rng.choice(HEADERS)}\n\n{text}\n\n{rng.choice(FOOTERS)}"
    if name == "cut10":
        lines = text.split("\n")
        return "\n".join(lines[: len(lines) - max(1, round(0.1 * len(lines)))])
    return substitute(text, _SUBSTITUTE[name], vocabulary, rng)


def labelled(bases: int = 1000, halves: int = 500, unrelated: int = 2000, seed: int = 0):
    """(documents in arrival order, sections left over for other uses)."""
    sections_ = pool(seed)
    needed = bases + 2 * halves + unrelated
    if len(sections_) < needed:
        raise RuntimeError(f"only {len(sections_)} distinct sections, {needed} needed")
    rng = random.Random(seed + 1)
    vocabulary = sorted({w for s in sections_[:bases] for w in s.split()})
    docs: list[Doc] = []
    for family, base in enumerate(sections_[:bases]):
        docs.append(Doc(base, family, "base"))
        for name in LABELLED + LOOSE:
            docs.append(Doc(variant(base, name, vocabulary, rng), family, name))
    family = bases
    donors = sections_[bases : bases + halves]
    for base, donor in zip(sections_[:halves], donors, strict=True):
        docs.append(
            Doc(f"{_half(base, first=True)}\n\n{_half(donor, first=False)}", family, "half")
        )
        family += 1
    for text in sections_[bases + halves : bases + halves + unrelated]:
        docs.append(Doc(text, family, "unrelated"))
        family += 1
    first = [d for d in docs if d.variant == "base"]
    later = [d for d in docs if d.variant != "base"]
    rng.shuffle(first)
    rng.shuffle(later)
    return first + later, sections_[needed:]


def _half(text: str, first: bool) -> str:
    """The text up to (or from) its middle word, cut at a line break when one is near."""
    words = list(re.finditer(r"\S+", text))
    middle = words[len(words) // 2].start()
    line_break = text.rfind("\n", 0, middle)
    if line_break > 0 and len(text[line_break:middle].split()) < len(words) // 10:
        middle = line_break
    return text[:middle].rstrip() if first else text[middle:].lstrip()


def stream(count: int, seed: int = 0) -> Iterator[str]:
    """`count` documents for the scaling runs, made on the fly (see the module docstring)."""
    paragraphs = [p for s in pool(seed) for p in s.split("\n\n") if len(p.split()) >= 8]
    vocabulary = sorted({w for p in paragraphs[:5000] for w in p.split()})
    rng = random.Random(seed + 2)
    recent: list[str] = []  # copies are of documents among the last thousand
    for i in range(count):
        if i % 5 == 4 and recent:
            yield substitute(rng.choice(recent), 0.03, vocabulary, rng)
            continue
        text = "\n\n".join(rng.choices(paragraphs, k=rng.randint(3, 8)))
        recent = [*recent[-999:], text]
        yield text
