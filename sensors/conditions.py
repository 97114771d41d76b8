"""Named automation conditions: when declarative automation materializes an asset, and why.

`AutomationCondition.eager()` only looks at the latest time partition, so a replayed or backfilled
day would never flow downstream. These conditions react to any partition whose upstream partition
was written, which is what a data plane fed by late, replayed and corrected batches needs.
"""

from __future__ import annotations

import dagster as dg

__all__ = ["upstream_partition_landed", "upstream_partition_passed_checks"]

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
