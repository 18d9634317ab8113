"""Serve the deployments declared in deployments/prefect.yaml from this process.

Schedules fire and UI-triggered runs execute while this runs; it needs a real Prefect
server (`PREFECT_API_URL`), since the ephemeral one does not schedule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lmkiln.tasks.config.pipeline import PipelineConfig

DECLARATIONS = Path(__file__).with_name("prefect.yaml")


def declared() -> list[dict[str, Any]]:
    return yaml.safe_load(DECLARATIONS.read_text(encoding="utf-8"))["deployments"]


def load_entrypoint(entrypoint: str) -> Any:
    """`lmkiln.flows.nightly:nightly` -> the flow object, imported from the installed package
    whatever the working directory holds (a `flows/` folder of one's own included)."""
    from prefect.utilities.importtools import import_object

    return import_object(entrypoint)


def parameters_for(name: str, config: PipelineConfig) -> dict[str, Any]:
    if name == "retrain":
        from lmkiln.flows.retrain import RetrainParams

        params = RetrainParams(train=config.train, registry=config.registry, storage=config.storage)
        return {"params": params.model_dump(mode="json")}
    return {"config": config.model_dump(mode="json")}


def triggers_for(name: str, config: PipelineConfig) -> list[Any]:
    """With `schedule.retrain_on_corpus`, `retrain` runs on each corpus commit of this
    config's corpus table, with the config's training settings and that commit."""
    if name != "retrain" or not config.schedule.retrain_on_corpus:
        return []
    from prefect.events import DeploymentEventTrigger

    from lmkiln.tasks.split import CORPUS_COMMITTED, corpus_resource

    commit = {"corpus_commit": "{{ event.payload.commit }}"}  # filled in by the automation
    params = parameters_for(name, config)["params"] | commit
    resource = corpus_resource(config.storage.lake("corpus"))["prefect.resource.id"]
    trigger = DeploymentEventTrigger(
        name="retrain on a new corpus commit",
        expect={CORPUS_COMMITTED},
        match={"prefect.resource.id": resource},
        parameters={"params": params},
    )
    return [trigger]


def concurrency(spec: dict[str, Any]) -> Any:
    """The declaration's limit and collision strategy, or a bare limit."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig

    limit = spec.get("concurrency_limit")
    return ConcurrencyLimitConfig(**limit) if isinstance(limit, dict) else limit


def build_deployments(config: PipelineConfig) -> list[Any]:
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    deployments = []
    for spec in declared():
        schedules = []
        if spec.get("schedules"):
            # The config's schedule wins over the declaration's default, timezone included.
            schedules = [Cron(config.schedule.cron, timezone=config.schedule.timezone)]
        flow = load_entrypoint(spec["entrypoint"])
        deployments.append(
            flow.to_deployment(
                name=spec["name"],
                # By module, as declared: a run imports lmkiln, not a file of the cwd.
                entrypoint_type=EntrypointType.MODULE_PATH,
                description=spec.get("description"),
                tags=spec.get("tags"),
                concurrency_limit=concurrency(spec),
                parameters=parameters_for(spec["name"], config),
                schedules=schedules,
                triggers=triggers_for(spec["name"], config),
            )
        )
    return deployments


def serve_all(config: PipelineConfig) -> None:
    """Serve until SIGINT or SIGTERM. The schedules stay active when serving stops: a night
    due while nothing serves waits as a late run and starts when serving resumes."""
    from prefect import serve

    serve(*build_deployments(config), pause_on_shutdown=False, print_starting_message=True)
