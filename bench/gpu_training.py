"""Training throughput on one GPU: tokens/s and model FLOPs utilisation (MFU) of lmkiln's
two loops at a named size, in bf16, with and without torch.compile.

    .venv/bin/python -m bench.gpu_training                       # on a machine with a GPU
    .venv/bin/python -m bench.gpu_training --size tiny --steps 3 --device cpu   # a smoke run

Random token blocks (throughput does not depend on the text), the size's model from
`lmkiln.tasks.train.model.build_model`, `--steps` timed steps after `--warmup` untimed ones
(compilation happens there). MFU = 6 x parameters x tokens/s / the GPU's peak dense bf16 FLOP/s (the
6N rule of Kaplan et al. 2020 for a forward and backward pass; attention's own FLOPs left out),
peaks from the vendors' data sheets for the GPUs named in PEAK_BF16. Prints a Markdown table;
nothing is written, since the project's machines have no GPU.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from datasets import Dataset

from lmkiln.tasks.config.train import TrainConfig
from lmkiln.tasks.train import loop
from lmkiln.tasks.train.model import build_model

# Dense bf16 tensor-core peak, FLOP/s (data sheets; SXM parts).
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


def peak_flops(name: str) -> float | None:
    return next((flops for key, flops in PEAK_BF16.items() if key in name), None)


class GPT2Vocabulary:
    """What build_model asks of a tokenizer, at GPT-2's vocabulary size."""

    bos_token_id = eos_token_id = 50256
    pad_token_id = 50256

    def __len__(self) -> int:
        return 50257


def measure(config: TrainConfig, steps: int, warmup: int, device: str) -> dict[str, float]:
    vocabulary = GPT2Vocabulary()
    model = build_model(config, vocabulary).to(device)
    if config.compile:
        model = torch.compile(model)
    shape = (config.batch_size * (steps + warmup), config.block_size)
    data = Dataset.from_dict({"input_ids": torch.randint(0, len(vocabulary), shape).tolist()})
    with tempfile.TemporaryDirectory() as folder:
        for count in (warmup, steps):  # the first run compiles and warms up, untimed
            run = config.model_copy(update={"max_steps": count})
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            loop.run(Path(folder), run, model, data, [], lambda *_: None, None, checkpoints=False)
            if device == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
    tokens = steps * config.batch_size * config.block_size
    parameters = sum(p.numel() for p in model.parameters())
    return {"tokens_per_s": tokens / seconds, "parameters": parameters}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sizes = ["tiny", "mini", "small", "gpt2-124m"]
    parser.add_argument("--size", default="gpt2-124m", choices=sizes)
    parser.add_argument("--block", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no GPU here: pass --device cpu for a smoke run")
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    peak = peak_flops(name)
    print("| device | size | block x batch | compile | precision | tokens/s | MFU |")
    print("|---|---|---|---|---|---:|---:|")
    for compile_ in (False, True):
        precision = "bf16" if args.device == "cuda" else "fp32"
        config = TrainConfig(
            size=args.size,
            block_size=args.block,
            batch_size=args.batch,
            compile=compile_ and args.device == "cuda",
            precision=precision,
            warmup_steps=0,
        )
        if compile_ and args.device != "cuda":
            continue  # compiling on a CPU takes minutes and measures nothing of use here
        found = measure(config, args.steps, args.warmup, args.device)
        mfu = 6 * found["parameters"] * found["tokens_per_s"] / peak if peak else float("nan")
        print(
            f"| {name} | {args.size} | {args.block} x {args.batch} | {config.compile} "
            f"| {precision} | {found['tokens_per_s']:,.0f} | {mfu:.1%} |"
        )


if __name__ == "__main__":
    main()
