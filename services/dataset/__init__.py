"""The dataset service."""
