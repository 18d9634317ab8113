"""Training benchmark (issue 5): lmkiln's training loop against a minimal PyTorch loop, and
the bits per byte lmkiln reaches at equal CPU time against nanoGPT's CPU "baby GPT".

    .venv/bin/python -m bench.training                 # about 10 minutes
    .venv/bin/python -m bench.training --budget 20     # a quick look; results not written

One process on one thread (`torch.set_num_threads(1)`): per-core figures, CPU time of the
process. Text: real documentation sections (bench/neardup_data.py's pool), every tenth one
held out for validation.

1. Loop speed. The same model (`TrainConfig()`: GPT-2, 2 layers, 2 heads, width 128, block
   128, batch 16, a 4,096-token BPE trained on the text), the same packed blocks, the same
   AdamW settings (learning rate, warmup, weight decay, gradient clipping at 1.0), the same
   number of steps:
- lmkiln's Trainer: the transformers Trainer with `lmkiln.tasks.train.trainer.training_arguments`,
     checkpoints and evaluation off, so that the loop alone is timed;
- lmkiln's plain loop: `lmkiln.tasks.train.loop.run` (`train.loop: torch`), no evaluation, its one
     checkpoint at the last step included;
   - reference: a minimal PyTorch loop (shuffled batches, forward, backward, clip, step,
     schedule), `reference_loop` below.
   Tokens/s = steps x batch x block / CPU s; five rounds taking turns, compared by median.
   Goal: each of lmkiln's loops at least 0.95x the reference.
2. Bits per byte at equal CPU time. nanoGPT's documented CPU run of its character-level
   Shakespeare example (its README: 4 layers, 4 heads, width 128, block 64, batch 12, no
   dropout; its config: learning rate 1e-3, 100 warmup steps, cosine decay to 1e-4, AdamW
   betas (0.9, 0.99), weight decay 0.1, clipping at 1.0; random windows of the joined text),
   trained with the reference loop on Hugging Face's GPT-2 blocks (nanoGPT's code is not a
   dependency), against lmkiln's default `TrainConfig` through the Trainer. Each gets the
   same CPU budget: the steps it can take in it, planned from a timing of its first steps,
   so that both learning-rate schedules run to their end. Then each scores the validation
   sections: every character (nanoGPT) or token (lmkiln) predicted once, in windows of its
   context, the NLL summed over the sections' UTF-8 bytes. A validation character missing
   from nanoGPT's training text is scored as its document separator (the table counts them).
Results: bench/results/training.md.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from bench import neardup_data as data
from lmkiln.tasks.config.train import TrainConfig
from lmkiln.tasks.registry.models import bits_per_byte
from lmkiln.tasks.train import loop
from lmkiln.tasks.train.collate import Collator
from lmkiln.tasks.train.data import pack_blocks
from lmkiln.tasks.train.model import build_model
from lmkiln.tasks.train.tokenizer import train_tokenizer
from lmkiln.tasks.train.trainer import training_arguments

RESULTS = Path(__file__).resolve().parent / "results" / "training.md"
TRAIN_CHARS = 3_000_000
VALIDATION_CHARS = 150_000
SPEED_STEPS = 80  # amortises the plain loop's one checkpoint at its last step
ROUNDS = 5
LOOPS = ("lmkiln Trainer", "lmkiln plain loop", "reference loop")
BABY = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block": 64, "batch": 12}


def texts() -> tuple[list[str], list[str]]:
    """Sections in the pool's order: every tenth for validation (up to VALIDATION_CHARS)."""
    train: list[str] = []
    validation: list[str] = []
    for i, text in enumerate(data.pool()):
        if i % 10 == 9:
            if sum(map(len, validation)) < VALIDATION_CHARS:
                validation.append(text)
        elif sum(map(len, train)) < TRAIN_CHARS:
            train.append(text)
        else:
            break
    return train, validation


def reference_loop(
    model: Any,
    batches: Callable[[int], torch.Tensor],
    steps: int,
    lr: Callable[[int], float],
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
) -> list[float]:
    """The minimal loop: AdamW (decay on matrices only), clip at 1.0, a per-step rate."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest}]
    optimizer = torch.optim.AdamW(groups, lr=lr(0), betas=betas, weight_decay=0.0)
    model.train()
    losses = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr(step)
        ids = batches(step)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses


def linear_warmup(config: TrainConfig, steps: int) -> Callable[[int], float]:
    """The Trainer's default schedule: linear warmup, then linear decay to zero."""

    def rate(step: int) -> float:
        if step < config.warmup_steps:
            return config.learning_rate * step / max(1, config.warmup_steps)
        left = max(0, steps - step) / max(1, steps - config.warmup_steps)
        return config.learning_rate * left

    return rate


