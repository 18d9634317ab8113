import re
from pathlib import Path

import pytest

from lmkiln.tasks.config.pipeline import ConfigError, PipelineConfig, load_config, parse_config

DEMO = Path(__file__).parents[2] / "configs" / "demo.yaml"


def test_demo_config_loads():
    config = load_config(DEMO)
    assert config.collect.web and config.collect.api and config.collect.synthetic
    assert config.registry.model_name == "lmkiln"


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"train\.max_stepz: unknown key"):
        parse_config({"train": {"max_stepz": 3}})


def test_bad_value_is_named_with_what_was_given():
    with pytest.raises(ConfigError, match=r"split\.validation_fraction: .*less than 1.*got 1\.5"):
        parse_config({"split": {"validation_fraction": 1.5}})


def test_cross_field_rule_is_explained():
    with pytest.raises(ConfigError, match="divisible by n_head"):
        parse_config({"train": {"n_embd": 100, "n_head": 3}})


def test_source_names_must_be_unique():
    web = {"name": "docs", "start_urls": ["http://127.0.0.1:1/"]}
    api = {"name": "docs", "url": "http://127.0.0.1:1/api"}
    with pytest.raises(ConfigError, match="repeated: docs"):
        parse_config({"collect": {"web": [web], "api": [api]}})


def test_missing_file_says_where_to_look(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_config_is_frozen():
    config = PipelineConfig()
    with pytest.raises(ValueError):
        config.train.max_steps = 3  # type: ignore[misc]


def test_unknown_timezone_is_named():
    with pytest.raises(ConfigError, match=r"schedule\.timezone: .*unknown timezone 'Mars/Base'"):
        parse_config({"schedule": {"timezone": "Mars/Base"}})


@pytest.mark.parametrize(
    ("data", "where", "what"),
    [
        ({"api": [{"name": "a", "url": "example.org/api"}]}, r"collect\.api\.0\.url", "URL"),
        ({"web": [{"name": "w", "start_urls": ["ftp//x"]}]}, r"start_urls\.0", "URL"),
        (
            {"web": [{"name": "w", "start_urls": ["http://x/"], "exclude": ["(a"]}]},
            r"exclude\.0",
            "regular",
        ),
    ],
)
def test_bad_urls_and_patterns_fail_before_any_work(data, where, what):
    with pytest.raises(ConfigError, match=rf"{where}: .*{what}"):
        parse_config({"collect": data})


def test_bad_cron_is_named():
    with pytest.raises(ConfigError, match=r"schedule\.cron: .*not a cron expression"):
        parse_config({"schedule": {"cron": "every night"}})


def test_a_crawler_user_agent_must_say_how_to_reach_its_operator() -> None:
    web = {"name": "docs", "start_urls": ["https://docs.example/"], "user_agent": "bot/1.0"}
    with pytest.raises(ConfigError, match=r"collect.web.0.user_agent: 'bot/1.0' names no contact"):
        parse_config({"collect": {"web": [web]}})
    parse_config({"collect": {"web": [web | {"user_agent": "bot/1.0 (ops@example.org)"}]}})


def test_mlflow_uses_sqlite_under_the_data_root_unless_a_tracking_uri_is_set(tmp_path) -> None:
    default = parse_config({"storage": {"data_root": str(tmp_path)}}).storage
    assert default.mlflow_uri == f"sqlite:///{tmp_path.resolve() / 'mlflow' / 'mlflow.db'}"
    for uri in (
        "http://127.0.0.1:5000",
        "https://mlflow.example.org",
        "postgresql://mlflow@db.example.org:5432/mlflow",
        "postgresql+psycopg2://mlflow@db:5432/mlflow?sslmode=require",
    ):
        storage = parse_config({"storage": {"tracking_uri": uri}}).storage
        assert storage.mlflow_uri == uri


@pytest.mark.parametrize(
    ("uri", "what"),
    [
        ("127.0.0.1:5000", "not an MLflow tracking URI"),
        ("ftp://host/mlflow", "not an MLflow tracking URI"),
        ("postgresql://mlflow:hunter2@db/mlflow", "PGPASSWORD"),
        ("https://user:hunter2@mlflow.example.org", "MLFLOW_TRACKING_PASSWORD"),
        ("postgresql://mlflow@db/mlflow?password=hunter2", "carries a password"),
    ],
)
def test_a_bad_or_secret_tracking_uri_fails_before_any_work(uri, what) -> None:
    with pytest.raises(ConfigError, match=rf"storage\.tracking_uri: .*{what}") as caught:
        parse_config({"storage": {"tracking_uri": uri}})
    assert "hunter2" not in str(caught.value)


def test_the_runner_defaults_to_threads_in_the_run_process():
    runner = PipelineConfig().runner
    assert (runner.kind, runner.address) == ("threads", None)


@pytest.mark.parametrize(
    ("runner", "where", "what"),
    [
        ({"kind": "dusk"}, r"runner\.kind", "'threads' or 'dask'"),
        ({"kind": "dask", "address": "127.0.0.1:8786"}, r"runner\.address", "tcp://127.0.0.1:8786"),
        ({"kind": "dask", "n_workers": 0}, r"runner\.n_workers", "greater than or equal to 1"),
        ({"kind": "dask", "threads_per_worker": 0}, r"runner\.threads_per_worker", "1"),
        ({"kind": "dask", "connect_timeout_s": 0}, r"runner\.connect_timeout_s", "greater than 0"),
        ({"address": "tcp://127.0.0.1:8786"}, "runner", "kind is threads: set kind: dask"),
        ({"kind": "dask", "workers": 2}, r"runner\.workers", "unknown key"),
    ],
)
def test_bad_runner_settings_name_the_field_and_the_fix(runner, where, what):
    data = {"storage": {"data_root": "/srv/lmkiln"}, "runner": runner}
    with pytest.raises(ConfigError, match=rf"{where}: .*{re.escape(what)}"):
        parse_config(data)


def test_a_cluster_at_an_address_needs_an_absolute_shared_data_root():
    runner = {"kind": "dask", "address": "tcp://10.0.0.5:8786"}
    with pytest.raises(ConfigError) as raised:
        parse_config({"storage": {"data_root": ".lmkiln"}, "runner": runner})
    message = str(raised.value)
    assert "storage.data_root '.lmkiln'" in message
    assert "set data_root to an absolute path that every worker shares" in message
    assert "(got" not in message  # a rule across sections does not echo the whole config
    shared = parse_config({"storage": {"data_root": "/mnt/shared/lmkiln"}, "runner": runner})
    assert shared.runner.address == "tcp://10.0.0.5:8786"
    local = parse_config({"runner": {"kind": "dask"}})  # a temporary cluster shares the cwd
    assert local.runner.address is None
