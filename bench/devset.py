"""An annotated extraction dev set: Sphinx pages paired with the text they were built from.

Each Sphinx site under bench/.work/ (see bench/debian_docs.py) ships `_sources/<page>.rst.txt`,
the reStructuredText of `<page>.html`. The gold text of a page is that source turned into what
the page shows as its main content: headings, paragraphs, list items, table cells, literal and
code blocks verbatim, admonition titles ("Note", "See also"), version notes ("New in version
3.2"), object signatures; with no markup (roles, link targets, substitutions, comments, option
lines) and nothing for directives that render no text (index, module, highlight, hidden
toctree) or only navigation (`contents`, a local table of contents in a `<nav>`).
Navigation, sidebars, footers and the search box are not in the source, so they are not in
the gold: an extractor that keeps them loses precision.

How good the gold is: against the plain text of each page's main landmark (`role="main"`,
permalink marks left out) it scored F1 0.995 when measured (issue 3), so about 1% of tokens
are the gold's own noise, the same for every extractor.

Known biases, all small next to the page furniture the benchmark is about:
- Pages whose text comes from elsewhere are left out rather than guessed: autodoc (docstrings),
  `include`/`literalinclude`, `autosummary`, and visible `toctree`s (a list of other pages'
  titles). So hub pages whose main content is a list of links are not in the set, and a rule
  that drops link lists inside the main content would not be caught here.
- Text that Sphinx or an extension generates is approximated or missing: `:ref:` to a label
  that is not a section title, `|version|`, auto-numbered footnotes and section numbers,
  signature decorations ("static", "async"), viewcode's "[source]" links, the Python C-API's
  "Part of the Stable ABI" and "Return value: New reference"; the wording of version notes and
  field labels ("Parameters", "Returns") may differ from the theme's.
- The pages are Sphinx pages: well-formed, with a main landmark and ARIA roles on the
  furniture, and the class names and layouts of five Sphinx themes. The other sets of
  bench/extract_sets.py hold the ordinary web pages.
"""

from __future__ import annotations

import gzip
import hashlib
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.debian_docs import SITES, unpack

PAGES_PER_SITE = 60  # 219 pages from the 5 sites (requests has 11); all would take minutes
# Pages whose text is pulled from outside their source: the gold would be a guess.
OUTSIDE_TEXT = re.compile(
    r"^\s*\.\. (auto\w+|include|literalinclude|program-output|command-output)::", re.MULTILINE
)
TOCTREE = re.compile(r"^(\s*)\.\. toctree::[^\n]*\n((?:\1\s+[^\n]*\n|\s*\n)*)", re.MULTILINE)


@dataclass(frozen=True)
class DevPage:
    site: str
    path: str  # the HTML file, relative to the site root
    html: str
    gold: str  # the page's visible main text, blocks separated by blank lines
    title: str  # the page's first heading


def load(per_site: int = PAGES_PER_SITE, sites: Iterable[str] = SITES) -> list[DevPage]:
    """A deterministic sample of `per_site` scoreable pages from each site."""
    pages: list[DevPage] = []
    for site in sites:
        root = unpack(site)
        sources = _sources(root)
        context = _Site(sources)
        scoreable = {
            name: html_path
            for name, text in sources.items()
            if _scoreable(text) and (html_path := _html(root, name)) is not None
        }
        # A hash order is a fixed sample that does not favour one part of the site.
        chosen = sorted(scoreable, key=lambda name: hashlib.sha1(name.encode()).hexdigest())
        for name in sorted(chosen[:per_site]):
            gold, title = _Page(context, name).convert(sources[name])
            html_path = scoreable[name]
            relative = str(html_path.relative_to(root))
            pages.append(DevPage(site, relative, _read(html_path), gold, title))
    return pages


def gold_text(sources: dict[str, str], name: str) -> tuple[str, str]:
    """The visible main text and the title of page `name`, given its site's sources."""
    return _Page(_Site(sources), name).convert(sources[name])


