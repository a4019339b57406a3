"""The gateway's REST API: one router per resource under routes/, dependencies in deps.py."""
