"""The HTTP shell: `create_app`, one router per resource over the application service."""

from api.app import create_app

__all__ = ["create_app"]
