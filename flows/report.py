"""The run report: what each source and each filter did, as Prefect artifacts."""

from __future__ import annotations

import json
from collections.abc import Mapping

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.collect import CollectReport
from tasks.records import ModelRef, RunRef, StageResult


def source_rows(report: CollectReport) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for result in report.sources:
        status = "skipped" if result.skipped else "ok"
        rows.append(
            {
                "source": result.source,
                "kind": result.kind,
                "status": "cached" if result.source in report.cached else status,
                "documents": result.added,
                "detail": result.skipped or json.dumps(result.counters, sort_keys=True),
            }
        )
    for name, error in report.failures.items():
        failed = {"source": name, "kind": "", "status": "failed", "documents": 0}
        rows.append(failed | {"detail": error})
    return rows


def counter_rows(report: CollectReport) -> list[dict[str, object]]:
    """Every collection counter of every source, one per row: HTTP statuses, 304s, robots
    refusals, pages skipped by type or size, refused redirects, bytes."""
    return [
        {"source": result.source, "kind": result.kind, "counter": counter, "value": value}
        for result in report.sources
        for counter, value in sorted(result.counters.items())
    ]


def filter_rows(stages: Mapping[str, StageResult]) -> list[dict[str, object]]:
    return [
        {"stage": stage, "counter": counter, "documents": count}
        for stage, result in stages.items()
        for counter, count in sorted(result.counters.items())
    ]


def rule_rows(stages: Mapping[str, StageResult]) -> list[dict[str, object]]:
    """Per source and rule: what each rule of each stage dropped from each source."""
    return [
        {"stage": stage, "source": source, "counter": counter, "documents": count}
        for stage, result in stages.items()
        for source, counters in result.by_source.items()
        for counter, count in sorted(counters.items())
    ]


def publish(
    collected: CollectReport, stages: Mapping[str, StageResult], run: RunRef, model: ModelRef
) -> str:
    """Create the run's artifacts and return the markdown summary."""
    create_table_artifact(source_rows(collected), key="sources", description="Per-source results")
    create_table_artifact(
        counter_rows(collected), key="collection", description="Collection counters per source"
    )
    create_table_artifact(
        rule_rows(stages), key="rules-by-source", description="Drops per source and rule"
    )
    create_table_artifact(filter_rows(stages), key="data-quality", description="Counts per stage")
    failed = ", ".join(collected.failures) or "none"
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(run.metrics.items()))
    summary = "\n".join(
        [
            "# lmkiln nightly",
            f"- raw: {collected.raw.rows} rows at `{collected.raw.commit}`",
            f"- corpus: {run.corpus.rows} rows at `{run.corpus.commit}` ({run.corpus.path})",
            f"- failed sources: {failed}",
            f"- MLflow run: `{run.run_id}` ({metrics})",
            f"- model: {model.name} v{model.version} {list(model.aliases)}: {model.decision}",
        ]
    )
    create_markdown_artifact(summary, key="nightly-summary", description="What this night did")
    return summary
