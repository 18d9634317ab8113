"""Using a trained model as a consumer does: load it by registry URI or folder, generate from
it, and score it in bits per byte (the metric that compares models across tokenizers).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmkiln.tasks.config.storage import StorageConfig

logger = logging.getLogger(__name__)

CHAMPION = "champion"
EVAL_BATCH_WINDOWS = 16  # windows scored per forward pass
_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class Generator:
    """A loaded causal LM with its tokenizer, and where it came from."""

    model: Any
    tokenizer: Any
    uri: str
    version: str | None = None  # registry version, when loaded from the registry


@contextmanager
def quiet_progress() -> Iterator[None]:
    """No progress bars from datasets maps and transformers loads/saves: in task logs they are
    noise, one line per update; the callers log what matters."""
    from datasets.utils import logging as datasets_logging
    from transformers.utils import logging as transformers_logging

    was_on = (
        datasets_logging.is_progress_bar_enabled(),
        transformers_logging.is_progress_bar_enabled(),
    )
    datasets_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on[0]:
            datasets_logging.enable_progress_bar()
        if was_on[1]:
            transformers_logging.enable_progress_bar()


def champion_uri(name: str) -> str:
    return f"models:/{name}@{CHAMPION}"


def find_champion(storage: StorageConfig, name: str) -> tuple[str, str, int] | None:
    """(version, run_id, creation_timestamp_ms) of the champion, or None when there is none."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=storage.mlflow_uri, registry_uri=storage.mlflow_uri)
    try:
        found = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        # No registered model yet, or a model without the alias.
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
    return str(found.version), str(found.run_id), int(found.creation_timestamp)


def describe_champion(storage: StorageConfig, name: str) -> dict[str, Any] | None:
    """What `lmkiln champion` shows: version, decision, lineage and the run's metrics."""
    from datetime import UTC, datetime

    from mlflow.tracking import MlflowClient

    found = find_champion(storage, name)
    if found is None:
        return None
    version, run_id, created_ms = found
    client = MlflowClient(tracking_uri=storage.mlflow_uri, registry_uri=storage.mlflow_uri)
    details = client.get_model_version(name, version)
    run = client.get_run(run_id)
    return {
        "name": name,
        "version": version,
        "uri": f"models:/{name}/{version}",
        "aliases": sorted(details.aliases or ()),
        "registered_at": datetime.fromtimestamp(created_ms / 1000, UTC).isoformat(),
        "run_id": run_id,
        "corpus_path": details.tags.get("corpus_path", ""),
        "corpus_commit": details.tags.get("corpus_commit", ""),
        "decision": details.tags.get("decision", ""),
        "metrics": dict(sorted(run.data.metrics.items())),
    }


def load_model_uri(uri: str, storage: StorageConfig | None = None) -> Generator:
    """Load "models:/name@alias", "models:/name/3" or a folder saved by save_pretrained.

    Registry URIs use the tracking URI already set (use_tracking), or `storage`'s when given.
    An alias is resolved to its version first, so the version reported is the one loaded even
    if the alias moves meanwhile.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if uri.startswith("models:/"):
        return _load_registered(uri, storage)
    folder = Path(uri).expanduser()
    if not (folder / "config.json").is_file():
        raise ValueError(
            f"model {uri!r} is neither a models:/ URI (models:/name@alias, models:/name/3) "
            "nor a folder holding a saved transformers model (config.json)"
        )
    model, tokenizer = load_pretrained(folder)
    return Generator(model.eval(), tokenizer, uri)


def load_pretrained(folder: str | Path) -> tuple[Any, Any]:
    """A saved model and its tokenizer: a masked LM for a BERT config, else a causal LM."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    with quiet_progress():
        masked = is_masked(AutoConfig.from_pretrained(str(folder)))
        kind = AutoModelForMaskedLM if masked else AutoModelForCausalLM
        return kind.from_pretrained(str(folder)), AutoTokenizer.from_pretrained(str(folder))


