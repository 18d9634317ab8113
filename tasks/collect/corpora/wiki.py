"""Wikipedia dumps as a corpus: `read_wikipedia` streams a pages-articles XML dump (.xml or
.xml.bz2) and yields each article as plain text, following the contract in
base.py.

The stream is cut into pages by their `<page>` and `</page>` tags, and each page is decoded
and parsed on its own (lxml), so one page is in memory at a time, an undecodable or broken
page costs that page alone, and ordinals count `<page>` openings whatever their content.
MediaWiki escapes `<` in text, so these tags cannot occur inside an article.

Pages outside the main namespace and redirects are yielded as `Damaged("skipped_namespace")`
and `Damaged("redirect")` with an empty payload: named outcomes that the collection counts
as skips (base.py, `skipped`), without a quarantine row.

Wikitext becomes plain text with `plain_text`, lmkiln's own reducer: bench/wikitext.py chose
it over mwparserfromhell and wikitextparser on real pages (bench/results/wikitext.md).
"""

from __future__ import annotations

import codecs
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import quote

from lxml import etree

from lmkiln.tasks.collect.corpora.base import Damaged, Entry, Item, decompressed

CHUNK_BYTES = 1 << 20  # read size; a page longer than this is assembled over several reads
_PAGE_OPEN = re.compile(rb"<page[\s>]")
_PAGE_CLOSE = b"</page>"
_PARSER = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)


@dataclass(frozen=True)
class Site:
    """What the dump's <siteinfo> tells the reader: where articles live and what the
    namespaces are called in the wiki's language."""

    article_base: str = ""  # e.g. https://en.wikipedia.org/wiki/
    file_prefixes: frozenset[str] = frozenset({"file", "image", "media"})
    category_prefixes: frozenset[str] = frozenset({"category"})
    namespace_names: frozenset[str] = frozenset()

    def url(self, title: str) -> str:
        if not self.article_base:
            return ""
        return self.article_base + quote(title.replace(" ", "_"), safe="/:@!$()*,;'~")


def read_wikipedia(stream: IO[bytes], name: str, start: int = 0) -> Iterator[tuple[int, Item]]:
    """(ordinal, Entry | Damaged) for every <page> of the dump at or after `start`."""
    site = Site()
    ordinal = 0
    for kind, data in _split(stream, name):
        if kind == "header":
            site = _site(data)
        elif kind == "page":
            if ordinal >= start:
                yield ordinal, _page_item(data, site)
            ordinal += 1
        else:  # "truncated": nothing more can be read from this file
            yield ordinal, Damaged("truncated_archive", data.decode())
            return


def _split(stream: IO[bytes], name: str) -> Iterator[tuple[str, bytes]]:
    """("header", bytes before the first page), ("page", one page's bytes) ..., and a final
    ("truncated", why) if the file ends, or stops decompressing, before </mediawiki>."""
    chunks = _utf8_chunks(decompressed(stream, name), name)
    buf = b""
    pos = 0
    header_done = False
    eof = closed = False
    error = ""
    while True:
        match = _PAGE_OPEN.search(buf, pos)
        if match is None and not header_done and b"</siteinfo>" in buf:
            header_done = True
            yield "header", buf[pos : buf.index(b"</siteinfo>") + len(b"</siteinfo>")]
        if match is not None:
            if not header_done:
                header_done = True
                yield "header", buf[pos : match.start()]
            end, scan_from = -1, match.end()
            while True:
                end = buf.find(_PAGE_CLOSE, scan_from)
                if end >= 0 or eof:
                    break
                scan_from = max(match.end(), len(buf) - len(_PAGE_CLOSE))
                chunk, error = next(chunks)
                eof = not chunk
                buf += chunk
            next_open = _PAGE_OPEN.search(buf, match.end(), end if end >= 0 else len(buf))
            if next_open is not None:
                # A page without its </page>: it ends where the next one starts.
                yield "page", buf[match.start() : next_open.start()]
                buf, pos = buf[next_open.start() :], 0
                continue
            if end < 0:
                yield "truncated", _truncated(name, error, "inside a <page>")
                return
            end += len(_PAGE_CLOSE)
            yield "page", buf[match.start() : end]
            buf, pos = buf[end:], 0
            continue
        closed = closed or b"</mediawiki>" in buf
        if eof:
            if not closed:
                yield "truncated", _truncated(name, error, "before </mediawiki>")
            return
        # Keep a tail that may hold the start of a tag cut by the chunk boundary.
        keep = max(pos, len(buf) - 16) if header_done else pos
        buf = buf[keep:]
        pos = 0
        chunk, error = next(chunks)
        eof = not chunk
        buf += chunk


