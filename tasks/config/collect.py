"""The `collect` section: one model per source kind, in the order CollectConfig at the bottom
lists them: web; api with its pagination and auth; synthetic with its endpoint, templates and
budget; files, datasets and corpora with the field map they share. Longer than the other
sections because every field carries its help text for the UI's form."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from lmkiln.tasks.config.base import (
    DEMO_SCHEME,
    SECRET_PARAMS,
    ApiUrl,
    Name,
    Regex,
    Strict,
    Url,
    secret_param_message,
)

# Sites and APIs should be able to tell who is calling and how to reach them.
USER_AGENT = "lmkiln/0.1 (+https://github.com/lmkiln/lmkiln)"

# What takes a page's main text (lmkiln.tasks.collect.extract.extractors): lmkiln's own,
# trafilatura or resiliparse; auto is the one bench/results/extract.md chose.
ExtractorName = Literal["auto", "lmkiln", "trafilatura", "resiliparse"]


class WebSource(Strict):
    name: Name
    """Names the source in documents (`source`), counters, quarantine rows and logs."""
    start_urls: list[Url] = Field(min_length=1)
    """Where the crawl starts; demo://pydoc/... names a server the run starts itself."""
    scope: list[Url] = []
    """URL prefixes a link must start with; empty: the start URLs' hosts."""
    exclude: list[Regex] = []
    """Regular expressions; a matching URL is never fetched."""
    max_pages: int = Field(50, ge=1)
    """Page requests per night, at most."""
    max_depth: int = Field(2, ge=0)
    """Link hops from a start URL."""
    respect_robots: bool = True
    """Obey robots.txt (Disallow, Crawl-delay); off only for sites you own."""
    allow_private_addresses: bool = False
    """Fetch from loopback, private and link-local addresses: only for sites you run (the
    demo does). Off, a link or redirect to such an address is refused and counted."""
    max_redirects: int = Field(5, ge=0)
    """Redirects followed per request; a longer chain (or a loop) is skipped and counted."""
    max_page_bytes: int = Field(5_000_000, ge=1024)
    """A longer page is cut here, extracted as far as it goes, and counted as truncated."""
    max_bytes: int | None = Field(None, ge=1)
    """Bytes fetched per night, at most; the crawl stops once past it. null: no cap."""
    content_types: list[str] = ["text/html", "application/xhtml+xml"]
    """Media types that are extracted; other responses are skipped after their headers."""
    user_agent: str = USER_AGENT
    """Who is crawling and how to reach them: a name/version and a contact URL or e-mail,
    e.g. "examplebot/1.0 (+https://example.org/bot)"."""
    timeout_s: float = Field(10.0, gt=0)
    """Connect and read timeout per request."""
    delay_ms: int = Field(0, ge=0)
    """Pause between the starts of two requests to the same site; a longer robots.txt
    Crawl-delay wins."""
    concurrency: int = Field(2, ge=1, le=16)
    """Requests in flight to one site at a time."""
    sitemaps: bool = True
    """Also start from the in-scope pages the sites' sitemaps list (robots.txt Sitemap:
    lines, else /sitemap.xml), at depth 0."""
    retries: int = Field(3, ge=0)
    """Per request, with backoff; Retry-After is honoured."""
    extractor: ExtractorName = "auto"
    """What takes a page's main text: lmkiln's own, trafilatura or resiliparse; auto is the
    default that bench/results/extract.md chose (lmkiln's own for now). Links always come
    from lmkiln's parser. After a change, the next night re-extracts the stored pages
    instead of crawling."""

    @field_validator("user_agent")
    @classmethod
    def _identifiable(cls, value: str) -> str:
        if not re.search(r"https?://|@", value):
            raise ValueError(
                f"{value!r} names no contact: sites block crawlers they cannot reach; add a "
                "URL or e-mail, e.g. 'examplebot/1.0 (+https://example.org/bot)'"
            )
        return value


