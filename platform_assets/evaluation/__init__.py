"""Model evaluation: prediction metrics, slice metrics and the quality gate that decides promotion."""
