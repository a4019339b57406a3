"""Revisions of the training service's branch."""
