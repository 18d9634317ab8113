"""Register a trained model as a version in the MLflow Model Registry, then decide promotion:
the new version becomes `champion` only if it beats the current champion, scored on the same
validation split, by the configured margin; otherwise it becomes `challenger`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from lmkiln.tasks.config.registry import RegisterConfig
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import clock
from lmkiln.tasks.core.lake import corpus_texts
from lmkiln.tasks.core.records import ModelRef, RunRef
from lmkiln.tasks.registry.models import (
    CHAMPION,
    champion_uri,
    context_length,
    evaluate,
    find_champion,
    is_masked,
    load_model_uri,
    load_pretrained,
    quiet_progress,
)
from lmkiln.tasks.registry.tracking import use_tracking

logger = logging.getLogger(__name__)

CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
MAX_NEW_TOKENS = 64  # served default, halved further for short contexts
INPUT_EXAMPLE = "The pipeline"
# Pinned, so MLflow does not import the model in a subprocess to infer them (~10 s per log).
REQUIREMENTS = ("torch", "transformers", "tokenizers", "accelerate", "safetensors")


def register_model(
    run: RunRef,
    config: RegisterConfig,
    storage: StorageConfig,
    lineage: Mapping[str, str] | None = None,
) -> ModelRef:
    """Register `run`'s model (once per run) and place it as champion or challenger.

    `lineage` (the registering flow run's id and URL) becomes tags of the new version."""
    lineage = dict(lineage or {})
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient

    use_tracking(storage, config.experiment)
    client = MlflowClient(tracking_uri=storage.mlflow_uri, registry_uri=storage.mlflow_uri)
    name = config.model_name
    version = _version_of_run(client, name, run.run_id)
    if version is not None and version.tags.get("decision"):
        logger.info("run %s is already %s version %s", run.run_id, name, version.version)
        return ModelRef(name, str(version.version), _aliases(version), version.tags["decision"])
    if version is None:
        # A champion of the other objective refuses the version before it is registered.
        _check_objective(client, name, _objective(run.metrics))
        number = _log_version(client, run, name, lineage)
    else:
        number = str(version.version)
        if not version.description:  # an earlier attempt stopped right after registering
            model, _ = _load_run_model(run)
            _describe(client, name, number, run, _model_card(model, run), lineage)
    decision = _promote(client, run, config, storage, number)
    version = client.get_model_version(name, number)
    return ModelRef(name, number, _aliases(version), decision)


def _version_of_run(client: Any, name: str, run_id: str) -> Any | None:
    """The version registered from this run by an earlier (perhaps interrupted) attempt."""
    found = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if not found:
        return None
    # search results may omit aliases; get_model_version carries them.
    first = min(found, key=lambda v: int(v.version))
    return client.get_model_version(name, first.version)


def _aliases(version: Any) -> tuple[str, ...]:
    return tuple(sorted(version.aliases or ()))


def _load_run_model(run: RunRef) -> tuple[Any, Any]:
    return load_pretrained(run.model_dir)


def _log_version(client: Any, run: RunRef, name: str, lineage: dict[str, str]) -> str:
    import mlflow
    from huggingface_hub import ModelCard

    model, tokenizer = _load_run_model(run)
    tokenizer.model_max_length = context_length(model)
    if is_masked(model.config):  # served as fill-mask: the input holds the mask token
        task, example, served = "fill-mask", f"The {tokenizer.mask_token} runs nightly.", {}
    else:
        # GPT-2 has no positions past n_positions: a served default that runs past them
        # fails with an IndexError, so leave half the context to the prompt.
        max_new_tokens = max(1, min(MAX_NEW_TOKENS, context_length(model) // 2))
        model.generation_config.max_new_tokens = max_new_tokens
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        # With the context length known, the served pipeline's "hole" mode cuts a long
        # prompt from the left instead of failing.
        task, example = "text-generation", INPUT_EXAMPLE
        served = {"max_new_tokens": max_new_tokens, "handle_long_generation": "hole"}
    card = _model_card(model, run)
    with mlflow.start_run(run_id=run.run_id), quiet_progress():
        info = mlflow.transformers.log_model(
            transformers_model={"model": model, "tokenizer": tokenizer},
            name="model",
            task=task,
            registered_model_name=name,
            input_example=example,
            model_config=served,
            pip_requirements=_requirements(),
            # Our own card: without one MLflow looks the local path up on the Hub and warns.
            model_card=ModelCard(f"---\nlibrary_name: transformers\ntags: [lmkiln]\n---\n{card}\n"),
        )
    version = str(info.registered_model_version)
    _describe(client, name, version, run, card, lineage)
    logger.info("registered %s version %s from run %s", name, version, run.run_id)
    return version


def _describe(
    client: Any, name: str, version: str, run: RunRef, card: str, lineage: dict[str, str]
) -> None:
    """Lineage tags, then the card: a version with a description has its tags too."""
    lineage = {
        **lineage,
        "run_id": run.run_id,
        "corpus_path": run.corpus.path,
        "corpus_commit": run.corpus.commit,
    }
    for key, value in lineage.items():
        client.set_model_version_tag(name, version, key, value)
    client.update_model_version(name, version, description=card)


def _requirements() -> list[str]:
    return [f"{package}=={metadata.version(package)}" for package in REQUIREMENTS]


def _model_card(model: Any, run: RunRef) -> str:
    config = model.config
    n_params = sum(p.numel() for p in model.parameters())
    metrics = run.metrics
    style = {"gpt2": "GPT-2", "llama": "Llama", "bert": "BERT"}.get(
        config.model_type, config.model_type
    )
    kind = "masked" if is_masked(config) else "causal"
    return (
        f"{style}-style {kind} language model, {n_params / 1e6:.2f}M parameters "
        f"({config.num_hidden_layers} layers, {config.num_attention_heads} heads, width "
        f"{config.hidden_size}, context {context_length(model)} tokens, vocabulary "
        f"{config.vocab_size}).\n\n"
        f"Trained by lmkiln on corpus {run.corpus.path} at commit {run.corpus.commit} "
        f"({run.corpus.rows} rows); MLflow run {run.run_id}.\n\n"
        f"Validation: {metrics.get('bits_per_byte', float('nan')):.4f} bits per byte, "
        f"loss {metrics.get('eval_loss', float('nan')):.4f} nats per token, "
        f"perplexity {metrics.get('perplexity', float('nan')):.1f}.\n\n"
        "A small model trained from scratch on the collected corpus: for the pipeline's own "
        "synthetic text and demos, not for facts or for users."
    )


def _promote(
    client: Any, run: RunRef, config: RegisterConfig, storage: StorageConfig, version: str
) -> str:
    """Score champion and challenger, then move aliases; returns the one-line decision."""
    name = config.model_name
    challenger_bpb = float(run.metrics["bits_per_byte"])
    champion = find_champion(storage, name)
    champion_version, champion_bpb = "", None
    if champion is None:
        alias: str | None = CHAMPION
        decision = f"promoted: first champion, bpb {challenger_bpb:.4f}"
    elif champion[0] == version:
        # An earlier attempt moved the alias, then stopped before recording why.
        alias = None
        decision = f"kept: v{version} is already champion, bpb {challenger_bpb:.4f}"
    else:
        _check_objective(client, name, _objective(run.metrics))  # the champion may have moved
        champion_version, champion_bpb = _score_champion(run, storage, name)
        promote = challenger_bpb < champion_bpb - config.min_improvement
        alias = CHAMPION if promote else CHALLENGER
        verb, relation = ("promoted", "<") if promote else (CHALLENGER, ">=")
        decision = (
            f"{verb}: bpb {challenger_bpb:.4f} {relation} champion v{champion_version} "
            f"{champion_bpb:.4f} - margin {config.min_improvement}"
        )

    # Aliases move only now that both scores exist. The old champion gets its rollback alias
    # first: a crash between the two calls then leaves the old champion serving, and a rerun
    # reaches the same decision.
    if alias == CHAMPION:
        if champion_version:
            client.set_registered_model_alias(name, PREVIOUS_CHAMPION, champion_version)
        client.set_registered_model_alias(name, CHAMPION, version)
        if CHALLENGER in client.get_model_version(name, version).aliases:
            client.delete_registered_model_alias(name, CHALLENGER)
    elif alias == CHALLENGER:
        client.set_registered_model_alias(name, CHALLENGER, version)

    record = {
        "decision": decision,
        "challenger_bpb": f"{challenger_bpb:.6f}",
        "champion_bpb": "" if champion_bpb is None else f"{champion_bpb:.6f}",
        "champion_version": champion_version,
    }
    for key, value in record.items():
        client.set_model_version_tag(name, version, key, value)
        client.set_tag(run.run_id, f"registry.{key}", value)
    client.set_tag(run.run_id, "registry.version", f"{name}/{version}")
    logger.info("%s version %s: %s", name, version, decision)
    return decision


def _score_champion(run: RunRef, storage: StorageConfig, name: str) -> tuple[str, float]:
    """The champion's version and bits per byte on the challenger's validation split."""
    texts = corpus_texts(run.corpus, "validation")
    if not texts:
        raise ValueError(
            f"corpus {run.corpus.path} at commit {run.corpus.commit} has no validation rows "
            "to score the champion on: raise split.validation_fraction or add sources"
        )
    # Loaded as consumers load it; the version it reports is the one scored, even if the
    # alias moves meanwhile.
    champion = load_model_uri(champion_uri(name), storage)
    block_size = context_length(champion.model)
    scores = evaluate(champion.model, champion.tokenizer, texts, block_size)
    return str(champion.version), float(scores["bits_per_byte"])


def _objective(metrics: Mapping[str, float]) -> str:
    """A training run's objective, from its `masked` metric (absent before masked LMs)."""
    return "masked" if metrics.get("masked", 0.0) == 1.0 else "causal"


def _check_objective(client: Any, name: str, objective: str) -> None:
    """Refuse a version whose objective is not the champion's: a masked LM's bits per byte
    (of masked tokens, seen from both sides) do not compare with a causal LM's, and the
    champion's consumers expect one kind of pipeline."""
    from mlflow.exceptions import MlflowException

    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:  # no such model or no champion yet
        return
    theirs = _objective(client.get_run(champion.run_id).data.metrics)
    if theirs != objective:
        raise ValueError(
            f"the champion of {name!r} (v{champion.version}) is a {theirs} LM and this model "
            f"a {objective} one: their scores do not compare; register it under another "
            "registry.model_name"
        )


def _client(storage: StorageConfig) -> Any:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=storage.mlflow_uri, registry_uri=storage.mlflow_uri)


def _version_or_error(client: Any, name: str, version: str) -> Any:
    """The registered version, or a ValueError naming the versions there are."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, version)
    except MlflowException:
        pass
    try:
        found = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    except MlflowException:
        found = []
    there = f"versions {', '.join(map(str, found))}" if found else "no versions yet"
    raise ValueError(f"model '{name}' has no version {version!r} ({there}): see `lmkiln champion`")


def promote_version(storage: StorageConfig, name: str, version: str) -> str:
    """Make `version` the champion by hand; the champion it replaces keeps
    `previous-champion`. Returns a one-line account of what moved."""
    client = _client(storage)
    chosen = _version_or_error(client, name, version)
    current = find_champion(storage, name)
    if current is not None and current[0] == version:
        return f"{name} v{version} is already champion: nothing moved"
    _check_objective(client, name, _objective(client.get_run(chosen.run_id).data.metrics))
    # Same order as the nightly promotion: a crash in between leaves the old champion serving.
    if current is not None:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, current[0])
    client.set_registered_model_alias(name, CHAMPION, version)
    if CHALLENGER in client.get_model_version(name, version).aliases:
        client.delete_registered_model_alias(name, CHALLENGER)
    client.set_model_version_tag(name, version, "promoted_by_hand", clock.iso_now())
    before = f"v{current[0]} is now {PREVIOUS_CHAMPION}" if current else "first champion"
    return f"{name} v{version} is champion; {before}"


def rollback(storage: StorageConfig, name: str) -> str:
    """Swap `champion` and `previous-champion`: the previous champion serves again, and a
    second rollback undoes the first. Returns a one-line account of what moved."""
    client = _client(storage)
    current = find_champion(storage, name)
    try:
        previous = str(client.get_model_version_by_alias(name, PREVIOUS_CHAMPION).version)
    except Exception:  # MLflow raises its own types for a missing model or alias
        previous = None
    if current is None or previous is None or previous == current[0]:
        raise ValueError(
            f"model '{name}' has no {PREVIOUS_CHAMPION} to roll back to: "
            "promote a version by hand instead (`lmkiln promote VERSION`)"
        )
    # The good version serves first; a crash before the second call leaves both aliases on
    # it, which a rerun reports as nothing to roll back to.
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_alias(name, PREVIOUS_CHAMPION, current[0])
    client.set_model_version_tag(name, current[0], "rolled_back", clock.iso_now())
    return f"{name} v{previous} is champion again; v{current[0]} is now {PREVIOUS_CHAMPION}"


@task(name="register", task_run_name="register", cache_policy=NO_CACHE, retries=2)
def register(
    run: RunRef, config: RegisterConfig, storage: StorageConfig, lineage: dict[str, str]
) -> ModelRef:
    """Always runs: the champion may have moved since this model was trained."""
    model = register_model(run, config, storage, lineage)
    get_run_logger().info("%s v%s %s: %s", model.name, model.version, model.aliases, model.decision)
    return model
