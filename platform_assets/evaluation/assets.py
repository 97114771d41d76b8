"""`evaluation_report` and `gate_decision`: the full evaluation suite and the quality gate.

The report scores the candidate, and the current champion when there is one, on the same test rows
through the scorer that serving uses, measures single-row latency and scoring memory in a fresh
process, and saves an evidently report. The gate applies the spec's rules to it and always
materializes: its blocking `gate_passed` check is what lets `registered_model` run, or stops it.
"""

import tempfile
from pathlib import Path

import dagster as dg
import numpy as np

from platform_assets.evaluation.gate import ChampionEvidence, decide
from platform_assets.evaluation.metrics import classification_metrics, slice_metrics
from platform_assets.evaluation.report import save_classification_report
from platform_assets.keys import (
    ALIAS_CHAMPION,
    CANDIDATE_MODEL,
    CURRENT,
    EVALUATION_REPORT,
    GATE_DECISION,
    GATE_PASSED_CHECK,
    Stage,
    asset_key,
    group_name,
)
from platform_assets.metadata import markdown_table
from platform_assets.spec import ModelSpec
from platform_assets.training.assets import load_training_set
from resources.alerting import AlertingResource
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from sensors.conditions import new_candidate_follow_up
from serving.probe import probe_scoring
from serving.scoring import Scorer

__all__ = ["build_evaluation_assets"]

HEADLINE = ("auc_roc", "f1", "precision", "recall", "log_loss", "brier", "calibration_ece")


