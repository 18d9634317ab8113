"""Train a small GPT-2- or Llama-style language model on a corpus commit, tracked in MLflow.

A training is keyed by (corpus path, corpus commit, train config): its checkpoints, its
tokenizer and the id of its one MLflow run live in `storage.checkpoints / <key>`, so a retried
or killed training resumes from the last checkpoint into the same run, and a finished one is
returned as is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import task

from tasks import distributed, loop
from tasks.caching import code_version, is_transient, stage_key
from tasks.collate import Collator, epoch_callback
from tasks.config import StorageConfig, TrainConfig
from tasks.lake import file_lock, read
from tasks.models import (
    Generator,
    bits_per_byte,
    context_length,
    evaluate,
    generate,
    is_masked,
    load_model_uri,
    pin,
    quiet_progress,
)
from tasks.records import LakeRef, RunRef
from tasks.tracking import (
    folder_run,
    log_corpus,
    log_loss_curve,
    log_metrics,
    read_state,
    run_alive,
    step_logger,
    trainer_callback,
    use_tracking,
    write_state,
)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = ["bits_per_byte", "corpus_texts", "train_model", "train_tokenizer"]

logger = logging.getLogger(__name__)

TRAIN_MODULES = (
    "tasks.train",
    "tasks.collate",
    "tasks.loop",
    "tasks.distributed",
    "tasks.models",
    "tasks.tracking",
)
EOS = "<|endoftext|>"  # GPT-2's convention: one token is bos, eos and unk
PAD = "<|pad|>"
MASK = "<|mask|>"


def corpus_texts(corpus: LakeRef, split: str) -> list[str]:
    """The texts of one split ("train" or "validation") at the corpus commit, in lake order."""
    return [row["text"] for row in _split_rows(corpus.path, corpus.commit, corpus.rows, split)]


def corpus_dataset(corpus: LakeRef, split: str, cache: Path) -> Any | None:
    """One split's texts as a Hugging Face Dataset: Arrow files under `cache`, written once
    per corpus commit (the generator's arguments name it) and memory-mapped, so a corpus
    larger than memory trains from disk. None for a split without rows."""
    from datasets import Dataset, Features, Value

    arguments = {"path": corpus.path, "commit": corpus.commit, "rows": corpus.rows}
    try:
        with quiet_progress():
            dataset = Dataset.from_generator(
                _split_rows,
                gen_kwargs=arguments | {"split": split},
                cache_dir=str(cache),
                features=Features({"text": Value("string")}),
            )
    except ValueError as exc:
        if "corresponds to no data" in str(exc):
            return None
        raise
    # The dataset's folder (blocks of every tokenizer included) was used now: see prune_datasets.
    (Path(dataset.cache_files[0]["filename"]).parents[1] / USED).touch()
    return dataset


USED = ".lmkiln-used"
CACHE_DAYS = 7  # a split's Arrow files and blocks unused this long are removed


def prune_datasets(cache: Path, days: float = CACHE_DAYS) -> list[Path]:
    """Remove the cached splits (texts and their packed blocks) no training has used for
    `days`: the cache would otherwise grow by a corpus copy each night. Returns what went."""
    # The system clock, not lmkiln's (tasks/clock.py): it is the clock that stamps mtimes.
    cutoff = time.time() - days * 86400
    gone = []
    for folder in sorted((cache / "generator").glob("*/")):
        marker = folder / USED
        used = marker.stat().st_mtime if marker.exists() else folder.stat().st_mtime
        if used < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            for lock in cache.glob(f"*{folder.name}*.lock"):
                lock.unlink(missing_ok=True)
            gone.append(folder)
    if gone:
        logger.info("removed %d cached splits unused for %g days", len(gone), days)
    return gone


def _split_rows(path: str, commit: str, rows: int, split: str) -> Iterator[dict[str, str]]:
    for row in read(LakeRef(path, commit, rows), ("text", "split")):
        if row["split"] == split:
            yield {"text": row["text"]}


def train_tokenizer(texts: Any, vocab_size: int, masked: bool = False) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on `texts`, as a PreTrainedTokenizerFast; with a
    mask token for a masked LM."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD, MASK] if masked else [EOS, PAD],
        # Every byte is in the vocabulary, so no text is ever out of vocabulary.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    if hasattr(texts, "iter"):  # a Dataset: read in batches, never whole
        texts = (batch["text"] for batch in texts.iter(batch_size=GROUP_DOCS))
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=PAD,
        **({"mask_token": MASK} if masked else {}),
    )


def checkpoint_key(
    corpus: LakeRef, config: TrainConfig, experiment: str, source: str | None = None
) -> str:
    """One training: a finished one is reused and an interrupted one resumed, but only by the
    same code, so an edit to the training code trains afresh. `source` is the warm start's
    resolved origin: a new champion is a new training."""
    code = code_version(*TRAIN_MODULES)
    # keep_checkpoints changes what is kept afterwards, not the training.
    settings = config.model_dump_json(exclude={"keep_checkpoints"})
    parts = [corpus.path, corpus.commit, settings, experiment, code]
    blob = json.dumps([*parts, source] if source else parts)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def resolve_source(init_from: str | None, storage: StorageConfig) -> str | None:
    """train.init_from as a pinned registry URI (models:/name/<version>) or an absolute
    folder; None for random weights."""
    if init_from is None:
        return None
    if init_from.startswith("models:/"):
        return pin(init_from, storage)[0]
    folder = Path(init_from).expanduser().resolve()
    if not (folder / "config.json").is_file():
        raise ValueError(
            f"train.init_from {init_from!r}: no config.json in {folder}; give a folder saved "
            "with save_pretrained, or a registry URI such as models:/lmkiln@champion"
        )
    return str(folder)


def build_model(config: TrainConfig, tokenizer: Any) -> Any:
    """A language model of the configured architecture and size, with random weights."""
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

    layers, heads, width = config.shape
    tokens = {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if config.architecture == "bert":
        from transformers import AutoModelForMaskedLM, BertConfig

        model_config = BertConfig(
            hidden_size=width,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=4 * width,
            max_position_embeddings=config.block_size,
            type_vocab_size=1,
            **tokens,
        )
        return AutoModelForMaskedLM.from_config(model_config, attn_implementation="sdpa")
    if config.architecture == "llama":
        model_config = LlamaConfig(
            hidden_size=width,
            intermediate_size=_swiglu_width(width),
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=heads,
            max_position_embeddings=config.block_size,
            tie_word_embeddings=True,  # at these sizes the embeddings are most of the weights
            **tokens,
        )
    else:
        model_config = GPT2Config(
            n_layer=layers, n_head=heads, n_embd=width, n_positions=config.block_size, **tokens
        )
    return AutoModelForCausalLM.from_config(model_config, attn_implementation="sdpa")


def _swiglu_width(width: int) -> int:
    """Llama's MLP width: two thirds of 4 x width (three matrices instead of two, so the same
    parameters as GPT-2's 4 x width), rounded up to a multiple of 32."""
    return math.ceil(8 * width / 3 / 32) * 32


def pack_blocks(tokenizer: Any, texts: Any, block_size: int, cached: bool = False) -> Any:
    """Texts (a list, or a Dataset with a `text` column) tokenized, joined with eos and cut
    into full `block_size` blocks, as a Dataset. Blocks span the documents of a batch of
    1,000, whose last partial block is dropped. `cached`: the Dataset's files are on disk,
    and the blocks are kept beside them under a fingerprint of the text, the tokenizer and
    the block size, so the next training on the same corpus commit reads them back."""
    from datasets import Dataset

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch["text"], add_special_tokens=False, verbose=False)["input_ids"]
        return {"input_ids": [ids + [tokenizer.eos_token_id] for ids in encoded]}

    def group(batch: dict[str, list]) -> dict[str, list]:
        joined = [token for ids in batch["input_ids"] for token in ids]
        usable = len(joined) - len(joined) % block_size
        blocks = [joined[i : i + block_size] for i in range(0, usable, block_size)]
        return {"input_ids": blocks}  # labels are the collator's (tasks.collate)

    with quiet_progress():
        dataset = texts if isinstance(texts, Dataset) else Dataset.from_dict({"text": list(texts)})
        if not cached:
            dataset = dataset.map(tokenize, batched=True, remove_columns=["text"])
            return dataset.map(group, batched=True, batch_size=GROUP_DOCS)
        # datasets cannot hash a tokenizer reliably: name the steps' results ourselves.
        key = hashlib.sha256(
            "|".join(
                [
                    dataset._fingerprint,
                    tokenizer.backend_tokenizer.to_str(),
                    str(block_size),
                    code_version("tasks.train"),  # the packing code itself
                ]
            ).encode("utf-8")
        ).hexdigest()[:16]
        dataset = dataset.map(
            tokenize, batched=True, remove_columns=["text"], new_fingerprint=f"{key}-tokens"
        )
        return dataset.map(group, batched=True, batch_size=GROUP_DOCS, new_fingerprint=key)