def is_masked(config: Any) -> bool:
    """Whether a model config is a masked (bidirectional) LM's: BERT-style."""
    return config.model_type == "bert"


def evaluate(model: Any, tokenizer: Any, texts: Sequence[str], block_size: int) -> dict[str, float]:
    """`bits_per_byte` for a causal LM, `masked_bits_per_byte` for a masked one."""
    if is_masked(model.config):
        return masked_bits_per_byte(model, tokenizer, texts, block_size)
    return bits_per_byte(model, tokenizer, texts, block_size)


MASKED_SHARE, MASK_SEED = 0.15, 1234


def masked_bits_per_byte(
    model: Any, tokenizer: Any, texts: Sequence[str], block_size: int
) -> dict[str, float]:
    """A masked LM's loss (nats per masked token), perplexity, and bits per byte of the
    masked tokens, over `texts` in windows of `block_size`: 15% of each window's tokens
    (at least one) replaced by the mask token, the same positions for every model (a fixed
    seed), so two models are compared on the same blanks. A byte-level BPE token's string
    has one character per byte, which gives each masked token's bytes. Not comparable
    with a causal LM's bits per byte: the masked tokens are seen from both sides."""
    import torch

    generator = torch.Generator().manual_seed(MASK_SEED)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    nll, tokens, size = 0.0, 0, 0
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
            for lo in range(0, len(ids), block_size):
                window = torch.tensor(ids[lo : lo + block_size])
                count = max(1, round(MASKED_SHARE * len(window)))
                chosen = torch.randperm(len(window), generator=generator)[:count]
                masked = window.clone()
                masked[chosen] = tokenizer.mask_token_id
                logits = model(input_ids=masked[None].to(device)).logits[0].float()
                logprobs = torch.log_softmax(logits[chosen.to(device)], dim=-1)
                truth = window[chosen].to(device)
                nll -= logprobs.gather(-1, truth[:, None]).sum().item()
                tokens += count
                strings = tokenizer.convert_ids_to_tokens(window[chosen].tolist())
                size += sum(len(piece) for piece in strings)
    model.train(was_training)
    if not tokens:
        raise ValueError("masked_bits_per_byte needs at least one non-empty text")
    loss = nll / tokens
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 50.0)),
        "bits_per_byte": nll / math.log(2) / size,
        "tokens": float(tokens),
        "bytes": float(size),
    }


def pin(uri: str, storage: StorageConfig | None = None) -> tuple[str, str]:
    """ "models:/name@alias" or "models:/name/3" as ("models:/name/<version>", version): the
    version the alias points at now."""
    import mlflow
    from mlflow.tracking import MlflowClient

    parsed = _REGISTRY_URI.match(uri)
    if parsed is None:
        raise ValueError(f"model URI {uri!r} is not models:/<name>@<alias> or models:/<name>/<n>")
    tracking_uri = storage.mlflow_uri if storage else mlflow.get_tracking_uri()
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name, version = parsed["name"], parsed["version"]
    if parsed["alias"]:
        from mlflow.exceptions import MlflowException

        try:
            version = str(client.get_model_version_by_alias(name, parsed["alias"]).version)
        except MlflowException as exc:
            raise ValueError(
                f"model {uri!r}: no version of {name!r} holds alias {parsed['alias']!r} in "
                f"{tracking_uri} (run the pipeline once to register a champion, or pass a "
                "models:/name/<version> URI or a model folder)"
            ) from exc
    return f"models:/{name}/{version}", version


def _load_registered(uri: str, storage: StorageConfig | None) -> Generator:
    import mlflow

    pinned, version = pin(uri, storage)
    if storage is not None:
        mlflow.set_registry_uri(storage.mlflow_uri)
        mlflow.set_tracking_uri(storage.mlflow_uri)
    with quiet_progress():
        components = mlflow.transformers.load_model(pinned, return_type="components")
    logger.info("loaded %s (version %s)", uri, version)
    return Generator(components["model"].eval(), components["tokenizer"], uri, version)


