"""Words and sentences of English text as datatrove 0.10.1 counts them, without spaCy.

datatrove's quality filters split English into words with spaCy's blank English tokenizer
(`SpaCyTokenizer("en")` in datatrove/utils/word_tokenizers.py) and count C4's sentences with
spaCy's rule-based sentencizer. This module applies the same rules in plain Python: spaCy
3.8's English prefixes, suffixes, infixes, URL pattern and tokenizer exceptions (MIT
licence), and its second pass that re-joins exceptions split by affixes ("):" stays one
token). spaCy tokenizes each whitespace-separated chunk on its own too, so a chunk's tokens
are cached, as ids into a table of the tokens seen with what the rules ask of each (length,
punctuation, letters), and most of a document costs one dict lookup per chunk.
bench/clean_rules.py measures the agreement with spaCy, which the pipeline does not need.
The caches are per process and not for threads: run documents in parallel in processes.

Not reproduced: an exception re-joined across a space in spaCy's second pass, and letters
outside the Basic Multilingual Plane in the affix rules.

Longer than the house's ~400 lines: half of it is spaCy's rule tables, which read best beside
the two passes that apply them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from itertools import chain
from typing import cast

import numpy as np

# spaCy's Sentencizer.default_punct_chars: a token of one of these ends a sentence.
SENTENCE_ENDS = frozenset(
    "!.?\u0589\u061f\u06d4\u0700\u0701\u0702\u07f9\u0964\u0965\u104a\u104b\u1362\u1367\u1368"
    "\u166e\u1735\u1736\u1803\u1809\u1944\u1945\u1aa8\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f"
    "\u1c3b\u1c3c\u1c7e\u1c7f\u203c\u203d\u2047\u2048\u2049\u2e2e\u2e3c\u3002\ua4ff\ua60e\ua60f"
    "\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d\uaa5e\uaa5f\uaaf0\uaaf1\uabeb"
    "\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\uff61\U00010a56\U00010a57\U00011047\U00011048"
    "\U000110be\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6"
    "\U000111cd\U000111de\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b"
    "\U0001144c\U000115c2\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce"
    "\U000115cf\U000115d0\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7"
    "\U00011641\U00011642\U0001173c\U0001173d\U0001173e\U00011a42\U00011a43\U00011a9b\U00011a9c"
    "\U00011c41\U00011c42\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44\U0001bc9f"
    "\U0001da88"
)


# datatrove.utils.text (Apache-2.0): PUNCTUATION, and TERMINAL_PUNCTUATION, which holds the
# sentencizer's characters and these. A word made only of either is a "symbol" word.
PUNCTUATION = (
    "!/\u2014\u201d:\uff05\uff11\u3008&(\u3001\u2501\\\u3010#%\u300c\u300d\uff0c\u3011\uff1b+^]~"
    "\u201c\u300a\u201e';\u2019{|\u2236\xb4[=-`*\uff0e\uff08\u2013\uff1f\uff01\uff1a$\uff5e\xab"
    '\u3009,><\u300b)?\uff09\u3002\u2026@_."}\u25ba\xbb'
    + "".join(map(chr, [*range(0, 9), 11, 12, *range(13, 32), *range(127, 160)]))
)
TERMINAL_PUNCTUATION = SENTENCE_ENDS | frozenset(
    "\u061d\u061e\u0837\u0839\u083d\u083e\u17d4\u17d5\u17d6\u17d9\u17da\u1b7d\u1b7e\u2e53\u2e54"
    "\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86\U00010f87\U00010f88\U00010f89"
    "\U00011944\U00011946\U00011ef7\U00011ef8\U00011f43\U00011f44\U00016e98"
)
SYMBOL_CHARS = PUNCTUATION + "".join(TERMINAL_PUNCTUATION)


def _classes() -> tuple[str, str, str, str, frozenset[str]]:
    """Regex classes of letters, lower-case (and uncased), upper-case (and uncased) letters,
    and other symbols ("So": dingbats, emoji), from one pass over the code points; and the
    other symbols as a set."""
    members: dict[str, list[int]] = {"alpha": [], "lower": [], "upper": [], "icon": []}
    for cp in (*range(0x10000), *range(0x1F000, 0x1FB00)):
        category = unicodedata.category(chr(cp))
        if category[0] == "L":
            members["alpha"].append(cp)
            if category != "Lu":
                members["lower"].append(cp)
            if category != "Ll":
                members["upper"].append(cp)
        elif category == "So":
            members["icon"].append(cp)
    alpha, lower, upper, icon = map(_ranges, members.values())
    return alpha, lower, upper, icon, frozenset(map(chr, members["icon"]))


def _ranges(cps: list[int]) -> str:
    parts, start = [], 0
    for i in range(1, len(cps) + 1):
        if i == len(cps) or cps[i] != cps[i - 1] + 1:
            first, last = re.escape(chr(cps[start])), re.escape(chr(cps[i - 1]))
            parts.append(first if start == i - 1 else f"{first}-{last}")
            start = i
    return "".join(parts)


ALPHA, LOWER, UPPER, ICONS, _ICON_CHARS = _classes()
# spaCy's lang/char_classes.py: LIST_PUNCT, LIST_QUOTES, LIST_CURRENCY, UNITS, HYPHENS.
_PUNCT = "… …… , : ; ! ? ¿ ؟ ¡ ( ) [ ] { } < > _ # * & 。 ？ ！ ， 、 ； ： ～ · । ، ۔ ؛ ٪".split()
_QUOTES = "' \" ” “ ` ‘ ´ ’ ‚ , „ » « 「 」 『 』 （ ） 〔 〕 【 】 《 》 〈 〉 〈 〉 ⟦ ⟧".split()
_CURRENCY = "$ £ € ¥ ฿ US$ C$ A$ ₽ ﷼ ₴ ₠ ₡ ₢ ₣ ₤ ₥ ₦ ₧ ₨ ₩ ₪ ₫ ₭ ₮ ₯ ₰ ₱ ₲ ₳ ₵ ₶ ₷ ₸ ₹ ₺ ₻ ₼ ₾ ₿"
_UNITS = (  # "тбكم" is spaCy's: two units run together where its lines meet
    "km km² km³ m m² m³ dm dm² dm³ cm cm² cm³ mm mm² mm³ ha µm nm yd in ft kg g mg µg t lb oz "
    "m/s km/h kmh mph hPa Pa mbar mb MB kb KB gb GB tb TB T G M K % км км² км³ м м² м³ дм дм² "
    "дм³ см см² см³ мм мм² мм³ нм кг г мг м/с км/ч кПа Па мбар Кб КБ кб Мб МБ мб Гб ГБ гб Тб ТБ "
    "тбكم كم² كم³ م م² م³ سم سم² سم³ مم مم² مم³ كم غرام جرام جم كغ ملغ كوب اكواب"
)
_HYPHENS = "- – — -- --- —— ~".split()


def _alternatives(items: list[str]) -> str:
    return "|".join(re.escape(item) for item in items)


def _single(items: list[str]) -> str:
    """The one-character items, for a character class."""
    return "".join(re.escape(item) for item in items if len(item) == 1)


_Q = re.escape("".join(_QUOTES))
_P = re.escape("".join(_PUNCT))
_CURRENCIES = _CURRENCY.split()
# spaCy's alternatives in its order, with the one-character ones folded into one class: the
# first alternative that matches wins, and no longer one starts with one of those characters.
_PREFIX = re.compile(
    "^(?:"
    + f"[§%=—–{_single(_PUNCT)}{_single(_QUOTES)}{_single(_CURRENCIES)}{ICONS}]"
    + "|"
    + "|".join([r"\+(?![0-9])", r"\.\.+", _alternatives([c for c in _CURRENCIES if len(c) > 1])])
    + ")"
)
# Every suffix ends the string, so which alternative is tried first makes no difference.
_SUFFIX = re.compile(
    "(?:"
    + "|".join(
        [f"[{_single(_PUNCT)}{_single(_QUOTES)}—–{ICONS}]", "……", r"\.\.+"]
        + [_alternatives(["'s", "'S", "’s", "’S"]), r"(?<=[0-9])\+", r"(?<=°[FfCcKk])\."]
        + [f"(?<=[0-9])(?:{_alternatives(_CURRENCIES + _UNITS.split())})"]
        # spaCy's class also holds "|", "(?:" and ")" from how it was pasted together.
        + [rf"(?<=[0-9{LOWER}%²\-+{_P}|(?:{_Q})])\.", rf"(?<=[{UPPER}][{UPPER}])\."]
    )
    + ")$"
)
# The longest suffix other than a run of dots: the suffix search looks no further back.
_SUFFIX_MAX = max(map(len, [*_PUNCT, *_QUOTES, *_CURRENCY.split(), *_UNITS.split(), "'s"]))
# Characters that can start a prefix, and end a suffix other than a letter (a unit after a
# digit, or "'s"): a chunk without them needs no search.
_PREFIX_FIRST = _ICON_CHARS | {item[0] for item in [*_PUNCT, *_QUOTES, *_CURRENCIES]}
_PREFIX_FIRST |= set("§%=—–+.")
_SUFFIX_LAST = _ICON_CHARS | {item[-1] for item in [*_PUNCT, *_QUOTES, "—", "–", ".", "+"]}
_SUFFIX_LAST |= {unit[-1] for unit in [*_CURRENCIES, *_UNITS.split()] if not unit[-1].isalpha()}
_DIGIT = re.compile("[0-9]")
# One character of these is the whole prefix, or suffix, that the regular expression finds:
# no longer alternative starts with (or ends in) it, but "……".
_SINGLES = {c for c in [*_PUNCT, *_QUOTES, "—", "–"] if len(c) == 1} | _ICON_CHARS
_PREFIX_ONE = frozenset(_SINGLES | {c for c in _CURRENCIES if len(c) == 1} | set("§%="))
_SUFFIX_ONE = frozenset(_SINGLES)
_APOSTROPHE_S = frozenset(["'s", "'S", "’s", "’S"])
# Every infix starts with one of these.
_INFIX_HINT = re.compile(f"[.…+\\-*^,–—~:<>=/{ICONS}]")
_INFIX = re.compile(
    "|".join(
        [r"\.\.+", "…", f"[{ICONS}]", r"(?<=[0-9])[+\-*^](?=[0-9-])"]
        + [rf"(?<=[{LOWER}{_Q}])\.(?=[{UPPER}{_Q}])", rf"(?<=[{ALPHA}]),(?=[{ALPHA}])"]
        + [rf"(?<=[{ALPHA}0-9])(?:{_alternatives(_HYPHENS)})(?=[{ALPHA}])"]
        + [rf"(?<=[{ALPHA}0-9])[:<>=/](?=[{ALPHA}])"]
    )
)
# spaCy's lang/tokenizer_exceptions.py URL_PATTERN (after Diego Perini's, MIT). Its user-info
# part backtracks quadratically on a long chunk; without an "@" it cannot match, so it is left
# out there, which keeps a 100 kB line of minified code linear.
_URL_HOST = (
    r"(?:"
    r"(?!(?:10|127)(?:\.\d{1,3}){3})(?!(?:169\.254|192\.168)(?:\.\d{1,3}){2})"
    r"(?!172\.(?:1[6-9]|2\d|3[0-1])(?:\.\d{1,3}){2})"
    r"(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}"
    r"(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4]))|"
    r"(?:(?:[A-Za-z0-9\u00a1-\uffff][A-Za-z0-9\u00a1-\uffff_-]{0,62})?[A-Za-z0-9\u00a1-\uffff]\.)+"
    rf"(?:[{LOWER}]{{2,63}}))(?::\d{{2,5}})?(?:[/?#]\S*)?$"
)
_URL_SCHEME = r"^(?:(?:[\w+\-.]{2,})://)?"
_URL = re.compile(_URL_SCHEME + r"(?:\S+(?::\S*)?@)?" + _URL_HOST)
_URL_NO_USER = re.compile(_URL_SCHEME + _URL_HOST)


def _exceptions() -> dict[str, tuple[str, ...]]:
    """spaCy's English tokenizer exceptions (lang/en/tokenizer_exceptions.py): chunk -> tokens."""
    exc: dict[str, tuple[str, ...]] = {}

    def cased(word: str) -> tuple[str, str]:
        return word, word.title()

    for o in cased("i"):
        exc |= {o + "'m": (o, "'m"), o + "m": (o, "m"), o + "'ma": (o, "'m", "a")}
        exc[o + "ma"] = (o, "m", "a")
    for o in (o for pron in "i you he she it we they".split() for o in cased(pron)):
        for s in ("ll", "d"):
            exc |= {o + "'" + s: (o, "'" + s), o + s: (o, s)}
            exc |= {o + "'" + s + "'ve": (o, "'" + s, "'ve"), o + s + "ve": (o, s, "ve")}
    for pronouns, s in (("i you we they", "ve"), ("you we they", "re"), ("he she it", "s")):
        for o in (o for pron in pronouns.split() for o in cased(pron)):
            exc |= {o + "'" + s: (o, "'" + s), o + s: (o, s)}
    for word in "who what when where why how there that this these those".split():
        for o in cased(word):
            if word not in ("these", "those"):
                exc |= {o + "'s": (o, "'s"), o + "s": (o, "s")}
            for s in ("ll", "d"):
                exc |= {o + "'" + s: (o, "'" + s), o + s: (o, s)}
                exc |= {o + "'" + s + "'ve": (o, "'" + s, "'ve"), o + s + "ve": (o, s, "ve")}
            if word not in ("that", "this"):
                exc |= {o + "'re": (o, "'re"), o + "re": (o, "re")}
                exc |= {o + "'ve": (o, "'ve"), o + "ve": (o, "ve")}
    verbs = "ca could do does did had may might must need ought sha should wo would"
    for o in (o for verb in verbs.split() for o in cased(verb)):
        exc |= {o + "n't": (o, "n't"), o + "nt": (o, "nt")}
        exc |= {o + "n't've": (o, "n't", "'ve"), o + "ntve": (o, "nt", "ve")}
    for o in (o for verb in "could might must should would".split() for o in cased(verb)):
        exc |= {o + "'ve": (o, "'ve"), o + "ve": (o, "ve")}
    for o in (o for verb in "ai are is was were have has dare".split() for o in cased(verb)):
        exc |= {o + "n't": (o, "n't"), o + "nt": (o, "nt")}
    for o in (o for word in "doin goin nothin nuthin ol somethin".split() for o in cased(word)):
        exc |= {o: (o,), o + "'": (o + "'",)}
    for word in ("em", "ll", "nuff"):
        exc |= {word: (word,), "'" + word: ("'" + word,)}
    for h in range(1, 13):
        for period in ("a.m.", "am", "p.m.", "pm"):
            exc[f"{h}{period}"] = (str(h), period)
    for parts in (
        "y' all|y all|how 'd 'y|How 'd 'y|not 've|not ve|Not 've|Not ve|can not|Can not|gon na"
        "|Gon na|got ta|Got ta|let 's|Let 's|c'm on|C'm on"
    ).split("|"):
        exc["".join(parts.split())] = tuple(parts.split())
    single = (
        "'S 's \u2018S \u2018s and/or w/o 're 'Cause 'cause 'cos 'Cos 'coz 'Coz 'cuz 'Cuz 'bout "
        "ma'am Ma'am o'clock O'clock lovin' Lovin' lovin Lovin havin' Havin' havin Havin doin' "
        "Doin' doin Doin goin' Goin' goin Goin Mt. Ak. Ala. Apr. Ariz. Ark. Aug. Calif. Colo. "
        "Conn. Dec. Del. Feb. Fla. Ga. Ia. Id. Ill. Ind. Jan. Jul. Jun. Kan. Kans. Ky. La. Mar. "
        "Mass. Mich. Minn. Miss. N.C. N.D. N.H. N.J. N.M. N.Y. Neb. Nebr. Nev. Nov. Oct. Okla. "
        "Ore. Pa. S.C. Sep. Sept. Tenn. Va. Wash. Wis. 'd a.m. Adm. Bros. co. Co. Corp. D.C. "
        "Dr. e.g. E.g. E.G. Gen. Gov. i.e. I.e. I.E. Inc. Jr. Ltd. Md. Messrs. Mo. Mont. Mr. "
        "Mrs. Ms. p.m. Ph.D. Prof. Rep. Rev. Sen. St. vs. v.s."
    )
    # spaCy's lang/tokenizer_exceptions.py BASE_EXCEPTIONS, emoticons among them.
    base = (
        "' \\\") <space> '' C++ \\t \\n \u2014 \u00a0 ä. ö. ü. (*_*) (-8 (-: (-; (-_-) (._.) "
        "(: (; (= (>_<) (^_^) (o: (¬_¬) (ಠ_ಠ) (╯°□°）╯︵┻━┻ )-: ): -_- -__- ._. 0.0 0.o 0_0 "
        "0_o 8) 8-) 8-D 8D :'( :') :'-( :'-) :( :(( :((( :() :) :)) :))) :* :-( :-(( :-((( "
        ":-) :-)) :-))) :-* :-/ :-0 :-3 :-> :-D :-O :-P :-X :-] :-o :-p :-x :-| :-} :/ :0 :1 "
        ":3 :> :D :O :P :X :] :o :o) :p :x :| :} ;) ;-) ;-D ;D ;_; <.< </3 <3 <33 <333 =( =) "
        "=/ =3 =D =[ =] =| >.< >.> >:( >:o ><(((*> @_@ O.O O.o O_O O_o V.V V_V XD XDD [-: [: "
        "[= ]= ^_^ ^__^ ^___^ o.0 o.O o.o o_0 o_O o_o v.v v_v xD xDD ¯\\(ツ)/¯ ಠ_ಠ ಠ︵ಠ"
    )
    letters = [f"{c}." for c in "abcdefghijklmnopqrstuvwxyz"]
    exc |= {orth: (orth,) for orth in [*single.split(), *base.split(), *letters]}
    exc |= {f"°{u}.": ("°", u, ".") for u in "cfkCFK"}
    for word in "ill its hell shell shed were well whore".split():
        for orth in cased(word):
            exc.pop(orth, None)
    # spaCy's update_exc: every apostrophe form also with a typographic one.
    exc |= {
        orth.replace("'", "’"): tuple(part.replace("'", "’") for part in parts)
        for orth, parts in exc.items()
        if "'" in orth
    }
    return exc


