"""The HTTP shell: FastAPI routes over the core (`create_app`)."""

from api.app import create_app

__all__ = ["create_app"]
