"""Model specs: one YAML file per model, with an optional Python module beside it for its schema."""
