"""`lmkiln`: run the nightly pipeline, serve its deployments, use and move the registered
model, and show what a web source keeps of a page.

Heavy libraries are imported inside the commands, after `lmkiln.tasks.core.environment.configure`
has pointed Prefect, MLflow and Hugging Face at the data root, so `--help` stays fast.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lmkiln.tasks.config.collect import ExtractorName
from lmkiln.tasks.config.pipeline import ConfigError, PipelineConfig, load_config

app = typer.Typer(
    help="lmkiln: collect text, clean it, version it, train a language model, register it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True, soft_wrap=True, highlight=False)  # errors must survive copy-paste

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        envvar="LMKILN_CONFIG",
        help="Pipeline config (YAML). The default is the embedded demo: no set-up, no internet.",
    ),
]
DEFAULT_CONFIG = Path("configs/demo.yaml")


def _setup(path: Path) -> PipelineConfig:
    try:
        config = load_config(path)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    from lmkiln.tasks.core import storage as s3
    from lmkiln.tasks.core.environment import configure

    configure(config.storage)
    try:
        s3.check(config.storage)
    except s3.StorageError as exc:
        err.print(f"[red]error:[/red] {path}: {exc}")
        raise typer.Exit(2) from None
    return config


PortOption = Annotated[int, typer.Option(help="Port of the Prefect server on 127.0.0.1.")]


@app.command()
def run(config: ConfigOption = DEFAULT_CONFIG, port: PortOption = 4200) -> None:
    """Run the nightly pipeline once now: collect, clean, split, train, register.

    Reports to the Prefect server at PREFECT_API_URL, or to one answering on 127.0.0.1:PORT
    (`lmkiln ui` or `lmkiln serve`); else to a temporary server for this run alone.
    """
    cfg = _setup(config)
    from lmkiln.servers import healthy

    local_api = f"http://127.0.0.1:{port}/api"
    if "PREFECT_API_URL" not in os.environ and healthy(f"{local_api}/health", timeout_s=1.0):
        # A second server on the same database file would fight the first one for its lock.
        os.environ["PREFECT_API_URL"] = local_api
    from lmkiln.flows.nightly import nightly
    from lmkiln.tasks.core.storage import save_result_block

    save_result_block(cfg.storage)  # on the server the run reports to, before it starts
    console.rule(f"lmkiln nightly on {config}")
    report = nightly(cfg)
    table = Table("source", "kind", "status", "documents", "detail", title="Sources")
    from lmkiln.flows.report import source_rows

    for row in source_rows(report.collected):
        table.add_row(*(str(row[k]) for k in ("source", "kind", "status", "documents", "detail")))
    console.print(table)
    console.print(report.summary, markup=False)  # its links are [text](url)


@app.command()
def serve(config: ConfigOption = DEFAULT_CONFIG, port: PortOption = 4200) -> None:
    """Serve the deployments (nightly schedule, retrain and collect on demand).

    Attaches to the Prefect server at PREFECT_API_URL if set, else to one on 127.0.0.1:PORT,
    starting it if none answers. Stops on Ctrl-C or SIGTERM, leaving the schedules active: a
    night due while nothing serves runs late, when serving resumes.
    """
    cfg = _setup(config)
    from lmkiln.servers import prefect_server

    attached = os.environ.get("PREFECT_API_URL")
    with nullcontext(attached) if attached else prefect_server(port) as url:
        os.environ["PREFECT_API_URL"] = url
        console.print(f"Prefect UI: {url.removesuffix('/api')}  (Ctrl-C stops serving)")
        from lmkiln.deployments.serve import serve_all
        from lmkiln.tasks.core.storage import save_result_block

        save_result_block(cfg.storage)
        serve_all(cfg)


@app.command()
def ui(
    config: ConfigOption = DEFAULT_CONFIG,
    prefect_port: Annotated[int, typer.Option(help="Prefect UI port.")] = 4200,
    mlflow_port: Annotated[int, typer.Option(help="MLflow UI port.")] = 5000,
) -> None:
    """Print the Prefect and MLflow UI URLs, starting the servers if needed; Ctrl-C stops.

    PREFECT_API_URL and the config's storage.tracking_uri name servers that are used as
    they are."""
    cfg = _setup(config)
    from lmkiln.servers import mlflow_server, prefect_server

    attached = os.environ.get("PREFECT_API_URL")
    prefect = nullcontext(attached) if attached else prefect_server(prefect_port)
    with prefect as api, mlflow_server(cfg.storage, mlflow_port) as mlflow:
        console.print(f"Prefect UI: {api.removesuffix('/api')}")
        console.print(f"MLflow UI:  {mlflow}")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


@app.command()
def champion(
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show the current champion: version, metrics, and the corpus commit it was trained on."""
    cfg = _setup(config)
    from lmkiln.tasks.registry.models import describe_champion

    info = describe_champion(cfg.storage, cfg.registry.model_name)
    if info is None:
        err.print(f"no champion of model '{cfg.registry.model_name}' yet: run `lmkiln run` first")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return
    table = Table("field", "value", title=f"{info['name']}@champion")
    for key, value in info.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Registry version to make champion.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Make VERSION the champion by hand; the current one keeps `previous-champion`."""
    cfg = _setup(config)
    from lmkiln.tasks.registry.register import promote_version

    _registry_change(lambda: promote_version(cfg.storage, cfg.registry.model_name, version))


@app.command()
def rollback(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Serve `previous-champion` again: it and `champion` swap, so a second rollback undoes."""
    cfg = _setup(config)
    from lmkiln.tasks.registry.register import rollback as roll_back

    _registry_change(lambda: roll_back(cfg.storage, cfg.registry.model_name))


