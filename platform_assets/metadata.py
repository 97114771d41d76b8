"""Helpers that turn results into Dagster metadata a person wants to read in the UI."""

from __future__ import annotations

import pandas as pd

__all__ = ["markdown_table"]


def markdown_table(frame: pd.DataFrame, max_rows: int = 20) -> str:
    """A small frame as a markdown table (at most `max_rows` rows)."""
    if frame.empty:
        return "(none)"
    shown = frame.head(max_rows).astype(str)
    header = "| " + " | ".join(str(c) for c in shown.columns) + " |"
    rule = "| " + " | ".join("---" for _ in shown.columns) + " |"
    body = ["| " + " | ".join(v.replace("|", "\\|").replace("\n", " ") for v in row) + " |" for row in shown.to_numpy()]
    more = [f"\n_{len(frame) - max_rows} more rows not shown_"] if len(frame) > max_rows else []
    return "\n".join([header, rule, *body, *more])
