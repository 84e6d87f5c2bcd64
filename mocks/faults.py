"""Fault injection for a mock agency: latency, errors, hangs, malformed and oversized bodies.

Faults are set at start-up and changed at run time through the agency's admin endpoint
(``PUT /__admin/faults``). One roll per call picks at most one of error / hang / malformed /
oversized, so the configured rates are the shares a client observes::

    {"latency": {"kind": "fixed", "ms": 40}, "error_rate": 0.1, "timeout_rate": 0.05}
    {"latency": {"kind": "uniform", "min_ms": 5, "max_ms": 80}}
    {"latency": {"kind": "lognormal", "median_ms": 30, "sigma": 0.6}}
"""

from __future__ import annotations

import asyncio
import difflib
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ConfigError


class Latency(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "fixed", "uniform", "lognormal"] = "none"
    ms: float = Field(0.0, ge=0)
    min_ms: float = Field(0.0, ge=0)
    max_ms: float = Field(0.0, ge=0)
    median_ms: float = Field(0.0, ge=0)
    sigma: float = Field(0.5, ge=0)

    def sample(self, rng: random.Random) -> float:
        """Seconds to wait before answering."""
        if self.kind == "fixed":
            return self.ms / 1000
        if self.kind == "uniform":
            return rng.uniform(self.min_ms, max(self.min_ms, self.max_ms)) / 1000
        if self.kind == "lognormal":
            return rng.lognormvariate(0, self.sigma) * self.median_ms / 1000
        return 0.0


class Faults(BaseModel):
    """What an agency does wrong, and how often."""

    model_config = ConfigDict(extra="forbid")

    latency: Latency = Latency()
    error_rate: float = Field(0.0, ge=0, le=1)
    error_status: int = Field(503, ge=400, le=599)
    timeout_rate: float = Field(0.0, ge=0, le=1)
    hang_seconds: float = Field(30.0, ge=0, le=600)
    malformed_rate: float = Field(0.0, ge=0, le=1)
    oversized_rate: float = Field(0.0, ge=0, le=1)
    oversized_bytes: int = Field(8 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    slow_body_ms: float = Field(0.0, ge=0, le=60_000)
    seed: int = 0

    @model_validator(mode="after")
    def _rates_fit(self) -> Faults:
        if self.error_rate + self.timeout_rate + self.malformed_rate + self.oversized_rate > 1:
            raise ValueError("error, timeout, malformed and oversized rates add up to more than 1")
        return self


def load_faults(path: Path, agencies: Iterable[str]) -> dict[str, Faults]:
    """A ``--faults`` file, ``{"police": {"error_rate": 0.1}, ...}``, checked whole: a missing file, a body that is
    not JSON, an agency that does not exist or a fault out of range is a :class:`ConfigError` naming it."""
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"--faults {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"--faults {path} is a directory, not a JSON file") from None
    except OSError as exc:
        raise ConfigError(f"--faults {path}: cannot be read: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"--faults {path}: not JSON: {exc}") from None
    known = sorted(agencies)
    if not isinstance(raw, dict):
        raise ConfigError(f'--faults {path}: expected an object of agency -> faults, e.g. {{"police": {{...}}}}')
    out: dict[str, Faults] = {}
    for name, spec in raw.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"--faults {path}: unknown agency {name!r}; {hint}known: {', '.join(known)}")
        try:
            out[name] = Faults.model_validate(spec)
        except ValidationError as exc:
            raise ConfigError.invalid(f"--faults {path}: {name}", exc, Faults) from None
    return out


class FaultInjector:
    """ASGI middleware applying the current :class:`Faults` to every agency call.

    The admin and OpenAPI routes are never faulted, so a test can always repair an agency.
    """

    def __init__(self, app: ASGIApp, *, faults: Faults, agency: str, exempt: tuple[str, ...]) -> None:
        self.app = app
        self.agency = agency
        self.exempt = exempt
        self.set(faults)

    def set(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(f"{self.agency}-{faults.seed}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        faults, rng = self.faults, self.rng
        delay = faults.latency.sample(rng)
        roll = rng.random()
        if delay:
            await asyncio.sleep(delay)
        edge = faults.error_rate
        if roll < edge:
            body = b'{"fault":"injected","message":"Service temporarily unavailable"}'
            await _respond(send, faults.error_status, body, b"application/json")
            return
        edge += faults.timeout_rate
        if roll < edge:
            await asyncio.sleep(faults.hang_seconds)
            await _respond(send, 504, b'{"fault":"hang"}', b"application/json")
            return
        edge += faults.malformed_rate
        if roll < edge:
            await self.app(scope, receive, _Mangler(send, mode="malformed", size=0).send)
            return
        edge += faults.oversized_rate
        if roll < edge:
            await self.app(scope, receive, _Mangler(send, mode="oversized", size=faults.oversized_bytes).send)
            return
        if faults.slow_body_ms:
            await self.app(scope, receive, _Mangler(send, mode="slow", size=0, pause=faults.slow_body_ms / 1000).send)
            return
        await self.app(scope, receive, send)

    def describe(self) -> dict[str, Any]:
        return self.faults.model_dump()


class _Mangler:
    """Rewrites the body the agency produced: cut in half, padded past any sane size, or dribbled."""

    def __init__(self, send: Send, *, mode: str, size: int, pause: float = 0.0) -> None:
        self._send = send
        self.mode = mode
        self.size = size
        self.pause = pause
        self._start: Message | None = None
        self._body = bytearray()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._start = message
            return
        if message["type"] != "http.response.body":
            await self._send(message)
            return
        self._body += message.get("body", b"")
        if message.get("more_body", False):
            return
        assert self._start is not None
        body = bytes(self._body)
        if self.mode == "malformed":
            body = body[: max(1, len(body) // 2)] + b"\x00\xff<!-- upstream proxy error"
        elif self.mode == "oversized":
            # Still syntactically plausible, so only a size limit (not a parser) saves the client.
            padding = b" " * max(0, self.size - len(body))
            body = body[:1] + padding + body[1:] if body else padding
        headers = [(k, v) for k, v in self._start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self._send({**self._start, "headers": headers})
        if self.mode == "slow":
            step = max(1, len(body) // 8)
            for i in range(0, len(body), step):
                await self._send({"type": "http.response.body", "body": body[i : i + step], "more_body": True})
                await asyncio.sleep(self.pause)
            await self._send({"type": "http.response.body", "body": b""})
            return
        await self._send({"type": "http.response.body", "body": body})


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
