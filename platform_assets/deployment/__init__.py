"""Continuous deployment: the deployment state machine and the shadow and canary gates that drive it."""
