"""The process: the ASGI application and its HTTP boundary, the command line, start-up checks, logs,
readiness and the operator listener. The top layer: nothing below imports it."""
