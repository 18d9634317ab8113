"""Quality rules: the exact reason for a crafted document of every rule, thresholds set to
None turn rules off, C4's line removal, and the words and n-gram counts datatrove uses."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from lmkiln.tasks.clean.quality import rules as q
from lmkiln.tasks.clean.quality.features import (
    Features,
    repeated_ngram_chars,
    repeated_ngrams_exceed,
    top_ngram_chars,
    top_ngram_exceeds,
)
from lmkiln.tasks.clean.quality.rules import check
from lmkiln.tasks.clean.quality.words import TOKENS, sentence_count, token_ids
from lmkiln.tasks.config.clean import C4Config, FineWebConfig, GopherQualityConfig, QualityConfig

# Eight distinct sentences: passes every rule with datatrove's defaults.
SENTENCES = [
    "The river runs through the old town and past the mill.",
    "Children play by the water with their dogs in the summer.",
    "A small bakery sells bread that locals have loved for years.",
    "Visitors come to see the bridge, built of stone in 1820.",
    "In the evening the square fills with music and laughter.",
    "Farmers bring apples, cheese and honey to the weekly market.",
    "The museum keeps maps that show how the valley has changed.",
    "Most people walk or cycle, because the streets are narrow.",
]
GOOD = "\n".join(SENTENCES)
# The same kind of text without the, be, to, of, and, that, have, with.
NO_STOP_WORDS = "\n".join(
    [
        "Rivers run through old towns past mills every single day.",
        "Children play by lakes near their dogs during summer evenings.",
        "A small bakery sells bread which locals loved for many years.",
        "Visitors come here for this bridge, built from stone in 1820.",
        "In evenings, squares fill up quickly as music plays for hours.",
        "Farmers bring apples, cheese or honey into weekly markets here.",
        "Museums keep maps showing how valleys changed over centuries.",
        "Most people walk or cycle, because streets are narrow there.",
    ]
)


def words(text: str) -> list[str]:
    """The words the quality rules measure, as strings."""
    return [TOKENS[i] for i in token_ids(text)]


def reason(text: str, config: QualityConfig | None = None) -> str | None:
    return check(text, config or QualityConfig()).reason


def unique_words(count: int, length: int, seed: int = 0) -> list[str]:
    rng, found = random.Random(seed), dict[str, None]()
    while len(found) < count:
        found["".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(length))] = None
    return list(found)


def padded(text: str, length: int) -> str:
    """`text` and distinct filler words, exactly `length` characters long."""
    filler = iter(unique_words(2000, 6, seed=1))
    while len(text) + 7 <= length - 8:
        text += " " + next(filler)
    last = length - len(text) - 1
    return text + " " + "y" * last if last > 0 else text


def test_good_text_passes_every_rule_and_keeps_its_text():
    assert check(GOOD, QualityConfig()) == (GOOD, None)


def test_empty():
    assert reason("") == q.EMPTY


def test_gopher_repetition_paragraphs_and_lines():
    p1, p2, p3, p4 = "\n".join(SENTENCES[:2]), SENTENCES[2], SENTENCES[3], SENTENCES[4]
    assert reason("\n\n".join([p1, p2, p1, p1])) == q.DUP_PARA_FRAC
    # One paragraph in five repeats, but it holds most of the characters.
    long = " ".join(SENTENCES)
    assert reason("\n\n".join([long, p2, p3, p4, long])) == q.DUP_PARA_CHAR_FRAC
    lines = SENTENCES[:6] + SENTENCES[:3]  # one paragraph; 3 of 9 lines repeat
    assert reason("\n".join(lines)) == q.DUP_LINE_FRAC
    short = [f"Line {word} here." for word in unique_words(12, 5)]
    assert reason("\n".join([long, *short, long])) == q.DUP_LINE_CHAR_FRAC


def test_gopher_repetition_top_ngrams():
    base = " ".join(SENTENCES)
    # The most frequent 2-gram covers more than 20% of the characters.
    assert reason(base + " " + "blue sky " * 40) == q.top_ngram_reason(2)
    # "x y" is the most frequent 2-gram but short; its 3-gram with a long word is not.
    assert reason(base + " " + "x y extraordinary " * 14) == q.top_ngram_reason(3)
    assert reason(base + " " + "x y z extraordinary " * 12) == q.top_ngram_reason(4)


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        # A block of 60 five-letter words, twice: the second copy's n-grams count,
        # n * (60 // n) words of 5 characters: 300, 300, 280, 280, 270, 300 for n = 5..10.
        (1900, 5),
        (2100, 6),
        (2150, 7),
        (2300, 8),
        (2400, 9),
        (2700, 10),
    ],
)
def test_gopher_repetition_duplicated_ngrams(length, expected):
    block = " ".join(unique_words(60, 5, seed=2))
    text = padded(f"{block} {block}", length)
    assert len(text) == length
    assert reason(text) == q.dup_ngram_reason(expected)


def test_gopher_quality_reasons():
    # A short text's first 2-gram alone is 20% of it: repetition, first, says top_2_gram.
    short = "Too short to be a document."
    assert reason(short) == q.top_ngram_reason(2)
    assert reason(short, QualityConfig(gopher_repetition=None)) == q.GOPHER_SHORT_DOC
    config = GopherQualityConfig(max_doc_words=60)
    assert q.gopher_quality(Features(GOOD), config) == q.GOPHER_LONG_DOC
    assert reason(" ".join(unique_words(60, 2))) == q.GOPHER_BELOW_AVG_WORD_LENGTH
    assert reason(" ".join(unique_words(60, 12))) == q.GOPHER_ABOVE_AVG_WORD_LENGTH
    tags = " ".join(f"#{word}" for word in unique_words(30, 4))
    assert reason(GOOD + "\n" + tags + ".") == q.GOPHER_TOO_MANY_HASHES
    hesitant = "\n".join(f"Well... {line}" for line in SENTENCES).replace(" the ", " the ... ")
    assert reason(hesitant) == q.GOPHER_TOO_MANY_ELLIPSIS
    assert reason("\n".join(f"- {line}" for line in SENTENCES)) == q.GOPHER_TOO_MANY_BULLETS
    truncated = [line[:-1] + "..." if i % 2 else line for i, line in enumerate(SENTENCES)]
    assert reason("\n".join(truncated)) == q.GOPHER_TOO_MANY_END_ELLIPSIS
    numbers = " ".join(str(n) for n in range(1000, 1060))
    assert reason(GOOD + "\n" + numbers + ".") == q.GOPHER_BELOW_ALPHA
    assert reason(NO_STOP_WORDS) == q.GOPHER_STOP_WORDS


def test_c4_page_reasons():
    lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit."
    assert reason(GOOD + "\n" + lorem) == q.LOREM_IPSUM
    assert reason(GOOD + "\nSet the value to {x} in this case.") == q.CURLY_BRACKET
    unfinished = [line.rstrip(".") for line in SENTENCES[2:]]
    assert reason("\n".join(SENTENCES[:2] + unfinished)) == q.TOO_FEW_SENTENCES


def test_c4_removes_lines_as_datatrove_does():
    text = "\n".join(
        [
            "  Home | About | Contact  ",  # no terminal punctuation
            SENTENCES[0][:-1] + "[1].",  # a citation, removed
            SENTENCES[1] + " [edit]",  # removed too, but a space is left after the "."
            "Too short.",  # fewer than 3 words
            "Please enable JavaScript to see the comments.",
            "By using this site you accept our Privacy Policy.",
            "It was late...",  # ends in an ellipsis
            "Key " + "x" * 1001 + " end.",  # a word over 1000 characters
            "",  # blank: no terminal punctuation either
            *SENTENCES[2:7],
        ]
    )
    result = q.c4_quality(Features(text), C4Config())
    assert result.reason is None
    kept = [SENTENCES[0], *SENTENCES[2:7]]
    assert result.text == "\n".join(kept)
    assert result.removed == {
        "no_terminal_punc": 4,  # menu, "[edit]" line, ellipsis, blank line
        "too_few_words": 1,
        "javascript": 1,
        "policy": 1,
        "too_long_word": 1,
    }
    # The 1001-character word lifts the mean word length past Gopher's limit.
    assert reason(text) == q.GOPHER_ABOVE_AVG_WORD_LENGTH
    assert check(text, QualityConfig(gopher_quality=None)) == ("\n".join(kept), None)


def test_fineweb_reasons():
    quoted = "\n".join(line[:-1] + '"' for line in SENTENCES)  # C4 keeps them, FineWeb not
    assert reason(quoted) == q.LINE_PUNCT_RATIO
    four_letters = unique_words(100, 4)
    short = [" ".join(four_letters[i : i + 5]).capitalize() + "." for i in range(0, 100, 5)]
    assert reason("\n".join([*short, SENTENCES[0]])) == q.SHORT_LINE_RATIO
    assert reason(GOOD + "\n" + SENTENCES[3]) == q.CHAR_DUP_RATIO
    listing = "\n".join(f"{w.title()}ization standardization." for w in unique_words(20, 8))
    assert q.fineweb_quality(Features(listing), FineWebConfig()) == q.LIST_RATIO
    assert q.fineweb_quality(Features(" \n\n "), FineWebConfig()) == q.EMPTY


def test_every_reason_is_named_once():
    # Every reason `check` can return with the default n-gram sizes, in the order checked.
    reasons = (
        q.EMPTY,
        q.DUP_PARA_FRAC,
        q.DUP_PARA_CHAR_FRAC,
        q.DUP_LINE_FRAC,
        q.DUP_LINE_CHAR_FRAC,
        *(q.top_ngram_reason(n) for n in (2, 3, 4)),
        *(q.dup_ngram_reason(n) for n in range(5, 11)),
        q.GOPHER_SHORT_DOC,
        q.GOPHER_LONG_DOC,
        q.GOPHER_BELOW_AVG_WORD_LENGTH,
        q.GOPHER_ABOVE_AVG_WORD_LENGTH,
        q.GOPHER_TOO_MANY_HASHES,
        q.GOPHER_TOO_MANY_ELLIPSIS,
        q.GOPHER_TOO_MANY_BULLETS,
        q.GOPHER_TOO_MANY_END_ELLIPSIS,
        q.GOPHER_BELOW_ALPHA,
        q.GOPHER_STOP_WORDS,
        q.LOREM_IPSUM,
        q.CURLY_BRACKET,
        q.TOO_FEW_SENTENCES,
        q.LINE_PUNCT_RATIO,
        q.SHORT_LINE_RATIO,
        q.CHAR_DUP_RATIO,
        q.LIST_RATIO,
    )
    assert len(set(reasons)) == len(reasons) == 31


@pytest.mark.parametrize(
    ("text", "off"),
    [
        (
            "\n\n".join([SENTENCES[0], SENTENCES[1], SENTENCES[0], SENTENCES[0]]),
            {"gopher_repetition": {"dup_para_frac": None}},
        ),
        (" ".join(SENTENCES) + " blue sky" * 40, {"gopher_repetition": {"top_n_grams": {2: None}}}),
        (" ".join(SENTENCES[:3]), {"gopher_quality": {"min_doc_words": None}}),
        (" ".join(unique_words(60, 2)), {"gopher_quality": {"min_avg_word_length": None}}),
        (
            "\n".join(f"- {line}" for line in SENTENCES),
            {"gopher_quality": {"max_bullet_lines_ratio": None}},
        ),
        (NO_STOP_WORDS, {"gopher_quality": {"min_stop_words": None}}),
        (GOOD + "\nSet the value to {x} in this case.", {"c4": {"filter_curly_bracket": False}}),
        (GOOD + "\n" + SENTENCES[3], {"fineweb": {"char_duplicates_ratio": None}}),
    ],
)
def test_none_turns_the_rule_off(text, off):
    fired = reason(text)
    assert fired is not None
    assert reason(text, QualityConfig(**off)) != fired


def test_a_filter_set_to_none_is_skipped():
    bullets = "\n".join(f"- {line}" for line in SENTENCES)
    assert reason(bullets) == q.GOPHER_TOO_MANY_BULLETS
    assert reason(bullets, QualityConfig(gopher_quality=None)) is None
    assert check(GOOD + "\nNo end", QualityConfig(c4=None)) == (GOOD + "\nNo end", None)


def test_words_match_spacy_english():
    # Expected lists made with spaCy 3.8's spacy.blank("en"), as datatrove 0.10.1 uses it.
    cases = {
        "Don't panic: it's 10km away, e.g. near the U.S. border...": [
            "Do", "n't", "panic", ":", "it", "'s", "10", "km", "away", ",", "e.g.", "near",
            "the", "U.S.", "border", "...",
        ],
        "See https://example.com/a?b=c or mail me@example.org.": [
            "See", "https://example.com/a?b=c", "or", "mail", "me@example.org", ".",
        ],
        'A well-known (and "quoted") word costs $3.50!': [
            "A", "well", "-", "known", "(", "and", '"', "quoted", '"', ")", "word", "costs",
            "$", "3.50", "!",
        ],
        "x[:] and f(a):) done": ["x", "[:", "]", "and", "f(a", "):", ")", "done"],
        "They'll say we're fine; I'm gonna go at 5pm.": [
            "They", "'ll", "say", "we", "'re", "fine", ";", "I", "'m", "gon", "na", "go",
            "at", "5", "pm", ".",
        ],
    }  # fmt: skip
    for text, expected in cases.items():
        assert words(text) == expected, text


def test_sentences_match_spacy_sentencizer():
    assert sentence_count("One. Two! Three? Four") == 4
    assert sentence_count("Mr. Smith went to Washington. He stayed.") == 2
    assert sentence_count("end.   * next") == 2  # spaCy makes the extra spaces a token
    assert sentence_count("No end here") == 1
    assert sentence_count("Wait... what? Yes.") == 2


def _datatrove_top(words: list[str], n: int) -> int:
    """datatrove's find_top_duplicate over get_n_grams."""
    grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    gram, times = Counter(grams).most_common(1)[0]
    return len(gram) * times


