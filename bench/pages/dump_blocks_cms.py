"""Print every text block of a saved page with a number, and write gold text from picked numbers.

The gold text of bench/pages/cms-* is picked by reading, not by any extractor: this script
shows all the visible text of <body> in document order, one block per line, each with a number
and the classes and ids of its enclosing elements (so a block in `aside#sidebar` can be told
from one in `div.entry-content`). Only what a browser never renders as text is left out:
scripts, styles, templates, noscript fallbacks, SVG, comments, and elements hidden by their own
`hidden` attribute or inline style (Wikipedia's MathML copies of its formula images, for one).
Whatever a stylesheet hides is still listed, so it has to be judged by reading.

    python bench/pages/dump_blocks_cms.py bench/pages/cms-x/page.html.gz
    python bench/pages/dump_blocks_cms.py bench/pages/cms-x/page.html.gz --pick 12-40,44

The second form prints the picked blocks as gold text: one block per paragraph, blank lines
between, whitespace collapsed except inside <pre>. Whatever the dump split or merged wrongly is
then fixed by hand in gold.txt. Soft hyphens are dropped: a reader never sees them mid-line.
"""

import argparse
import gzip
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from lxml import etree, html

INVISIBLE_TAGS = {"script", "style", "template", "noscript", "svg", "head", "iframe", "object"}
BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "body", "button", "caption", "center", "dd",
    "details", "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer",
    "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "label", "legend",
    "li", "main", "menu", "nav", "ol", "option", "p", "pre", "section", "select", "summary",
    "table", "tbody", "textarea", "tfoot", "thead", "tr", "ul", "br",
}  # fmt: skip
CELL_TAGS = {"td", "th"}
CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.IGNORECASE)
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
SOFT_HYPHEN = "\u00ad"  # shown only where a line breaks, so never part of the text read
BLANK_LINES = re.compile(r"\n\s*\n(\s*\n)*")
SPACE = re.compile(r"\s+")
XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


@dataclass
class Block:
    text: str
    where: str
    preformatted: bool


def read_page(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def decode(data: bytes) -> str:
    """The page's text in the charset it declares, as a browser would read it."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    declared = CHARSET.search(data[:4096])
    names = [declared.group(1).decode("ascii")] if declared else []
    for name in [*names, "utf-8"]:
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("cp1252", errors="replace")


def label(element: etree._Element) -> str:
    tag = element.tag if isinstance(element.tag, str) else "?"
    ident = element.get("id")
    classes = (element.get("class") or "").split()
    return tag + (f"#{ident}" if ident else "") + "".join(f".{c}" for c in classes[:2])


def where(element: etree._Element, depth: int = 4) -> str:
    """The innermost element and the nearest enclosing ones that carry an id or a class."""
    chain = [label(element)]
    for ancestor in element.iterancestors():
        if ancestor.tag in ("body", "html"):
            break
        if ancestor.get("id") or ancestor.get("class"):
            chain.append(label(ancestor))
            if len(chain) == depth:
                break
    return " < ".join(chain)


class Walker:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.parts: list[str] = []
        self.owner: etree._Element | None = None

    def flush(self) -> None:
        text = SPACE.sub(" ", "".join(self.parts).replace(SOFT_HYPHEN, "")).strip()
        if text and self.owner is not None:
            self.blocks.append(Block(text, where(self.owner), preformatted=False))
        self.parts = []

    def add(self, text: str | None, owner: etree._Element) -> None:
        if text:
            if not self.parts or self.owner is None:
                self.owner = owner
            self.parts.append(text)

    def walk(self, element: etree._Element, block_owner: etree._Element) -> None:
        tag = element.tag if isinstance(element.tag, str) else None
        if tag is None or tag in INVISIBLE_TAGS:  # comments and processing instructions too
            return
        if element.get("hidden") is not None or HIDDEN_STYLE.search(element.get("style") or ""):
            return
        if tag == "pre":
            self.flush()
            text = "".join(element.itertext()).strip("\n")
            if text.strip():
                self.blocks.append(Block(text, where(element), preformatted=True))
            return
        is_block = tag in BLOCK_TAGS
        owner = element if is_block else block_owner
        if is_block:
            self.flush()
        elif tag in CELL_TAGS:
            self.add(" ", owner)  # a table row is one block, its cells apart
        self.add(element.text, owner)
        for child in element:
            self.walk(child, owner)
            if child.tail and child.tail.strip():
                if isinstance(child.tag, str) and child.tag in BLOCK_TAGS:
                    self.flush()
                self.add(child.tail, owner)
            elif child.tail:
                self.add(child.tail, owner)
        if is_block:
            self.flush()


def page_blocks(data: bytes) -> list[Block]:
    # lxml refuses a str that still carries an XML encoding declaration
    text = XML_DECLARATION.sub("", decode(data), count=1)
    tree = html.document_fromstring(text)
    body = tree.find("body")
    if body is None:
        raise SystemExit("no <body> in the page: is it a complete HTML document?")
    walker = Walker()
    walker.walk(body, body)
    walker.flush()
    return walker.blocks


def parse_picks(spec: str) -> list[int]:
    numbers: list[int] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        numbers.extend(range(int(first), int(last or first) + 1))
    return numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="page.html or page.html.gz")
    parser.add_argument("--pick", help="block numbers to print as gold text, e.g. 3-40,44")
    args = parser.parse_args()
    blocks = page_blocks(read_page(args.page))
    if args.pick is None:
        for number, block in enumerate(blocks):
            text = block.text.replace("\n", "\n      ") if block.preformatted else block.text
            print(f"[{number}] ({block.where}) {text}")
        return
    picked = [blocks[number] for number in parse_picks(args.pick)]
    # a blank line is the block separator, so runs of them inside code collapse to one
    text = BLANK_LINES.sub("\n\n", "\n\n".join(block.text for block in picked))
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