def _registry_change(change: Callable[[], str]) -> None:
    try:
        console.print(change())
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="Text for the model to continue.")],
    config: ConfigOption = DEFAULT_CONFIG,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens to generate.")] = 50,
    temperature: Annotated[float, typer.Option(min=0.01, help="Sampling temperature.")] = 0.8,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
) -> None:
    """Continue PROMPT with models:/<name>@champion, loaded from MLflow as a service would."""
    cfg = _setup(config)
    from lmkiln.tasks.registry.models import champion_uri, load_model_uri
    from lmkiln.tasks.registry.models import generate as continue_text

    uri = champion_uri(cfg.registry.model_name)
    with err.status(f"loading {uri}"):
        try:
            model = load_model_uri(uri, cfg.storage)
        except Exception as exc:  # MLflow raises its own exception types for a missing alias
            err.print(f"[red]error:[/red] cannot load {uri}: {exc}\nrun `lmkiln run` first")
            raise typer.Exit(1) from None
    print(prompt + continue_text(model, prompt, max_new_tokens, temperature, seed))


@app.command()
def extract(
    file_or_url: Annotated[
        str,
        typer.Argument(
            metavar="FILE_OR_URL", help="An HTML file (gzip too) or an http(s):// URL to fetch."
        ),
    ],
    extractor: Annotated[
        ExtractorName,
        typer.Option(help="What takes the main text, as a source's `extractor:` setting."),
    ] = "auto",
    title: Annotated[bool, typer.Option("--title", help="Print the title first.")] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print JSON: url, title, text, words, extractor and its version."
        ),
    ] = False,
) -> None:
    """Print the main text of a page: what a web source will keep of it, before a crawl.

    A URL is fetched once, as the crawler fetches (user agent, timeout,
    size cap), without asking robots.txt: it is one page you asked for."""
    from rich.markup import escape

    from lmkiln.tasks.collect.extract import extractors
    from lmkiln.tasks.collect.web.webpage import PageError, load

    try:
        page = load(file_or_url)
    except PageError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    if page.truncated:
        err.print(f"note: {escape(file_or_url)} is cut at the web sources' max_page_bytes")
    found = extractors.extract(page.html, page.url, extractor, links=False)
    if as_json:
        fields = {
            "url": page.url,
            "title": found.title,
            "text": found.text,
            "words": len(found.text.split()),  # as clean's min_words counts them
            "extractor": extractors.resolve(extractor),
            "extractor_version": extractors.version(extractor),
        }
        print(json.dumps(fields, ensure_ascii=False, indent=2))
        return
    if not found.text:
        err.print(f"no main text in {escape(file_or_url)}: a source would keep nothing of it")
    if title:
        print(found.title, end="\n\n")
    if found.text:
        print(found.text)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
