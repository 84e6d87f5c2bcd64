"""Processes on loopback for tests and benchmarks: free ports, the gateway or mocks as a subprocess, Redis."""

from __future__ import annotations

import os
import pwd
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


NGINX_CONF = """\
# One nginx worker round-robins to the gateway instances; written by support.processes.nginx_server.
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
{user}
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # Which instance answered each request, for tests that must see both serve.
    log_format balanced '$upstream_addr $status $http_x_request_id';
    access_log {dir}/access.log balanced;
    upstream wardgate {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://wardgate;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # A request nginx could not hand to an instance (connection refused or timed out before it was sent)
            # goes to the next one. Once sent, a POST is not sent again ("non_idempotent" is left off): every
            # GraphQL answer writes an audit record, counts against a quota and may notify an agency, so a
            # request cut off mid-way is a 502 the client sees, never a silent second attempt.
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 2;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
        }}
    }}
}}
"""


def nginx_server(port: int, upstreams: list[str], workdir: Path) -> subprocess.Popen[str]:
    """nginx on 127.0.0.1:``port`` round-robin over ``upstreams`` ("127.0.0.1:8001"), its files in ``workdir``
    (``access.log`` names the instance that answered each request). ``make test`` installs nginx (Debian)."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is not installed: run `make system-deps` (or `make test`)")
    workdir.mkdir(parents=True, exist_ok=True)
    # max_fails=1: an instance that refused one connection is skipped for fail_timeout, not tried per request.
    servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=10s;" for u in upstreams)
    # Run as root, nginx would hand its workers to "nobody", who cannot write the logs in ``workdir``.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=workdir, user=user, servers=servers, port=port))
    proc = subprocess.Popen(
        [binary, "-p", str(workdir), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            errors = workdir / "error.log"
            raise RuntimeError(f"nginx exited: {errors.read_text() if errors.exists() else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("nginx did not start")