class PageNumber(Strict):
    """`?page=1`, `?page=2`, ... until a page has no records."""

    style: Literal["page"] = "page"
    """Selects this kind of pagination."""
    param: str = "page"
    """Query parameter that carries the page number."""
    first: int = Field(1, ge=0)
    """Number of the first page; some APIs count from 0."""
    has_more_path: str | None = None
    """Dotted path to a value that is false or null on the last page (Stack Exchange's
    `has_more`, a `next_page` that is null at the end); saves asking for an empty page."""


class OffsetLimit(Strict):
    """`?offset=0&limit=100`, then `offset=100`, ... until a page has no records."""

    style: Literal["offset"] = "offset"
    """Selects this kind of pagination."""
    offset_param: str = "offset"
    """Query parameter that carries the offset."""
    limit_param: str = "limit"
    """Query parameter that carries the page size."""
    limit: int = Field(100, ge=1)
    """Records asked for per page. The offset advances by the records actually received, so
    a server that caps the page size lower is still read in full."""
    has_more_path: str | None = None
    """Dotted path to a value that is false or null on the last page."""


class Cursor(Strict):
    """A token in the body, sent back as a query parameter, until the token is missing."""

    style: Literal["cursor"] = "cursor"
    """Selects this kind of pagination."""
    next_path: str = Field(min_length=1)
    """Dotted path to the next page's token, e.g. `next` (Datasette), `meta.next_cursor`;
    missing, null or empty on the last page."""
    param: str = Field(min_length=1)
    """Query parameter the token is sent back as, e.g. `_next` (Datasette), `cursor`."""
    has_more_path: str | None = None
    """Dotted path to a value that is false or null on the last page."""
    resume: bool = False
    """Keep the token of the last page read as the source's watermark and start there next
    time. Only for tokens that stay valid between runs (keyset tokens such as Datasette's,
    change feeds); not with updated_at_field."""


class NextUrl(Strict):
    """The next page's full URL in the body, until it is missing."""

    style: Literal["next_url"] = "next_url"
    """Selects this kind of pagination."""
    next_path: str = Field(min_length=1)
    """Dotted path to the next page's URL, e.g. `next_url` (Datasette), `links.next`; a
    relative URL is resolved against the page's own."""


class LinkHeader(Strict):
    """The `Link: <...>; rel="next"` response header (RFC 8288; GitHub), until it is missing."""

    style: Literal["link_header"] = "link_header"
    """Selects this kind of pagination."""


Pagination = Annotated[
    PageNumber | OffsetLimit | Cursor | NextUrl | LinkHeader, Field(discriminator="style")
]
# Environment variable names as shells accept them.
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ApiAuth(Strict):
    """Where an API's credentials are: an environment variable or a Prefect Secret block.

    The config names the secret and never holds it, so it cannot reach the Prefect UI's
    parameters, logs or artifacts; it is read when the source runs.
    """

    scheme: Literal["bearer", "header", "basic", "query"]
    """bearer: `Authorization: Bearer <secret>`; header: `<header>: <secret>`; basic:
    `username` with the secret as the password; query: `?<param>=<secret>` (APIs that take
    a key only in the URL: it is added at request time and cut from every URL shown)."""
    env: str | None = Field(None, pattern=_ENV_NAME)
    """Environment variable that holds the secret, e.g. GITHUB_TOKEN."""
    secret_block: str | None = None
    """Name of a Prefect Secret block that holds the secret (`Secret.load(name).get()`)."""
    header: str = "Authorization"
    """Header that carries the secret with scheme `header`, e.g. X-API-Key."""
    username: str | None = None
    """User name for scheme `basic`."""
    param: str | None = Field(None, min_length=1)
    """Query parameter that carries the secret with scheme `query`, e.g. api_key."""

    @model_validator(mode="after")
    def _one_place_and_a_username(self) -> ApiAuth:
        if (self.env is None) == (self.secret_block is None):
            raise ValueError("set exactly one of env (a variable name) and secret_block")
        if self.scheme == "basic" and not self.username:
            raise ValueError("scheme basic needs a username (the secret is the password)")
        if self.scheme == "query" and not self.param:
            raise ValueError("scheme query needs param, the query parameter, e.g. api_key")
        return self

    @property
    def where(self) -> str:
        """Where the secret comes from, for messages: never the secret itself."""
        if self.env is not None:
            return f"environment variable {self.env}"
        return f"Prefect Secret block '{self.secret_block}'"


