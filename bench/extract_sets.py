"""The development sets of the extraction benchmark (issue 16), and their split into halves.

Each set is a list of `Page`s: the HTML as a crawler would hold it, the gold text (blocks
separated by blank lines or line breaks), the page's URL and language where known.

- `zyte`: the Zyte (Scrapinghub) article extraction benchmark in ../shared/devdata/: 181
  news and blog articles, most of them English (its README says all; the pages' own
  `<html lang>` says Russian, Portuguese, Korean, Japanese and others for a dozen), the gold
  the human-annotated `articleBody`. Language, here and for `readability`: `<html lang>`.
- `readability`: Mozilla Readability.js's 130 test pages in ../shared/devdata/, news, blogs and
  wikis in a dozen languages plus small hand-made cases. The gold is `expected.html` reduced
  to text by `text_blocks`: it is Readability.js's own output, reviewed by its maintainers, not
  a human annotation, so it scores agreement with Readability as much as truth. URL: the one
  Readability's tests give every page.
- `sphinx`: 219 pages of five Sphinx documentation sites from Debian packages, gold text
  rebuilt from their reStructuredText sources (bench/devset.py, its biases there).
- `own`: pages from widely used CMS platforms and non-English sites, with hand-annotated gold,
  in bench/pages/: `index.json` lists {"id", "url", "platform", "language", "source",
  "license"}, each page is `<id>/page.html.gz` with its gold text in `<id>/gold.txt`.

Page bytes are decoded by `lmkiln.tasks.collect.extract.markup.decode`, the crawler's own, from
the `<meta>` charset.

The split: every page of every set is in the tuning half or the test half, decided once by a
seeded hash of its set and id (`rule_side`: about half each, nothing stratified) and recorded
in bench/extract_split.json. A recorded page never moves, even if the rule changed; a page
not yet recorded (a new page of the `own` set) gets its half by the rule and is recorded.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from lxml import html as lxml_html

from bench.devset import load as load_sphinx
from lmkiln.tasks.collect.extract.markup import decode

REPO = Path(__file__).resolve().parent.parent
DEVDATA = REPO.parent / "shared" / "devdata"
OWN_PAGES = REPO / "bench" / "pages"
SPLIT_FILE = REPO / "bench" / "extract_split.json"
SPLIT_SEED = "lmkiln issue 16 extraction split"
HALVES = ("tuning", "test")
READABILITY_URL = "http://fakehost/test/page.html"  # what Readability's own tests pass
HTML_LANG = re.compile(rb"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})\b", re.IGNORECASE)

BLOCK_TAGS = frozenset(
    "address article aside blockquote caption dd details div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p section summary table tbody "
    "tfoot thead tr ul".split()
)
SILENT_TAGS = frozenset("head script style template noscript".split())


@dataclass(frozen=True)
class Page:
    set: str
    id: str
    html: str
    gold: str
    url: str | None
    language: str | None  # primary subtag ("en", "ja"), None where unknown


class SetMissing(Exception):
    """A set's files are not here; the message says where they should be."""


def zyte(devdata: Path = DEVDATA) -> list[Page]:
    root = devdata / "article-extraction-benchmark"
    truth_file = root / "ground-truth.json"
    if not truth_file.is_file():
        raise SetMissing(f"set 'zyte': {truth_file} not found (see {devdata}/README files)")
    pages = []
    for key, entry in sorted(json.loads(truth_file.read_text(encoding="utf-8")).items()):
        body = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes())
        html, gold = decode(body, ""), entry["articleBody"]
        pages.append(Page("zyte", key, html, gold, entry.get("url"), _language(body)))
    return pages


def readability(devdata: Path = DEVDATA) -> list[Page]:
    root = devdata / "readability-test-pages" / "pages"
    if not root.is_dir():
        raise SetMissing(f"set 'readability': {root} not found (see {devdata}/README files)")
    pages = []
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        body = gzip.decompress((folder / "source.html.gz").read_bytes())
        expected = gzip.decompress((folder / "expected.html.gz").read_bytes()).decode("utf-8")
        html, gold = decode(body, ""), text_blocks(expected)
        pages.append(Page("readability", folder.name, html, gold, READABILITY_URL, _language(body)))
    return pages


