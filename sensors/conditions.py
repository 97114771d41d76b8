"""Named automation conditions: when declarative automation materializes an asset, and why.

`AutomationCondition.eager()` only looks at the latest time partition, so a replayed or backfilled
day would never flow downstream. These conditions react to any partition whose upstream partition
was written, which is what a data plane fed by late, replayed and corrected batches needs.
"""

from __future__ import annotations

import dagster as dg

__all__ = [
    "candidate_needed",
    "gate_passed_follow_up",
    "new_candidate_follow_up",
    "training_code_changed",
    "upstream_partition_landed",
    "upstream_partition_passed_checks",
]

AC = dg.AutomationCondition


def upstream_partition_landed() -> dg.AutomationCondition:
    """Materialize a partition once its upstream partition has been (re)written.

    Waits while the upstream partition is missing or being written, and never runs a partition
    twice at once.
    """
    return (
        AC.any_deps_updated().since_last_handled()
        & ~AC.any_deps_missing()
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
    ).with_label("upstream partition landed")


def upstream_partition_passed_checks() -> dg.AutomationCondition:
    """As `upstream_partition_landed`, but only when every blocking check upstream passed.

    This is what keeps a quarantined batch out of the features: the failed check on
    `validated_batch` holds the partition back until a corrected batch lands and passes.
    """
    return (upstream_partition_landed() & AC.all_deps_blocking_checks_passed()).with_label(
        "upstream partition landed and passed its blocking checks"
    )


def training_code_changed() -> dg.AutomationCondition:
    """Retrain when the training code or the spec's training section changed (the code-change trigger).

    New data alone does not retrain: that is the schedule's, the drift sensor's and the decay
    sensor's call, each with its own reason.
    """
    return (AC.code_version_changed() & ~AC.in_progress()).with_label("training code changed")


def candidate_needed() -> dg.AutomationCondition:
    """Train a candidate when its code changed or a new training set was built without one."""
    return (
        (AC.code_version_changed() | AC.any_deps_updated()).since_last_handled()
        & ~AC.any_deps_missing()
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
    ).with_label("training code changed or a new training set")


def new_candidate_follow_up() -> dg.AutomationCondition:
    """Evaluate and judge every new candidate, whatever started its training."""
    return AC.eager().with_label("a new candidate to evaluate")


def gate_passed_follow_up() -> dg.AutomationCondition:
    """Register a candidate only after its gate decision passed the blocking `gate_passed` check."""
    return (AC.eager() & AC.all_deps_blocking_checks_passed()).with_label("gate decision passed")