QueryValue = str | bool | int | float


class ApiSource(Strict):
    """A JSON REST API: pages of records, each record mapped to one document."""

    name: Name
    """Names the source in documents (`source`), counters, quarantine rows and logs."""
    url: ApiUrl
    """Base URL, e.g. https://api.github.com (it may carry a path and query too, never
    credentials); demo://packages/... names the demo API."""
    path: str = ""
    """Appended to url, e.g. /repos/python/cpython/issues."""
    query: dict[str, QueryValue] = {}
    """Query parameters of every request, e.g. {per_page: 100}; pagination adds its own.
    Never a credential: an API key in the URL is auth with scheme query."""
    auth: ApiAuth | None = None
    """Credentials, read from an environment variable or a Prefect Secret block."""
    pagination: Pagination = PageNumber()
    """How the next page is found: page, offset, cursor, next_url or link_header."""
    records_path: str = "items"
    """Dotted path to the list of records in each page; '' when the page itself is the list."""
    id_field: str | None = "id"
    """Dotted path to the record's id: a record seen twice in one read counts once, and
    records at exactly the watermark are told apart. null: no id (records are then told
    apart by content; not with updated_at_field)."""
    text_fields: list[str] = Field(["text"], min_length=1)
    """Dotted paths to the fields that hold the text, joined with a blank line."""
    title_field: str | None = "title"
    """Dotted path to the record's title."""
    url_field: str | None = "url"
    """Dotted path to the record's web address."""
    url_template: str | None = None
    """Builds the address instead of url_field, e.g. https://news.ycombinator.com/item?id={id};
    `{id}` is the id_field's value, any other `{a.b}` a record field."""
    updated_at_field: str | None = None
    """Dotted path to when the record last changed (ISO 8601, or epoch seconds): turns on the
    incremental watermark. null: every run reads everything (exact dedup drops repeats)."""
    updated_at_ascending: bool = False
    """The API returns records oldest change first (e.g. sort=updated&direction=asc), and
    since_param filters on the server: a read cut short by max_pages commits what it read and
    the next run goes on from there."""
    updated_at_descending: bool = False
    """The API returns records newest change first: a read stops at the first page with
    nothing newer than the watermark. A first run cut short by max_pages is a deliberate
    backfill limit; a later one fails rather than skip what it could not reach."""
    since_param: str | None = None
    """Query parameter that filters on the server (>= the watermark), e.g. `since`; null:
    every page is read and older records are skipped here."""
    since_template: str = "{value}"
    """How the watermark is written into since_param, e.g. `created_at_i>={value}`."""
    max_pages: int = Field(100, ge=1)
    """Pages per run, at most. With updated_at_field and no declared order, a read cut short
    here fails: unread pages could hold older changes that the watermark would skip."""
    max_page_bytes: int = Field(20_000_000, ge=1024)
    """A larger response fails the source: a JSON page is parsed whole, in memory."""
    max_bad_fraction: float | None = Field(0.5, gt=0, le=1)
    """Fail the source, committing nothing, when more than this share of its records is
    quarantined for one reason (10 records or more): the API's schema has changed, and the
    watermark must not move past records the mapping could not read. null: never."""
    requests_per_second: float | None = Field(None, gt=0)
    """Rate limit of this source's requests; null: none beyond the server's 429s."""
    user_agent: str = USER_AGENT
    """Sent with every request: a name/version and a contact URL or e-mail."""
    timeout_s: float = Field(10.0, gt=0)
    """Connect and read timeout per request."""
    retries: int = Field(3, ge=0)
    """Per request, with backoff, on 429, 5xx and transport errors; Retry-After is honoured."""

    @field_validator("since_template")
    @classmethod
    def _template_has_value(cls, value: str) -> str:
        if "{value}" not in value:
            raise ValueError(f"{value!r} must contain {{value}}, where the watermark goes")
        return value

    @field_validator("query")
    @classmethod
    def _no_secret_in_query(cls, value: dict[str, QueryValue]) -> dict[str, QueryValue]:
        secret = next((key for key in value if key.lower() in SECRET_PARAMS), None)
        if secret is not None:
            raise ValueError(secret_param_message(secret))
        return value

    @model_validator(mode="after")
    def _one_watermark(self) -> ApiSource:
        resume = isinstance(self.pagination, Cursor) and self.pagination.resume
        if resume and self.updated_at_field:
            raise ValueError(
                "pagination.resume and updated_at_field are two watermarks: keep one "
                "(updated_at_field unless the API has no last-changed field)"
            )
        ordered = self.updated_at_ascending or self.updated_at_descending
        if (self.since_param or ordered) and not self.updated_at_field:
            raise ValueError(
                "since_param, updated_at_ascending and updated_at_descending need updated_at_field"
            )
        if self.updated_at_ascending and self.updated_at_descending:
            raise ValueError("set at most one of updated_at_ascending and updated_at_descending")
        if self.updated_at_ascending and not self.since_param:
            raise ValueError(
                "updated_at_ascending needs since_param: without a server-side filter every "
                "run starts again at the oldest record, and a read cut short by max_pages "
                "never gets past the first max_pages pages"
            )
        if self.updated_at_field and not self.id_field:
            raise ValueError(
                "updated_at_field needs id_field: records at exactly the watermark's time are "
                "told apart by id; without one they would be committed again every run"
            )
        if self.auth is not None and self.auth.param in self.query:
            raise ValueError(f"query sets '{self.auth.param}', the auth parameter: remove it")
        return self

    @property
    def watermark_kind(self) -> Literal["updated_at", "cursor"] | None:
        if self.updated_at_field:
            return "updated_at"
        if isinstance(self.pagination, Cursor) and self.pagination.resume:
            return "cursor"
        return None