def sphinx() -> list[Page]:
    return [
        Page("sphinx", f"{page.site}/{page.path}", page.html, page.gold, None, "en")
        for page in load_sphinx()  # fetches Debian's packages on first use
    ]


def own(root: Path = OWN_PAGES) -> list[Page]:
    index = root / "index.json"
    if not index.is_file():
        raise SetMissing(
            f"set 'own': {_shown(index)} not found; the set of annotated CMS and non-English "
            "pages is assembled by hand (bench/extract_sets.py says the format)"
        )
    pages = []
    for entry in json.loads(index.read_text(encoding="utf-8")):
        folder = root / entry["id"]
        if not (folder / "page.html.gz").is_file() or not (folder / "gold.txt").is_file():
            raise SetMissing(
                f"set 'own': page {entry['id']!r} needs page.html.gz and gold.txt "
                f"in {_shown(folder)}"
            )
        html = decode(gzip.decompress((folder / "page.html.gz").read_bytes()), "")
        gold = (folder / "gold.txt").read_text(encoding="utf-8")
        pages.append(Page("own", entry["id"], html, gold, entry.get("url"), entry.get("language")))
    return pages


SETS: dict[str, Callable[[], list[Page]]] = {
    "zyte": zyte,
    "readability": readability,
    "sphinx": sphinx,
    "own": own,
}


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _language(body: bytes) -> str | None:
    """The primary subtag of the page's `<html lang>`, if it has one."""
    found = HTML_LANG.search(body, 0, 4096)
    return found.group(1).decode().lower() if found else None


def text_blocks(html: str) -> str:
    """The visible text of an HTML fragment: paragraphs, headings, list items and table rows
    each a block of their own, blocks separated by blank lines, `<br>` a line break."""
    blocks: list[str] = []
    line: list[str] = []

    def end_block() -> None:
        lines = (" ".join(part.split()) for part in "".join(line).split("\n"))
        if block := "\n".join(text for text in lines if text):
            blocks.append(block)
        line.clear()

    def add(text: str | None) -> None:
        line.append(re.sub(r"\s+", " ", text or ""))

    def walk(element: etree._Element) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""  # comments have no name
        if tag == "pre":
            end_block()
            if code := element.text_content().strip("\n"):
                blocks.append(code)
        elif tag == "br":
            line.append("\n")
        elif tag and tag not in SILENT_TAGS:
            if tag in BLOCK_TAGS:
                end_block()
            add(element.text)
            for child in element:
                walk(child)
            if tag in ("td", "th"):
                line.append(" ")
            if tag in BLOCK_TAGS:
                end_block()
        add(element.tail)

    walk(lxml_html.document_fromstring(html))
    end_block()
    return "\n\n".join(blocks)


def rule_side(set_name: str, page_id: str) -> str:
    """The half a page not yet recorded goes to."""
    digest = hashlib.sha256(f"{SPLIT_SEED}\n{set_name}\n{page_id}".encode()).digest()
    return HALVES[digest[0] & 1]


def split(pages: Sequence[Page], path: Path = SPLIT_FILE) -> dict[tuple[str, str], str]:
    """{(set, id): half} for `pages`: as recorded in `path`; pages not there yet are given
    their half by `rule_side` and added to the file."""
    recorded: dict[str, dict[str, str]] = (
        json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    )
    new = [page for page in pages if page.id not in recorded.get(page.set, {})]
    for page in new:
        recorded.setdefault(page.set, {})[page.id] = rule_side(page.set, page.id)
    if new:
        ordered = {name: dict(sorted(sides.items())) for name, sides in sorted(recorded.items())}
        path.write_text(json.dumps(ordered, indent=1) + "\n", encoding="utf-8")
    return {(page.set, page.id): recorded[page.set][page.id] for page in pages}
