"""The deployments' parameter forms explain themselves: the Prefect UI renders each field's
description as its help text, an enum as a drop-down and bounds as the input's limits."""

from __future__ import annotations

import json

import pytest
from prefect.utilities.callables import parameter_schema

from lmkiln.flows.collect import collect
from lmkiln.flows.nightly import nightly
from lmkiln.flows.retrain import retrain


def fields(flow) -> dict[str, dict]:
    """Every field of every model in the flow's form, as `Model.field` -> its schema."""
    schema = parameter_schema(flow).model_dump()
    return {
        f"{model}.{name}": spec
        for model, definition in schema["definitions"].items()
        for name, spec in definition.get("properties", {}).items()
    }


@pytest.mark.parametrize("flow", [nightly, retrain, collect], ids=lambda f: f.name)
def test_every_field_of_the_form_has_help_text(flow) -> None:
    missing = [name for name, spec in fields(flow).items() if not spec.get("description")]
    assert missing == []


@pytest.mark.parametrize("flow", [nightly, retrain, collect], ids=lambda f: f.name)
def test_every_number_in_the_form_has_a_bound(flow) -> None:
    def numeric(spec: dict) -> bool:
        options = spec.get("anyOf", [spec])
        return any(o.get("type") in ("integer", "number") for o in options)

    def bounded(spec: dict) -> bool:
        text = json.dumps(spec)
        return any(k in text for k in ('"minimum"', '"exclusiveMinimum"', '"maximum"'))

    unbounded = [n for n, spec in fields(flow).items() if numeric(spec) and not bounded(spec)]
    assert unbounded == []


def test_choices_are_drop_downs() -> None:
    form = fields(nightly)
    assert form["TrainConfig.loop"]["enum"] == ["trainer", "torch"]
    assert form["TrainConfig.architecture"]["enum"] == ["gpt2", "llama", "bert"]
    assert form["TrainConfig.max_steps"]["minimum"] == 1
    assert "checkpoint" in form["TrainConfig.save_steps"]["description"]
