"""Revisions of the registry service's branch."""
