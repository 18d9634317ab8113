"""The `train` section (the model and its training) and the `tune` section (a sweep over
train's fields)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from lmkiln.tasks.config.base import Strict

# Sizes by name: (layers, heads, width). "gpt2-124m" is GPT-2 small's shape: with its
# 50,257-token vocabulary and 1,024 positions it has 124M parameters.
SIZES = {
    "tiny": (2, 2, 128),
    "mini": (4, 4, 256),
    "small": (6, 8, 512),
    "gpt2-124m": (12, 12, 768),
}


class TrainConfig(Strict):
    objective: Literal["causal", "masked"] = "causal"
    """causal: predict each next token (generates text). masked: BERT-style, predict the
    masked tokens from both sides (fills in text; needs architecture bert)."""
    architecture: Literal["gpt2", "llama", "bert"] = "gpt2"
    """gpt2: learned positions, LayerNorm, GELU MLP. llama: rotary positions, RMSNorm,
    SwiGLU MLP, tied embeddings. bert: a bidirectional encoder, for objective masked. All
    use PyTorch's SDPA attention."""
    mlm_probability: float = Field(0.15, gt=0, lt=1)
    """Share of tokens masked per block (objective masked)."""
    size: Literal["tiny", "mini", "small", "gpt2-124m"] | None = None
    """A named size (layers, heads, width): tiny 2/2/128, mini 4/4/256, small 6/8/512,
    gpt2-124m 12/12/768; n_layer, n_head and n_embd are then ignored. null: those three."""
    init_from: str | None = None
    """Start from trained weights instead of random ones: a folder saved with
    save_pretrained, or a registry URI such as models:/lmkiln@champion (warm start). Its
    architecture, size and tokenizer are kept; those settings here are then ignored."""
    vocab_size: int = Field(4096, ge=300)
    """Byte-level BPE: 256 bytes + merges + specials."""
    block_size: int = Field(128, ge=8)
    """Context length; attention cost grows quadratically."""
    n_layer: int = Field(2, ge=1)
    """Transformer layers (when size is null)."""
    n_head: int = Field(2, ge=1)
    """Attention heads per layer; must divide n_embd."""
    n_embd: int = Field(128, ge=8)
    """Width of the hidden states."""
    max_steps: int = Field(200, ge=1)
    """Optimizer steps; with batch_size and block_size, the tokens seen."""
    batch_size: int = Field(16, ge=1)
    """Blocks per optimizer step (per process, per accumulation step)."""
    learning_rate: float = Field(5e-4, gt=0)
    """Peak learning rate of AdamW, after warmup; decays linearly to 0."""
    warmup_steps: int = Field(20, ge=0)
    """Steps of linear warmup from 0."""
    weight_decay: float = Field(0.01, ge=0)
    """AdamW weight decay (not on biases and norms)."""
    save_steps: int = Field(50, ge=1)
    """Checkpoint interval: a retry resumes from the last one. The validation loss is
    measured at each checkpoint too."""
    keep_checkpoints: bool = False
    """Keep a finished training's checkpoints (weights, optimizer and RNG states). false:
    they are removed once the model is saved and its metrics recorded; the model stays in
    the training's `final/` folder and in MLflow."""
    loop: Literal["trainer", "torch"] = "trainer"
    """trainer: the Hugging Face Trainer. torch: lmkiln's plain PyTorch loop (tasks/train/loop.py),
    with the same optimiser, checkpoints, resumption, metrics and early stopping."""
    processes: int = Field(1, ge=1)
    """Data-parallel training processes, which the train task launches with torchrun: one per
    GPU on a multi-GPU machine (NCCL). On a CPU they share its cores over gloo, which tests
    the path but is no faster. The Trainer loop only."""
    gradient_accumulation_steps: int = Field(1, ge=1)
    """Batches whose gradients are summed per optimizer step: an effective batch of
    batch_size x this, in the memory of one batch."""
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Mixed precision (autocast) on a GPU; a CPU trains in fp32 whatever is set here, with a
    warning (bf16 is about 5x slower on these CPUs, fp16 needs a GPU)."""
    compile: bool = False
    """torch.compile the model: faster steps on a GPU after a compile of about a minute."""
    early_stopping_patience: int | None = Field(None, ge=1)
    """Stop after this many checkpoints in a row without a lower validation loss, and keep
    the best checkpoint's weights. null: train all max_steps."""
    seed: int = Field(0, ge=0)
    """Weights, data order and masks: the same seed, the same model."""

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TrainConfig:
        if self.processes > 1 and self.loop != "trainer":
            raise ValueError("train.processes above 1 needs train.loop: trainer")
        if (self.objective == "masked") != (self.architecture == "bert"):
            raise ValueError(
                f"train.objective {self.objective} with architecture {self.architecture}: "
                "masked goes with bert, causal with gpt2 or llama"
            )
        _, heads, width = self.shape
        if width % heads:
            raise ValueError(f"n_embd ({width}) must be divisible by n_head ({heads})")
        return self

    @property
    def shape(self) -> tuple[int, int, int]:
        """(layers, heads, width): the named size's, or n_layer, n_head and n_embd."""
        return SIZES[self.size] if self.size else (self.n_layer, self.n_head, self.n_embd)


class TuneConfig(Strict):
    """A hyper-parameter sweep: several trainings of the same corpus, the best one registered."""

    trials: int = Field(0, ge=0)
    """Trainings to try, each with values drawn from `space`; the one with the lowest
    validation bits per byte goes on to registration. 0: no sweep, `train` as it is."""
    search: Literal["grid", "random"] = "random"
    """grid: the combinations of `space` in order, up to `trials`. random: `trials` distinct
    combinations drawn with `seed`."""
    space: dict[str, list[float | int | str | None]] = {
        "learning_rate": [2.5e-4, 5e-4, 1e-3],
        "warmup_steps": [0, 20],
    }
    """Values to try per `train` field (any of them: learning_rate, n_embd, size, ...)."""
    seed: int = Field(0, ge=0)
    """Draws the random search's combinations."""
    time_budget_s: float | None = Field(None, gt=0)
    """No trial starts after this many seconds of the sweep (the first always runs)."""

    @field_validator("space")
    @classmethod
    def _train_fields(cls, space: dict[str, list]) -> dict[str, list]:
        unknown = sorted(set(space) - set(TrainConfig.model_fields))
        if unknown:
            known = ", ".join(sorted(TrainConfig.model_fields))
            raise ValueError(f"{', '.join(unknown)}: not train settings ({known})")
        empty = sorted(name for name, values in space.items() if not values)
        if empty:
            raise ValueError(f"{', '.join(empty)}: give at least one value to try")
        return space
