"""Every external system as a Dagster `ConfigurableResource`: the lake, the data source, and (as
the platform grows) the model registry, alerting and the prediction log."""
