"""Synthetic text: prompts continued by a generator model, loaded as a registry consumer would.

The generator is pinned per collection bucket. With `generator: champion`, the champion
counts only if it was registered before the bucket began: a champion trained tonight
generates from tomorrow on, so rerunning one night collects the same data (and stays cached)
instead of feeding the model its own output within the night.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tasks.config import StorageConfig, SynthSpec
from tasks.records import Document


@dataclass(frozen=True)
class GeneratorChoice:
    """What a synthetic source generates with tonight, or why it skips."""

    uri: str | None  # a pinned models:/name/VERSION URI or a local folder
    skipped: str = ""


def choose_generator(
    spec: SynthSpec, storage: StorageConfig, model_name: str, bucket_start: datetime
) -> GeneratorChoice:
    if spec.generator != "champion":
        return GeneratorChoice(uri=spec.generator)
    from tasks.models import find_champion

    champion = find_champion(storage, model_name)
    if champion is None:
        return GeneratorChoice(
            uri=None,
            skipped=f"no champion of model '{model_name}' in the registry yet; "
            "synthetic text starts the night after the first model is registered",
        )
    version, _run_id, created_ms = champion
    if created_ms >= bucket_start.timestamp() * 1000:
        return GeneratorChoice(
            uri=None,
            skipped=f"champion v{version} was registered in the current collection bucket "
            f"(since {bucket_start:%Y-%m-%d %H:%M} UTC); it generates from the next one",
        )
    return GeneratorChoice(uri=f"models:/{model_name}/{version}")


def synthesize_documents(spec: SynthSpec, uri: str, storage: StorageConfig) -> list[Document]:
    from tasks.models import generate, load_model_uri

    generator = load_model_uri(uri, storage)
    docs = []
    for prompt_id, prompt in enumerate(spec.prompts):
        for sample in range(spec.samples_per_prompt):
            seed = spec.seed + prompt_id * spec.samples_per_prompt + sample
            text = generate(generator, prompt, spec.max_new_tokens, spec.temperature, seed)
            docs.append(
                Document(
                    text=f"{prompt}{text}",
                    kind="synthetic",
                    source=spec.name,
                    title=prompt[:80],
                    meta={
                        "generator": uri,
                        "prompt_id": prompt_id,
                        "seed": seed,
                        "temperature": spec.temperature,
                        "max_new_tokens": spec.max_new_tokens,
                    },
                )
            )
    return docs
