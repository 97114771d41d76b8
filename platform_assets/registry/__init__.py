"""The model registry stage: registered versions and (as deployment lands) their roles."""
