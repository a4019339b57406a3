"""Revisions of the dataset service's branch."""
