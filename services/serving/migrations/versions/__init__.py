"""Revisions of the serving service's branch."""