def _sources(root: Path) -> dict[str, str]:
    """Docname ("library/json") -> its reStructuredText; Markdown sources are skipped."""
    found = {}
    for path in sorted((root / "_sources").rglob("*.txt")):
        name = path.relative_to(root / "_sources").as_posix()
        if name.endswith(".rst.txt"):
            found[name.removesuffix(".rst.txt")] = path.read_text(encoding="utf-8")
        elif not name.endswith((".md.txt", ".ipynb.txt")):  # Sphinx < 1.5 kept the suffix off
            found[name.removesuffix(".txt")] = path.read_text(encoding="utf-8")
    return found


def _scoreable(source: str) -> bool:
    if OUTSIDE_TEXT.search(source):
        return False
    return all(":hidden:" in match.group(2) for match in TOCTREE.finditer(source))


def _html(root: Path, name: str) -> Path | None:
    for suffix in (".html", ".html.gz"):  # Debian compresses large pages
        if (path := root / f"{name}{suffix}").is_file():
            return path
    return None


def _read(path: Path) -> str:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8")


# The gold text: reStructuredText as Sphinx renders it, as far as a page needs.

ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1+\s*$")  # a line of one repeated punctuation mark
TABLE_BORDER = re.compile(r"^[=\-+ |]+$")  # simple and grid table rules
BULLET = re.compile(r"^([-*+•]|\d+[.)]|#\.|\(\d+\)|[a-zA-Z][.)]|\([a-zA-Z]\))( +|$)")
FIELD = re.compile(r"^:((?:[^:\\`]|\\.)+):(?: +|$)")
DIRECTIVE = re.compile(r"^([\w:.+-]+)::(?: +(.*)|$)")
LABEL = re.compile(r"^\.\. _([^:`]+|`[^`]+`):\s*$")
ROLE = re.compile(r":((?:[\w.+-]+:)+)`((?:[^`\\]|\\.)+)`")
LITERAL = re.compile(r"``(.+?)``")
REFERENCE = re.compile(r"`((?:[^`\\]|\\.)+)`(?:__?)?")
NAMED_REFERENCE = re.compile(r"(?<![\w`])([A-Za-z0-9][\w.-]*[A-Za-z0-9]|[A-Za-z0-9])__?(?![\w`])")
FOOTNOTE_REFERENCE = re.compile(r" ?\[([^\]\s]+)\]_")
SUBSTITUTION = re.compile(r"\|([^|\s](?:[^|]*[^|\s])?)\|(?:__?)?")
EMBEDDED_TARGET = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.DOTALL)

NO_TEXT = frozenset(
    "index toctree module currentmodule highlight sectionauthor moduleauthor codeauthor "
    "testsetup testcleanup tabularcolumns default-role role raw meta image inheritance-diagram "
    "graphviz digraph todo program py:module py:currentmodule c:namespace cpp:namespace "
    "title include literalinclude contents".split()
)
VERBATIM = frozenset(
    "code-block sourcecode code doctest testcode testoutput productionlist math "
    "parsed-literal code-tab".split()
)
TITLED = {
    "note": "Note",
    "warning": "Warning",
    "seealso": "See also",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "attention": "Attention",
    "caution": "Caution",
    "danger": "Danger",
    "error": "Error",
    "impl-detail": "CPython implementation detail:",
    "versionadded": "New in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
    "availability": "Availability:",
    # cryptography's own directive; its fixed text is the whole of what it renders
    "hazmat": "Danger This is a “Hazardous Materials” module. You should ONLY use it if "
    "you’re 100% absolutely sure that you know what you’re doing because this module is "
    "full of land mines, dragons, and dinosaurs with laser guns.",
}
SIGNATURE_PREFIX = {"class": "class", "exception": "exception", "py:class": "class"}
PYTHON_OBJECTS = frozenset(
    "function method attribute data class exception decorator decoratormethod classmethod "
    "staticmethod coroutinefunction coroutinemethod abstractmethod".split()
)
OBJECTS = PYTHON_OBJECTS | frozenset(
    "describe object option cmdoption envvar opcode pdbcommand confval event "
    "setuptools-confval 2to3fixer".split()
)
# Sphinx gathers info fields under one label; the types merge into the parameter line.
FIELD_LABELS = {
    **dict.fromkeys("param parameter arg argument key keyword kwarg kwparam".split(), "Parameters"),
    **dict.fromkeys("type vartype meta".split(), ""),
    **dict.fromkeys("returns return".split(), "Returns"),
    "rtype": "Return type",
    **dict.fromkeys("raises raise except exception".split(), "Raises"),
    **dict.fromkeys("var ivar cvar".split(), "Variables"),
}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _indented(lines: list[str], start: int, min_indent: int = 1) -> tuple[list[str], int]:
    """The block from `start` indented at least `min_indent`, dedented; and the index after."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) >= min_indent):
        end += 1
    block = lines[start:end]
    while block and not block[-1].strip():
        block.pop()
        end -= 1
    return _dedent(block), end


def _dedent(block: list[str]) -> list[str]:
    width = min((_indent(line) for line in block if line.strip()), default=0)
    return [line[width:] for line in block]


@dataclass
class _Site:
    """What a page's text needs from the rest of its site: section labels, page titles."""

    sources: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)  # lowercased label -> section title
    titles: dict[str, str] = field(default_factory=dict)  # docname -> first heading

    def __post_init__(self) -> None:
        for name, source in self.sources.items():
            lines = source.expandtabs(8).splitlines()
            pending: list[str] = []
            for i, line in enumerate(lines):
                if match := LABEL.match(line):
                    pending.append(match.group(1).strip("`").lower())
                elif (title := _heading_at(lines, i)) is not None:
                    self.titles.setdefault(name, title)
                    self.labels.update(dict.fromkeys(pending, title))
                    pending = []
                elif line.strip() and not ADORNMENT.match(line):
                    pending = []


