"""Processes on loopback for tests and benchmarks: free ports, the gateway or mocks as a subprocess, Redis."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port_block(size: int) -> int:
    """A base port with ``size`` free ports after it on 127.0.0.1."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + size >= 65000:
            continue
        ok = True
        for port in range(base, base + size):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port block")


def start(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    ready: str | None = None,
    url: str | None = None,
    timeout: float = 60,
    module: str = "gateway",
) -> subprocess.Popen[str]:
    """Start ``python -m MODULE ARGS``; wait for a line ``ready`` on stdout or for ``url`` to answer."""
    # Output goes to a file, never an undrained pipe a chatty server could block on.
    log = tempfile.NamedTemporaryFile("w+", prefix=f"wardgate-{(args or [module])[0]}-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    proc.log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while ready is not None and time.monotonic() < deadline:
        with open(log.name) as fh:
            if any(line.strip() == ready for line in fh):
                return proc
        if proc.poll() is not None:
            raise RuntimeError(f"{module} {args} exited before it was ready: {Path(log.name).read_text()}")
        time.sleep(0.05)

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = Path(log.name).read_text()
            raise RuntimeError(f"{args[0]} exited: {out}")
        try:
            if httpx.get(url or "", timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{args[0]} did not start")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log = getattr(proc, "log", None)
    if log is not None:
        log.close()
        os.unlink(log.name)


def redis_server(port: int) -> subprocess.Popen[str]:
    """A throwaway Redis on 127.0.0.1:``port``, no persistence (``make test`` installs redis-server)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise RuntimeError("redis-server is not installed: run `make system-deps` (or `make test`)")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")
