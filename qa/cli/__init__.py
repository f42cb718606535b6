"""The `qa` command: a shell over the service (qa/service.py). No module of the core imports this package."""

from qa.cli.app import app, main

__all__ = ["app", "main"]
