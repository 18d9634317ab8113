"""Batches of both objectives: masks that a resumed or data-parallel run draws again."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset

from lmkiln.tasks.train.collate import IGNORE, Collator
from lmkiln.tasks.train.tokenizer import train_tokenizer

TEXTS = [f"Document {i} talks about rivers, bridges and the weather in town." for i in range(40)]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXTS, 300, masked=True)


def blocks(count: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(3, 300, (count, width))


def test_a_causal_batch_is_its_own_labels() -> None:
    batch = Collator()([{"input_ids": row} for row in blocks(2, 8)])
    assert batch["input_ids"] is batch["labels"]
    assert batch["input_ids"].shape == (2, 8)


def test_masks_depend_on_seed_epoch_and_block_only(tokenizer) -> None:
    rows = blocks(4, 64)
    collator = Collator(tokenizer, 0.15, seed=7)
    first = collator.batch(rows)
    reordered = collator.batch(rows[::-1])  # another batch order (a resume, another rank)
    assert np.array_equal(first["labels"].numpy(), reordered["labels"].numpy()[::-1])
    assert np.array_equal(
        first["input_ids"], Collator(tokenizer, 0.15, seed=7).batch(rows)["input_ids"]
    )
    collator.epoch = 1
    assert not np.array_equal(first["labels"], collator.batch(rows)["labels"])  # masked anew
    assert not np.array_equal(first["labels"], Collator(tokenizer, 0.15, 8).batch(rows)["labels"])


def test_masking_is_berts(tokenizer) -> None:
    rows = blocks(64, 256)
    rows[:, ::16] = tokenizer.eos_token_id  # document boundaries in packed blocks
    batch = Collator(tokenizer, 0.15, seed=1).batch(rows)
    inputs, labels = batch["input_ids"].numpy(), batch["labels"].numpy()
    chosen = labels != IGNORE
    assert np.array_equal(labels[chosen], rows[chosen])
    assert not chosen[:, ::16].any()  # special tokens are never masked
    ordinary = rows.size - rows[:, ::16].size
    assert chosen.sum() / ordinary == pytest.approx(0.15, abs=0.01)
    assert (inputs[chosen] == tokenizer.mask_token_id).mean() == pytest.approx(0.8, abs=0.02)
    assert (inputs[chosen] == rows[chosen]).mean() == pytest.approx(0.1 + 0.1 / 300, abs=0.02)
    assert np.array_equal(inputs[~chosen], rows[~chosen])


def test_validation_masks_are_drawn_once_and_passed_through(tokenizer) -> None:
    collator = Collator(tokenizer, 0.15, seed=3)
    validation = Dataset.from_dict({"input_ids": blocks(3, 32).tolist()})
    fixed = collator.fixed(validation)
    assert fixed["labels"] == collator.fixed(validation)["labels"]
    collator.epoch = 5
    batch = collator(list(fixed))
    assert batch["labels"].tolist() == fixed["labels"]
    assert Collator().fixed(validation) is validation  # a causal LM's need no masks


def test_a_masked_lm_needs_a_mask_token() -> None:
    with pytest.raises(ValueError, match="mask token"):
        Collator(train_tokenizer(TEXTS, 300), 0.15)