class Endpoint(Strict):
    """An OpenAI-compatible server: OpenAI, vLLM, llama.cpp, Ollama, TGI, `transformers
    serve`."""

    base_url: ApiUrl
    """Up to the API version, e.g. http://127.0.0.1:8000/v1 or https://api.openai.com/v1.
    `demo://champion/v1`: the run serves the registry's champion (pinned as for
    `generator: champion`) with `transformers serve` on 127.0.0.1 for the night."""
    model: str = Field(min_length=1)
    """The model the server is asked for; with demo://champion, `champion`."""
    api: Literal["chat", "completions"] = "chat"
    """chat: /chat/completions with the prompt as the user's message; completions: the
    plain /completions API, for base models that continue text."""
    auth: ApiAuth | None = None
    """The API key, from an environment variable or a Prefect Secret block, e.g.
    {scheme: bearer, env: OPENAI_API_KEY}; none for a local server."""
    timeout_s: float = Field(120.0, gt=0)
    """Per request: a generation can take long on a busy server."""
    concurrency: int = Field(4, ge=1, le=64)
    """Requests in flight at once."""
    requests_per_second: float | None = Field(None, gt=0)
    """Request starts per second, at most; null: no pacing."""
    retries: int = Field(4, ge=0)
    """Per request, on 408, 429, 5xx, resets and timeouts, with backoff; Retry-After is
    honoured up to a minute."""

    @property
    def serves_champion(self) -> bool:
        return self.base_url.startswith(f"{DEMO_SCHEME}champion/")


class Template(Strict):
    id: Name
    """Named in each document's meta (`template_id`) and in the generation cache's key."""
    text: str = Field(min_length=1)
    """The prompt; `{topic}` (or `{document}`, `{title}` when grounded) is filled in."""


class Grounding(Strict):
    """Generation from documents of the corpus: rewrites, questions and answers, summaries."""

    templates: list[Template] = Field(min_length=1)
    """Each with `{document}` (the document's text) and optionally `{title}`."""
    documents: int = Field(10, ge=1)
    """Train documents drawn from the latest corpus each night (never validation ones)."""
    max_document_chars: int = Field(4000, ge=100)
    """A longer document is cut here in the prompt."""

    @field_validator("templates")
    @classmethod
    def _with_document(cls, templates: list[Template]) -> list[Template]:
        for template in templates:
            if "{document}" not in template.text:
                raise ValueError(f"template {template.id!r} has no {{document}} placeholder")
        return templates