def _truncated(name: str, error: str, where: str) -> bytes:
    cause = f" ({error})" if error else ""
    return (
        f"{name}: the dump ends {where}{cause}; download the file again (its checksum is "
        "in the dump's md5sums/sha1sums file)"
    ).encode()


def _utf8_chunks(stream: IO[bytes], name: str) -> Iterator[tuple[bytes, str]]:
    """(chunk, "") while the stream gives data, then (b"", why it stopped) forever: "" at a
    clean end, the decompressor's error at a damaged one. A UTF-16 file (some exports) is
    re-encoded to UTF-8 so the splitter sees one encoding."""
    decoder = None
    first = True
    # read1 returns what one decompressor step gives: read() would fill the whole chunk and,
    # at the damage, raise and lose the intact pages it had decompressed before it.
    read = getattr(stream, "read1", stream.read)
    while True:
        try:
            raw = read(CHUNK_BYTES)
        except Exception as exc:  # EOFError, OSError, zlib or zstd errors: all mean damage
            while True:
                yield b"", f"{type(exc).__name__}: {exc}"
        if first and raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            decoder = codecs.getincrementaldecoder("utf-16")(errors="replace")
        first = False
        chunk = decoder.decode(raw, final=not raw).encode() if decoder else raw
        if chunk:
            yield chunk, ""
        if not raw:
            while True:
                yield b"", ""


def _site(header: bytes) -> Site:
    start, end = header.find(b"<siteinfo"), header.find(b"</siteinfo>")
    if start < 0 or end < 0:
        return Site()
    try:
        info = etree.fromstring(_strip_ns(header[start : end + len(b"</siteinfo>")]), _PARSER)
    except etree.XMLSyntaxError:
        return Site()
    base = (info.findtext("base") or "").strip()
    names: dict[int, set[str]] = {}
    for ns in info.iter("namespace"):
        if ns.text and ns.get("key", "").lstrip("-").isdigit():
            names.setdefault(int(ns.get("key", "0")), set()).add(ns.text.strip().lower())
    files = names.get(6, set()) | names.get(-2, set()) | set(Site.file_prefixes)
    categories = names.get(14, set()) | set(Site.category_prefixes)
    return Site(
        article_base=base.rsplit("/", 1)[0] + "/" if "/" in base else "",
        file_prefixes=frozenset(files),
        category_prefixes=frozenset(categories),
        namespace_names=frozenset(n for key in names for n in names[key]),
    )


def _strip_ns(xml: bytes) -> bytes:
    # A page cut out of the dump has no xmlns of its own; a stray prefix would not resolve.
    return re.sub(rb"<(/?)\w+:", rb"<\1", xml)


