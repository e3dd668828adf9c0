"""The HTTP service: a FastAPI app over open collections (``create_app``), run by ``selfsim serve``."""

from selfsim.http.app import create_app

__all__ = ["create_app"]