EXCEPTIONS = _exceptions()
# Every token seen gets an id, and what the rules ask of a token is worked out once, when it
# is first seen: TOKENS[i] is token i, LENGTHS[i] its length, KINDS[i] its kind bits. A
# chunk's entry in _CHUNKS is its tokens' ids. All start over past _CACHE_MAX chunks, between
# two documents, so that ids handed out for one document stay valid.
TOKENS: list[str] = []
LENGTHS: list[int] = []
KINDS: list[int] = []
NOT_SYMBOL, LETTER, PUNCT, SENTENCE_END = 1, 2, 4, 8
_TOKEN_IDS: dict[str, int] = {}
_CHUNKS: dict[str, tuple[int, ...]] = {}
_CACHE_MAX = 500_000  # chunks, about 120 MB
_CACHE_CHUNK_CHARS = 256  # longer chunks (blobs, minified code) rarely come back


def _split(chunk: str, specials: bool = True) -> list[str]:
    """spaCy's Tokenizer._split_affixes and _attach_tokens for one chunk without spaces."""
    exceptions = EXCEPTIONS if specials else {}
    prefixes: list[str] = []
    suffixes: list[str] = []
    s, last = chunk, 0
    while s and len(s) != last:
        if s in exceptions:
            break
        last = len(s)
        if s[0] in _PREFIX_ONE:
            pre = 1
        else:
            match = _PREFIX.match(s) if s[0] in _PREFIX_FIRST else None
            pre = match.end() if match else 0
        if pre and s[pre:] in exceptions:
            prefixes.append(s[:pre])
            s = s[pre:]
            break
        suf = _suffix_length(s[pre:])  # after the prefix: lookbehinds stop there, as spaCy's
        if suf and s[:-suf] in exceptions:
            suffixes.append(s[-suf:])
            s = s[:-suf]
            break
        if pre:
            prefixes.append(s[:pre])
        if suf:
            suffixes.append(s[-suf:])
        s = s[pre : len(s) - suf]
    tokens = prefixes
    if s in exceptions:
        tokens.extend(exceptions[s])
    elif s.isalpha():  # letters: no URL, no infix
        tokens.append(s)
    elif "." in s and (_URL if "@" in s else _URL_NO_USER).match(s):
        tokens.append(s)
    elif not _INFIX_HINT.search(s):
        if s:
            tokens.append(s)
    else:
        start = 0
        for infix_start, infix_end in _infixes(s):
            if infix_start == 0:
                continue
            if infix_start != start:
                tokens.append(s[start:infix_start])
            if infix_start != infix_end:
                tokens.append(s[infix_start:infix_end])
            start = infix_end
        if s[start:]:
            tokens.append(s[start:])
    tokens.extend(reversed(suffixes))
    return tokens


