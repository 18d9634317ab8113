"""HTML bytes to an lxml tree: the charset a page is in, whether it is text at all, and a parse
that survives junk markup. main_text.py finds the main text in the tree.
"""

from __future__ import annotations

import re
import threading

from bs4 import BeautifulSoup, NavigableString, Tag, UnicodeDammit
from bs4.dammit import EncodingDetector
from bs4.element import PreformattedString
from lxml import etree

# WHATWG MIME sniffing: a "binary data byte" in the first 1445 bytes means the body is not
# text, whatever its name or Content-Type says (an image or archive served as text/html).
SNIFF_BYTES = 1445
_BINARY_BYTE = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
# Undecodable characters, as a share of all non-ASCII ones, past which a charset is wrong.
MAX_BAD_SHARE = 0.25

XML_DECLARATION = re.compile(r"^<\?xml\b[^>]*>")
_parsers = threading.local()  # an lxml parser is not to be shared between threads


def decode(body: bytes, content_type: str) -> str:
    """The page's text, in the charset its header or <meta> declares, else a detected one."""
    # Without a charset header requests assumes ISO-8859-1; the <meta charset> is read here.
    header = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
    declared = header.group(1) if header else None
    declared = declared or EncodingDetector.find_declared_encoding(body, is_html=True)
    if declared and re.match(r"utf-?(16|32)", declared, re.IGNORECASE) and not _has_bom(body):
        # WHATWG: a page that declares UTF-16 in ASCII bytes cannot be UTF-16.
        declared = "utf-8"
    if declared and (text := _decode_mostly(body, declared)) is not None:
        return text
    return UnicodeDammit(body, is_html=True).unicode_markup or ""


def looks_binary(body: bytes) -> bool:
    """A body that is no text in any charset; UTF-16 (with its BOM) is the one text that
    holds such bytes."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return _BINARY_BYTE.search(body, 0, SNIFF_BYTES) is not None


def _has_bom(body: bytes) -> bool:
    return body.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf"))


def _decode_mostly(body: bytes, encoding: str) -> str | None:
    """`body` in `encoding`, unless that fails for much of it: the declaration is wrong.

    A few bad bytes do not make it wrong: a page cut at a size cap ends mid-character, and
    one stray byte in a UTF-8 page should not turn all its other accents into mojibake."""
    try:
        text = body.decode(encoding, errors="replace")
    except LookupError:  # not a codec Python knows
        return None
    if bad := text.count("\ufffd"):
        non_ascii = len(text) - len(text.encode("ascii", "ignore"))
        if bad > MAX_BAD_SHARE * non_ascii:
            return None
    return text


def parse(html: str) -> etree._Element | None:
    """The document tree; an XML encoding declaration or NUL byte in the text does no harm."""
    if not hasattr(_parsers, "html"):
        _parsers.html = etree.HTMLParser(  # no id index: nothing looks an element up by id
            encoding="utf-8",
            remove_comments=True,
            remove_pis=True,
            huge_tree=True,
            collect_ids=False,
        )
    parser = _parsers.html
    root = etree.fromstring(html.encode("utf-8", "replace"), parser)
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        return _parse_deep(html)  # libxml2 gave up at its depth limit and dropped the rest
    return root


def _parse_deep(html: str) -> etree._Element:
    """Junk HTML nested past libxml2's limit: html.parser, copied into an lxml tree."""
    # An XML declaration is no text, and BeautifulSoup warns of XML where it opens a page.
    soup = BeautifulSoup(XML_DECLARATION.sub("", html, count=1), "html.parser")
    root = etree.Element("html")
    # An explicit stack, not recursion: such pages nest deeper than Python's stack.
    stack: list[tuple[object, etree._Element]] = [(c, root) for c in reversed(soup.contents)]
    while stack:
        node, parent = stack.pop()
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # comments, doctypes, CDATA
                _append_text(parent, str(node))
        elif isinstance(node, Tag):
            name = node.name if re.fullmatch(r"[a-z][a-z0-9-]*", node.name) else "span"
            attributes = {
                key: " ".join(value) if isinstance(value, list) else value
                for key, value in node.attrs.items()
            }
            element = etree.SubElement(parent, name, _xml_safe(attributes))
            stack.extend((child, element) for child in reversed(node.contents))
    return root


def _append_text(parent: etree._Element, text: str) -> None:
    text = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "", text)  # not allowed in an lxml tree
    if len(parent):
        parent[-1].tail = (parent[-1].tail or "") + text
    else:
        parent.text = (parent.text or "") + text


def _xml_safe(attributes: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in attributes.items() if re.fullmatch(r"[a-zA-Z_][\w.-]*", k)}