def _page_item(data: bytes, site: Site) -> Item:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Damaged(
            "undecodable",
            f"page bytes {exc.start}-{exc.end} are not UTF-8 ({exc.reason})",
            data.decode("utf-8", errors="replace"),
        )
    try:
        page = etree.fromstring(text, _PARSER)
    except etree.XMLSyntaxError as exc:
        return Damaged("broken_record", f"page XML does not parse: {exc}", text)
    title = (page.findtext("title") or "").strip()
    try:
        ns = int((page.findtext("ns") or "0").strip() or 0)
        page_id = int(page.findtext("id") or 0)
        revision_ids = [int(r.findtext("id") or 0) for r in page.findall("revision")]
    except ValueError as exc:
        return Damaged("broken_record", f"{title!r}: a number that is not one ({exc})", text)
    if ns != 0:
        return Damaged("skipped_namespace", f"{title!r} is in namespace {ns}")
    redirect = page.find("redirect")
    if redirect is not None:
        return Damaged("redirect", f"{title!r} redirects to {redirect.get('title', '')!r}")
    revisions = page.findall("revision")
    revision = revisions[-1] if revisions else None  # the newest, in a full-history dump
    wikitext = revision.findtext("text") if revision is not None else None
    if not wikitext or not wikitext.strip():
        return Damaged("empty_text", f"{title!r} has no text")
    plain = plain_text(wikitext, site)
    if not plain:
        return Damaged("empty_text", f"{title!r} has no text once its markup is removed", wikitext)
    meta = {
        "wiki_page_id": page_id,
        "wiki_revision_id": revision_ids[-1] if revision_ids else 0,
        "wiki_timestamp": (revision.findtext("timestamp") or "") if revision is not None else "",
        "wiki_namespace": ns,
    }
    return Entry(text=plain, title=title, url=site.url(title), meta=meta)


# Wikitext to plain text. Order matters: comments and references first (they may hold any
# markup), then templates and tables (which may hold links), then links, then inline markup.
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_REF = re.compile(r"<ref\b[^>]*?/>|<ref\b[^>]*>.*?</ref\s*>", re.DOTALL | re.IGNORECASE)
_DROPPED_TAGS = re.compile(
    r"<(gallery|references|math|chem|timeline|imagemap|score|graph|mapframe|templatedata|"
    r"syntaxhighlight|source|hiero|inputbox|categorytree)\b[^>]*?(?:/>|>.*?</\1\s*>)",
    re.DOTALL | re.IGNORECASE,
)
_NOWIKI = re.compile(r"<nowiki\s*/>|</?nowiki>", re.IGNORECASE)
_BRACES = re.compile(r"\{\{\{|\}\}\}|\{\{|\}\}|^[ \t]*\{\||^[ \t]*\|\}", re.MULTILINE)
# A caption may hold single brackets (an external link), never an unresolved [[...]].
_LINK = re.compile(r"\[\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\]")
_ARG_PIPE = re.compile(r"\|(?![^\[]*\]\])")  # a template's pipe, not a link's
_EXTERNAL = re.compile(r"\[(?:https?:|ftp:|//)[^\s\]]*(?:\s+([^\]]*))?\]", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*\b[^<>]*?/?>")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_QUOTES = re.compile(r"'{2,}")
_MAGIC = re.compile(r"__[A-Z]+__")
_HEADING = re.compile(r"^(={1,6})\s*(.*?)\s*\1\s*$", re.MULTILINE)
_LIST = re.compile(r"^([*#:;]+)\s*", re.MULTILINE)
_RULE = re.compile(r"^-{4,}\s*$", re.MULTILINE)
_EMPTY_PARENS = re.compile(r"\s?\(\s*[,;:]?\s*\)")
_LEADING_PUNCT = re.compile(r"\(\s*[,;:]\s*")  # what a removed template at "(" leaves
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([,.;:])")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_LANG_CODE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]+)*$")
# Inline templates whose output is prose: {{lang|fr|text}}, {{nowrap|text}}, {{convert|5|km}}.
_KEPT_TEMPLATES = {"lang", "nowrap", "nobr", "small", "abbr", "convert", "cvt", "sic", "em"}