def context_length(model: Any) -> int:
    config = model.config
    return int(getattr(config, "n_positions", None) or config.max_position_embeddings)


def generate(
    gen: Generator,
    prompt: str,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    top_p: float = 1.0,
) -> str:
    """Sample a continuation of `prompt` (returned without the prompt); same seed, same text.
    `top_p` < 1 samples from the smallest set of tokens holding that probability (nucleus).

    The prompt keeps its last tokens if it would leave no room in the model's context, and
    max_new_tokens shrinks so prompt + new tokens fit: GPT-2 has no positions past n_positions.
    """
    import torch

    tokenizer, model = gen.tokenizer, gen.model
    if is_masked(model.config):
        raise ValueError(
            f"{gen.uri} is a masked LM: it fills in {tokenizer.mask_token}, it does not "
            "continue text (serve it as fill-mask, or train a causal model to generate)"
        )
    limit = context_length(model)
    ids = tokenizer(prompt, add_special_tokens=False, verbose=False)["input_ids"]
    # An empty prompt starts where every training document starts: after an eos.
    ids = ids or [tokenizer.eos_token_id]
    if len(ids) >= limit:
        ids = ids[-(limit // 2) :]
        logger.warning("prompt longer than the model's %d positions; kept its end", limit)
    new_tokens = min(max_new_tokens, limit - len(ids))
    if new_tokens < 1:
        return ""
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids], device=device)
    # 0: greedy.
    sampling = {"temperature": temperature, "top_p": top_p} if temperature > 0 else {}
    # A private RNG stream: the same seed gives the same text, whatever ran before.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        with torch.no_grad():
            output = model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                do_sample=bool(sampling),
                **sampling,
            )
    return tokenizer.decode(output[0, len(ids) :], skip_special_tokens=True)


def bits_per_byte(
    model: Any, tokenizer: Any, texts: Sequence[str], block_size: int
) -> dict[str, float]:
    """loss (mean NLL per token, nats), perplexity, and bits per UTF-8 byte over `texts`.

    Each text is scored on its own after one eos token, in windows of at most `block_size`
    tokens that overlap by one, so every token is predicted exactly once. Bits per byte is the
    total NLL over the texts' bytes, which compares models with different tokenizers.
    """
    import torch

    windows: list[list[int]] = []
    for text in texts:
        tokens = [
            tokenizer.eos_token_id,
            *tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"],
        ]
        starts = range(0, len(tokens) - 1, block_size - 1)
        windows.extend(tokens[i : i + block_size] for i in starts)
    total_bytes = sum(len(text.encode("utf-8")) for text in texts)
    if not windows or total_bytes == 0:
        raise ValueError("bits_per_byte needs at least one non-empty text")

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_nll_nats, total_tokens = 0.0, 0
    with torch.no_grad():
        for lo in range(0, len(windows), EVAL_BATCH_WINDOWS):
            batch = windows[lo : lo + EVAL_BATCH_WINDOWS]
            width = max(len(w) for w in batch)
            ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, window in enumerate(batch):
                ids[row, : len(window)] = torch.tensor(window)
                mask[row, : len(window)] = 1
            ids, mask = ids.to(device), mask.to(device)
            logits = model(input_ids=ids, attention_mask=mask).logits.float()  # (B, T, V)
            logprobs = torch.log_softmax(logits[:, :-1], dim=-1)  # (B, T-1, V)
            target = logprobs.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, T-1)
            scored = mask[:, 1:].bool()
            total_nll_nats -= target[scored].sum().item()
            total_tokens += int(scored.sum().item())
    model.train(was_training)
    loss = total_nll_nats / total_tokens
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 50.0)),  # a diverged model would overflow exp
        "bits_per_byte": total_nll_nats / math.log(2) / total_bytes,
        "tokens": float(total_tokens),
        "bytes": float(total_bytes),
    }
