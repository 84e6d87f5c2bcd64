"""The ASGI entry point uvicorn imports in each worker: settings from the environment and config file."""

from gateway.config import load_settings
from gateway.server.app import create_app

app = create_app(load_settings())
