"""Registry: idempotent registration, gated promotion on the same validation split, loading."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lmkiln.tasks.config.registry import RegisterConfig
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core.records import RunRef
from lmkiln.tasks.registry.models import (
    champion_uri,
    context_length,
    describe_champion,
    find_champion,
    generate,
    load_model_uri,
)
from lmkiln.tasks.registry.register import promote_version, register_model
from lmkiln.tasks.registry.tracking import use_tracking
from lmkiln.tasks.train.tasks import train_model
from tests.helpers.training import TINY, corpus_rows, make_corpus

REGISTER = RegisterConfig(model_name="lmkiln", experiment="unit")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[StorageConfig, dict[str, RunRef]]:
    """Three trainings of one corpus: a first one, a worse one, a better one."""
    storage, ref = make_corpus(tmp_path_factory.mktemp("register"), corpus_rows())
    configs = {
        "first": TINY,
        "worse": TINY.model_copy(update={"max_steps": 1}),
        "better": TINY.model_copy(update={"max_steps": 30, "save_steps": 30}),
    }
    trained = {key: train_model(ref, cfg, storage, "unit", {}) for key, cfg in configs.items()}
    bpb = {key: run.metrics["bits_per_byte"] for key, run in trained.items()}
    assert bpb["better"] < bpb["first"] < bpb["worse"], bpb
    return storage, trained


def test_find_champion_is_none_on_an_empty_registry(tmp_path: Path) -> None:
    storage = StorageConfig(data_root=str(tmp_path))
    use_tracking(storage, "unit")
    assert find_champion(storage, "lmkiln") is None
    assert describe_champion(storage, "lmkiln") is None
    with pytest.raises(ValueError, match="holds alias 'champion'"):
        load_model_uri(champion_uri("lmkiln"), storage)
    assert champion_uri("lmkiln") == "models:/lmkiln@champion"


@pytest.mark.slow
def test_registry_lifecycle(runs: tuple[StorageConfig, dict[str, RunRef]]) -> None:
    from mlflow.tracking import MlflowClient

    storage, trained = runs
    client = MlflowClient(tracking_uri=storage.mlflow_uri, registry_uri=storage.mlflow_uri)

    first = register_model(trained["first"], REGISTER, storage)
    assert (first.version, first.aliases) == ("1", ("champion",))
    assert first.decision.startswith("promoted: first champion")
    version = client.get_model_version("lmkiln", "1")
    assert version.tags["corpus_commit"] == trained["first"].corpus.commit
    assert version.tags["run_id"] == trained["first"].run_id
    assert "bits per byte" in version.description
    assert find_champion(storage, "lmkiln")[:2] == ("1", trained["first"].run_id)

    assert register_model(trained["first"], REGISTER, storage) == first
    assert len(client.search_model_versions("name = 'lmkiln'")) == 1

    worse = register_model(trained["worse"], REGISTER, storage)
    assert (worse.version, worse.aliases) == ("2", ("challenger",))
    assert worse.decision.startswith("challenger: bpb ")
    assert "champion v1" in worse.decision
    assert find_champion(storage, "lmkiln")[0] == "1"
    worse_run = client.get_run(trained["worse"].run_id)
    assert worse_run.data.tags["registry.decision"] == worse.decision
    assert float(worse_run.data.tags["registry.champion_bpb"]) == pytest.approx(
        trained["first"].metrics["bits_per_byte"], rel=1e-4
    )

    better = register_model(trained["better"], REGISTER, storage)
    assert (better.version, better.aliases) == ("3", ("champion",))
    assert better.decision.startswith("promoted: bpb ")
    assert client.get_model_version("lmkiln", "1").aliases == ["previous-champion"]
    assert client.get_model_version("lmkiln", "2").aliases == ["challenger"]
    assert len(client.search_runs([client.get_experiment_by_name("unit").experiment_id])) == 3

    shown = describe_champion(storage, "lmkiln")
    assert shown is not None
    assert (shown["version"], shown["run_id"]) == ("3", trained["better"].run_id)
    assert shown["corpus_commit"] == trained["better"].corpus.commit
    assert shown["metrics"]["bits_per_byte"] == pytest.approx(
        trained["better"].metrics["bits_per_byte"]
    )

    champion = load_model_uri("models:/lmkiln@champion", storage)
    assert champion.version == "3"
    text = generate(champion, "The river", max_new_tokens=12, temperature=0.8, seed=7)
    assert isinstance(text, str) and text
    assert text == generate(champion, "The river", max_new_tokens=12, temperature=0.8, seed=7)


@pytest.mark.slow
def test_margin_keeps_the_champion(runs: tuple[StorageConfig, dict[str, RunRef]]) -> None:
    from mlflow.tracking import MlflowClient

    storage, trained = runs
    client = MlflowClient(tracking_uri=storage.mlflow_uri, registry_uri=storage.mlflow_uri)
    strict = RegisterConfig(model_name="strict", experiment="unit", min_improvement=10.0)
    assert register_model(trained["first"], strict, storage).aliases == ("champion",)

    # An attempt that stopped right after registering: the retry finishes it, no new version.
    client.delete_registered_model_alias("strict", "champion")
    client.delete_model_version_tag("strict", "1", "decision")
    client.update_model_version("strict", "1", description="")
    repaired = register_model(trained["first"], strict, storage)
    assert (repaired.version, repaired.aliases) == ("1", ("champion",))
    assert "bits per byte" in client.get_model_version("strict", "1").description
    assert len(client.search_model_versions("name = 'strict'")) == 1

    kept = register_model(trained["better"], strict, storage)
    assert kept.aliases == ("challenger",)
    assert kept.decision.endswith("- margin 10.0")


@pytest.mark.slow
def test_generate_fits_the_context_and_repeats_with_a_seed(
    runs: tuple[StorageConfig, dict[str, RunRef]],
) -> None:
    _, trained = runs
    gen = load_model_uri(trained["first"].model_dir)
    assert gen.version is None
    limit = context_length(gen.model)
    long_prompt = "The ferry was late. " * 40
    text = generate(gen, long_prompt, max_new_tokens=500, temperature=1.0, seed=1)
    new_ids = gen.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(new_ids) <= limit
    assert generate(gen, "", 5, 1.0, 3) == generate(gen, "", 5, 1.0, 3)
    assert isinstance(generate(gen, "Trains", 5, 0.0, 0), str)  # temperature 0: greedy


def test_load_model_uri_names_what_it_expects(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="models:/name@alias"):
        load_model_uri(str(tmp_path))
    with pytest.raises(ValueError, match="is not models:/"):
        load_model_uri("models:/a/b/c")


@pytest.mark.slow
def test_promote_by_hand_and_rollback_move_aliases_in_a_safe_order(
    runs: tuple[StorageConfig, dict[str, RunRef]], tmp_path: Path, monkeypatch
) -> None:
    from mlflow.tracking import MlflowClient
    from typer.testing import CliRunner

    from lmkiln.cli import app
    from lmkiln.tasks.registry import register

    storage, trained = runs
    client = MlflowClient(tracking_uri=storage.mlflow_uri, registry_uri=storage.mlflow_uri)
    hand = RegisterConfig(model_name="hand", experiment="unit")
    for key in ("first", "worse", "better"):  # v1 champion, v2 challenger, v3 champion
        register_model(trained[key], hand, storage)

    def aliases() -> dict[str, str]:
        versions = client.search_model_versions("name = 'hand'")
        found = {v.version: client.get_model_version("hand", v.version).aliases for v in versions}
        return {alias: str(v) for v, names in found.items() for alias in names}

    assert aliases() == {"champion": "3", "previous-champion": "1", "challenger": "2"}
    assert register.rollback(storage, "hand").startswith("hand v1 is champion again")
    assert aliases() == {"champion": "1", "previous-champion": "3", "challenger": "2"}
    register.rollback(storage, "hand")  # a second rollback undoes the first
    assert aliases() == {"champion": "3", "previous-champion": "1", "challenger": "2"}

    config = tmp_path / "hand.yaml"
    config.write_text(
        f"storage: {{data_root: {storage.data_root}}}\nregistry: {{model_name: hand}}\n"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", storage.mlflow_uri)
    cli = CliRunner()
    promoted = cli.invoke(app, ["promote", "2", "-c", str(config)])
    assert promoted.exit_code == 0, promoted.output
    assert "hand v2 is champion; v3 is now previous-champion" in promoted.output
    assert aliases() == {"champion": "2", "previous-champion": "3"}  # no longer challenger
    assert "promoted_by_hand" in client.get_model_version("hand", "2").tags
    again = cli.invoke(app, ["promote", "2", "-c", str(config)])
    assert "already champion: nothing moved" in again.output
    missing = cli.invoke(app, ["promote", "9", "-c", str(config)])
    assert missing.exit_code == 1
    assert "has no version '9' (versions 1, 2, 3)" in missing.output
    rolled = cli.invoke(app, ["rollback", "-c", str(config)])
    assert rolled.exit_code == 0 and "hand v3 is champion again" in rolled.output

    # A failed evaluation of the champion moves no alias; the retry finishes the job.
    fragile = RegisterConfig(model_name="fragile", experiment="unit")
    register_model(trained["first"], fragile, storage)
    score = register._score_champion
    monkeypatch.setattr(register, "_score_champion", lambda *a: (_ for _ in ()).throw(OSError))
    with pytest.raises(OSError):
        register_model(trained["better"], fragile, storage)
    assert client.get_model_version("fragile", "1").aliases == ["champion"]
    assert client.get_model_version("fragile", "2").aliases == []
    with pytest.raises(ValueError, match="no previous-champion to roll back to"):
        register.rollback(storage, "fragile")
    monkeypatch.setattr(register, "_score_champion", score)
    assert register_model(trained["better"], fragile, storage).aliases == ("champion",)
    assert client.get_model_version("fragile", "1").aliases == ["previous-champion"]


@pytest.mark.slow
def test_a_warm_start_from_the_champion_is_keyed_by_its_version(
    runs: tuple[StorageConfig, dict[str, RunRef]],
) -> None:
    from mlflow.tracking import MlflowClient

    storage, trained = runs
    register_model(trained["better"], RegisterConfig(model_name="warm", experiment="unit"), storage)
    corpus = trained["better"].corpus
    warm = TINY.model_copy(update={"init_from": "models:/warm@champion", "max_steps": 1})
    run = train_model(corpus, warm, storage, "unit-warm", {})

    client = MlflowClient(tracking_uri=storage.mlflow_uri)
    assert client.get_run(run.run_id).data.tags["init_source"] == "models:/warm/1"
    assert run.metrics["bits_per_byte"] < trained["first"].metrics["bits_per_byte"]
    with pytest.raises(ValueError, match="no version of 'nobody' holds alias 'champion'"):
        train_model(
            corpus,
            warm.model_copy(update={"init_from": "models:/nobody@champion"}),
            storage,
            "x",
            {},
        )


@pytest.mark.slow
def test_a_masked_lm_end_to_end_through_the_registry(
    runs: tuple[StorageConfig, dict[str, RunRef]],
) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    storage, trained = runs
    corpus = trained["first"].corpus
    bert = TINY.model_copy(update={"objective": "masked", "architecture": "bert", "n_head": 2})
    plain = bert.model_copy(update={"loop": "torch", "max_steps": 12, "save_steps": 6})
    first = train_model(corpus, bert, storage, "unit-masked", {})
    better = train_model(corpus, plain, storage, "unit-masked", {})
    assert first.metrics["masked"] == 1.0 and math.isfinite(first.metrics["bits_per_byte"])
    assert better.metrics["bits_per_byte"] < first.metrics["bits_per_byte"]

    masked = RegisterConfig(model_name="masked", experiment="unit")
    assert register_model(first, masked, storage).aliases == ("champion",)
    promoted = register_model(better, masked, storage)  # scored on the same blanks
    assert promoted.aliases == ("champion",) and promoted.decision.startswith("promoted")
    served = mlflow.pyfunc.load_model("models:/masked@champion")
    (filled,) = served.predict(["The river <|mask|> after three days of rain."])
    assert isinstance(filled, str) and filled

    champion = load_model_uri("models:/masked@champion", storage)
    with pytest.raises(ValueError, match=r"is a masked LM: it fills in <\|mask\|>"):
        generate(champion, "The river", 5, 1.0, 0)
    # A masked challenger against a causal champion: no score compares them.
    causal = RegisterConfig(model_name="mixed", experiment="unit")
    register_model(trained["first"], causal, storage)
    with pytest.raises(ValueError, match=r"'mixed' \(v1\) is a causal LM and this model a masked"):
        register_model(better, causal, storage)
    client = MlflowClient(tracking_uri=storage.mlflow_uri, registry_uri=storage.mlflow_uri)
    assert len(client.search_model_versions("name = 'mixed'")) == 1  # refused before logging
    client.copy_model_version("models:/masked/1", "mixed")  # registered by hand as v2
    with pytest.raises(ValueError, match="is a causal LM and this model a masked one"):
        promote_version(storage, "mixed", "2")
    assert find_champion(storage, "mixed")[0] == "1"
