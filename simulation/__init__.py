"""The lifecycle simulation (`mlplatform simulate`): N days of a model's life through the real definitions."""