class SynthBudget(Strict):
    """What one synthetic source may spend per collection bucket (night); null: no cap."""

    max_requests: int | None = Field(None, ge=1)
    """Requests per bucket, at most."""
    max_tokens: int | None = Field(None, ge=1)
    """Prompt and completion tokens as the server reports them."""


class SynthSpec(Strict):
    name: Name
    """Names the source in documents (`source`), counters, quarantine rows and logs."""
    generator: str = "champion"
    """Without `endpoint`: the registry's "champion", a models:/ URI, or a local
    transformers model folder, which continues each prompt."""
    endpoint: Endpoint | None = None
    """An OpenAI-compatible server to generate with instead of a local model."""
    prompts: list[str] = []
    """Each is continued by the generator; the prompt starts the document."""
    templates: list[Template] = []
    """Asked once per topic, with `{topic}` filled in; the answer is the document."""
    topics: list[str] = []
    """Each template is asked once per topic."""
    grounded: Grounding | None = None
    """Templates filled with documents drawn from the corpus (rewrites, Q&A)."""
    samples_per_prompt: int = Field(1, ge=1)
    """Sample s of a prompt uses seed + s."""
    max_new_tokens: int = Field(64, ge=1)
    """Tokens generated per sample, at most."""
    temperature: float = Field(0.9, ge=0)
    """Sampling temperature; 0: greedy."""
    top_p: float = Field(1.0, gt=0, le=1)
    """Nucleus sampling: the smallest set of tokens with this much probability."""
    seed: int = Field(0, ge=0)
    """Sample s of a prompt uses seed + s; part of the generation cache's key."""
    budget: SynthBudget = SynthBudget()
    """What this source may spend per bucket (night)."""

    @model_validator(mode="after")
    def _something_to_ask(self) -> SynthSpec:
        if not (self.prompts or (self.templates and self.topics) or self.grounded):
            raise ValueError("nothing to generate: set prompts, templates with topics, or grounded")
        if bool(self.templates) != bool(self.topics):
            raise ValueError("templates and topics go together: each template asks each topic")
        for template in self.templates:
            if "{topic}" not in template.text:
                raise ValueError(f"template {template.id!r} has no {{topic}} placeholder")
        return self


class FieldMap(Strict):
    """Which fields of a record (a JSON line, a table row) make the document."""

    text_field: str = "text"
    """The document's text; a record without it (or with an empty one) is quarantined."""
    title_field: str | None = None
    """The document's title; null: none."""
    url_field: str | None = None
    """Where the record says it came from; absent: the file (or dataset) and its row."""
    id_field: str | None = None
    """The record's own id, kept in meta as `record_id`."""
    meta_fields: list[str] = []
    """Fields copied into the document's meta as they are."""


class FileSource(FieldMap):
    """Local files: an internal knowledge base, exported notes, data dumps."""

    name: Name
    """Names the source in documents (`source`), counters, quarantine rows and logs."""
    paths: list[str] = Field(min_length=1)
    """Folders (read recursively) and glob patterns (`**` for any depth); a relative path is
    from the cwd. Files of other types than .txt, .md, .html, .htm, .jsonl and .parquet are
    counted and skipped."""
    encoding: str = "utf-8"
    """Of .txt, .md and .jsonl files; a file that does not decode is quarantined. HTML
    files declare their own or are detected, as crawled pages."""
    max_file_bytes: int = Field(50_000_000, ge=1)
    """A .txt, .md or .html file above this size is quarantined as too large (JSONL and
    Parquet are streamed, whatever their size)."""

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}: use e.g. 'utf-8' or 'latin-1'") from None
        return value


