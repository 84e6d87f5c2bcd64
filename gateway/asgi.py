"""The ASGI entry point uvicorn imports in each worker: settings from the environment and config file."""

from gateway.app import create_app
from gateway.config import load_settings

app = create_app(load_settings())
