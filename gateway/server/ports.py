"""Listening sockets, bound before anything is started so a busy port is one clear line, not a server's
crash report.

    sock = listen("127.0.0.1", 9101, "health")     # bound; hand it to uvicorn's Server.serve(sockets=[sock])
    ensure_free("127.0.0.1", {"gateway": 8000})    # bound and released: uvicorn binds it again at once
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping

from gateway.errors import UsageError

_WHY = {
    errno.EADDRINUSE: "address already in use (is another wardgate running there?)",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
    errno.EADDRNOTAVAIL: "no such address on this machine",
}


def listen(host: str, port: int, name: str) -> socket.socket:
    """A TCP socket bound to ``host:port`` (options as uvicorn sets them), or :class:`UsageError` naming it."""
    if not 1 <= port <= 65_535:
        raise UsageError(f"{name}: port {port} is out of range (1 to 65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"{name}: cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        why = _WHY.get(exc.errno or 0, exc.strerror or str(exc))
        raise UsageError(f"{name}: cannot listen on {host}:{port}: {why}") from None
    sock.set_inheritable(True)
    return sock


def ensure_free(host: str, ports: Mapping[str, int]) -> None:
    """Every port can be listened on now; the first that cannot is a :class:`UsageError`."""
    for name, port in ports.items():
        listen(host, port, name).close()