def build_evaluation_assets(spec: ModelSpec) -> list[dg.AssetsDefinition]:
    model = spec.name
    source, features = spec.source, spec.features
    common = {"group_name": group_name(model, Stage.EVALUATION), "owners": spec.owners}
    gate_key = asset_key(model, GATE_DECISION)

    @dg.asset(
        key=asset_key(model, EVALUATION_REPORT),
        deps=[asset_key(model, CANDIDATE_MODEL)],
        automation_condition=new_candidate_follow_up(),
        kinds={"evidently", "lightgbm"},
        description=(
            f"The evaluation suite of {model}'s candidate on the test window, beside the current champion on "
            "the same rows: AUC, F1, precision, recall, log loss, Brier, calibration error, per-slice "
            f"metrics ({', '.join(spec.slice_features)}), single-row p99 latency through the serving scorer "
            "and peak scoring memory, with an evidently classification report."
        ),
        **common,
    )
    def evaluation_report(
        context: dg.AssetExecutionContext, lake: LakeResource, mlflow: MlflowResource
    ) -> dg.MaterializeResult:
        candidate = lake.read_json(model, CANDIDATE_MODEL, CURRENT)
        if candidate is None:
            raise dg.Failure(f"{model}: no candidate model yet; materialize {model}/{CANDIDATE_MODEL} first")
        _, splits = load_training_set(lake, spec)
        test = splits["test"]
        y_true = test[source.label_column].to_numpy(dtype=int)
        threshold = spec.evaluation.threshold

        booster = mlflow.load_booster_uri(candidate["model_uri"])
        candidate_prob = Scorer.from_booster(booster, features.names, features.categorical).score_frame(test)
        metrics = classification_metrics(y_true, candidate_prob, threshold)
        with tempfile.TemporaryDirectory() as scratch:
            sample = Path(scratch) / "sample.parquet"
            test[features.names].head(spec.evaluation.latency_sample_rows).to_parquet(sample, index=False)
            probe = probe_scoring(
                mlflow.local_model_file(candidate["model_uri"]),
                features.names,
                features.categorical,
                sample,
                single_rows=spec.evaluation.latency_sample_rows,
            )
        metrics |= {"p99_latency_ms": probe.p99_ms, "p50_latency_ms": probe.p50_ms, "peak_memory_mb": probe.peak_rss_mb}

        champion_version = mlflow.version_by_alias(model, ALIAS_CHAMPION)
        champion: dict | None = None
        champion_prob: np.ndarray | None = None
        if champion_version is not None:
            # A champion that cannot be loaded fails the step (RegistryError names the version): judging a
            # candidate without the comparison the spec asks for would be a silent downgrade of the gate.
            champion_booster = mlflow.load_booster(model, champion_version)
            champion_prob = Scorer.from_booster(champion_booster, features.names, features.categorical).score_frame(
                test
            )
            champion = {
                "version": str(champion_version.version),
                "metrics": {k: float(v) for k, v in classification_metrics(y_true, champion_prob, threshold).items()},
            }

        scored = test[[source.entity_id_column, *spec.slice_features]].assign(
            label=y_true,
            candidate_prob=candidate_prob,
            champion_prob=champion_prob if champion_prob is not None else np.nan,
        )
        slices = slice_metrics(scored, "label", "candidate_prob", spec.slice_features)
        run_dir = context.run.run_id
        predictions_name = f"{run_dir}/predictions.parquet"
        lake.write_table(model, EVALUATION_REPORT, predictions_name, scored)
        html = (
            save_classification_report(
                lake.document_path(model, EVALUATION_REPORT, f"{run_dir}/classification_report.html"),
                y_true,
                candidate_prob,
                test[spec.slice_features].reset_index(drop=True),
                champion_prob,
            )
            if spec.evaluation.evidently_report
            else None
        )
        document = {
            "candidate": {**candidate, "metrics": {k: float(v) for k, v in metrics.items()}},
            "champion": champion,
            "rows": len(test),
            "predictions": predictions_name,
            "slices": slices.to_dict("records"),
            "report_html": str(html) if html is not None else None,
            "dagster_run_id": context.run.run_id,
        }
        lake.write_json(model, EVALUATION_REPORT, CURRENT, document)

        metadata: dict[str, dg.RawMetadataValue] = {key: float(metrics[key]) for key in HEADLINE}
        metadata |= {
            "p99_latency_ms": float(probe.p99_ms),
            "peak_memory_mb": float(probe.peak_rss_mb),
            "test rows": len(test),
            "champion version": champion["version"] if champion else "none",
            "slices": dg.MetadataValue.md(markdown_table(slices.round(4), max_rows=40)),
            "mlflow run": candidate["mlflow_run_id"],
        }
        if html is not None:
            metadata |= {"report": dg.MetadataValue.path(str(html)), "report link": dg.MetadataValue.url(html.as_uri())}
        if champion:
            metadata |= {f"champion_{key}": float(champion["metrics"][key]) for key in HEADLINE}
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(
        key=gate_key,
        deps=[asset_key(model, EVALUATION_REPORT)],
        check_specs=[
            dg.AssetCheckSpec(
                GATE_PASSED_CHECK,
                asset=gate_key,
                blocking=True,
                description="The candidate passed every rule of the quality gate; only then is it registered.",
            )
        ],
        automation_condition=new_candidate_follow_up(),
        kinds={"python"},
        description=(
            f"The quality gate's decision on {model}'s candidate: every rule of the spec with its value, "
            "threshold and verdict, the comparison with the champion (the seed's 1% rule and a paired "
            "bootstrap interval), and the reasons. Always materializes; `gate_passed` blocks registration."
        ),
        **common,
    )
    def gate_decision(
        context: dg.AssetExecutionContext, lake: LakeResource, alerts: AlertingResource
    ) -> dg.MaterializeResult:
        report = lake.read_json(model, EVALUATION_REPORT, CURRENT)
        if report is None:
            raise dg.Failure(f"{model}: no evaluation report yet; materialize {model}/{EVALUATION_REPORT} first")
        evidence = None
        if report["champion"] is not None:
            scored = lake.read_table(model, EVALUATION_REPORT, report["predictions"])
            evidence = ChampionEvidence(
                version=report["champion"]["version"],
                metrics=report["champion"]["metrics"],
                y_true=scored["label"].to_numpy(dtype=int),
                candidate_prob=scored["candidate_prob"].to_numpy(),
                champion_prob=scored["champion_prob"].to_numpy(),
            )
        decision = decide(
            report["candidate"]["metrics"],
            spec.gate.rules,
            spec.gate.champion,
            evidence,
            seed=spec.training.seed,
            threshold=spec.evaluation.threshold,
        )
        candidate = report["candidate"]
        lake.write_json(
            model,
            GATE_DECISION,
            CURRENT,
            {
                **decision.to_dict(),
                "candidate_model_uri": candidate["model_uri"],
                "candidate_mlflow_run_id": candidate["mlflow_run_id"],
                "evaluation_run_id": report["dagster_run_id"],
                "dagster_run_id": context.run.run_id,
            },
        )
        if not decision.passed:
            alerts.send(
                severity="P2",
                model=model,
                title="quality gate failed: the candidate is not registered",
                details={
                    "reasons": list(decision.reasons),
                    "candidate_mlflow_run_id": candidate["mlflow_run_id"],
                    "dagster_run_id": context.run.run_id,
                },
            )
        failed = [verdict.rule for verdict in decision.verdicts if not verdict.passed]
        return dg.MaterializeResult(
            metadata={
                "passed": decision.passed,
                "failed rules": len(failed),
                "decision": dg.MetadataValue.md(decision.to_markdown()),
                "champion version": decision.champion_version or "none",
                "note": decision.note,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=GATE_PASSED_CHECK,
                    passed=decision.passed,
                    metadata={
                        "failed rules": ", ".join(failed) or "none",
                        "reasons": "; ".join(decision.reasons) or "every rule passed",
                    },
                )
            ],
        )

    return [evaluation_report, gate_decision]
