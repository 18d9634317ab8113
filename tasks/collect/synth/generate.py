"""Synthetic text: a plan of requests from the source's templates, sent to a generator
(lmkiln.tasks.collect.synth.backends) under a budget, each generation cached, each output checked.

The plan. `prompts` are sent as they are (template ids `prompt-<i>`); `templates` with
`{topic}` are asked once per topic; `grounded.templates` with `{document}` (and `{title}`)
once per train document sampled from the corpus. Each is asked `samples_per_prompt` times,
sample s with seed `seed + s`.

The generation cache (`<data_root>/synth/generations.sqlite`) keys each generation by the
generator, the template, the prompt (its inputs filled in) and the sampling parameters with
the seed, so a retry or a rerun never pays twice for the same text. A generation is marked
collected once its document is in the raw table: the next night asks for it from the cache
again but does not append it again.

The budget counts the requests and tokens this source spent in the current collection
bucket (from the cache), so reruns within a night share it; once spent, the rest of the plan
waits for the next night (`over_budget`) and the source completes. Each generation is
recorded with the night that paid for it, the bucket the collect flow read once from lmkiln's
clock (tasks/core/clock.py), so a night that runs past midnight spends only its own budget.

The output of each generation is checked: `empty_output`, `truncated` (the server stopped
at max_new_tokens: only for chat answers; a model that continues its prompt is cut there
by design), `refused` ("I'm sorry, but I can't ...") and `echoed` (most of it repeats the
prompt) are quarantined with the prompt, not kept. A generator that continues its prompt (a
local model, the plain completions API) makes documents that begin with the prompt; a chat
model's answer is the document.

The generator is pinned per collection bucket. With the champion (`generator: champion`,
or an endpoint at demo://champion, which serves it), the champion
counts only if it was registered before the bucket began: a champion trained tonight
generates from tomorrow on, so rerunning one night collects the same data (and stays cached)
instead of feeding the model its own output within the night.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from lmkiln.tasks.collect.synth.backends import Backend, Completion, Sampling, endpoint_identity
from lmkiln.tasks.collect.synth.budget import Budget, GenerationCache, Pace
from lmkiln.tasks.config.collect import SynthSpec
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core.quarantine import row as quarantine_row
from lmkiln.tasks.core.records import Document, LakeRef


@dataclass(frozen=True)
class GeneratorChoice:
    """What a synthetic source generates with tonight, or why it skips."""

    uri: str | None  # a pinned models:/name/VERSION URI, a local folder, or an endpoint
    skipped: str = ""
    served: str | None = None  # with demo://champion: the pinned champion to serve


def choose_generator(
    spec: SynthSpec, storage: StorageConfig, model_name: str, bucket_start: datetime
) -> GeneratorChoice:
    endpoint = spec.endpoint
    if endpoint is not None and not endpoint.serves_champion:
        return GeneratorChoice(uri=endpoint_identity(endpoint))
    if endpoint is None and spec.generator != "champion":
        return GeneratorChoice(uri=spec.generator)
    from lmkiln.tasks.registry.models import find_champion

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
    pinned = f"models:/{model_name}/{version}"
    if endpoint is not None:
        return GeneratorChoice(uri=endpoint_identity(endpoint, pinned), served=pinned)
    return GeneratorChoice(uri=pinned)


# The plan.


@dataclass(frozen=True)
class Request:
    template_id: str
    prompt: str
    sample: int
    title: str
    inputs: dict[str, Any] = field(default_factory=dict)  # the topic, the seed documents


def plan(spec: SynthSpec, seed_documents: Sequence[Document] = ()) -> list[Request]:
    """Every request of the source, in order."""
    asks: list[Request] = []
    for i, prompt in enumerate(spec.prompts):
        asks.append(Request(f"prompt-{i}", prompt, 0, prompt[:80]))
    for template in spec.templates:
        for topic in spec.topics:
            prompt = template.text.replace("{topic}", topic)
            asks.append(Request(template.id, prompt, 0, topic[:80], {"topic": topic}))
    if spec.grounded is not None:
        limit = spec.grounded.max_document_chars
        for template in spec.grounded.templates:
            for doc in seed_documents:
                prompt = template.text.replace("{document}", doc.text[:limit])
                prompt = prompt.replace("{title}", doc.title)
                inputs = {"seed_documents": [doc.id]}
                asks.append(Request(template.id, prompt, 0, doc.title[:80], inputs))
    return [
        Request(r.template_id, r.prompt, s, r.title, r.inputs)
        for r in asks
        for s in range(spec.samples_per_prompt)
    ]


def seed_documents(spec: SynthSpec, corpus: LakeRef | None) -> list[Document]:
    """`grounded.documents` train documents of the corpus commit, drawn with the source's
    seed and the commit: the same draw for a rerun, a new one when the corpus moves on.
    Validation documents are never drawn: their rewrites would leak into training."""
    from lmkiln.tasks.core import lake

    if spec.grounded is None or corpus is None or corpus.rows == 0:
        return []
    order = list(range(corpus.rows))
    random.Random(f"{spec.seed}:{corpus.commit}").shuffle(order)
    chosen: list[Document] = []
    columns = (*lake.DOCUMENT_TABLE, "split")
    for index in order:
        (row,) = lake.read(corpus, columns, start=index, stop=index + 1)
        if row["split"] == "train":
            chosen.append(Document.from_row(row))
            if len(chosen) == spec.grounded.documents:
                break
    return chosen


def generation_key(generator: str, request: Request, sampling: Sampling) -> str:
    blob = json.dumps([generator, request.template_id, request.prompt, asdict(sampling)])
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# The night's generations.


@dataclass
class SynthRead:
    documents: list[Document] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    keys: list[str] = field(default_factory=list)  # to mark collected after the commit


def generate_all(
    spec: SynthSpec,
    backend: Backend,
    requests: Sequence[Request],
    cache: GenerationCache,
    night: datetime,
) -> SynthRead:
    """Send what the cache does not hold, within `night`'s budget (the collection bucket's
    start); check and keep every output."""
    budget = Budget(spec, *cache.spent_in(spec.name, night))
    endpoint = spec.endpoint
    pace = Pace(endpoint.requests_per_second if endpoint else None)

    failed = threading.Event()  # a failed request stops the ones not sent yet

    def one(request: Request) -> tuple[str, Completion | None, str]:
        sampling = _sampling(spec, request)
        key = generation_key(backend.identity, request, sampling)
        found = cache.get(key)
        if found is not None:
            return key, found[0], "collected_before" if found[1] else "cached"
        if failed.is_set():
            return key, None, "not_sent"
        estimate = sampling.max_new_tokens + len(request.prompt) // 3
        if not budget.reserve(estimate):
            return key, None, "over_budget"
        completion = None
        try:
            pace.wait()
            completion = backend.complete(request.prompt, sampling)
        except BaseException:
            failed.set()
            raise
        finally:
            budget.settle(estimate, completion)
        cache.put(key, spec.name, backend.identity, completion, night)
        return key, completion, "requested"

    read = SynthRead()
    workers = endpoint.concurrency if endpoint else 1
    with ThreadPoolExecutor(workers, thread_name_prefix=f"synth-{spec.name}") as pool:
        for request, (key, completion, how) in zip(requests, pool.map(one, requests), strict=True):
            read.counters[how] += 1
            if completion is None or how == "collected_before":
                continue
            reason = check(completion, request, backend.continues)
            if reason:
                record = {"prompt": request.prompt[:2000], **asdict(completion)}
                read.quarantined.append(
                    quarantine_row(spec.name, reason, backend.identity, record, str, "synthetic")
                )
                read.counters[f"quarantined_{reason}"] += 1
                read.keys.append(key)
                continue
            read.documents.append(_document(spec, backend, request, completion, how == "cached"))
            read.keys.append(key)
            read.counters["documents"] += 1
    read.counters["requests_tonight"], read.counters["tokens_tonight"] = (
        budget.requests,
        budget.tokens,
    )
    return read


def _sampling(spec: SynthSpec, request: Request) -> Sampling:
    return Sampling(spec.max_new_tokens, spec.temperature, spec.top_p, spec.seed + request.sample)


REFUSAL = re.compile(
    r"^\W*(?:i'?m sorry|i am sorry|sorry, (?:but )?i|i apologi[sz]e|i can(?:no|')t "
    r"(?:help|assist|comply|provide|write|do)|i'?m (?:not able|unable) to|as an ai\b)",
    re.IGNORECASE,
)
ECHO_SHARE = 0.8  # of the output's 8-word shingles found in the prompt


def check(completion: Completion, request: Request, continues: bool) -> str:
    """Why an output is not kept, or ""."""
    text = completion.text.strip()
    if not text:
        return "empty_output"
    if completion.finish_reason == "length" and not continues:
        return "truncated"
    if REFUSAL.search(text):
        return "refused"
    if _echo_share(text, request.prompt) >= ECHO_SHARE:
        return "echoed"
    return ""


def _echo_share(output: str, prompt: str, n: int = 8) -> float:
    """The share of the output's n-word shingles that are word sequences of the prompt. A
    shorter output counts whole: the prompt itself, or three words or more of it in a row
    (a word or two of the prompt is a short answer, not an echo)."""
    words, said = output.lower().split(), prompt.lower().split()
    if len(words) < n:
        size = len(words)
        runs = {tuple(said[i : i + size]) for i in range(len(said) - size + 1)}
        return 1.0 if words == said or (size >= 3 and tuple(words) in runs) else 0.0
    known = {tuple(said[i : i + n]) for i in range(len(said) - n + 1)}
    shingles = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return sum(s in known for s in shingles) / len(shingles)


def _document(
    spec: SynthSpec, backend: Backend, request: Request, completion: Completion, cached: bool
) -> Document:
    sampling = _sampling(spec, request)
    # A model that continues its prompt wrote the rest of a document the prompt begins.
    text = request.prompt + completion.text if backend.continues else completion.text.strip()
    return Document(
        text=text,
        kind="synthetic",
        source=spec.name,
        title=request.title,
        meta={
            "generator": backend.identity,
            "template_id": request.template_id,
            **request.inputs,
            "sample": request.sample,
            "seed": sampling.seed,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_new_tokens": sampling.max_new_tokens,
            "finish_reason": completion.finish_reason,
            "usage": {
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
            },
            "cached": cached,
        },
    )