def _suffix_length(rest: str) -> int:
    """spaCy's find_suffix: the leftmost suffix that ends the string."""
    if not rest:
        return 0
    last, tail = rest[-1], len(rest) - _SUFFIX_MAX
    tail = tail if tail > 0 else 0
    if last in _SUFFIX_ONE:
        return 2 if last == "…" and rest[-2:] == "……" else 1
    if last.isalpha():  # only a unit after a digit, or "'s"
        if rest[-2:] not in _APOSTROPHE_S and not _DIGIT.search(rest, tail):
            return 0
    elif last not in _SUFFIX_LAST:
        return 0
    elif last == ".":
        dots = len(rest) - len(rest.rstrip("."))
        if dots > 1:  # no other suffix can start before a run of dots
            return dots
    match = _SUFFIX.search(rest, tail)
    return len(rest) - match.start() if match else 0


def _infixes(s: str) -> list[tuple[int, int]]:
    """The infix spans, as `_INFIX.finditer` finds them, tried only where one can start."""
    spans: list[tuple[int, int]] = []
    end = 0
    for hint in _INFIX_HINT.finditer(s):
        if hint.start() >= end and (match := _INFIX.match(s, hint.start())):
            spans.append(match.span())
            end = match.end()
    return spans


def _phrases() -> set[tuple[str, ...]]:
    """Exceptions that affixes would split, as the tokens they would be split into."""
    phrases = {
        tuple(_split(orth, specials=False))
        for orth in EXCEPTIONS
        if not orth.isspace()
        and (_PREFIX.match(orth) or _SUFFIX.search(orth) or _INFIX.search(orth))
    }
    return phrases


