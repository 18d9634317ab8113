"""The whole configuration: `PipelineConfig` gathers the sections, each a model from its own
module here but the schedule's, and `load_config` reads a YAML file into it.

The same models are the Prefect flow parameters, so the UI renders them as forms, and a
YAML file (`configs/*.yaml`) loads into them. Unknown keys and bad values fail before any
work starts, naming the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import ValidationError, field_validator, model_validator

from lmkiln.tasks.config.base import SECRET_PARAMS, Strict
from lmkiln.tasks.config.clean import CleanConfig
from lmkiln.tasks.config.collect import CollectConfig
from lmkiln.tasks.config.registry import RegisterConfig
from lmkiln.tasks.config.runner import RunnerConfig
from lmkiln.tasks.config.split import SplitConfig
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.config.train import TrainConfig, TuneConfig

# Five fields: minute hour day-of-month month day-of-week. Prefect checks the values.
_CRON = re.compile(r"^\s*[\w*/,?#-]+(\s+[\w*/,?#-]+){4}\s*$")


class ScheduleConfig(Strict):
    cron: str = "0 2 * * *"
    """When `lmkiln serve` starts the nightly run."""
    timezone: str = "UTC"
    """An IANA name, e.g. Europe/Paris."""
    retrain_on_corpus: bool = False
    """An automation that runs `retrain` on each corpus commit that lands (the event
    lmkiln.corpus.committed). Off by default: the nightly run trains on its own commit; on,
    for a collect-only schedule or corpora that other runs feed."""

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if not _CRON.match(value):
            raise ValueError(f"{value!r} is not a cron expression such as '0 2 * * *'")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}: use an IANA name such as UTC") from None
        return value


class PipelineConfig(Strict):
    storage: StorageConfig = StorageConfig()
    """Where every store lives."""
    collect: CollectConfig = CollectConfig()
    """The sources and how often each is fetched."""
    clean: CleanConfig = CleanConfig()
    """Normalisation, filters, PII and deduplication."""
    split: SplitConfig = SplitConfig()
    """The train/validation split."""
    train: TrainConfig = TrainConfig()
    """The model and its training."""
    tune: TuneConfig = TuneConfig()
    """An optional hyper-parameter sweep."""
    registry: RegisterConfig = RegisterConfig()
    """The MLflow model and the promotion gate."""
    schedule: ScheduleConfig = ScheduleConfig()
    """When `lmkiln serve` runs the nightly, and automations."""
    runner: RunnerConfig = RunnerConfig()
    """Where collect's sources and clean's per-document work run: threads, or Dask."""

    @model_validator(mode="after")
    def _cluster_shares_the_data_root(self) -> PipelineConfig:
        # A worker resolves a relative data_root against its own working folder, which on
        # another machine (or another `dask worker` process) is not the run's.
        if self.runner.address is not None and not Path(self.storage.data_root).is_absolute():
            raise ValueError(
                f"runner.address {self.runner.address} with storage.data_root "
                f"{self.storage.data_root!r}: the cluster's workers would each resolve this "
                "relative path from their own working folder; set data_root to an absolute "
                "path that every worker shares"
            )
        return self


class ConfigError(ValueError):
    """A config file that cannot be used; the message names each bad field."""


def load_config(path: str | Path) -> PipelineConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found (see configs/demo.yaml)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    return parse_config(data, origin=str(path))


def parse_config(data: object, origin: str = "config") -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin} is invalid:\n{describe_errors(exc)}") from None


def describe_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            lines.append(f"  {where}: unknown key (check its spelling and nesting)")
        elif not error["loc"] and error["type"] == "value_error":  # names its own fields
            lines.append(f"  {error['msg'].removeprefix('Value error, ')}")
        else:
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"  {where}: {message} (got {_shown(error.get('input'))!r})")
    return "\n".join(lines)


_USERINFO = re.compile(r"(//)[^/@\s]+@")


def _shown(value: Any) -> Any:
    """A config value as an error may show it: credentials in URLs and queries masked."""
    if isinstance(value, dict):
        return {
            k: "**********" if str(k).lower() in SECRET_PARAMS else _shown(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_shown(v) for v in value]
    if isinstance(value, str):
        value = _USERINFO.sub(r"\1***@", value)
        names = "|".join(re.escape(name) for name in sorted(SECRET_PARAMS))
        return re.sub(rf"(?i)([?&](?:{names})=)[^&#\s]*", r"\1**********", value)
    return value
