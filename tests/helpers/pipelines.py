"""Pipeline settings small enough that a whole night runs in seconds on a CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# A model small enough that a nightly flow trains in seconds on a CPU; tests set the steps.
TINY_MODEL = {
    "vocab_size": 400,
    "block_size": 32,
    "n_layer": 1,
    "n_head": 2,
    "n_embd": 32,
    "batch_size": 8,
    "warmup_steps": 0,
}

# The demo's clean rules, made for documentation pages (configs/demo.yaml says why).
DEMO_CLEAN: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parents[2] / "configs" / "demo.yaml").read_text(encoding="utf-8")
)["clean"]

# A whole night from the demo sites in seconds on a CPU.
TINY_PIPELINE = {
    "collect": {
        "web": [
            {
                "name": "pydoc",
                "start_urls": ["demo://pydoc/json.html", "demo://pydoc/topics.html"],
                "exclude": ["antigravity", "/search\\?", "/getfile\\?"],
                "max_pages": 12,
                "max_depth": 1,
                "allow_private_addresses": True,
            }
        ],
        "api": [
            {
                "name": "packages",
                "url": "demo://packages/packages?per_page=10",
                "max_pages": 2,
            }
        ],
        "synthetic": [{"name": "samples", "prompts": ["The json module"], "max_new_tokens": 8}],
    },
    # The demo's rules for documentation pages, with shorter documents allowed.
    "clean": DEMO_CLEAN | {"min_chars": 100, "min_words": 15},
    "train": TINY_MODEL | {"max_steps": 8, "save_steps": 4},
}