_PHRASES = _phrases()
# A match needs two tokens in a row that start a phrase: the one-token phrases ("'", "—")
# are their own exceptions and change nothing.
_PHRASE_PAIRS = frozenset(phrase[:2] for phrase in _PHRASES if len(phrase) > 1)
_PHRASE_SIZES: dict[str, list[int]] = {}  # first token -> phrase sizes, longest first
for _phrase in sorted(_PHRASES, key=len, reverse=True):
    _PHRASE_SIZES.setdefault(_phrase[0], []).append(len(_phrase))


def _merge_specials(tokens: list[str]) -> list[str]:
    """spaCy's Tokenizer._apply_special_cases within a chunk: ")" ":" becomes the emoticon "):".
    Longest matches first, then leftmost; a match whose first or last token is taken is not."""
    found = sorted(
        (start, start + size)
        for start, token in enumerate(tokens)
        for size in dict.fromkeys(_PHRASE_SIZES.get(token, ()))
        if start + size <= len(tokens) and tuple(tokens[start : start + size]) in _PHRASES
    )
    found.sort(key=lambda span: span[0] - span[1])  # longest first, then leftmost
    taken: set[int] = set()
    kept = []
    for start, end in found:
        if start not in taken and end - 1 not in taken:
            kept.append((start, end))
        taken.update(range(start, end))
    out, i = [], 0
    for start, end in sorted(kept):
        out.extend(tokens[i:start])
        out.extend(EXCEPTIONS["".join(tokens[start:end])])
        i = end
    out.extend(tokens[i:])
    return out


