"""Text normalisation: mojibake repaired, Unicode NFC, no control characters, tidy lines.

Clean text comes out as it went in, but for whitespace: single spaces, no spaces at the ends
of lines, at most one blank line in a row. Mojibake ("cafÃ©", "â€œ", "Ð¿Ñ€Ð¸") is repaired
with ftfy's `fix_text`, with only the fixers that undo damage turned on: the ones that rewrite
correct text (curly quotes made straight, Chinese full-width punctuation made ASCII, HTML
entities decoded in a page about HTML) are off; see FTFY below.

ftfy reads about 5 MB/s, which would make it most of the cleaning stage's cost: nearly every
page has some non-ASCII character (a curly quote, a dash), so skipping pure-ASCII text alone
saves little. It fixes line by line, though, and a line can only hold mojibake where a UTF-8
lead byte, decoded in one of the encodings ftfy undoes, is followed by the continuation
bytes it announces ("Ã" then "©"); a scan in C finds those lines and only they go to ftfy,
with the same result. bench/normalize.py measures it: on Python's docs about as fast as
without repair, five times faster than ftfy on every line.
"""

from __future__ import annotations

import re
import unicodedata

import ftfy
from ftfy.chardata import CHARMAP_ENCODINGS

from lmkiln.tasks.config.clean import NormalizeConfig

FTFY = ftfy.TextFixerConfig(
    # Extracted text has its entities decoded already; a "&lt;" left in it is the text of a
    # page about HTML, and decoding it would change what the page says.
    unescape_html=False,
    # "，" and "！" are how Chinese and Japanese are written, not a width error.
    fix_character_width=False,
    # Curly quotes and apostrophes are correct typography; the tokenizer learns both kinds.
    uncurl_quotes=False,
    # Kept on (the defaults): terminal escapes, mojibake in any of ftfy's encodings (with
    # C1 controls read as Windows-1252, as browsers do), "ﬁ" ligatures, surrogates, line
    # breaks, and ftfy's own removal of control characters. NFC comes after, below.
    normalization=None,
)


def _hint_pattern() -> re.Pattern[str]:
    """Where ftfy may change a line: the bytes of a UTF-8 character as one of the single-byte
    encodings ftfy undoes decodes them ("Ã©", "â€œ", "Ð¿", "√©"): a lead byte and as many
    continuation bytes as it announces (the last may have become "?" or "\ufffd"); or a C1
    control, a Latin ligature or a lone surrogate. ftfy fixes line by line and leaves a line
    with none of these as it is, so only such lines are given to it."""

    def chars(codes: range, encoding: str) -> str:
        return bytes(codes).decode(encoding)

    def cls(text: str) -> str:
        return "".join(re.escape(c) for c in sorted(set(text)))

    others = r"\x80-\x9f\ufb00-\ufb06\ud800-\udfff"
    conts, follows = "", []
    for encoding in CHARMAP_ENCODINGS:
        cont = chars(range(0x80, 0xC0), encoding) + "\ufffd"
        conts += cont
        # Lead bytes of 2-, 3- and 4-byte characters, and how many continuation bytes follow.
        for first, last, count in ((0xC2, 0xDF, 1), (0xE0, 0xEF, 2), (0xF0, 0xF4, 3)):
            lead = cls(chars(range(first, last + 1), encoding))
            rest = f"(?=[{cls(cont)}]{{{count - 2}}}[{cls(cont)}?])" if count > 1 else ""
            follows.append(f"(?<=[{lead}][{cls(cont)}]){rest}")
    # Anchored on the first continuation byte, not the lead: leads include every Cyrillic
    # and Greek letter (Windows-1251, -1253), continuation bytes are rarer characters, and
    # a pattern that starts with one character class is searched for in C.
    return re.compile(f"[{cls(conts)}{others}](?:(?<=[{others}])|{'|'.join(follows)})")


# ftfy's sloppy-windows-* codecs are registered by importing ftfy.
_HINT = _hint_pattern()


# A terminal colour code ("\x1b[31m") would leave "[31m" behind once ESC is removed; ftfy
# drops these too, but only on the lines it is given.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# NEL (\x85) is not here: on the web it is far more often a Windows-1252 ellipsis, which
# ftfy restores; without ftfy it goes with the other C1 controls.
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\u2028\u2029]")
# Control characters other than newline and tab carry no text and confuse tokenizers, and
# so do the invisible ones: byte order mark, zero-width space, word joiner, soft hyphen,
# and the deprecated format and annotation characters ftfy removes too.
# Zero-width (non-)joiners stay: Persian, Indic scripts and emoji sequences need them.
_CONTROL = re.compile(
    r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u200b\u2060\u206a-\u206f\ufeff\ufff9-\ufffc]"
)
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize(text: str, config: NormalizeConfig | None = None) -> str:
    """Mojibake repaired, NFC, no control characters, single spaces, at most one blank line."""
    config = config or NormalizeConfig()
    if config.fix_mojibake and not text.isascii():
        text = fix_mojibake(text)
    text = unicodedata.normalize("NFC", _ANSI.sub("", text))
    text = _CONTROL.sub("", _LINE_BREAKS.sub("\n", text))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def fix_mojibake(text: str) -> str:
    """ftfy with the fixers of FTFY on each line that may need it (see _hint_pattern): the
    same result as ftfy.fix_text on the whole text, at a fraction of the cost."""
    out, done = [], 0
    for match in _HINT.finditer(text):
        if match.start() < done:
            continue
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        end = len(text) if end == -1 else end + 1
        out += [text[done:start], ftfy.fix_text(text[start:end], FTFY)]
        done = end
    out.append(text[done:])
    return "".join(out)
