"""Pipeline configuration: one frozen pydantic model per stage, gathered in `PipelineConfig`.

The same models are the Prefect flow parameters, so the UI renders them as forms, and a
YAML file (`configs/*.yaml`) loads into them. Unknown keys and bad values fail before any
work starts, naming the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# A demo URL names a server that the run starts on 127.0.0.1 and stops afterwards
# (`demo://pydoc/json.html`); see tasks/demo.py for the servers.
DEMO_SCHEME = "demo://"
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://", DEMO_SCHEME)):
        raise ValueError(f"{value!r} is not an http(s):// or demo:// URL")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
    return value


Url = Annotated[str, AfterValidator(_url)]
# Query parameter names that carry credentials; in `query` or a URL they would become Prefect
# parameters and show in logs and errors, so they are refused there (see ApiAuth scheme query).
SECRET_PARAMS = frozenset(
    {
        "access_token",
        "api-key",
        "api_key",
        "apikey",
        "auth_token",
        "client_secret",
        "key",
        "password",
        "secret",
        "token",
    }
)


def _no_credentials(value: str) -> str:
    parts = urlsplit(value)
    if "@" in parts.netloc:
        raise ValueError(
            "carries credentials (user:secret@host), which would show in logs, errors and "
            "Prefect parameters; remove them and set the source's auth (scheme basic with "
            "username and env, or bearer, header or query)"
        )
    secret = next((k for k, _ in parse_qsl(parts.query) if k.lower() in SECRET_PARAMS), None)
    if secret is not None:
        raise ValueError(_secret_param_message(secret))
    return value


def _secret_param_message(name: str) -> str:
    return (
        f"query parameter '{name}' looks like a credential, which would show in logs, errors "
        f"and Prefect parameters; remove it and set auth: {{scheme: query, param: {name}, env: "
        "<variable>}, so that it is read when the source runs and never shown"
    )


ApiUrl = Annotated[str, AfterValidator(_url), AfterValidator(_no_credentials)]
Regex = Annotated[str, AfterValidator(_regex)]
# Five fields: minute hour day-of-month month day-of-week. Prefect checks the values.
_CRON = re.compile(r"^\s*[\w*/,?#-]+(\s+[\w*/,?#-]+){4}\s*$")
# Sites and APIs should be able to tell who is calling and how to reach them.
USER_AGENT = "lmkiln/0.1 (+https://github.com/lmkiln/lmkiln)"


class Strict(BaseModel):
    # Attribute docstrings become field descriptions: the help text of the Prefect UI's forms.
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class StorageConfig(Strict):
    data_root: str = ".lmkiln"
    """Every store lives here; a relative path is from the cwd."""

    @property
    def root(self) -> Path:
        return Path(self.data_root).expanduser().resolve()

    def lake(self, name: str) -> str:
        return str(self.root / "lake" / name)

    @property
    def mlflow_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow' / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> str:
        return str(self.root / "mlflow" / "artifacts")

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"


class WebSource(Strict):
    name: Name
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
    allow_private_addresses: bool = False
    """Fetch from loopback, private and link-local addresses: only for sites you run (the
    demo does). Off, a link or redirect to such an address is refused and counted."""
    max_redirects: int = Field(5, ge=0)
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
    param: str = "page"
    """Query parameter that carries the page number."""
    first: int = 1
    """Number of the first page; some APIs count from 0."""
    has_more_path: str | None = None
    """Dotted path to a value that is false or null on the last page (Stack Exchange's
    `has_more`, a `next_page` that is null at the end); saves asking for an empty page."""


class OffsetLimit(Strict):
    """`?offset=0&limit=100`, then `offset=100`, ... until a page has no records."""

    style: Literal["offset"] = "offset"
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(100, ge=1)
    """Records asked for per page. The offset advances by the records actually received, so
    a server that caps the page size lower is still read in full."""
    has_more_path: str | None = None
    """Dotted path to a value that is false or null on the last page."""


class Cursor(Strict):
    """A token in the body, sent back as a query parameter, until the token is missing."""

    style: Literal["cursor"] = "cursor"
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
    next_path: str = Field(min_length=1)
    """Dotted path to the next page's URL, e.g. `next_url` (Datasette), `links.next`; a
    relative URL is resolved against the page's own."""


class LinkHeader(Strict):
    """The `Link: <...>; rel="next"` response header (RFC 8288; GitHub), until it is missing."""

    style: Literal["link_header"] = "link_header"


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
            raise ValueError(_secret_param_message(secret))
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
    max_tokens: int | None = Field(None, ge=1)
    """Prompt and completion tokens as the server reports them."""