def _heading_at(lines: list[str], i: int) -> str | None:
    """The raw title text if line `i` is a section title (underlined, maybe overlined)."""
    line = lines[i]
    if not line.strip() or line[0].isspace() or ADORNMENT.match(line):
        return None
    if i + 1 >= len(lines) or not (under := ADORNMENT.match(lines[i + 1])):
        return None
    if i > 0 and lines[i - 1].strip() and not ADORNMENT.match(lines[i - 1]):
        return None  # the middle of a paragraph, not a title
    if len(lines[i + 1].rstrip()) < min(len(line.rstrip()), 4) or under.group(1) == ":":
        return None
    return line.strip()


class _Page:
    """One source turned into blocks of visible text."""

    def __init__(self, site: _Site, name: str) -> None:
        self.site, self.name = site, name
        self.blocks: list[str] = []
        self.substitutions: dict[str, str] = {}
        self.module = ""  # the current Python module: Sphinx shows it before top-level names
        self.objects = 0  # object descriptions open around the text being converted

    def convert(self, source: str) -> tuple[str, str]:
        lines = source.expandtabs(8).splitlines()
        for match in re.finditer(r"^\.\. \|([^|]+)\| (replace|unicode)::\s*(.*)$", source, re.M):
            name, kind, value = match.groups()
            if kind == "unicode":
                value = "".join(chr(int(code[2:], 16)) for code in re.findall(r"U\+\w+", value))
            self.substitutions[name] = value
        start = 0
        while start < len(lines) and (not lines[start].strip() or FIELD.match(lines[start])):
            start += 1  # file-wide metadata (:orphan:, :tocdepth:) renders nothing
        self._blocks(lines[start:])
        title = self._inline(self.site.titles.get(self.name, ""))
        return "\n\n".join(block for block in self.blocks if block.strip()), title

    def _emit(self, text: str) -> None:
        self.blocks.append(text)

    def _blocks(self, lines: list[str]) -> None:
        i = 0
        field_label: str | None = None  # consecutive parameters share one label
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            if not stripped:
                i += 1
                continue
            if match := FIELD.match(line):
                item, i = _indented(lines, i + 1)
                field_label = self._field(match.group(1), [line[match.end() :], *item], field_label)
                continue
            field_label = None
            if _indent(line) > 0:  # block quote or definition body
                block, i = _indented(lines, i)
                self._blocks(block)
            elif line.startswith("__ "):
                _, i = _indented(lines, i + 1)  # anonymous link target
            elif line.startswith(".. ") or stripped == "..":
                body, i = _indented(lines, i + 1)
                self._explicit(line[3:].strip(), body)
            elif (title := _heading_at(lines, i)) is not None:
                self._emit(self._inline(title))
                i += 2
            elif (
                ADORNMENT.match(line)
                and i + 2 < len(lines)
                and lines[i + 2].strip() == stripped
                and lines[i + 1].strip()
            ):
                self._emit(self._inline(lines[i + 1].strip()))  # overlined title
                i += 3
            elif ADORNMENT.match(line) or TABLE_BORDER.match(stripped):
                i += 1  # transition or table rule
            elif match := BULLET.match(line):
                item, i = _indented(lines, i + 1, len(match.group(0)) or 1)
                self._blocks([line[match.end() :], *item])
            elif stripped.startswith(">>>"):
                end = i
                while end < len(lines) and lines[end].strip():
                    end += 1
                self._emit("\n".join(lines[i:end]))
                i = end
            else:
                i = self._paragraph(lines, i)

    def _paragraph(self, lines: list[str], i: int) -> int:
        end = i
        while (
            end < len(lines)
            and lines[end].strip()
            and _indent(lines[end]) == 0
            and not (end > i and TABLE_BORDER.match(lines[end]))
        ):
            end += 1
        # Line blocks ("| text") and grid table rows ("| a | b |") lose their bars.
        text = " ".join(line.strip().strip("|").strip() for line in lines[i:end])
        if not text.endswith("::"):
            self._emit(self._inline(text))
            return end
        self._emit(self._inline(text[:-2].rstrip() if text[-3:-2] in (" ", "") else text[:-1]))
        start = end
        while start < len(lines) and not lines[start].strip():
            start += 1
        if start < len(lines) and _indent(lines[start]) > 0:
            literal, end = _indented(lines, start)
            self._emit("\n".join(literal))
        return end

    def _field(self, name: str, body: list[str], previous: str | None) -> str:
        """A field list item; Sphinx renders parameter fields as "Parameters: x – text"."""
        kind, _, argument = name.partition(" ")
        label = FIELD_LABELS.get(kind, name)
        if argument and label in ("Returns", "Return type"):
            label, argument = name, ""  # not an info field: shown as written ("Return bytes")
        if label and label != previous:
            self._emit(label)
        if argument and kind not in ("type", "vartype"):
            self._emit(self._inline(argument))
        self._blocks(_dedent(body))
        return label or previous or ""

    def _explicit(self, head: str, body: list[str]) -> None:
        """A directive, footnote, target or comment: `.. head` with its indented body."""
        if footnote := re.match(r"^\[([^\]]+)\]\s*(.*)$", head):
            if not footnote.group(1).startswith(("#", "*")):
                self._emit(footnote.group(1))
            self._blocks([footnote.group(2), *body])
            return
        directive = DIRECTIVE.match(head)
        if directive is None:  # comment, target, or substitution definition
            return
        name = directive.group(1)
        arguments, options, content = _split_directive(directive.group(2) or "", body)
        if name in ("module", "currentmodule", "py:module", "py:currentmodule"):
            self.module = "" if arguments == "None" else arguments.split("\n")[0]
        if name in NO_TEXT or name.startswith("auto") or "hide" in options:
            return
        if name == "only" and not re.search(r"\bhtml\b|not\s+(latex|man|texinfo)", arguments):
            return
        if "caption" in options:
            self._emit(self._inline(options["caption"]))
        if name in VERBATIM:
            verbatim = arguments if name in ("productionlist", "math") else ""
            if name == "productionlist" and ":" not in verbatim.split("\n")[0]:
                verbatim = verbatim.partition("\n")[2]  # the first line names a grammar
            self._emit("\n".join(filter(None, [verbatim, *content])))
        elif name in TITLED:
            self._emit(" ".join(filter(None, [TITLED[name], self._inline(arguments)])))
            self._blocks(content)
        elif name == "deprecated-removed":
            first, _, rest = arguments.partition(" ")
            removed, _, text = rest.partition(" ")
            self._emit(
                f"Deprecated since version {first}, will be removed in version {removed}: "
                + self._inline(text)
            )
            self._blocks(content)
        elif name == "audit-event":
            event, _, args = arguments.partition(" ")
            self._emit(f"Raises an auditing event {event} with arguments {args.split(' ')[0]}.")
        elif name in ("figure", "csv-table") and "file" not in options:
            self._blocks(content)
        elif name in OBJECTS or ":" in name:
            self._signatures(name, arguments)
            self.objects += 1
            self._blocks(content)
            self.objects -= 1
        else:  # containers: topic, sidebar, rubric, tabs, glossary, list-table, admonition...
            if arguments:
                self._emit(self._inline(arguments))
            self._blocks(content)

    def _signatures(self, name: str, arguments: str) -> None:
        prefix = SIGNATURE_PREFIX.get(name, "")
        python = name.removeprefix("py:") in PYTHON_OBJECTS
        module = f"{self.module}." if python and self.module and not self.objects else ""
        for signature in arguments.split("\n"):
            qualified = "." in signature.partition("(")[0]  # "Path.stat": no module shown
            shown = signature.strip() if qualified else module + signature.strip()
            self._emit(" ".join(filter(None, [prefix, shown])))

    def _inline(self, text: str) -> str:
        """Text with its inline markup resolved to what the reader sees."""
        saved: list[str] = []

        def save(value: str) -> str:
            saved.append(value)
            return f"\x00{len(saved) - 1}\x00"

        text = LITERAL.sub(lambda m: save(m.group(1)), text)
        text = ROLE.sub(lambda m: save(self._role(m.group(1)[:-1], m.group(2))), text)
        text = SUBSTITUTION.sub(lambda m: save(self.substitutions.get(m.group(1), "")), text)
        text = FOOTNOTE_REFERENCE.sub(lambda m: _footnote_label(m.group(1)), text)
        text = REFERENCE.sub(lambda m: save(_link_text(m.group(1))), text)
        text = NAMED_REFERENCE.sub(r"\1", text)
        text = re.sub(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|\*(?=\S)(.+?)(?<=\S)\*", r"\1\2", text)
        text = re.sub(r"\\(.)", lambda m: "" if m.group(1) == " " else m.group(1), text)
        return re.sub("\x00(\\d+)\x00", lambda m: saved[int(m.group(1))], text)

    def _role(self, role: str, content: str) -> str:
        role = role.rsplit(":", 1)[-1]  # "py:func" -> "func"
        content = re.sub(r"\\(.)", r"\1", content)
        text, target = _explicit_target(content)
        if text is not None:
            return text
        if role == "ref":
            return self.site.labels.get(target.lower(), target)
        if role == "doc":
            path = target if target.startswith("/") else posixpath.join(self.name, "..", target)
            return self.site.titles.get(posixpath.normpath(path).lstrip("/"), target)
        if role in ("pep", "rfc"):
            return f"{role.upper()} {target}"
        if role in ("issue", "gh"):
            return f"{'bpo' if role == 'issue' else 'gh'}-{target}"
        if role == "abbr":
            return re.sub(r"\s*\(.*\)$", "", target)
        if role in ("menuselection", "guilabel"):
            return target.replace("&", "").replace("-->", "‣")
        if role in ("samp", "file"):
            return target.replace("{", "").replace("}", "")
        if target.startswith("~"):  # ~os.path.join shows as join
            return target[1:].rsplit(".", 1)[-1]
        return target.lstrip("!")


def _split_directive(first: str, body: list[str]) -> tuple[str, dict[str, str], list[str]]:
    """Arguments, options and content of a directive (the argument block ends at a blank)."""
    head: list[str] = [first] if first else []
    rest = body
    if first or (body and FIELD.match(body[0])):
        cut = next((i for i, line in enumerate(body) if not line.strip()), len(body))
        head, rest = head + body[:cut], body[cut + 1 :]
    arguments: list[str] = []
    options: dict[str, str] = {}
    option = ""
    for line in head:
        if match := FIELD.match(line.strip()):
            option = match.group(1)
            options[option] = line.strip()[match.end() :]
        elif option:  # an option's value continued on the next line
            options[option] += " " + line.strip()
        else:
            arguments.append(line.strip())
    return "\n".join(arguments), options, rest


def _explicit_target(content: str) -> tuple[str | None, str]:
    """("text", "target") for `text <target>`; (None, content) when no text is given."""
    if match := EMBEDDED_TARGET.match(content):
        return (match.group(1) or None), match.group(2)
    return None, content


def _link_text(content: str) -> str:
    text, target = _explicit_target(content)
    return text if text is not None else target


def _footnote_label(label: str) -> str:
    return "" if label.startswith(("#", "*")) else f" {label}"