def plain_text(wikitext: str, site: Site | None = None) -> str:
    """The text a reader sees, without templates, tables, references, categories, files and
    interlanguage links; headings and list items stay as lines of their own."""
    site = site or Site()
    text = _COMMENT.sub("", wikitext)
    text = _REF.sub("", text)
    text = _DROPPED_TAGS.sub("", text)
    text = _remove_braces(text)
    text = _replace_links(text, site)
    text = _EXTERNAL.sub(lambda m: m.group(1) or "", text)
    text = _BR.sub("\n", text)
    text = _NOWIKI.sub("", text)
    text = _TAG.sub("", text)
    text = _QUOTES.sub("", text)
    text = _MAGIC.sub("", text)
    text = _HEADING.sub(r"\2", text)
    text = _LIST.sub(_list_marker, text)
    text = _RULE.sub("", text)
    text = html.unescape(text)
    text = _EMPTY_PARENS.sub("", text)
    text = _LEADING_PUNCT.sub("(", text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    lines = (line.strip() for line in text.split("\n"))
    text = "\n".join(line for line in lines if line not in ("-",))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _list_marker(match: re.Match[str]) -> str:
    return "- " if match.group(1)[-1] in "*#" else ""


def _remove_braces(text: str) -> str:
    """Templates ({{...}}, nested), parameters ({{{...}}}) and tables ({|...|}) removed as
    whole spans; an opener never closed is dropped alone, as MediaWiki shows it as text."""
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    last = 0
    for match in _BRACES.finditer(text):
        token = match.group().strip()
        if token in ("{{", "{{{", "{|"):
            if not stack:
                out.append(text[last : match.start()])
            stack.append((token, match.end()))
            continue
        opener = {"}}": "{{", "}}}": "{{{", "|}": "{|"}[token]
        if not any(kind == opener for kind, _ in stack):
            if not stack:
                out.append(text[last : match.start()])
                last = match.end()
            continue
        while stack and stack[-1][0] != opener:
            stack.pop()  # an unclosed inner span ends with its enclosing one
        _, body_start = stack.pop()
        if not stack:
            out.append(_kept_template(text[body_start : match.start()]) if token == "}}" else "")
            last = match.end()
    if stack:
        # Unclosed: keep what follows the outermost opener, and clean it the same way.
        _, body_start = stack[0]
        return "".join(out) + _remove_braces(text[body_start:])
    out.append(text[last:])
    return "".join(out)


def _kept_template(body: str) -> str:
    if "{{" in body:
        return ""
    parts = [p.strip() for p in _ARG_PIPE.split(body)]
    name = parts[0].lower().replace("_", " ").strip()
    args = [p for p in parts[1:] if "=" not in p]
    if name in ("convert", "cvt") and len(args) >= 2:
        return f"{args[0]} {args[1]}"
    if name == "lang" and len(args) >= 2:
        return args[1]
    if name.startswith("lang-") and args:
        return args[0]
    if name in _KEPT_TEMPLATES and args:
        return args[0]
    return ""


def _replace_links(text: str, site: Site) -> str:
    # Innermost first: a file's caption may hold links of its own.
    while True:
        new = _LINK.sub(lambda m: _link_text(m.group(1), site), text)
        if new == text:
            return new
        text = new


def _link_text(inner: str, site: Site) -> str:
    target, _, label = inner.partition("|")
    target = target.strip()
    if target.startswith(":"):  # [[:Category:X]] is a visible link, not a tag
        return label or target[1:]
    prefix, colon, _ = target.partition(":")
    prefix = prefix.strip().replace("_", " ").lower()
    if colon:
        if prefix in site.file_prefixes or prefix in site.category_prefixes:
            return ""
        if prefix not in site.namespace_names and _LANG_CODE.match(prefix) and not label:
            return ""  # an interlanguage link: [[de:Berlin]]
    if label:
        return label.strip()
    if inner.endswith("|"):  # the pipe trick: [[Paris (band)|]] shows "Paris"
        return re.sub(r"\s*\(.*\)$", "", target)
    return target
