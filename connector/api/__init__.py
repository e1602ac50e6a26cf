"""The HTTP API (FastAPI): a thin face over the store's reads and ``connector/sync/intake.py``. `connector api`
serves it; docs/openapi.json is its published contract."""

from connector.api.app import create_app, openapi_document

__all__ = ["create_app", "openapi_document"]
