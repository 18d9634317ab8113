"""The training data: one split of a corpus commit as a memory-mapped Hugging Face Dataset,
cached per commit and pruned when unused, and packed into blocks of the context length."""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from lmkiln.tasks.core.caching import code_version
from lmkiln.tasks.core.lake import split_rows
from lmkiln.tasks.core.records import LakeRef
from lmkiln.tasks.registry.models import quiet_progress

logger = logging.getLogger(__name__)


def corpus_dataset(corpus: LakeRef, split: str, cache: Path) -> Any | None:
    """One split's texts as a Hugging Face Dataset: Arrow files under `cache`, written once
    per corpus commit (the generator's arguments name it) and memory-mapped, so a corpus
    larger than memory trains from disk. None for a split without rows."""
    from datasets import Dataset, Features, Value

    arguments = {"path": corpus.path, "commit": corpus.commit, "rows": corpus.rows}
    try:
        with quiet_progress():
            dataset = Dataset.from_generator(
                split_rows,
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
    # The system clock, not lmkiln's (tasks/core/clock.py): it is the clock that stamps mtimes.
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
        return {"input_ids": blocks}  # labels are the collator's (lmkiln.tasks.train.collate)

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
                    code_version(__name__),  # the packing code itself
                ]
            ).encode("utf-8")
        ).hexdigest()[:16]
        dataset = dataset.map(
            tokenize, batched=True, remove_columns=["text"], new_fingerprint=f"{key}-tokens"
        )
        return dataset.map(group, batched=True, batch_size=GROUP_DOCS, new_fingerprint=key)


GROUP_DOCS = 1000
