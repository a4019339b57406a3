"""The shared kernel: cross-cutting code written once and used by every service."""
