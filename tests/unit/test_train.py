"""Training: tokenizer, bits per byte, and a train run that resumes into its one MLflow run."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.config.train import TrainConfig
from lmkiln.tasks.core.lake import corpus_texts
from lmkiln.tasks.core.records import LakeRef
from lmkiln.tasks.registry.models import bits_per_byte
from lmkiln.tasks.train.data import corpus_dataset, pack_blocks
from lmkiln.tasks.train.tasks import train_model
from lmkiln.tasks.train.tokenizer import save_whole, train_tokenizer
from lmkiln.tasks.train.trainer import last_complete_checkpoint
from tests.helpers.training import TINY, corpus_rows, make_corpus

# Checkpoints kept after the training, for tests that remove some to simulate a kill.
KEPT = TINY.model_copy(update={"keep_checkpoints": True})

# A learning rate that makes the validation loss climb, checked every other step: early
# stopping ends the training well before max_steps.
DIVERGING = {"max_steps": 60, "save_steps": 2, "learning_rate": 0.5, "early_stopping_patience": 1}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[StorageConfig, LakeRef]:
    return make_corpus(tmp_path_factory.mktemp("train"), corpus_rows())


def test_corpus_texts_reads_each_split(corpus: tuple[StorageConfig, LakeRef]) -> None:
    _, ref = corpus
    train, validation = corpus_texts(ref, "train"), corpus_texts(ref, "validation")
    assert (len(train), len(validation)) == (40, 8)
    assert validation[0].startswith("0. ")
    assert corpus_texts(ref, "test") == []


def test_a_split_is_an_arrow_dataset_on_disk_and_its_blocks_are_reused(
    corpus: tuple[StorageConfig, LakeRef], tmp_path: Path
) -> None:
    _, ref = corpus
    texts = corpus_dataset(ref, "train", tmp_path)
    assert texts["text"] == corpus_texts(ref, "train")
    assert corpus_dataset(ref, "test", tmp_path) is None
    tokenizer = train_tokenizer(texts, 400)
    blocks = pack_blocks(tokenizer, texts, 32, cached=True)
    again = pack_blocks(tokenizer, corpus_dataset(ref, "train", tmp_path), 32, cached=True)
    files = [f["filename"] for f in blocks.cache_files]
    assert files and files == [f["filename"] for f in again.cache_files]  # read back
    assert all(Path(f).is_relative_to(tmp_path) for f in files)
    assert (
        blocks["input_ids"] == pack_blocks(tokenizer, corpus_texts(ref, "train"), 32)["input_ids"]
    )


def test_tokenizer_is_deterministic_and_covers_every_byte() -> None:
    texts = [row["text"] for row in corpus_rows()]
    first, second = train_tokenizer(texts, 300), train_tokenizer(texts, 300)
    assert first.get_vocab() == second.get_vocab()
    assert len(first) <= 300
    assert first.eos_token == first.bos_token == first.unk_token == "<|endoftext|>"
    assert first.pad_token_id != first.eos_token_id
    unseen = "Naïve café: 42 € ✓"
    ids = first(unseen, add_special_tokens=False)["input_ids"]
    assert first.decode(ids) == unseen


def test_bits_per_byte_scores_every_token_once() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    texts = [row["text"] for row in corpus_rows(6)]
    tokenizer = train_tokenizer(texts, 300)
    config = GPT2Config(n_layer=1, n_head=1, n_embd=16, n_positions=16, vocab_size=len(tokenizer))
    model = GPT2LMHeadModel(config)
    scores = bits_per_byte(model, tokenizer, texts, block_size=16)

    token_count = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    assert scores["tokens"] == token_count
    assert scores["bytes"] == sum(len(t.encode("utf-8")) for t in texts)
    total_nll = scores["loss"] * scores["tokens"]
    assert scores["bits_per_byte"] == pytest.approx(total_nll / math.log(2) / scores["bytes"])
    # An untrained model predicts close to uniformly over the vocabulary.
    assert scores["loss"] == pytest.approx(math.log(len(tokenizer)), abs=0.5)
    assert scores["perplexity"] == pytest.approx(math.exp(scores["loss"]))


@pytest.mark.slow
def test_train_model_resumes_into_one_run(corpus: tuple[StorageConfig, LakeRef]) -> None:
    from mlflow.tracking import MlflowClient

    storage, ref = corpus
    run = train_model(ref, KEPT, storage, "unit", {"trigger": "test"})
    for name in ("eval_loss", "perplexity", "bits_per_byte"):
        assert math.isfinite(run.metrics[name]), name
    final = Path(run.model_dir)
    assert (final / "model.safetensors").is_file() and (final / "tokenizer.json").is_file()

    again = train_model(ref, KEPT, storage, "unit", {"trigger": "test"})
    assert again == run

    # A training killed after its first checkpoint: the retry resumes into the same run.
    folder = final.parent
    shutil.rmtree(final)
    shutil.rmtree(folder / "checkpoint-6")
    state = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({"run_id": state["run_id"]}))
    resumed = train_model(ref, KEPT, storage, "unit", {"trigger": "test"})
    assert resumed.run_id == run.run_id
    assert resumed.metrics["bits_per_byte"] == pytest.approx(run.metrics["bits_per_byte"])

    client = MlflowClient(tracking_uri=storage.mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("unit").experiment_id])
    assert len(runs) == 1
    recorded = runs[0]
    assert recorded.info.status == "FINISHED"
    assert recorded.data.params["corpus_commit"] == ref.commit
    assert recorded.data.params["max_steps"] == "6"
    assert recorded.data.tags["trigger"] == "test"
    assert recorded.data.tags["corpus_path"] == ref.path
    assert recorded.data.metrics["bits_per_byte"] == pytest.approx(run.metrics["bits_per_byte"])
    steps = [m.step for m in client.get_metric_history(run.run_id, "train_loss")]
    assert steps == sorted(set(steps)) and steps[-1] == 6
    assert recorded.data.tags["code_version"]
    (dataset_input,) = client.get_run(run.run_id).inputs.dataset_inputs
    assert dataset_input.dataset.digest == ref.commit[:36]
    assert json.loads(dataset_input.dataset.source) == {"path": ref.path, "commit": ref.commit}
    assert json.loads(dataset_input.dataset.profile)["train_texts"] == 40
    artifacts = {a.path for a in client.list_artifacts(run.run_id)}
    assert {"loss_curve.png", "samples.txt"} <= artifacts
    samples = Path(client.download_artifacts(run.run_id, "samples.txt")).read_text()
    assert samples.count(" >>> ") == 3


def test_llama_named_sizes_and_early_stopping(corpus: tuple[StorageConfig, LakeRef]) -> None:
    from transformers import AutoConfig

    assert TrainConfig(size="gpt2-124m", n_layer=1).shape == (12, 12, 768)  # size wins
    with pytest.raises(ValueError, match="divisible by n_head"):
        TrainConfig(n_embd=30, n_head=4)
    storage, ref = corpus
    llama = TINY.model_copy(update={"architecture": "llama", "n_head": 2})
    run = train_model(ref, llama, storage, "unit-llama", {})
    config = AutoConfig.from_pretrained(run.model_dir)
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("llama", 1, 32)
    assert not list(Path(run.model_dir).parent.glob("checkpoint-*"))  # removed once finished
    assert math.isfinite(run.metrics["bits_per_byte"])

    wild = TINY.model_copy(update=DIVERGING)
    stopped = train_model(ref, wild, storage, "unit-stop", {})
    assert stopped.metrics["train_steps"] < 60

    # Two batches per step, and a GPU precision on a CPU: trains in fp32, all steps done.
    accumulated = TINY.model_copy(update={"gradient_accumulation_steps": 2, "precision": "bf16"})
    assert train_model(ref, accumulated, storage, "unit-acc", {}).metrics["train_steps"] == 6


def test_a_warm_start_keeps_the_tokenizer_and_the_weights(
    corpus: tuple[StorageConfig, LakeRef], tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    storage, ref = corpus
    source = train_model(ref, TINY.model_copy(update={"max_steps": 30}), storage, "unit-src", {})
    one_step = {"max_steps": 1, "save_steps": 1, "learning_rate": 1e-5, "vocab_size": 300}
    cold = train_model(ref, TINY.model_copy(update=one_step), storage, "unit-cold", {})
    warm_config = TINY.model_copy(update=one_step | {"init_from": source.model_dir})
    warm = train_model(ref, warm_config, storage, "unit-warm", {})

    kept = AutoTokenizer.from_pretrained(warm.model_dir).get_vocab()
    assert kept == AutoTokenizer.from_pretrained(source.model_dir).get_vocab()  # not 300
    assert warm.metrics["bits_per_byte"] == pytest.approx(source.metrics["bits_per_byte"], rel=0.05)
    assert warm.metrics["bits_per_byte"] < cold.metrics["bits_per_byte"] - 0.5
    bert = {"objective": "masked", "architecture": "bert", "init_from": source.model_dir}
    with pytest.raises(ValueError, match="a model of the other objective"):
        train_model(ref, TINY.model_copy(update=bert), storage, "x", {})
    with pytest.raises(ValueError, match="no config.json"):
        train_model(ref, TINY.model_copy(update={"init_from": str(tmp_path)}), storage, "x", {})


def test_train_model_rejects_a_corpus_too_small(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    rows = corpus_rows(2)
    rows[1]["text"] = "Too short."
    storage, ref = make_corpus(tmp_path, rows)
    big_blocks = TINY.model_copy(update={"block_size": 512})
    with pytest.raises(ValueError, match="lower block_size"):
        train_model(ref, big_blocks, storage, "unit", {})

    client = MlflowClient(tracking_uri=storage.mlflow_uri)
    experiment = client.get_experiment_by_name("unit")
    assert client.search_runs([experiment.experiment_id]) == []


def test_train_model_rejects_an_empty_train_split(tmp_path: Path) -> None:
    rows = [{**row, "split": "validation"} for row in corpus_rows(4)]
    storage, ref = make_corpus(tmp_path, rows)
    with pytest.raises(ValueError, match="no train rows"):
        train_model(ref, TINY, storage, "unit", {})


def test_a_torn_checkpoint_is_skipped_and_removed(tmp_path: Path) -> None:
    for step, complete in ((10, True), (20, True), (30, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"")
        if complete:
            (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (tmp_path / "checkpoint-40").mkdir()
    (tmp_path / "checkpoint-40" / "trainer_state.json").write_text('{"global_st')

    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-20")
    assert not (tmp_path / "checkpoint-30").exists()
    assert not (tmp_path / "checkpoint-40").exists()
    assert (tmp_path / "checkpoint-10").exists()


def test_the_plain_loop_resumes_exactly_and_gives_the_trainers_outputs(
    corpus: tuple[StorageConfig, LakeRef],
) -> None:
    from mlflow.tracking import MlflowClient

    storage, ref = corpus
    plain = KEPT.model_copy(update={"loop": "torch"})
    run = train_model(ref, plain, storage, "unit-loop", {})
    final = Path(run.model_dir)
    assert (final / "model.safetensors").is_file() and (final / "tokenizer.json").is_file()
    assert run.metrics["train_steps"] == 6 and math.isfinite(run.metrics["bits_per_byte"])
    folder = final.parent
    assert sorted(p.name for p in folder.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-6"]

    # Killed after its first checkpoint: the rerun takes the same batches from step 3 on,
    # with the same optimizer, schedule and dropout RNG, so it ends with the same model.
    shutil.rmtree(final)
    shutil.rmtree(folder / "checkpoint-6")
    state = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({"run_id": state["run_id"]}))
    resumed = train_model(ref, plain, storage, "unit-loop", {})
    assert resumed.run_id == run.run_id
    assert resumed.metrics["bits_per_byte"] == pytest.approx(run.metrics["bits_per_byte"], rel=1e-6)

    client = MlflowClient(tracking_uri=storage.mlflow_uri)
    steps = [m.step for m in client.get_metric_history(run.run_id, "train_loss")]
    assert steps == sorted(set(steps)) and steps[-1] == 6
    assert [m.step for m in client.get_metric_history(run.run_id, "eval_packed_loss")] == [3, 6]

    wild = plain.model_copy(update=DIVERGING)
    stopped = train_model(ref, wild, storage, "unit-loop-stop", {})
    assert stopped.metrics["train_steps"] < 60
    # Killed after the early stop's last checkpoint: the rerun stays stopped.
    shutil.rmtree(stopped.model_dir)
    state = json.loads((Path(stopped.model_dir).parent / "run.json").read_text())
    (Path(stopped.model_dir).parent / "run.json").write_text(
        json.dumps({"run_id": state["run_id"]})
    )
    again = train_model(ref, wild, storage, "unit-loop-stop", {})
    assert again.metrics["train_steps"] == stopped.metrics["train_steps"]


def test_trainings_of_one_corpus_commit_share_its_tokenizer(tmp_path: Path, caplog) -> None:
    storage, ref = make_corpus(tmp_path, corpus_rows())
    quick = TINY.model_copy(update={"max_steps": 1, "save_steps": 1})
    first = train_model(ref, quick, storage, "unit-tok", {})
    with caplog.at_level("INFO", logger="lmkiln.tasks.train"):
        second = train_model(
            ref, quick.model_copy(update={"learning_rate": 1e-4}), storage, "unit-tok", {}
        )

    assert first.model_dir != second.model_dir
    assert len(list((storage.root / "tokenizers").iterdir())) == 1
    assert "tokenizer reused from" in caplog.text
    vocab = (Path(first.model_dir) / "tokenizer.json").read_text()
    assert vocab == (Path(second.model_dir) / "tokenizer.json").read_text()


@pytest.mark.parametrize("loop", ["torch", "trainer"])
def test_a_masked_lm_resumes_with_the_same_masks(
    corpus: tuple[StorageConfig, LakeRef], loop: str
) -> None:
    storage, ref = corpus
    bert = {"objective": "masked", "architecture": "bert", "n_head": 2, "loop": loop}
    config = KEPT.model_copy(update=bert)
    run = train_model(ref, config, storage, f"unit-masked-{loop}", {})
    assert run.metrics["masked"] == 1.0 and run.metrics["train_steps"] == 6

    folder = Path(run.model_dir).parent  # killed after the first checkpoint
    shutil.rmtree(run.model_dir)
    shutil.rmtree(folder / "checkpoint-6")
    state = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({"run_id": state["run_id"]}))
    resumed = train_model(ref, config, storage, f"unit-masked-{loop}", {})
    assert resumed.metrics["bits_per_byte"] == pytest.approx(run.metrics["bits_per_byte"], rel=1e-6)


def test_the_plain_loops_schedule_is_the_trainers() -> None:
    import torch
    from transformers import get_linear_schedule_with_warmup

    from lmkiln.tasks.train.loop import _linear

    config = TINY.model_copy(update={"max_steps": 40, "warmup_steps": 8})
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    theirs = get_linear_schedule_with_warmup(optimizer, 8, 40).lr_lambdas[0]
    assert [_linear(config)(s) for s in range(41)] == pytest.approx([theirs(s) for s in range(41)])


def test_tokenizers_saved_at_once_leave_one_whole(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from transformers import AutoTokenizer

    tokenizer = train_tokenizer([row["text"] for row in corpus_rows(6)], 300)
    target = tmp_path / "tokenizer"
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: save_whole(tokenizer, target), range(8)))
    assert [p.name for p in tmp_path.iterdir()] == ["tokenizer"]  # no staging left
    assert AutoTokenizer.from_pretrained(str(target)).get_vocab() == tokenizer.get_vocab()


def test_cached_splits_unused_for_a_week_are_pruned(
    corpus: tuple[StorageConfig, LakeRef], tmp_path: Path
) -> None:
    import os
    import time

    from lmkiln.tasks.train.data import USED, prune_datasets

    _, ref = corpus
    splits = [corpus_dataset(ref, split, tmp_path) for split in ("train", "validation")]
    folders = [Path(d.cache_files[0]["filename"]).parents[1] for d in splits]
    # Both ages from the clock prune_datasets reads, not the file system's own stamps: the
    # test then holds under a shifted clock too (faketime does not shift file times).
    now = time.time()
    os.utime(folders[0] / USED, (now - 8 * 86400, now - 8 * 86400))
    os.utime(folders[1] / USED, (now, now))

    assert prune_datasets(tmp_path) == [folders[0]]
    assert not folders[0].exists() and folders[1].is_dir()
    assert corpus_dataset(ref, "train", tmp_path)["text"] == corpus_texts(ref, "train")  # rebuilt
