"""The embedded stack: infrastructure servers from PyPI wheels and the platform's processes on loopback."""