class DatasetSource(FieldMap):
    """A dataset a team already holds: Hugging Face (saved to disk, or parquet/json files) or
    Deep Lake."""

    name: Name
    """Names the source in documents (`source`), counters, quarantine rows and logs."""
    format: Literal["hf_disk", "parquet", "json", "deeplake"]
    """hf_disk: a folder written by `Dataset.save_to_disk`; parquet, json: data files (a
    path or glob; json means JSON Lines), read by Hugging Face datasets' builders; deeplake:
    a Deep Lake dataset (a local path or s3://, credentials from the environment)."""
    path: str
    """The dataset's folder, data file or glob (a local path, or s3:// for deeplake)."""
    split: str | None = None
    """The split of a DatasetDict saved to disk; null: a saved Dataset, or its only split."""
    max_rows: int | None = Field(None, ge=1)
    """Rows read per night, from the start; null: all."""


class CorpusSource(FieldMap):
    """A public corpus's files: Common Crawl WARC or WET, a Wikipedia dump, or JSON Lines
    collections in the style of The Pile; streamed, never loaded whole."""

    name: Name
    """Names the source in documents (`source`), counters, quarantine rows and logs."""
    format: Literal["warc", "wet", "wikipedia", "jsonl"]
    """warc: HTML responses, extracted as crawled pages; wet: Common Crawl's plain text;
    wikipedia: a pages-articles XML dump (.xml or .xml.bz2), articles only; jsonl: one JSON
    object per line (.jsonl, .jsonl.gz, .jsonl.zst), mapped by text_field and the other
    field settings (which the other formats ignore)."""
    paths: list[str] = []
    """Files in reading order: local paths or globs (each sorted), https:// or s3:// URLs."""
    paths_file: str | None = None
    """A file (or URL) listing one path or URL per line, read after `paths`, such as Common
    Crawl's warc.paths.gz; a relative entry is joined to base_url."""
    base_url: str | None = None
    """Prefix of paths_file's relative entries, e.g. https://data.commoncrawl.org/."""
    max_documents: int | None = Field(None, ge=1)
    """Documents taken per night, at most; the next night reads on from where this one
    stopped. So a night takes N documents of a large corpus beside all of the other sources.
    null: every file to its end."""
    batch_documents: int = Field(1000, ge=1, le=100_000)
    """Documents per raw commit: memory holds one batch, and a crash repeats at most one."""
    extractor: ExtractorName = "auto"
    """format warc: what takes each HTML response's main text, as for web sources (auto,
    lmkiln, trafilatura, resiliparse); a change applies to the records read from then on."""

    @model_validator(mode="after")
    def _something_to_read(self) -> CorpusSource:
        if not self.paths and not self.paths_file:
            raise ValueError(f"corpus source '{self.name}': set paths or paths_file")
        if self.extractor != "auto" and self.format != "warc":
            raise ValueError(
                f"corpus source '{self.name}': extractor applies to format warc only (HTML "
                f"responses); remove it for format {self.format}"
            )
        return self


# Any one source; their names are unique across every kind.
Source = WebSource | ApiSource | SynthSpec | FileSource | DatasetSource | CorpusSource


class CollectConfig(Strict):
    web: list[WebSource] = []
    """Websites to crawl, politely."""
    api: list[ApiSource] = []
    """JSON REST APIs to read, incrementally."""
    synthetic: list[SynthSpec] = []
    """Text generated by a model: the champion, a local model or an endpoint."""
    files: list[FileSource] = []
    """Local files and folders."""
    datasets: list[DatasetSource] = []
    """Datasets on disk: Hugging Face, Parquet, JSON Lines, Deep Lake."""
    corpora: list[CorpusSource] = []
    """Public corpora's files: Common Crawl WARC/WET, Wikipedia dumps, JSON Lines collections."""
    bucket_hours: int = Field(24, ge=1, le=24 * 7)
    """Each source is fetched once per bucket."""

    @model_validator(mode="after")
    def _unique_names(self) -> CollectConfig:
        sources: list[Source] = [*self.web, *self.api, *self.synthetic, *self.files]
        sources += [*self.datasets, *self.corpora]
        names = [s.name for s in sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique, repeated: {', '.join(duplicates)}")
        return self