_NUMBER = re.compile(r"[0-9]+(?:[.,:][0-9]+)*")  # no affix, no infix, one token
_IDENTIFIER = re.compile(r"[A-Za-z]+(?:_+[A-Za-z]+)*")  # "_" inside is no infix
_HYPHENATED = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)+")  # an infix at each hyphen


def _tokenize(chunk: str) -> tuple[str, ...]:
    """A chunk's tokens; the common shapes without the regular expressions of `_split`."""
    if chunk in EXCEPTIONS:
        tokens = list(EXCEPTIONS[chunk])
    elif chunk.isalpha() or _NUMBER.fullmatch(chunk) or _IDENTIFIER.fullmatch(chunk):
        return (chunk,)
    elif _HYPHENATED.fullmatch(chunk):
        tokens = chunk.replace("-", " - ").split()
    elif chunk[-1] in _SUFFIX_ONE and chunk[:-1].isalpha() and chunk[:-1] not in EXCEPTIONS:
        tokens = [chunk[:-1], chunk[-1]]  # "word," "word)" (and "word…", not "word……")
    elif (
        chunk[-1] == "."
        and "a" <= chunk[-2:-1] <= "z"
        and chunk[:-1].isalpha()
        and chunk[:-1] not in EXCEPTIONS
    ):
        tokens = [chunk[:-1], "."]  # "word." ("." after a lower-case letter is a suffix)
    elif chunk[0] in _PREFIX_ONE and chunk[1:].isalpha() and chunk[1:] not in EXCEPTIONS:
        tokens = [chunk[0], chunk[1:]]  # "(word"
    else:
        tokens = _split(chunk)
    if len(tokens) > 1 and not _PHRASE_PAIRS.isdisjoint(zip(tokens, tokens[1:], strict=False)):
        tokens = _merge_specials(tokens)
    return tuple(tokens)