class SynthSpec(Strict):
    name: Name
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
    grounded: Grounding | None = None
    samples_per_prompt: int = Field(1, ge=1)
    """Sample s of a prompt uses seed + s."""
    max_new_tokens: int = Field(64, ge=1)
    temperature: float = Field(0.9, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int = Field(0, ge=0)
    budget: SynthBudget = SynthBudget()

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
    url_field: str | None = None
    """Where the record says it came from; absent: the file (or dataset) and its row."""
    id_field: str | None = None
    """The record's own id, kept in meta as `record_id`."""
    meta_fields: list[str] = []
    """Fields copied into the document's meta as they are."""


class FileSource(FieldMap):
    """Local files: an internal knowledge base, exported notes, data dumps."""

    name: Name
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
    format: Literal["hf_disk", "parquet", "json", "deeplake"]
    """hf_disk: a folder written by `Dataset.save_to_disk`; parquet, json: data files (a
    path or glob; json means JSON Lines), read by Hugging Face datasets' builders; deeplake:
    a Deep Lake dataset (a local path or s3://, credentials from the environment)."""
    path: str
    split: str | None = None
    """The split of a DatasetDict saved to disk; null: a saved Dataset, or its only split."""
    max_rows: int | None = Field(None, ge=1)
    """Rows read per night, from the start; null: all."""


class CollectConfig(Strict):
    web: list[WebSource] = []
    api: list[ApiSource] = []
    synthetic: list[SynthSpec] = []
    files: list[FileSource] = []
    datasets: list[DatasetSource] = []
    bucket_hours: int = Field(24, ge=1, le=24 * 7)
    """Each source is fetched once per bucket."""

    @model_validator(mode="after")
    def _unique_names(self) -> CollectConfig:
        sources = (*self.web, *self.api, *self.synthetic, *self.files, *self.datasets)
        names = [s.name for s in sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique, repeated: {', '.join(duplicates)}")
        return self


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
    gopher_quality: GopherQualityConfig | None = GopherQualityConfig()
    c4: C4Config | None = C4Config()
    fineweb: FineWebConfig | None = FineWebConfig()


class CleanConfig(Strict):
    """The clean stage, rule by rule in this order; each rule's thresholds can be null (off)."""

    normalize: NormalizeConfig = NormalizeConfig()
    min_chars: int | None = Field(200, ge=0)
    """Shorter documents are dropped; null turns the rule off."""
    min_words: int | None = Field(30, ge=0)
    """Documents with fewer words are dropped; null turns the rule off."""
    language: LanguageConfig = LanguageConfig()
    quality: QualityConfig | None = QualityConfig()
    """Gopher, C4 and FineWeb rules with datatrove's defaults; null skips all four."""
    pii: PiiConfig = PiiConfig()
    near_dedup: NearDedupConfig | None = NearDedupConfig()
    """MinHash LSH against every document kept so far; null: exact dedup only."""
    decontamination: DecontamConfig = DecontamConfig()
    max_synthetic_share: float | None = Field(0.5, gt=0, le=1)
    """The most of the corpus that synthetic documents may be: a synthetic document past
    it is dropped as `synthetic_over_cap`; null: no cap. The real documents of a batch are
    counted before its synthetic ones."""
    workers: int | None = Field(None, ge=1, le=64)
    """Processes for the per-document work of a large night (normalise, language, quality,
    PII); null: one per core. Small nights run in the task's own process."""


class SplitConfig(Strict):
    validation_fraction: float = Field(0.1, gt=0, lt=1)
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
    n_head: int = Field(2, ge=1)
    n_embd: int = Field(128, ge=8)
    max_steps: int = Field(200, ge=1)
    """Optimizer steps; with batch_size and block_size, the tokens seen."""
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(5e-4, gt=0)
    warmup_steps: int = Field(20, ge=0)
    weight_decay: float = Field(0.01, ge=0)
    save_steps: int = Field(50, ge=1)
    """Checkpoint interval: a retry resumes from the last one. The validation loss is
    measured at each checkpoint too."""
    keep_checkpoints: bool = False
    """Keep a finished training's checkpoints (weights, optimizer and RNG states). false:
    they are removed once the model is saved and its metrics recorded; the model stays in
    the training's `final/` folder and in MLflow."""
    loop: Literal["trainer", "torch"] = "trainer"
    """trainer: the Hugging Face Trainer. torch: lmkiln's plain PyTorch loop (tasks/loop.py),
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
    seed: int = 0
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
    experiment: str = "lmkiln"
    min_improvement: float = Field(0.0, ge=0)
    """A challenger becomes champion only if its bits per byte, on the same validation split,
    is lower than the champion's by more than this."""


class ScheduleConfig(Strict):
    cron: str = "0 2 * * *"
    """When `lmkiln serve` starts the nightly run."""
    timezone: str = "UTC"
    """An IANA name, e.g. Europe/Paris."""

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
    collect: CollectConfig = CollectConfig()
    clean: CleanConfig = CleanConfig()
    split: SplitConfig = SplitConfig()
    train: TrainConfig = TrainConfig()
    tune: TuneConfig = TuneConfig()
    registry: RegisterConfig = RegisterConfig()
    schedule: ScheduleConfig = ScheduleConfig()


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