def _datatrove_all(words: list[str], n: int) -> int:
    """datatrove's find_all_duplicate."""
    unique, chars, i = set(), 0, 0
    while i < len(words) - n + 1:
        gram = "".join(words[i : i + n])
        if gram in unique:
            chars += len(gram)
            i += n
        else:
            unique.add(gram)
            i += 1
    return chars


@pytest.mark.parametrize("seed", range(40))
def test_ngram_counts_equal_datatrove_algorithms(seed):
    rng = random.Random(seed)
    vocabulary = unique_words(rng.choice([3, 8, 30, 200]), 3, seed=seed)
    text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 400)))
    if seed % 3 == 0:  # long repeated stretches, as copied boilerplate makes
        text = f"{text} {text[: len(text) // 2]} {text}"
    features = Features(text)
    grams, ws = features.ngrams, features.words
    for n in range(1, 11):
        if len(ws) >= n:
            assert top_ngram_chars(grams, n) == _datatrove_top(ws, n)
        assert repeated_ngram_chars(grams, n) == _datatrove_all(ws, n)
    for n in range(2, 11):  # the bounds only ever skip a count that would not exceed
        for frac in (0.02, 0.1, 0.2, 0.5):
            limit = frac * len(text)
            fresh = Features(text).ngrams
            assert repeated_ngrams_exceed(fresh, n, limit) == (_datatrove_all(ws, n) > limit)
            if len(ws) >= n:
                top = _datatrove_top(ws, n)
                assert top_ngram_exceeds(Features(text).ngrams, n, limit) == (top > limit)


def test_shortcuts_split_chunks_as_the_full_affix_rules_do():
    # wordsplit._tokenize splits common shapes without regular expressions; each shortcut
    # must give what the affix, infix and exception rules give for the same chunk.
    from lmkiln.tasks.clean.quality import words as wordsplit

    chunks = [
        *"itself. so. U.S. etc. e.g. a. Im. cannot. doin. Mr. ABC. I. Ünïcode. ünïcode.".split(),
        *"word, word) (word 'word cannot, well-known top-down. (and x). it's. 10km 3.50".split(),
        *"word… word…… $word snake_case C99 3.14.15 12:30 well-known- ...word word...".split(),
    ]
    for chunk in chunks:
        slow = wordsplit._split(chunk)
        if len(slow) > 1:
            slow = wordsplit._merge_specials(slow)
        assert wordsplit._tokenize(chunk) == tuple(slow), chunk