def trainer_run(model: Any, tokenizer: Any, blocks: Any, config: TrainConfig, steps: int) -> None:
    from transformers import PrinterCallback, Trainer

    with tempfile.TemporaryDirectory() as folder:
        args = training_arguments(
            Path(folder),
            config.model_copy(update={"max_steps": steps}),
            evaluate=False,
            stopping=False,
            save_strategy="no",
            logging_steps=max(1, steps),
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=blocks,
            processing_class=tokenizer,
            data_collator=Collator(),  # the causal LM's batches, as lmkiln trains
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()


def cpu_seconds(action: Callable[[], object]) -> float:
    start = time.process_time()
    action()
    return time.process_time() - start


def loop_speed(config: TrainConfig, tokenizer: Any, blocks: Any) -> dict[str, list[float]]:
    tokens = SPEED_STEPS * config.batch_size * config.block_size
    ids = torch.tensor(blocks["input_ids"])
    rates: dict[str, list[float]] = {name: [] for name in LOOPS}
    plain = config.model_copy(update={"max_steps": SPEED_STEPS, "save_steps": SPEED_STEPS})
    for _ in range(ROUNDS):
        torch.manual_seed(0)
        model = build_model(config, tokenizer)
        spent = cpu_seconds(lambda m=model: trainer_run(m, tokenizer, blocks, config, SPEED_STEPS))
        rates[LOOPS[0]].append(tokens / spent)
        torch.manual_seed(0)
        model = build_model(config, tokenizer)
        with tempfile.TemporaryDirectory() as folder:
            spent = cpu_seconds(
                lambda m=model, f=folder: loop.run(
                    Path(f), plain, m, blocks, [], lambda *_: None, None
                )
            )
        rates[LOOPS[1]].append(tokens / spent)
        torch.manual_seed(0)
        model = build_model(config, tokenizer)
        order = torch.randperm(len(ids))

        def batch(step: int, order: torch.Tensor = order) -> torch.Tensor:
            at = (step * config.batch_size) % max(1, len(ids) - config.batch_size)
            return ids[order[at : at + config.batch_size]]

        schedule = linear_warmup(config, SPEED_STEPS)
        spent = cpu_seconds(
            lambda m=model, b=batch, s=schedule: reference_loop(
                m, b, SPEED_STEPS, s, config.weight_decay
            )
        )
        rates[LOOPS[2]].append(tokens / spent)
    return rates


class Chars:
    """nanoGPT's character-level encoding, with id 0 separating documents."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.ids = {c: i + 1 for i, c in enumerate(sorted(set("".join(texts))))}
        self.unknown = 0

    def encode(self, text: str) -> list[int]:
        return [self.ids.get(c, 0) for c in text]


def baby_gpt(train: list[str], validation: list[str], budget_s: float) -> dict[str, float]:
    from transformers import AutoModelForCausalLM, GPT2Config

    chars = Chars(train)
    joined = torch.tensor([i for text in train for i in [0, *chars.encode(text)]])
    block, batch = BABY["block"], BABY["batch"]
    config = GPT2Config(
        n_layer=BABY["n_layer"],
        n_head=BABY["n_head"],
        n_embd=BABY["n_embd"],
        n_positions=block,
        vocab_size=len(chars.ids) + 1,
        bos_token_id=0,
        eos_token_id=0,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
    generator = torch.Generator().manual_seed(0)

    def batches(_step: int) -> torch.Tensor:
        starts = torch.randint(len(joined) - block, (batch,), generator=generator)
        return torch.stack([joined[s : s + block] for s in starts])

    per_step = cpu_seconds(lambda: reference_loop(model, batches, 10, lambda _: 1e-3, 0.1)) / 10
    steps = max(200, int(budget_s / per_step))

    def rate(step: int) -> float:  # nanoGPT's: warmup, then cosine to min_lr
        if step < 100:
            return 1e-3 * (step + 1) / 100
        progress = (step - 100) / max(1, steps - 100)
        return 1e-4 + 0.5 * (1 + math.cos(math.pi * progress)) * (1e-3 - 1e-4)

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
    spent = cpu_seconds(lambda: reference_loop(model, batches, steps, rate, 0.1, (0.9, 0.99)))
    unknown = sum(c not in chars.ids for text in validation for c in text)
    bpb = _char_bpb(model, chars, validation, block)
    return {"steps": steps, "cpu_s": spent, "bpb": bpb, "unknown_chars": unknown}


def _char_bpb(model: Any, chars: Chars, texts: Sequence[str], block: int) -> float:
    nll, size = 0.0, 0
    model.eval()
    with torch.no_grad():
        for text in texts:
            ids = [0, *chars.encode(text)]
            for lo in range(0, len(ids) - 1, block - 1):
                window = torch.tensor([ids[lo : lo + block]])
                logits = model(input_ids=window).logits[0, :-1].float()
                target = window[0, 1:]
                nll -= torch.log_softmax(logits, -1).gather(-1, target[:, None]).sum().item()
            size += len(text.encode("utf-8"))
    return nll / size / math.log(2)


def lmkiln_at_budget(train: list[str], validation: list[str], budget_s: float) -> dict[str, float]:
    config = TrainConfig()
    tokenizer = train_tokenizer(train, config.vocab_size)
    blocks = pack_blocks(tokenizer, train, config.block_size)
    torch.manual_seed(0)
    probe = build_model(config, tokenizer)
    per_step = cpu_seconds(lambda: trainer_run(probe, tokenizer, blocks, config, 10)) / 10
    steps = max(config.warmup_steps + 10, int(budget_s / per_step))
    torch.manual_seed(0)
    model = build_model(config, tokenizer)
    spent = cpu_seconds(lambda: trainer_run(model, tokenizer, blocks, config, steps))
    scores = bits_per_byte(model, tokenizer, validation, config.block_size)
    return {"steps": steps, "cpu_s": spent, "bpb": scores["bits_per_byte"]}


def report(rates: dict[str, list[float]], baby: dict, ours: dict, budget_s: float, n: tuple) -> str:
    best = {name: max(values) for name, values in rates.items()}
    middle = {name: statistics.median(values) for name, values in rates.items()}
    ratios = [middle[name] / middle[LOOPS[2]] for name in LOOPS[:2]]
    lines = [
        "# Training benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; 2 shared cores ({platform.machine()}), one "
        f"process on one thread; Python {platform.python_version()}, torch {torch.__version__}. "
        "Made by `.venv/bin/python -m bench.training`; method in its docstring.",
        f"Text: {n[0]:,} training and {n[1]:,} validation sections of real documentation "
        f"({n[2]:,} and {n[3]:,} characters).",
        "",
        "| comparison | goal | result |",
        "|---|---|---|",
        f"| tokens/s per core (medians) of lmkiln's two loops vs a minimal PyTorch loop "
        "| >= 0.95x | "
        f"Trainer **{ratios[0]:.2f}x**, plain loop **{ratios[1]:.2f}x** |",
        f"| validation bits per byte after {budget_s:.0f} CPU s, lmkiln default vs nanoGPT "
        f"baby GPT | lower | **{ours['bpb']:.3f}** vs {baby['bpb']:.3f} |",
        "",
        "## Loop speed",
        "",
        f"GPT-2, 2 layers, 2 heads, width 128, block 128, batch 16; {SPEED_STEPS} steps a round,"
        f" {ROUNDS} rounds taking turns.",
        "",
        "| loop | tokens/s per core, best | median | rounds |",
        "|---|---:|---:|---|",
    ]
    for name, values in rates.items():
        shown = ", ".join(f"{v:,.0f}" for v in values)
        lines.append(f"| {name} | {best[name]:,.0f} | {statistics.median(values):,.0f} | {shown} |")
    lines += [
        "",
        "## Bits per byte at equal CPU time",
        "",
        "| model | steps | CPU s | validation bits per byte |",
        "|---|---:|---:|---:|",
        f"| nanoGPT baby GPT (characters; 4 layers, 4 heads, width 128, block 64, batch 12) | "
        f"{baby['steps']:,} | {baby['cpu_s']:.0f} | {baby['bpb']:.3f} |",
        f"| lmkiln default (BPE 4,096; 2 layers, 2 heads, width 128, block 128, batch 16) | "
        f"{ours['steps']:,} | {ours['cpu_s']:.0f} | {ours['bpb']:.3f} |",
        "",
        f"Validation characters missing from the baby GPT's training text: "
        f"{baby['unknown_chars']:,}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=180.0, help="CPU s per model, part 2")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    train, validation = texts()
    config = TrainConfig()
    tokenizer = train_tokenizer(train, config.vocab_size)
    blocks = pack_blocks(tokenizer, train, config.block_size)
    rates = loop_speed(config, tokenizer, blocks)
    baby = baby_gpt(train, validation, args.budget)
    ours = lmkiln_at_budget(train, validation, args.budget)
    sizes = (len(train), len(validation), sum(map(len, train)), sum(map(len, validation)))
    text = report(rates, baby, ours, args.budget, sizes)
    if args.budget == 180.0:
        RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