GROUP_DOCS = 1000


def train_model(
    corpus: LakeRef,
    config: TrainConfig,
    storage: StorageConfig,
    experiment: str,
    tags: dict[str, str],
    progress: Callable[[int], None] | None = None,
) -> RunRef:
    """Train (or resume, or reuse) the model for this corpus commit and config; one MLflow run.
    `progress(step)` is told of the steps as they are logged (not by distributed trainings'
    processes), and of max_steps once the training is done."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    source = resolve_source(config.init_from, storage)
    key = checkpoint_key(corpus, config, experiment, source)
    folder = storage.checkpoints / key
    folder.mkdir(parents=True, exist_ok=True)
    experiment_id = use_tracking(storage, experiment)
    client = MlflowClient(tracking_uri=storage.mlflow_uri)
    with file_lock(folder / ".lock"):  # two processes on one key would clobber checkpoints
        state = read_state(folder)
        if (
            "metrics" in state
            and (folder / "final").is_dir()
            and run_alive(client, state["run_id"])
        ):
            logger.info("training %s already finished in MLflow run %s", key, state["run_id"])
            if progress is not None:
                progress(config.max_steps)
            return RunRef(state["run_id"], str(folder / "final"), state["metrics"], corpus)

        # Everything that can reject the corpus runs before an MLflow run exists.
        where = f"corpus {corpus.path} at commit {corpus.commit}"
        cache = storage.root / "datasets"
        # One training at a time prunes, and loads (which marks its split used): a split
        # another training has just loaded is then never pruned under it.
        with file_lock(cache / ".lock"):
            prune_datasets(cache)
            train_texts = corpus_dataset(corpus, "train", cache)
        val_texts = corpus_texts(corpus, "validation")  # a tenth: scored text by text
        if train_texts is None:
            raise ValueError(f"{where} has no train rows: add sources or relax the clean filters")
        if not val_texts:
            raise ValueError(
                f"{where} has no validation rows, so bits per byte cannot be measured: "
                "raise split.validation_fraction or add sources"
            )
        initial = load_model_uri(source, storage) if source else None
        if initial is not None and is_masked(initial.model.config) != (
            config.objective == "masked"
        ):
            raise ValueError(
                f"train.init_from {source} is a model of the other objective than "
                f"train.objective {config.objective}: warm-start from a model of the same kind"
            )
        if initial is not None and config.block_size > context_length(initial.model):
            raise ValueError(
                f"train.block_size {config.block_size} is longer than the context of "
                f"{source} ({context_length(initial.model)} tokens): lower block_size"
            )
        tokenizer = _load_or_train_tokenizer(
            folder,
            train_texts,
            config.vocab_size,
            initial.tokenizer if initial else None,
            tokenizer_cache(storage, corpus, config),
            masked=config.objective == "masked",
        )
        train_blocks = pack_blocks(tokenizer, train_texts, config.block_size, cached=True)
        if len(train_blocks) < 1:
            raise ValueError(
                f"{where}: its {len(train_texts)} train texts give less than one block of "
                f"train.block_size={config.block_size} tokens; add sources or lower block_size"
            )
        val_blocks = pack_blocks(tokenizer, val_texts, config.block_size)

        run_tags = {
            **tags,
            "corpus_path": corpus.path,
            "corpus_commit": corpus.commit,
            "checkpoint_dir": str(folder),
            "code_version": code_version(*TRAIN_MODULES),
            **({"init_source": source} if source else {}),
        }
        run_id = folder_run(client, experiment_id, folder, f"train-{key}", run_tags)
        params = {
            **config.model_dump(),
            **dict(zip(("n_layer", "n_head", "n_embd"), config.shape, strict=True)),
            "corpus_path": corpus.path,
            "corpus_commit": corpus.commit,
            "corpus_rows": corpus.rows,
            "train_texts": len(train_texts),
            "validation_texts": len(val_texts),
            "train_blocks": len(train_blocks),
            "tokenizer_vocab": len(tokenizer),
        }
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
        profile = {"train_texts": len(train_texts), "validation_texts": len(val_texts)}
        log_corpus(client, run_id, corpus, profile | {"rows": corpus.rows})
        try:
            model = initial.model.train() if initial else None
            metrics = _fit(
                folder,
                config,
                tokenizer,
                train_blocks,
                val_blocks,
                val_texts,
                client,
                run_id,
                model,
                progress,
            )
        except BaseException as exc:
            client.set_terminated(
                run_id, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            )
            raise
        client.set_terminated(run_id, "FINISHED")
        write_state(folder, {"run_id": run_id, "metrics": metrics})
        if not config.keep_checkpoints:  # only now: a crash before this resumes from them
            for checkpoint in folder.glob("checkpoint-*"):
                shutil.rmtree(checkpoint, ignore_errors=True)
        logger.info("trained %s in run %s: %s", key, run_id, metrics)
        if progress is not None:
            progress(config.max_steps)
        return RunRef(run_id, str(folder / "final"), metrics, corpus)


def training_arguments(
    folder: Path, config: TrainConfig, evaluate: bool, stopping: bool, **overrides: Any
) -> Any:
    """The Trainer's arguments for `config` (bench/training.py times the same loop)."""
    import torch
    from transformers import TrainingArguments

    gpu = torch.cuda.is_available()
    settings: dict[str, Any] = {
        "output_dir": str(folder),
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "warmup_steps": config.warmup_steps,
        "weight_decay": config.weight_decay,
        "logging_steps": max(1, config.max_steps // 20),
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": 2,  # the last one to resume from, plus one in case it is torn
        "eval_strategy": "steps" if evaluate else "no",
        "eval_steps": config.save_steps,
        "load_best_model_at_end": stopping,
        "metric_for_best_model": "eval_loss" if stopping else None,
        "greater_is_better": False if stopping else None,
        "seed": config.seed,
        "data_seed": config.seed,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "bf16": gpu and config.precision == "bf16",
        "fp16": gpu and config.precision == "fp16",
        "torch_compile": config.compile,
        "use_cpu": not gpu,
        "dataloader_num_workers": 0,
        "report_to": [],
        "disable_tqdm": True,
    }
    return TrainingArguments(**(settings | overrides))


def _fit(
    folder: Path,
    config: TrainConfig,
    tokenizer: Any,
    train_blocks: Any,
    val_blocks: Any,
    val_texts: list[str],
    client: Any,
    run_id: str,
    initial: Any = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    import torch
    from transformers import set_seed

    set_seed(config.seed)
    model = initial or build_model(config, tokenizer)
    # Unset, transformers 5 warns that it falls back to this very loss.
    masked = config.objective == "masked"
    model.loss_type = "ForMaskedLM" if masked else "ForCausalLM"
    collator = make_collator(tokenizer, config)
    val_blocks = collator.fixed(val_blocks)  # a masked LM's validation masks, drawn once
    if config.precision != "fp32" and not torch.cuda.is_available():
        logger.warning("train.precision %s needs a GPU: training in fp32", config.precision)
    if config.early_stopping_patience is not None and not len(val_blocks):
        logger.warning("early stopping is off: the validation split is shorter than one block")
    last_checkpoint = last_complete_checkpoint(folder)
    if last_checkpoint:
        logger.info("resuming from %s", last_checkpoint)
    final, staging = folder / "final", folder / "final.partial"
    with quiet_progress():
        if config.loop == "torch":
            log = step_logger(client, run_id, progress)
            done = loop.run(
                folder, config, model, train_blocks, val_blocks, log, last_checkpoint, collator
            )
            model, steps, runtime = done.model, done.global_step, done.runtime_s
            train_loss = done.training_loss
        elif config.processes > 1:
            model, steps, train_loss, runtime = distributed.launch(
                folder, config, model, tokenizer, train_blocks, val_blocks, client, run_id
            )
        else:
            trainer = make_trainer(
                folder, config, model, tokenizer, train_blocks, val_blocks, client, run_id,
                progress=progress,
            )  # fmt: skip
            result = trainer.train(resume_from_checkpoint=last_checkpoint)
            model, steps, train_loss = trainer.model, result.global_step, result.training_loss
            runtime = result.metrics.get("train_runtime", 0.0)
        shutil.rmtree(staging, ignore_errors=True)
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
    # A crash after this rename but before run.json records the metrics leaves an old final.
    shutil.rmtree(final, ignore_errors=True)
    staging.replace(final)
    scores = evaluate(model, tokenizer, val_texts, config.block_size)
    metrics = {
        "eval_loss": scores["loss"],
        "perplexity": scores["perplexity"],
        "bits_per_byte": scores["bits_per_byte"],
        "train_loss_mean": float(train_loss),  # over this attempt's steps only
        "train_runtime_s": float(runtime),
        "train_steps": float(steps),  # below max_steps when stopped early
        "validation_tokens": float(scores["tokens"]),
        "validation_bytes": float(scores["bytes"]),
        "masked": float(masked),  # 1: a masked LM, whose bits per byte are of masked tokens
    }
    log_metrics(client, run_id, metrics, step=config.max_steps)
    log_loss_curve(client, run_id)
    if not masked:
        client.log_text(run_id, _samples(model, tokenizer, val_texts), "samples.txt")
    return metrics


def make_trainer(
    folder: Path,
    config: TrainConfig,
    model: Any,
    tokenizer: Any,
    train_blocks: Any,
    val_blocks: Any,
    client: Any,
    run_id: str,
    progress: Callable[[int], None] | None = None,
    **overrides: Any,
) -> Any:
    """The Trainer for `config`: its arguments (with `overrides`), the collator of the
    objective, step metrics to the MLflow run, early stopping. A masked LM's `val_blocks`
    carry their fixed masks (`Collator.fixed`)."""
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer

    evaluating = val_blocks is not None and len(val_blocks) > 0
    stopping = config.early_stopping_patience is not None and evaluating
    collator = make_collator(tokenizer, config)
    trainer = Trainer(
        model=model,
        args=training_arguments(
            folder, config, evaluate=evaluating, stopping=stopping, **overrides
        ),
        train_dataset=train_blocks,
        eval_dataset=val_blocks if evaluating else None,
        processing_class=tokenizer,
        data_collator=collator,
        callbacks=[
            trainer_callback(client, run_id, progress),
            epoch_callback(collator),
            *([EarlyStoppingCallback(config.early_stopping_patience)] if stopping else []),
        ],
    )
    trainer.remove_callback(PrinterCallback)  # it prints each log dict to stdout
    return trainer


def make_collator(tokenizer: Any, config: TrainConfig) -> Collator:
    """Batches for the config's objective: masks of mlm_probability for a masked LM."""
    masked = config.objective == "masked"
    return Collator(tokenizer, config.mlm_probability if masked else 0.0, config.seed)


SAMPLE_PROMPTS = 3


def _samples(model: Any, tokenizer: Any, texts: Sequence[str]) -> str:
    """A few continuations of the first words of validation texts, seeded: what a reader
    of the run sees the model do."""
    gen = Generator(model.eval(), tokenizer, "training")
    lines = []
    for i, text in enumerate(texts[:SAMPLE_PROMPTS]):
        prompt = " ".join(text.split()[:6])
        lines.append(f"{prompt} >>> {generate(gen, prompt, 40, temperature=0.8, seed=i)}")
    return "\n\n".join(lines) + "\n"


def last_complete_checkpoint(folder: Path) -> str | None:
    """The newest checkpoint the Trainer finished writing; torn ones are removed.

    A process killed while saving leaves a `checkpoint-N` folder without its trainer state
    (written last), which the Trainer would refuse to resume from.
    """
    steps = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.rpartition("-")[2]))
    for path in reversed(steps):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning("removing %s: a save that did not finish", path)
            shutil.rmtree(path)
            continue
        return str(path)
    return None