_SYMBOL_SET = frozenset(SYMBOL_CHARS)


@cache
def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char)[0] == "P"


def _kind(token: str) -> int:
    if token.isalpha():
        return NOT_SYMBOL | LETTER
    kind = 0 if _SYMBOL_SET.issuperset(token) else NOT_SYMBOL
    kind |= LETTER if any(map(str.isalpha, token)) else 0
    # spaCy's Token.is_punct: every character Unicode punctuation.
    kind |= PUNCT if all(map(_is_punctuation, token)) else 0
    return kind | (SENTENCE_END if token in SENTENCE_ENDS else 0)


def _token_id(token: str) -> int:
    found = _TOKEN_IDS.get(token)
    if found is None:
        found = _TOKEN_IDS[token] = len(TOKENS)
        TOKENS.append(token)
        LENGTHS.append(len(token))
        KINDS.append(_kind(token))
    return found


def token_id(token: str) -> int | None:
    """The id of a token seen so far, None for one never seen."""
    return _TOKEN_IDS.get(token)


def _chunk_ids(chunk: str) -> tuple[int, ...]:
    ids = _CHUNKS.get(chunk)
    if ids is None:
        tokens = _tokenize(chunk)
        seen = tuple(map(_TOKEN_IDS.get, tokens))  # mostly tokens seen before; then no None
        ids = tuple(map(_token_id, tokens)) if None in seen else cast(tuple[int, ...], seen)
        if len(chunk) <= _CACHE_CHUNK_CHARS:
            _CHUNKS[chunk] = ids
    return ids


