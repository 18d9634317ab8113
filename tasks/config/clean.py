"""The `clean` section: one model per rule (normalisation, language, the quality filters, PII,
near-duplicates, decontamination), gathered in CleanConfig at the bottom in the order the
rules run."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from lmkiln.tasks.config.base import Strict


class NormalizeConfig(Strict):
    fix_mojibake: bool = True
    """Repair text that was decoded with the wrong encoding ("cafÃ©" -> "café") with ftfy.
    Its cost falls only on the lines that look damaged; off, they are kept as they are."""


# py3langid 0.4's labels: ISO 639-1 where there is one, else 639-3 ("pcm" Nigerian Pidgin,
# "yue" Cantonese); "no" is Norwegian Bokmål and "zxx" no linguistic content.
# tests/unit/test_language.py checks the list against the installed model.
LANGUAGES = frozenset(
    "ace af am an ar ary arz as az ba bcl be bg bn br bs ca crh cs cy da de dz el en eo es "
    "et eu ext fa fi fo fr fuv fy ga gcf gcr gd gl gom grc gu gug guw ha hbo he hi hr ht hu "
    "hy id ig is it ja jv ka kab kik kk km kn ko ku ky la lb lg lij ln lo lt ltg lv mg mk ml "
    "mn mr ms mt my ne nl nn no nso oc om or pa pcm pl ps pt qu ro ru rw sa sdh se si sk sl "
    "sn so sq sr st sv sw ta te tg th tk tl tr tt ug uk ur uz uzs vec vi vo wa wuu xh yo yue "
    "zh zu zxx".split()
)


def _known(code: str) -> str:
    if code not in LANGUAGES:
        hint = " (Norwegian Bokmål is 'no')" if code == "nb" else ""
        raise ValueError(
            f"{code!r} is not a language py3langid identifies{hint}: use one of "
            f"{', '.join(sorted(LANGUAGES))}"
        )
    return code


LanguageCode = Annotated[str, AfterValidator(_known)]


class LanguageConfig(Strict):
    allowed: list[LanguageCode] | None = ["en"]
    """Languages kept, as codes: "en", "de", "zh", ... (ISO 639-1; Norwegian is "no").
    A document in another language is dropped as language_not_allowed. null or []: the
    filter is off and every document is kept (each still gets its language and score)."""
    min_score: float | None = Field(0.5, ge=0, le=1)
    """Probability of the most likely language below which a document is dropped as
    language_low_score: mostly code, tables or mixed languages. null: no floor. At 0.5,
    99.8% of the Python docs' pages are kept as English (bench/results/language.md)."""


class PiiConfig(Strict):
    email: bool = True
    """Replace e-mail addresses with <EMAIL> (not those at example.com, .test, ...)."""
    ip_address: bool = True
    """Replace public IPv4 and IPv6 addresses with <IP_ADDRESS>; private, loopback and
    documentation ranges are kept."""
    phone: bool = True
    """Replace phone numbers with <PHONE>: international (+44 20 7946 0958), North
    American ((212) 555-0182) and national with a leading 0 (01 23 45 67 89)."""
    secret: bool = True
    """Replace API keys, tokens, private keys, and passwords or keys assigned in configs
    and code, with <SECRET>."""
    max_placeholder_share: float | None = Field(0.3, gt=0, le=1)
    """A document whose words are placeholders above this share (a contact list, a dump of
    keys) is dropped as pii_only: what is left teaches the model nothing. null: keep it."""


