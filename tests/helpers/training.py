"""A corpus and a model small enough that a training takes seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.config.train import TrainConfig
from lmkiln.tasks.core.lake import CORPUS_TABLE, append
from lmkiln.tasks.core.records import Document, LakeRef

SENTENCES = [
    "The river rose after three days of rain and covered the lower road.",
    "A small library opened on the corner, with a reading room for children.",
    "Bakers start before dawn, so the bread is warm when the shop opens.",
    "The committee met on Tuesday and agreed to repair the old bridge.",
    "Most birds in the park are sparrows, but herons visit in the spring.",
    "She wrote the report by hand and typed it the next morning.",
    "Trains to the coast leave every hour from the second platform.",
    "The museum keeps its oldest maps in a cool room without windows.",
    "Farmers in the valley grow apples, pears and a little barley.",
    "He fixed the bicycle with a spanner, some oil and a lot of patience.",
    "The school choir sang at the harbour festival on Saturday evening.",
    "Heavy snow closed the mountain pass for most of the winter.",
    "Her garden has tomatoes along the fence and herbs near the door.",
    "The ferry was late because fog had settled over the bay.",
    "Volunteers cleaned the beach and counted the plastic they found.",
    "The old clock in the square has not kept good time for years.",
]
TINY = TrainConfig(
    vocab_size=400,
    block_size=32,
    n_layer=1,
    n_head=1,
    n_embd=32,
    max_steps=6,
    save_steps=3,
    batch_size=4,
    learning_rate=3e-3,
    warmup_steps=0,
)


def corpus_rows(count: int = 48) -> list[dict[str, str]]:
    """Short English documents, every sixth one in validation."""
    rows = []
    for i in range(count):
        text = " ".join(SENTENCES[(i * k + k) % len(SENTENCES)] for k in (1, 3, 5))
        doc = Document(text=f"{i}. {text}", kind="dataset", source="unit")
        rows.append({**doc.to_row(), "split": "validation" if i % 6 == 0 else "train"})
    return rows


def make_corpus(root: Path, rows: list[dict[str, str]]) -> tuple[StorageConfig, LakeRef]:
    storage = StorageConfig(data_root=str(root))
    return storage, append(storage.lake("corpus"), rows, CORPUS_TABLE, "unit corpus")
