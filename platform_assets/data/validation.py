"""The data-validation stage: a landed batch judged rule family by rule family.

Each family becomes one blocking asset check on `validated_batch`, so the UI shows which one failed:

- `schema`: the spec's strict pandera schema (column set and types);
- `not_null`, `ranges`, `allowed_values`, `uniqueness`: row rules from the spec, run by pandera in one
  lazy pass so that every failing row is counted, not just the first;
- `null_fraction` and `distribution_shift`: batch-level statistics (the seed's null proportion and
  "mean more than k reference standard deviations away").

Row rules only run on columns that passed the schema family: a wrongly typed column is reported once,
as a schema failure, instead of as a cascade of range errors. Nothing here knows Dagster.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa

from platform_assets.spec import ValidationRules

__all__ = ["RULE_FAMILIES", "RuleResult", "validate_batch"]

RULE_FAMILIES: tuple[str, ...] = (
    "schema",
    "not_null",
    "ranges",
    "allowed_values",
    "uniqueness",
    "null_fraction",
    "distribution_shift",
)

_UNIQUE_CHECK = "unique_values"


@dataclass(frozen=True)
class RuleResult:
    """The verdict of one rule family on one batch."""

    family: str
    passed: bool
    failure_count: int
    summary: str
    failures: pd.DataFrame = field(default_factory=pd.DataFrame)
    """A sample of failure cases: column, check, failing value and row index."""
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    """A sample of the failing rows themselves, as landed."""
    details: dict[str, Any] = field(default_factory=dict)


def _family_of(check: str) -> str:
    if check == "not_nullable":
        return "not_null"
    if check == _UNIQUE_CHECK:
        return "uniqueness"
    if check.startswith(("in_range", "greater_than", "less_than")):
        return "ranges"
    if check.startswith("isin"):
        return "allowed_values"
    return "schema"


def _failure_cases(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return cases[["column", "check", "failure_case", "index"]].copy()
    return pd.DataFrame(columns=["column", "check", "failure_case", "index"])


def _describe(cases: pd.DataFrame) -> str:
    """One line a person can act on: which columns are missing or unexpected, which checks failed."""
    parts: list[str] = []
    checks = cases["check"].astype(str)
    for check, label in (("column_in_dataframe", "missing columns"), ("column_in_schema", "unexpected columns")):
        names = sorted(cases.loc[checks == check, "failure_case"].astype(str))
        if names:
            parts.append(f"{label} {names}")
    rest = cases[~checks.isin(["column_in_dataframe", "column_in_schema"])]
    for (column, check), group in rest.groupby(["column", "check"], dropna=False, sort=True):
        where = "the batch" if pd.isna(column) else f"column {column!r}"
        if str(check).startswith("dtype("):
            parts.append(f"{where}: expected {check}, got {group['failure_case'].iloc[0]}")
        else:
            parts.append(f"{where}: {check} failed for {len(group)} row(s)")
    return "; ".join(parts)


def _row_rules_schema(rules: ValidationRules, usable: set[str]) -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {}
    referenced = set(rules.not_null) | set(rules.ranges) | set(rules.allowed) | set(rules.unique)
    for name in sorted(referenced & usable):
        checks: list[pa.Check] = []
        if name in rules.ranges:
            bounds = rules.ranges[name]
            if bounds.min is not None and bounds.max is not None:
                checks.append(pa.Check.in_range(bounds.min, bounds.max))
            elif bounds.min is not None:
                checks.append(pa.Check.ge(bounds.min))
            else:
                checks.append(pa.Check.le(bounds.max))
        if name in rules.allowed:
            checks.append(pa.Check.isin(rules.allowed[name]))
        if name in rules.unique:
            # Nulls are the not_null rule's business; a null id must not also read as a duplicate.
            checks.append(pa.Check(lambda s: ~s.duplicated(keep=False), name=_UNIQUE_CHECK, ignore_na=True))
        columns[name] = pa.Column(None, checks=checks, nullable=name not in rules.not_null)
    return pa.DataFrameSchema(columns, strict=False)


def _null_fraction(batch: pd.DataFrame, rules: ValidationRules, usable: set[str]) -> RuleResult:
    breaches, observed = [], {}
    for column, limit in sorted(rules.max_null_fraction.items()):
        if column not in usable:
            continue
        fraction = float(batch[column].isna().mean()) if len(batch) else 0.0
        observed[column] = round(fraction, 6)
        if fraction > limit:
            breaches.append(
                {"column": column, "check": f"null fraction <= {limit}", "failure_case": round(fraction, 6)}
            )
    failures = pd.DataFrame(breaches, columns=["column", "check", "failure_case"])
    summary = _describe(failures) if breaches else f"null fractions within limits: {observed}"
    return RuleResult("null_fraction", not breaches, len(breaches), summary, failures, details={"observed": observed})


def _distribution_shift(
    batch: pd.DataFrame,
    rules: ValidationRules,
    usable: set[str],
    reference: Mapping[str, Mapping[str, Any]] | None,
) -> RuleResult:
    if not rules.shift.columns:
        return RuleResult("distribution_shift", True, 0, "no shift rule configured")
    if reference is None:
        return RuleResult(
            "distribution_shift",
            True,
            0,
            "no reference statistics yet: shift not judged (reference_statistics is built once its window lands)",
        )
    limit = rules.shift.max_std
    rows, breaches = [], []
    for column in rules.shift.columns:
        stats = reference.get(column)
        if column not in usable or stats is None or stats.get("std") is None:
            continue
        mean = float(pd.to_numeric(batch[column], errors="coerce").mean())
        ref_mean, ref_std = float(stats["mean"]), float(stats["std"])
        distance = abs(mean - ref_mean) / ref_std if ref_std > 0 else (0.0 if mean == ref_mean else math.inf)
        row = {
            "column": column,
            "mean": mean,
            "reference_mean": ref_mean,
            "reference_std": ref_std,
            "distance_in_std": distance,
        }
        rows.append(row)
        if not distance <= limit:  # NaN (an all-null column) counts as a breach
            breaches.append(
                {
                    "column": column,
                    "check": f"|mean - reference mean| <= {limit} std",
                    "failure_case": f"mean {mean:.4g} vs {ref_mean:.4g} +/- {ref_std:.4g} ({distance:.2f} std)",
                }
            )
    failures = pd.DataFrame(breaches, columns=["column", "check", "failure_case"])
    summary = _describe(failures) if breaches else f"all {len(rows)} column means within {limit} reference std"
    return RuleResult("distribution_shift", not breaches, len(breaches), summary, failures, details={"columns": rows})


def validate_batch(
    batch: pd.DataFrame,
    schema: pa.DataFrameSchema,
    rules: ValidationRules,
    reference: Mapping[str, Mapping[str, Any]] | None = None,
    sample_size: int = 10,
) -> dict[str, RuleResult]:
    """Judge a batch by every rule family; returns one result per name in RULE_FAMILIES.

    `reference` maps column names to reference statistics (at least `mean` and `std`), as written
    by the `reference_statistics` asset; without it the shift family passes and says it did not judge.
    """
    schema_cases = _failure_cases(schema, batch)
    checks = schema_cases["check"].astype(str)
    mistyped = set(schema_cases.loc[checks.str.startswith("dtype("), "column"].astype(str))
    usable = {column for column in batch.columns if column in schema.columns} - mistyped

    row_cases = _failure_cases(_row_rules_schema(rules, usable), batch[sorted(usable)])
    cases = (
        pd.concat([c for c in (schema_cases, row_cases) if len(c)], ignore_index=True)
        if len(row_cases)
        else schema_cases
    )
    families = cases["check"].astype(str).map(_family_of) if len(cases) else pd.Series(dtype=str)

    results: dict[str, RuleResult] = {}
    for family in ("schema", "not_null", "ranges", "allowed_values", "uniqueness"):
        mine = cases[families == family] if len(cases) else cases
        passed = mine.empty
        summary = "passed" if passed else _describe(mine)
        sample = mine.head(sample_size).reset_index(drop=True)
        row_index = pd.to_numeric(mine["index"], errors="coerce").dropna().astype(int).unique()[:sample_size]
        rows = batch.loc[row_index] if len(row_index) else pd.DataFrame()
        results[family] = RuleResult(family, passed, len(mine), summary, sample, rows)
    results["null_fraction"] = _null_fraction(batch, rules, usable)
    results["distribution_shift"] = _distribution_shift(batch, rules, usable, reference)
    return results