class NearDedupConfig(Strict):
    shingle_words: int = Field(3, ge=1, le=16)
    """Words per shingle. Shorter survives scattered edits better (3% of words replaced keeps
    3-gram similarity near 0.83, 5-gram near 0.75) but makes unrelated text look more alike."""
    bands: int = Field(32, ge=1, le=256)
    """LSH bands; more bands find pairs of lower similarity (and cost more index rows)."""
    rows_per_band: int = Field(4, ge=1, le=32)
    """Hash values per band; bands x rows is the signature's length, the cost per shingle."""
    min_similarity: float | None = Field(0.7, gt=0, le=1)
    """A band match is a duplicate only if the signatures estimate the Jaccard similarity at
    this or more; null: every band match is a duplicate (the LSH curve alone decides)."""
    seed: int = Field(0, ge=0)
    """Draws the hash functions; changing it rebuilds the index."""
    lowercase: bool = True
    """Compare words case-insensitively."""
    strip_punctuation: bool = True
    """Punctuation and symbols (ASCII and the common Unicode ones) separate words."""
    fold_numbers: bool = True
    """Every run of digits is the word '0': dates, versions and counts that drift between
    copies of a page do not make them differ."""
    strip_accents: bool = True
    """NFKD, then combining marks dropped: "café" and "cafe" are one word."""


class DecontamConfig(Strict):
    ngram_words: int | None = Field(13, ge=5)
    """Length of the word n-grams compared with the validation documents' (13, as GPT-3's
    decontamination); null turns decontamination off."""
    min_overlap: float = Field(0.2, ge=0, le=1)
    """Share of a training document's n-grams found in validation documents from which it is
    dropped as contaminated. 0 drops on a single shared n-gram, which on documentation also
    catches the boilerplate every page repeats (a third of the demo's pages)."""


def _ratio(default: float) -> float | None:
    return Field(default, ge=0)


class GopherRepetitionConfig(Strict):
    """Gopher (Rae et al. 2021, table A1): repeated lines, paragraphs and n-grams."""

    dup_line_frac: float | None = _ratio(0.3)
    """Most lines that repeat an earlier line, as a share of lines."""
    dup_para_frac: float | None = _ratio(0.3)
    """Most paragraphs (split on blank lines) that repeat an earlier one, as a share."""
    dup_line_char_frac: float | None = _ratio(0.2)
    """Most characters in repeated lines, as a share of the document's characters."""
    dup_para_char_frac: float | None = _ratio(0.2)
    """Most characters in repeated paragraphs, as a share of the document's characters."""
    top_n_grams: dict[int, float | None] = {2: 0.2, 3: 0.18, 4: 0.16}
    """n -> most characters the most frequent n-gram may cover (its length times its count),
    as a share of the document's characters; null turns one n off."""
    dup_n_grams: dict[int, float | None] = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.1}
    """n -> most characters in n-grams that repeat an earlier one (counted without overlap),
    as a share of the document's characters; null turns one n off."""


class GopherQualityConfig(Strict):
    """Gopher (Rae et al. 2021): length, word shape, symbols, bullets and stop words."""

    min_doc_words: int | None = Field(50, ge=0)
    """Fewest words that are not only punctuation."""
    max_doc_words: int | None = Field(100_000, ge=0)
    """Most words that are not only punctuation."""
    min_avg_word_length: float | None = _ratio(3)
    """Shortest mean length of those words, in characters."""
    max_avg_word_length: float | None = _ratio(10)
    """Longest mean length of those words, in characters."""
    max_symbol_word_ratio: float | None = _ratio(0.1)
    """Most "#", and separately most "..." and "…", per word."""
    max_bullet_lines_ratio: float | None = _ratio(0.9)
    """Most lines starting with "•" or "-", as a share of lines."""
    max_ellipsis_lines_ratio: float | None = _ratio(0.3)
    """Most lines ending with "..." or "…", as a share of lines."""
    max_non_alpha_words_ratio: float | None = _ratio(0.8)
    """Despite datatrove's name, the fewest words with a letter in them, as a share of words."""
    min_stop_words: int | None = Field(2, ge=0)
    """Fewest distinct stop words present (case-sensitive, as datatrove)."""
    stop_words: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")
    """The stop words min_stop_words counts."""


