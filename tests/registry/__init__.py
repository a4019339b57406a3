"""Unit tests of the registry service: domain, cards and upload checks without servers."""
