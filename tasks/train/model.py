"""The model a training starts from: built from the config (GPT-2 or Llama style, sized by
width and depth) or loaded from `init_from` (a registry URI or a folder)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.config.train import TrainConfig
from lmkiln.tasks.registry.models import pin


def build_model(config: TrainConfig, tokenizer: Any) -> Any:
    """A language model of the configured architecture and size, with random weights."""
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, PreTrainedConfig

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
    causal_config: PreTrainedConfig
    if config.architecture == "llama":
        causal_config = LlamaConfig(
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
        causal_config = GPT2Config(
            n_layer=layers, n_head=heads, n_embd=width, n_positions=config.block_size, **tokens
        )
    return AutoModelForCausalLM.from_config(causal_config, attn_implementation="sdpa")


def _swiglu_width(width: int) -> int:
    """Llama's MLP width: two thirds of 4 x width (three matrices instead of two, so the same
    parameters as GPT-2's 4 x width), rounded up to a multiple of 32."""
    return math.ceil(8 * width / 3 / 32) * 32


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