class C4Config(Strict):
    """C4 (Raffel et al. 2020): lines that are not prose are removed, then whole pages that
    still look like boilerplate or code are dropped."""

    remove_citations: bool = True
    """Remove Wikipedia-style citations ("[1]", "[edit]", "[citation needed]") from lines."""
    filter_no_terminal_punct: bool = True
    """Remove lines that do not end in . ? ! " or ' (or end in "...")."""
    min_num_sentences: int | None = Field(5, ge=0)
    """Fewest sentences left after line removal; fewer drops the page."""
    min_words_per_line: int | None = Field(3, ge=0)
    """Remove lines with fewer whitespace-separated words."""
    max_word_length: int | None = Field(1000, ge=1)
    """Remove lines holding a longer word (characters)."""
    filter_lorem_ipsum: bool = True
    """Drop a page with "lorem ipsum" in a kept line."""
    filter_javascript: bool = True
    """Remove lines mentioning "javascript"."""
    filter_curly_bracket: bool = True
    """Drop a page with "{" in a kept line: code, not prose."""
    filter_policy: bool = True
    """Remove lines about terms of use, privacy policies and cookies."""


class FineWebConfig(Strict):
    """FineWeb (Penedo et al. 2024): line punctuation, short lines, repeated lines, lists."""

    line_punct_thr: float | None = _ratio(0.12)
    """Fewest non-blank lines ending in terminal punctuation, as a share."""
    line_punct_exclude_zero: bool = False
    """Keep documents with no such line at all (a share of exactly 0)."""
    stop_chars: tuple[str, ...] | None = None
    """Line endings that count as terminal punctuation; null: datatrove's list (. ? ! and
    their forms in other scripts)."""
    short_line_thr: float | None = _ratio(0.67)
    """Most non-blank lines of at most short_line_length characters, as a share."""
    short_line_length: int = Field(30, ge=0)
    """Characters; a line this long or shorter is short."""
    char_duplicates_ratio: float | None = _ratio(0.01)
    """Most characters in non-blank lines that repeat an earlier line, as a share of the
    document's characters other than newlines."""
    new_line_ratio: float | None = _ratio(0.3)
    """Most newlines per word: text that is mostly one-word lines is a list."""


class QualityConfig(Strict):
    """The four filters, in the order they run; null skips a filter."""

    gopher_repetition: GopherRepetitionConfig | None = GopherRepetitionConfig()
    """Repeated lines, paragraphs and n-grams; null: off."""
    gopher_quality: GopherQualityConfig | None = GopherQualityConfig()
    """Length, word shape, symbols and stop words; null: off."""
    c4: C4Config | None = C4Config()
    """Lines that are not prose, boilerplate and code pages; null: off."""
    fineweb: FineWebConfig | None = FineWebConfig()
    """Line punctuation, short and repeated lines, lists; null: off."""


class CleanConfig(Strict):
    """The clean stage, rule by rule in this order; each rule's thresholds can be null (off)."""

    normalize: NormalizeConfig = NormalizeConfig()
    """Unicode, whitespace and mojibake repair, before every rule."""
    min_chars: int | None = Field(200, ge=0)
    """Shorter documents are dropped; null turns the rule off."""
    min_words: int | None = Field(30, ge=0)
    """Documents with fewer words are dropped; null turns the rule off."""
    language: LanguageConfig = LanguageConfig()
    """Which languages are kept."""
    quality: QualityConfig | None = QualityConfig()
    """Gopher, C4 and FineWeb rules with datatrove's defaults; null skips all four."""
    pii: PiiConfig = PiiConfig()
    """Personal data replaced with placeholders."""
    near_dedup: NearDedupConfig | None = NearDedupConfig()
    """MinHash LSH against every document kept so far; null: exact dedup only."""
    decontamination: DecontamConfig = DecontamConfig()
    """Training documents that overlap the validation split are dropped."""
    max_synthetic_share: float | None = Field(0.5, gt=0, le=1)
    """The most of the corpus that synthetic documents may be: a synthetic document past
    it is dropped as `synthetic_over_cap`; null: no cap. The real documents of a batch are
    counted before its synthetic ones."""
    workers: int | None = Field(None, ge=1, le=64)
    """Processes for the per-document work of a large night (normalise, language, quality,
    PII); null: one per core. Small nights run in the task's own process. With runner.kind
    dask the cluster's workers do this work instead, and this setting is not used."""
