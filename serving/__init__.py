"""The prediction service: HTTP app, traffic router, prediction logger, and the scorer they share with evaluation."""
