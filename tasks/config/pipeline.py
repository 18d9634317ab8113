"""Pipeline configuration: one frozen pydantic model per stage, gathered in `PipelineConfig`.

The same models are the Prefect flow parameters, so the UI renders them as forms, and a
YAML file (`configs/*.yaml`) loads into them. Unknown keys and bad values fail before any
work starts, naming the field.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lmkiln.tasks.config.base import (
    DEMO_SCHEME,
    SECRET_PARAMS,
    USER_AGENT,
    ApiUrl,
    Name,
    Regex,
    StorageConfig,
    Strict,
    Url,
)
from lmkiln.tasks.config.sources import (
    ApiAuth,
    ApiSource,
    CollectConfig,
    CorpusSource,
    Cursor,
    DatasetSource,
    Endpoint,
    FieldMap,
    FileSource,
    Grounding,
    LinkHeader,
    NextUrl,
    OffsetLimit,
    PageNumber,
    Pagination,
    QueryValue,
    SynthBudget,
    SynthSpec,
    Template,
    WebSource,
)

# The whole configuration is importable from here; its parts live in config_base.py
# (shared pieces) and source_config.py (the `collect` section).
__all__ = [
    "DEMO_SCHEME",
    "SECRET_PARAMS",
    "USER_AGENT",
    "ApiAuth",
    "ApiSource",
    "ApiUrl",
    "CollectConfig",
    "CorpusSource",
    "Cursor",
    "DatasetSource",
    "Endpoint",
    "FieldMap",
    "FileSource",
    "Grounding",
    "LinkHeader",
    "Name",
    "NextUrl",
    "OffsetLimit",
    "PageNumber",
    "Pagination",
    "QueryValue",
    "Regex",
    "StorageConfig",
    "Strict",
    "SynthBudget",
    "SynthSpec",
    "Template",
    "Url",
    "WebSource",
]

# Five fields: minute hour day-of-month month day-of-week. Prefect checks the values.
_CRON = re.compile(r"^\s*[\w*/,?#-]+(\s+[\w*/,?#-]+){4}\s*$")


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


# A Dask scheduler's address as `dask scheduler` prints it: tcp://host:port, where host may
# be a name, an IPv4 address or a bracketed IPv6 one.
_DASK_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5}$")


class RunnerConfig(Strict):
    """Where collect's sources and clean's per-document work run. The results and every
    cache key are the same whichever runs them: a night cleaned on Dask gives the same
    corpus as one cleaned locally."""

    kind: Literal["threads", "dask"] = "threads"
    """threads: the sources on 4 threads of the run's process and clean's work on local
    processes (clean.workers). dask: both on a Dask cluster (install lmkiln[dask])."""
    address: str | None = None
    """A running Dask scheduler, e.g. "tcp://10.0.0.5:8786": the run attaches to it and
    leaves it running. Its workers write the lake, lock files and watermarks under
    storage.data_root themselves, so data_root must be an absolute path to a folder that
    every worker's machine shares at that same path (NFS or similar); the run checks this
    before any work. demo:// servers and an ephemeral Prefect server listen on the run's own
    127.0.0.1, out of reach of workers on other machines: use real URLs and a Prefect server
    they can reach (PREFECT_API_URL). null: a temporary cluster on 127.0.0.1 for the run,
    shut down when collect and clean are done."""
    n_workers: int | None = Field(None, ge=1, le=64)
    """Worker processes of the temporary cluster; null: one per core. Not used with an
    address: that cluster has its own."""
    threads_per_worker: int = Field(1, ge=1, le=64)
    """Threads in each worker process of the temporary cluster. Clean's work holds the GIL,
    so more than one speeds up only the fetching; not used with an address."""
    connect_timeout_s: float = Field(30.0, gt=0)
    """How long the run waits for the scheduler at address to answer and to have a worker."""

    @field_validator("address")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        if value is not None and not _DASK_ADDRESS.match(value):
            raise ValueError(
                f"{value!r} is not a Dask scheduler address: write it as `dask scheduler` "
                "prints it, e.g. tcp://127.0.0.1:8786, or null for a temporary local cluster"
            )
        return value

    @model_validator(mode="after")
    def _dask_settings_need_dask(self) -> RunnerConfig:
        if self.kind == "threads" and self.address is not None:
            raise ValueError(
                "runner.address is set but runner.kind is threads: set kind: dask to run on "
                "that cluster, or remove address"
            )
        if self.kind == "dask" and not all(
            importlib.util.find_spec(name) for name in ("distributed", "prefect_dask")
        ):
            raise ValueError(
                "runner.kind dask needs prefect-dask and distributed, which are not "
                "installed: pip install 'lmkiln[dask]', or set kind: threads"
            )
        return self


class SplitConfig(Strict):
    validation_fraction: float = Field(0.1, gt=0, lt=1)
    """Share of documents held out for validation, by a hash of the id: a
    document never changes side between nights."""
    salt: str = "lmkiln-v1"
    """Changing it reshuffles every document: only for a new corpus."""


# Sizes by name: (layers, heads, width). "gpt2-124m" is GPT-2 small's shape: with its
# 50,257-token vocabulary and 1,024 positions it has 124M parameters.
SIZES = {
    "tiny": (2, 2, 128),
    "mini": (4, 4, 256),
    "small": (6, 8, 512),
    "gpt2-124m": (12, 12, 768),
}


class TrainConfig(Strict):
    objective: Literal["causal", "masked"] = "causal"
    """causal: predict each next token (generates text). masked: BERT-style, predict the
    masked tokens from both sides (fills in text; needs architecture bert)."""
    architecture: Literal["gpt2", "llama", "bert"] = "gpt2"
    """gpt2: learned positions, LayerNorm, GELU MLP. llama: rotary positions, RMSNorm,
    SwiGLU MLP, tied embeddings. bert: a bidirectional encoder, for objective masked. All
    use PyTorch's SDPA attention."""
    mlm_probability: float = Field(0.15, gt=0, lt=1)
    """Share of tokens masked per block (objective masked)."""
    size: Literal["tiny", "mini", "small", "gpt2-124m"] | None = None
    """A named size (layers, heads, width): tiny 2/2/128, mini 4/4/256, small 6/8/512,
    gpt2-124m 12/12/768; n_layer, n_head and n_embd are then ignored. null: those three."""
    init_from: str | None = None
    """Start from trained weights instead of random ones: a folder saved with
    save_pretrained, or a registry URI such as models:/lmkiln@champion (warm start). Its
    architecture, size and tokenizer are kept; those settings here are then ignored."""
    vocab_size: int = Field(4096, ge=300)
    """Byte-level BPE: 256 bytes + merges + specials."""
    block_size: int = Field(128, ge=8)
    """Context length; attention cost grows quadratically."""
    n_layer: int = Field(2, ge=1)
    """Transformer layers (when size is null)."""
    n_head: int = Field(2, ge=1)
    """Attention heads per layer; must divide n_embd."""
    n_embd: int = Field(128, ge=8)
    """Width of the hidden states."""
    max_steps: int = Field(200, ge=1)
    """Optimizer steps; with batch_size and block_size, the tokens seen."""
    batch_size: int = Field(16, ge=1)
    """Blocks per optimizer step (per process, per accumulation step)."""
    learning_rate: float = Field(5e-4, gt=0)
    """Peak learning rate of AdamW, after warmup; decays linearly to 0."""
    warmup_steps: int = Field(20, ge=0)
    """Steps of linear warmup from 0."""
    weight_decay: float = Field(0.01, ge=0)
    """AdamW weight decay (not on biases and norms)."""
    save_steps: int = Field(50, ge=1)
    """Checkpoint interval: a retry resumes from the last one. The validation loss is
    measured at each checkpoint too."""
    keep_checkpoints: bool = False
    """Keep a finished training's checkpoints (weights, optimizer and RNG states). false:
    they are removed once the model is saved and its metrics recorded; the model stays in
    the training's `final/` folder and in MLflow."""
    loop: Literal["trainer", "torch"] = "trainer"
    """trainer: the Hugging Face Trainer. torch: lmkiln's plain PyTorch loop (tasks/train/loop.py),
    with the same optimiser, checkpoints, resumption, metrics and early stopping."""
    processes: int = Field(1, ge=1)
    """Data-parallel training processes, which the train task launches with torchrun: one per
    GPU on a multi-GPU machine (NCCL). On a CPU they share its cores over gloo, which tests
    the path but is no faster. The Trainer loop only."""
    gradient_accumulation_steps: int = Field(1, ge=1)
    """Batches whose gradients are summed per optimizer step: an effective batch of
    batch_size x this, in the memory of one batch."""
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Mixed precision (autocast) on a GPU; a CPU trains in fp32 whatever is set here, with a
    warning (bf16 is about 5x slower on these CPUs, fp16 needs a GPU)."""
    compile: bool = False
    """torch.compile the model: faster steps on a GPU after a compile of about a minute."""
    early_stopping_patience: int | None = Field(None, ge=1)
    """Stop after this many checkpoints in a row without a lower validation loss, and keep
    the best checkpoint's weights. null: train all max_steps."""
    seed: int = Field(0, ge=0)
    """Weights, data order and masks: the same seed, the same model."""

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TrainConfig:
        if self.processes > 1 and self.loop != "trainer":
            raise ValueError("train.processes above 1 needs train.loop: trainer")
        if (self.objective == "masked") != (self.architecture == "bert"):
            raise ValueError(
                f"train.objective {self.objective} with architecture {self.architecture}: "
                "masked goes with bert, causal with gpt2 or llama"
            )
        _, heads, width = self.shape
        if width % heads:
            raise ValueError(f"n_embd ({width}) must be divisible by n_head ({heads})")
        return self

    @property
    def shape(self) -> tuple[int, int, int]:
        """(layers, heads, width): the named size's, or n_layer, n_head and n_embd."""
        return SIZES[self.size] if self.size else (self.n_layer, self.n_head, self.n_embd)