def _load_or_train_tokenizer(
    folder: Path, texts: Sequence[str], vocab_size: int, source: Any, cache: Path, masked: bool
) -> Any:
    """A retry reuses the training's saved tokenizer, so resumed weights keep their token
    ids; a warm start keeps its source's (`source`); otherwise the one trained on this train
    split with this vocabulary size (`cache`, shared by trainings that differ otherwise) is
    reused, or trained and kept there."""
    from transformers import AutoTokenizer

    saved = folder / "tokenizer"
    if saved.is_dir():
        return AutoTokenizer.from_pretrained(str(saved))
    if source is not None:
        tokenizer = source
    elif cache.is_dir():
        tokenizer = AutoTokenizer.from_pretrained(str(cache))
        logger.info("tokenizer reused from %s", cache)
    else:
        tokenizer = train_tokenizer(texts, vocab_size, masked)
        _save_whole(tokenizer, cache)
    if tokenizer.pad_token is None:  # a pretrained GPT-2 folder has none
        tokenizer.pad_token = tokenizer.eos_token
    _save_whole(tokenizer, saved)
    return tokenizer


def _save_whole(tokenizer: Any, target: Path) -> None:
    """Save into a staging folder of this process's own, then rename: a kill never leaves
    half a tokenizer, and of two trainings saving the same one, the first rename wins."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", suffix=".partial", dir=target.parent))
    try:
        tokenizer.save_pretrained(str(staging))
        staging.rename(target)
    except OSError:
        if not target.is_dir():  # not a lost race: a real failure
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def tokenizer_cache(storage: StorageConfig, corpus: LakeRef, config: TrainConfig) -> Path:
    """Where the tokenizer trained on a corpus commit's train split lives."""
    code = code_version("tasks.train")  # the tokenizer's training code lives here
    blob = json.dumps([corpus.path, corpus.commit, config.vocab_size, config.objective, code])
    return storage.root / "tokenizers" / hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def train_key(_context: object, params: dict) -> str:
    parts = (params["corpus"], params["config"], params["storage"], params["experiment"])
    # A warm start's alias pinned to the version it names now: a new champion, a new key.
    source = resolve_source(params["config"].init_from, params["storage"])
    return stage_key("train", *parts, source or "", code_version(*TRAIN_MODULES))


