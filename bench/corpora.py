"""Real text for the cleaning benchmarks, built offline from what the machine already has.

- `translations()`: a labelled multilingual set from the gettext catalogs under
  /usr/share/locale (GLib, GTK, coreutils, git, apt, dpkg, GnuPG, ...): each translated
  message is text in the catalog's language, written by a person, and its msgid is English.
  Messages of one catalog are joined into short (about 100 characters) and long (about 1000)
  samples. Their bias: software messages, imperative and technical, with more "file",
  "error" and "cannot" than the web; but every language is drawn from the same catalogs, so
  the comparison between detectors is fair, and the confusable pairs (Danish/Norwegian,
  Czech/Slovak, Russian/Ukrainian/Bulgarian, Croatian/Serbian, Spanish/Catalan,
  Indonesian/Malay) are all there.
- `python_docs()`: the main text of every page of Python 3.11's documentation (Debian's
  python3.11-doc, bench/debian_docs.py), extracted with lmkiln.tasks.collect.extract.main_text:
  technical English full of code, version numbers, dates, hex constants and addresses in examples.
"""

from __future__ import annotations

import gettext
import gzip
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from bench.debian_docs import WORK, unpack

LOCALE_ROOT = Path("/usr/share/locale")
# Language code -> the catalog locales written in it. Serbian here is Cyrillic (sr, not
# sr@latin); Chinese is Simplified and Traditional together.
LANGUAGES = {
    "en": [],  # the msgids
    "de": ["de"],
    "fr": ["fr"],
    "es": ["es"],
    "it": ["it"],
    "pt": ["pt", "pt_BR"],
    "nl": ["nl"],
    "sv": ["sv"],
    "da": ["da"],
    "nb": ["nb"],
    "fi": ["fi"],
    "pl": ["pl"],
    "cs": ["cs"],
    "sk": ["sk"],
    "ru": ["ru"],
    "uk": ["uk"],
    "bg": ["bg"],
    "sr": ["sr"],
    "hr": ["hr"],
    "tr": ["tr"],
    "ro": ["ro"],
    "hu": ["hu"],
    "el": ["el"],
    "ca": ["ca"],
    "id": ["id"],
    "ms": ["ms"],
    "vi": ["vi"],
    "ja": ["ja"],
    "zh": ["zh_CN", "zh_TW"],
    "ko": ["ko"],
    "ar": ["ar"],
    "he": ["he"],
}
# Name lists (countries, languages, currencies, keyboard layouts, MIME types): not prose.
SKIP_DOMAINS = re.compile(r"^(iso_|xkeyboard-config|shared-mime-info|.*-properties$)")
_FORMAT = re.compile(r"%(\d+\$)?[-+ #0']*(\*|\d+)?(\.\d+)?(l|ll|h|z|j|t|L|I64)?[a-zA-Z%]")
_MARKUP = re.compile(r"<[^>]{1,40}>|\{[^{}]{0,30}\}|\$\{?\w+\}?")
_MNEMONIC = re.compile(r"(?<![\w_])_(?=\w)|&(?=\w)|\(_\w\)|\(&\w\)")
_CODE_LIKE = re.compile(r"--|\\|/\w|=|\busage\b|\[\w", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
SHORT_CHARS = 100
LONG_CHARS = 1000


@dataclass(frozen=True)
class Sample:
    lang: str
    length: str  # "short" | "long"
    source: str  # the catalog it was joined from, e.g. "fr/glib20"
    text: str


def _clean(message: str) -> str | None:
    """The prose of a message; None for command lines, option lists and fragments."""
    if _CODE_LIKE.search(message):
        return None
    text = _SPACE.sub(" ", _MNEMONIC.sub("", _MARKUP.sub("", _FORMAT.sub("", message)))).strip()
    letters = sum(c.isalpha() for c in text)
    ideographic = sum(ord(c) > 0x2E80 for c in text)
    if letters < 0.75 * len(text.replace(" ", "")) or not text:
        return None
    if len(text.split()) < 4 and ideographic < 8:
        return None
    return text


def _catalog(path: Path) -> dict[str, str]:
    """msgid -> msgstr of one compiled catalog; empty when Python cannot read it."""
    try:
        with path.open("rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog
    except (OSError, LookupError, ValueError):  # unknown charsets, malformed files
        return {}
    return {
        (k[0] if isinstance(k, tuple) else k): v
        for k, v in catalog.items()
        if k and isinstance(v, str) and v
    }


def _messages(lang: str) -> dict[str, list[str]]:
    """ "locale/domain" -> the cleaned messages in `lang`, in msgid order."""
    found: dict[str, list[str]] = {}
    # English is the msgids; one catalog set is enough, the others repeat them.
    for locale in LANGUAGES[lang] or ["de"]:
        for path in sorted((LOCALE_ROOT / locale / "LC_MESSAGES").glob("*.mo")):
            if SKIP_DOMAINS.match(path.stem):
                continue
            pairs = sorted(_catalog(path).items())
            # An untranslated message (msgstr == msgid) is English, not the catalog's language.
            raw = [k for k, _ in pairs] if lang == "en" else [v for k, v in pairs if v != k]
            kept = [text for text in map(_clean, raw) if text]
            if kept:
                found[f"{lang if lang == 'en' else locale}/{path.stem}"] = kept
    return found


def _join(messages: list[str], start: int, chars: int) -> tuple[str, int]:
    """Messages from `start` joined until `chars` long; the cut ends at a word boundary."""
    parts, size, i = [], 0, start
    while size < chars and i < len(messages):
        parts.append(messages[i])
        size += len(messages[i]) + 1
        i += 1
    text = " ".join(parts)
    if len(text) > chars * 1.3:
        cut = text.rfind(" ", chars, int(chars * 1.3))
        text = text[: cut if cut > 0 else int(chars * 1.3)]
    return text, i


def translations(short: int = 200, long: int = 40, seed: int = 0) -> list[Sample]:
    """Up to `short` short and `long` long samples per language of LANGUAGES, fixed by seed."""
    rng = random.Random(seed)
    samples: list[Sample] = []
    for lang in LANGUAGES:
        catalogs = _messages(lang)
        for length, count, chars in (("short", short, SHORT_CHARS), ("long", long, LONG_CHARS)):
            made: list[Sample] = []
            sources = sorted(catalogs)
            rng.shuffle(sources)
            # Round-robin over catalogs, so no one program's vocabulary dominates a language.
            cursors = dict.fromkeys(sources, 0)
            while len(made) < count and cursors:
                for source in list(cursors):
                    messages = catalogs[source]
                    text, end = _join(messages, cursors[source], chars)
                    if len(text) < chars * 0.8:
                        del cursors[source]
                        continue
                    cursors[source] = end
                    made.append(Sample(lang, length, source, text))
                    if len(made) == count:
                        break
            samples.extend(made)
    return samples


def python_docs() -> list[tuple[str, str]]:
    """(page path, main text) of every HTML page of the Python 3.11 docs; cached as JSON."""
    cache = WORK / "python3.11-doc-text.json"
    if cache.is_file():
        return [tuple(pair) for pair in json.loads(cache.read_text(encoding="utf-8"))]
    from lmkiln.tasks.collect.extract.main_text import extract

    root = unpack("python3.11-doc")
    pages = []
    for path in sorted([*root.rglob("*.html"), *root.rglob("*.html.gz")]):
        if "_static" in path.parts or "_sources" in path.parts:
            continue
        data = path.read_bytes()
        html = (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")
        relative = path.relative_to(root).as_posix()
        text = extract(html, f"https://docs.python.org/3.11/{relative}").text
        if text:
            pages.append((relative, text))
    cache.write_text(json.dumps(pages), encoding="utf-8")
    return pages