class TuneConfig(Strict):
    """A hyper-parameter sweep: several trainings of the same corpus, the best one registered."""

    trials: int = Field(0, ge=0)
    """Trainings to try, each with values drawn from `space`; the one with the lowest
    validation bits per byte goes on to registration. 0: no sweep, `train` as it is."""
    search: Literal["grid", "random"] = "random"
    """grid: the combinations of `space` in order, up to `trials`. random: `trials` distinct
    combinations drawn with `seed`."""
    space: dict[str, list[float | int | str | None]] = {
        "learning_rate": [2.5e-4, 5e-4, 1e-3],
        "warmup_steps": [0, 20],
    }
    """Values to try per `train` field (any of them: learning_rate, n_embd, size, ...)."""
    seed: int = Field(0, ge=0)
    """Draws the random search's combinations."""
    time_budget_s: float | None = Field(None, gt=0)
    """No trial starts after this many seconds of the sweep (the first always runs)."""

    @field_validator("space")
    @classmethod
    def _train_fields(cls, space: dict[str, list]) -> dict[str, list]:
        unknown = sorted(set(space) - set(TrainConfig.model_fields))
        if unknown:
            known = ", ".join(sorted(TrainConfig.model_fields))
            raise ValueError(f"{', '.join(unknown)}: not train settings ({known})")
        empty = sorted(name for name, values in space.items() if not values)
        if empty:
            raise ValueError(f"{', '.join(empty)}: give at least one value to try")
        return space


