"""Print every text block of a saved page with a number, so an annotator can pick the main text.

Nothing is judged here: every block of <body> is printed, page furniture included, so the gold
text is chosen by reading, not shaped by an extractor. A block ends at each block-level element
and at each <br>; its whitespace is collapsed as a browser would show it, soft hyphens are
dropped and the text is NFC.

    python bench/pages/dump_blocks.py bench/pages/intl-xx/page.html.gz           # numbered list
    python bench/pages/dump_blocks.py PAGE --pick 12-30,33 > bench/pages/intl-xx/gold.txt
"""

import argparse
import gzip
import re
import sys
import unicodedata
from pathlib import Path

import lxml.html
from lxml import etree

BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "body", "br", "caption", "center", "dd",
    "details", "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "noscript",
    "ol", "option", "p", "pre", "section", "select", "summary", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "ul",
}  # fmt: skip
# Their text is never shown to a reader.
SILENT_TAGS = {"script", "style", "template", "svg", "math", "head", "title", "textarea", "iframe"}

CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.IGNORECASE)
XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>")
SPACE_RE = re.compile(r"\s+")
BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
# Browsers read these labels as their supersets; Python's narrower codecs would fail on real pages.
CODEC_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "iso-8859-1": "cp1252", "euc-kr": "cp949"}


def read_page(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def decode(data: bytes) -> str:
    """Decode as a browser would: byte-order mark, then the page's <meta> charset, then UTF-8."""
    for bom, codec in BOMS:
        if data.startswith(bom):
            return data.decode(codec)
    declared = CHARSET_RE.search(data[:8192])
    codec = declared.group(1).decode("ascii").lower() if declared else "utf-8"
    codec = CODEC_ALIASES.get(codec, codec)
    try:
        return data.decode(codec, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def label(element: etree._Element) -> str:
    name = element.tag if isinstance(element.tag, str) else "?"
    if element.get("id"):
        name += "#" + element.get("id")
    if element.get("class"):
        name += "." + ".".join(element.get("class").split()[:2])
    return name


def path_of(element: etree._Element, depth: int = 3) -> str:
    names = [label(element)]
    for ancestor in element.iterancestors():
        if len(names) == depth or ancestor.tag == "body":
            break
        names.append(label(ancestor))
    return " < ".join(names)


def blocks(html: str) -> list[tuple[str, str]]:
    """(where, text) for every non-empty run of text between two block boundaries of <body>."""
    root = lxml.html.document_fromstring(XML_DECL_RE.sub("", html))
    body = root.find("body")
    if body is None:
        body = root
    found: list[tuple[str, str]] = []
    parts: list[str] = []
    where = [path_of(body)]
    in_pre = [0]

    def flush() -> None:
        # A soft hyphen is invisible unless a line breaks there, and NFD and NFC text look the same.
        text = unicodedata.normalize("NFC", "".join(parts).replace("\xad", ""))
        text = text.strip() if in_pre[0] else SPACE_RE.sub(" ", text).strip()
        if text:
            found.append((where[0], text))
        parts.clear()

    def visit(element: etree._Element) -> None:
        tag = element.tag if isinstance(element.tag, str) else None
        if tag is None or tag.lower() in SILENT_TAGS:
            if element.tail:
                parts.append(element.tail)
            return
        is_block = tag.lower() in BLOCK_TAGS
        if is_block:
            flush()
            where[0] = path_of(element)
        in_pre[0] += tag.lower() == "pre"
        if element.text:
            parts.append(element.text)
        for child in element:
            visit(child)
        in_pre[0] -= tag.lower() == "pre"
        if is_block:
            flush()
            where[0] = path_of(element.getparent()) if element.getparent() is not None else ""
        if element.tail:
            parts.append(element.tail)

    visit(body)
    flush()
    return found


def parse_picks(spec: str) -> list[int]:
    numbers = []
    for item in spec.split(","):
        first, _, last = item.partition("-")
        numbers.extend(range(int(first), int(last or first) + 1))
    return numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="page.html or page.html.gz")
    parser.add_argument("--pick", help="print only these block numbers, e.g. 12-30,33")
    parser.add_argument("--width", type=int, default=0, help="cut each listed block to N chars")
    args = parser.parse_args()
    found = blocks(decode(read_page(args.page)))
    if args.pick:
        texts = [found[number][1] for number in parse_picks(args.pick)]
        sys.stdout.write("\n\n".join(texts) + "\n")
        return
    for number, (where, text) in enumerate(found):
        shown = text[: args.width] + "..." if args.width and len(text) > args.width else text
        sys.stdout.write(f"[{number}] {where}\n    {shown}\n")


if __name__ == "__main__":
    main()
