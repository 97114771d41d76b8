"""Model training: the time-ordered training set and the LightGBM candidate trainer with its Optuna search."""