class RegisterConfig(Strict):
    model_name: Name = "lmkiln"
    """The registered model's name: services load models:/<name>@champion."""
    experiment: str = "lmkiln"
    """The MLflow experiment the training runs are logged to."""
    min_improvement: float = Field(0.0, ge=0)
    """A challenger becomes champion only if its bits per byte, on the same validation split,
    is lower than the champion's by more than this."""
    ui_url: Url = "http://127.0.0.1:5000"
    """Where people open the MLflow UI (`lmkiln ui` serves it here): each run's summary
    links its MLflow run and model version there. With an http(s) storage.tracking_uri,
    that server is the UI and this is not used."""


class ScheduleConfig(Strict):
    cron: str = "0 2 * * *"
    """When `lmkiln serve` starts the nightly run."""
    timezone: str = "UTC"
    """An IANA name, e.g. Europe/Paris."""
    retrain_on_corpus: bool = False
    """An automation that runs `retrain` on each corpus commit that lands (the event
    lmkiln.corpus.committed). Off by default: the nightly run trains on its own commit; on,
    for a collect-only schedule or corpora that other runs feed."""

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if not _CRON.match(value):
            raise ValueError(f"{value!r} is not a cron expression such as '0 2 * * *'")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}: use an IANA name such as UTC") from None
        return value