class _Column:
    """A numpy copy of a growing list of ints, extended by what was appended since the last
    call: vectorised code indexes it with many token ids at once."""

    def __init__(self, source: list[int]) -> None:
        self.source = source
        self.array = np.zeros(1024, dtype=np.int64)
        self.filled = 0

    def __call__(self) -> np.ndarray:
        size = len(self.source)
        if size > self.filled:
            if size > len(self.array):
                grown = np.zeros(max(size, 2 * len(self.array)), dtype=np.int64)
                grown[: self.filled] = self.array[: self.filled]
                self.array = grown
            self.array[self.filled : size] = self.source[self.filled : size]
            self.filled = size
        return self.array


lengths_array = _Column(LENGTHS)  # lengths_array()[ids]: the tokens' lengths
kinds_array = _Column(KINDS)


def reset() -> None:
    """Forget every chunk and token seen; ids handed out before are no longer valid."""
    for table in (TOKENS, LENGTHS, KINDS, _TOKEN_IDS, _CHUNKS):
        table.clear()
    lengths_array.filled = kinds_array.filled = 0


def token_ids(text: str) -> list[int]:
    """The ids of the words of `text` as datatrove's `split_into_words(text, "eng")` splits
    them (spaCy English tokens, blanks dropped), for TOKENS, LENGTHS and KINDS; valid until the
    next call."""
    if len(_CHUNKS) >= _CACHE_MAX:
        reset()
    chunks = text.split()
    found = list(map(_CHUNKS.get, chunks))
    try:
        return list(chain.from_iterable(found))  # type: ignore[arg-type]  # a None raises
    except TypeError:  # None for a chunk not seen before
        i = found.index(None)
        while True:
            found[i] = _chunk_ids(chunks[i])
            try:
                i = found.index(None, i + 1)
            except ValueError:  # no None is left
                return list(chain.from_iterable(found))  # type: ignore[arg-type]


_SPACES = re.compile(r"(\s+)")


def sentence_count(line: str) -> int:
    """Sentences in a stripped line as spaCy's Sentencizer splits it (datatrove's
    split_into_sentences): one starts at the first non-punctuation token after a token that
    ends a sentence. Whitespace other than one space is a token of its own for spaCy, and so
    starts a sentence there too ("end.   *" is two)."""
    count, seen_end = 1, False
    for piece in _SPACES.split(line):
        if piece.isspace():
            if seen_end and piece != " ":
                count += 1
                seen_end = False
            continue
        ids = _CHUNKS.get(piece) or (_chunk_ids(piece) if piece else ())
        for kind in map(KINDS.__getitem__, ids):
            if kind & SENTENCE_END:
                seen_end = True
            elif seen_end and not kind & PUNCT:
                count += 1
                seen_end = False
    return count