@task(
    name="train",
    task_run_name="train",
    cache_key_fn=train_key,
    persist_result=True,
    retries=2,  # each retry resumes from the last checkpoint, into the same MLflow run
    retry_delay_seconds=10,
    retry_condition_fn=is_transient,  # a corpus too small stays too small
)
def train(
    corpus: LakeRef, config: TrainConfig, storage: StorageConfig, experiment: str, tags: dict
) -> RunRef:
    """Train on the corpus commit; cached by corpus, config and code, not by run lineage.
    Its progress is a Prefect progress artifact of the task run."""
    return train_model(corpus, config, storage, experiment, tags, progress_artifact(config))


def progress_artifact(config: TrainConfig) -> Callable[[int], None]:
    """report(step): the share of max_steps done, as the task run's progress artifact."""
    from prefect.artifacts import create_progress_artifact, update_progress_artifact

    artifact = create_progress_artifact(
        0.0, key="training-progress", description=f"Steps done of {config.max_steps}"
    )
    shown = [0.0]

    def report(step: int) -> None:
        percent = round(100.0 * min(step, config.max_steps) / config.max_steps, 1)
        if percent != shown[0]:  # a resumed training replays steps it had reported
            update_progress_artifact(artifact, percent)
            shown[0] = percent

    return report
