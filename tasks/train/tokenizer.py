"""The tokenizer: a byte-level BPE trained on the corpus at its commit (or a masked
model's, with a mask token), cached per corpus and config so a retry does not train it again."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.config.train import TrainConfig
from lmkiln.tasks.core.caching import code_version
from lmkiln.tasks.core.records import LakeRef
from lmkiln.tasks.train.data import GROUP_DOCS

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)


EOS = "<|endoftext|>"  # GPT-2's convention: one token is bos, eos and unk


PAD = "<|pad|>"


MASK = "<|mask|>"


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


def load_or_train_tokenizer(
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
        save_whole(tokenizer, cache)
    if tokenizer.pad_token is None:  # a pretrained GPT-2 folder has none
        tokenizer.pad_token = tokenizer.eos_token
    save_whole(tokenizer, saved)
    return tokenizer


def save_whole(tokenizer: Any, target: Path) -> None:
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
    code = code_version(__name__)  # the tokenizer's training code
    blob = json.dumps([corpus.path, corpus.commit, config.vocab_size, config.objective, code])
    return storage.root / "tokenizers" / hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