class PipelineConfig(Strict):
    storage: StorageConfig = StorageConfig()
    """Where every store lives."""
    collect: CollectConfig = CollectConfig()
    """The sources and how often each is fetched."""
    clean: CleanConfig = CleanConfig()
    """Normalisation, filters, PII and deduplication."""
    split: SplitConfig = SplitConfig()
    """The train/validation split."""
    train: TrainConfig = TrainConfig()
    """The model and its training."""
    tune: TuneConfig = TuneConfig()
    """An optional hyper-parameter sweep."""
    registry: RegisterConfig = RegisterConfig()
    """The MLflow model and the promotion gate."""
    schedule: ScheduleConfig = ScheduleConfig()
    """When `lmkiln serve` runs the nightly, and automations."""
    runner: RunnerConfig = RunnerConfig()
    """Where collect's sources and clean's per-document work run: threads, or Dask."""

    @model_validator(mode="after")
    def _cluster_shares_the_data_root(self) -> PipelineConfig:
        # A worker resolves a relative data_root against its own working folder, which on
        # another machine (or another `dask worker` process) is not the run's.
        if self.runner.address is not None and not Path(self.storage.data_root).is_absolute():
            raise ValueError(
                f"runner.address {self.runner.address} with storage.data_root "
                f"{self.storage.data_root!r}: the cluster's workers would each resolve this "
                "relative path from their own working folder; set data_root to an absolute "
                "path that every worker shares"
            )
        return self


class ConfigError(ValueError):
    """A config file that cannot be used; the message names each bad field."""


def load_config(path: str | Path) -> PipelineConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found (see configs/demo.yaml)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    return parse_config(data, origin=str(path))


def parse_config(data: object, origin: str = "config") -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin} is invalid:\n{describe_errors(exc)}") from None


def describe_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            lines.append(f"  {where}: unknown key (check its spelling and nesting)")
        elif not error["loc"] and error["type"] == "value_error":  # names its own fields
            lines.append(f"  {error['msg'].removeprefix('Value error, ')}")
        else:
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"  {where}: {message} (got {_shown(error.get('input'))!r})")
    return "\n".join(lines)


_USERINFO = re.compile(r"(//)[^/@\s]+@")


def _shown(value: Any) -> Any:
    """A config value as an error may show it: credentials in URLs and queries masked."""
    if isinstance(value, dict):
        return {
            k: "**********" if str(k).lower() in SECRET_PARAMS else _shown(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_shown(v) for v in value]
    if isinstance(value, str):
        value = _USERINFO.sub(r"\1***@", value)
        names = "|".join(re.escape(name) for name in sorted(SECRET_PARAMS))
        return re.sub(rf"(?i)([?&](?:{names})=)[^&#\s]*", r"\1**********", value)
    return value
