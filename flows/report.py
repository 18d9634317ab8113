"""The run report: what each source and each filter did, as Prefect artifacts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from lmkiln.flows.collect import CollectReport
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import LakeRef, ModelRef, RunRef, StageResult


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


def mix_rows(corpus: LakeRef) -> list[dict[str, Any]]:
    """The corpus by source: documents, kind and share of the whole."""
    from collections import Counter

    counts = Counter((row["source"], row["kind"]) for row in lake.read(corpus, ("source", "kind")))
    total = sum(counts.values()) or 1
    return [
        {"source": source, "kind": kind, "documents": n, "share": round(n / total, 4)}
        for (source, kind), n in sorted(counts.items())
    ]


def kind_shares(mix: list[dict[str, Any]]) -> str:
    """ "web 61.2%, api 30.1%, synthetic 8.7%": the corpus by kind of source."""
    shares: dict[str, float] = {}
    for row in mix:
        shares[str(row["kind"])] = shares.get(str(row["kind"]), 0.0) + float(row["share"])
    return ", ".join(f"{kind} {share:.1%}" for kind, share in sorted(shares.items()))


def model_lines(run: RunRef, model: ModelRef, links: Mapping[str, str]) -> list[str]:
    """The summary's lines on the training and the registration, linked to the MLflow UI."""
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(run.metrics.items()))
    return [
        f"- MLflow run: [{run.run_id}]({links['run']}) ({metrics})",
        f"- model: [{model.name} v{model.version}]({links['model']}) {list(model.aliases)}: "
        f"{model.decision}",
    ]


def publish(
    collected: CollectReport,
    stages: Mapping[str, StageResult],
    run: RunRef,
    model: ModelRef,
    links: Mapping[str, str],
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
    mix = mix_rows(run.corpus)
    create_table_artifact(mix, key="corpus-mix", description="The corpus by source and kind")
    failed = ", ".join(collected.failures) or "none"
    summary = "\n".join(
        [
            "# lmkiln nightly",
            f"- raw: {collected.raw.rows} rows at `{collected.raw.commit}`",
            f"- corpus: {run.corpus.rows} rows at `{run.corpus.commit}` ({run.corpus.path})",
            f"- corpus mix: {kind_shares(mix)}",
            f"- failed sources: {failed}",
            *model_lines(run, model, links),
        ]
    )
    create_markdown_artifact(summary, key="nightly-summary", description="What this night did")
    return summary
