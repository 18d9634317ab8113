"""Batches of packed blocks for both objectives and both loops.

A causal LM's labels are its inputs (the model shifts them). A masked LM's are drawn BERT's
way, `mlm_probability` of the tokens (80% replaced by the mask token, 10% by a random one,
10% kept), labels on the masked positions only, and never on special tokens.

The masks of a block are a function of the seed, the epoch and the block's tokens, not of a
generator's running state: a resumed run (either loop, any number of batches skipped)
draws exactly the masks an uninterrupted one would, data-parallel ranks (which see other
blocks) draw other masks, and each epoch masks a block anew (RoBERTa's dynamic masking).
Validation blocks are masked once, with their own seed (`fixed`), so every evaluation of
every loop scores the same masks.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import torch

IGNORE = -100  # the label of a position that is not scored


class Collator:
    """rows of `input_ids` (and `labels`, when fixed in advance) -> a batch of tensors."""

    def __init__(self, tokenizer: Any = None, mlm_probability: float = 0.0, seed: int = 0) -> None:
        self.masked = mlm_probability > 0
        self.probability, self.seed = mlm_probability, seed
        self.epoch = 0  # set by the loop (or the Trainer's callback) as epochs begin
        if self.masked:
            if tokenizer is None or tokenizer.mask_token_id is None:
                raise ValueError("a masked LM needs a tokenizer with a mask token")
            self.mask_id, self.vocab = tokenizer.mask_token_id, len(tokenizer)
            self.special = np.array(sorted(set(tokenizer.all_special_ids)), dtype=np.int64)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        ids = np.array([row["input_ids"] for row in rows], dtype=np.int64)
        if "labels" in rows[0]:  # masked in advance: validation
            labels = np.array([row["labels"] for row in rows], dtype=np.int64)
            return {"input_ids": torch.from_numpy(ids), "labels": torch.from_numpy(labels)}
        return self.batch(ids)

    def batch(self, ids: np.ndarray) -> dict[str, torch.Tensor]:
        if not self.masked:
            tensor = torch.from_numpy(ids)
            return {"input_ids": tensor, "labels": tensor}
        inputs, labels = zip(*(self.mask(row, self.epoch) for row in ids), strict=True)
        return {
            "input_ids": torch.from_numpy(np.stack(inputs)),
            "labels": torch.from_numpy(np.stack(labels)),
        }

    def mask(
        self, row: np.ndarray, epoch: int, seed: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, labels) of one block in one epoch."""
        digest = hashlib.blake2b(row.tobytes(), digest_size=8).digest()
        seed = self.seed if seed is None else seed
        rng = np.random.default_rng([seed, epoch, int.from_bytes(digest, "little")])
        chosen = (rng.random(len(row)) < self.probability) & ~np.isin(row, self.special)
        labels = np.where(chosen, row, IGNORE)
        draw = rng.random(len(row))
        inputs = np.where(chosen & (draw < 0.8), self.mask_id, row)
        scrambled = chosen & (draw >= 0.8) & (draw < 0.9)
        return np.where(scrambled, rng.integers(0, self.vocab, len(row)), inputs), labels

    def fixed(self, blocks: Any) -> Any:
        """Validation blocks with masks drawn once (seed + 1), as columns: a Dataset."""
        if not self.masked or not len(blocks):
            return blocks

        def add(batch: dict[str, list]) -> dict[str, list]:
            rows = (np.array(row, dtype=np.int64) for row in batch["input_ids"])
            pairs = [self.mask(row, 0, seed=self.seed + 1) for row in rows]
            return {"input_ids": [p[0] for p in pairs], "labels": [p[1] for p in pairs]}

        return blocks.map(add, batched=True)


def epoch_callback(collator: Collator) -> Any:
    """A Trainer callback that tells the collator which epoch begins (also on resume, when
    the Trainer's epoch is the checkpoint's, part-way through)."""
    from transformers import TrainerCallback

    class EpochToCollator(TrainerCallback):
        def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            collator.epoch = math.floor((state.epoch or 0) + 1e-6)

    return EpochToCollator()
