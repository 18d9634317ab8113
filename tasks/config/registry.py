"""The `registry` section: the registered model, its MLflow experiment and the promotion
gate."""

from __future__ import annotations

from pydantic import Field

from lmkiln.tasks.config.base import Name, Strict, Url


class RegisterConfig(Strict):
    model_name: Name = "lmkiln"
    """The registered model's name: services load models:/<name>@champion."""
    experiment: str = "lmkiln"
    """The MLflow experiment the training runs are logged to."""
    min_improvement: float = Field(0.0, ge=0)
    """A challenger becomes champion only if its bits per byte, on the same validation split,
    is lower than the champion's by more than this."""
    ui_url: Url = "http://127.0.0.1:5000"
    """Where people open the MLflow UI (`lmkiln ui` serves it here): each run's summary
    links its MLflow run and model version there. With an http(s) storage.tracking_uri,
    that server is the UI and this is not used."""
