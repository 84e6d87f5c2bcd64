"""Audit: one event per request that touches child data, written before the response leaves.

The default sink appends JSON lines to a file; each record carries the SHA-256 of the one before, so
editing, deleting, inserting or reordering records breaks the chain. Records hold field paths and
reasons, never field values. If the sink cannot write, the caller fails the request closed
(``AUDIT_UNAVAILABLE``) and returns nothing.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import orjson

from gateway.errors import AuditUnavailable

GENESIS = "0" * 64


class AuditSink(abc.ABC):
    @abc.abstractmethod
    async def write(self, event: dict[str, Any]) -> None:
        """Persist ``event`` or raise :class:`AuditUnavailable`."""

    async def ready(self) -> bool:
        return True


class JsonlAuditSink(AuditSink):
    """Append-only, hash-chained JSON lines; one writer per file (a lock orders concurrent requests)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()
        self._last: str | None = None

    def _tail_hash(self) -> str:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return GENESIS
        with self.path.open("rb") as fh:
            fh.seek(max(0, self.path.stat().st_size - 65536))
            lines = fh.read().splitlines()
        return str(orjson.loads(lines[-1])["hash"]) if lines else GENESIS

    async def write(self, event: dict[str, Any]) -> None:
        async with self._lock:
            try:
                if self._last is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._last = self._tail_hash()
                record = {**event, "prev": self._last}
                body = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
                digest = hashlib.sha256(body).hexdigest()
                line = orjson.dumps({**record, "hash": digest}, option=orjson.OPT_SORT_KEYS) + b"\n"
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                self._last = digest
            except (OSError, ValueError, KeyError) as exc:
                self._last = None
                raise AuditUnavailable("the audit trail cannot be written") from exc

    async def ready(self) -> bool:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.access(self.path.parent, os.W_OK) and (not self.path.exists() or os.access(self.path, os.W_OK))
        except OSError:
            return False


def verify(path: Path) -> tuple[bool, str]:
    """Check the chain; returns (ok, message naming the first bad line)."""
    prev = GENESIS
    with path.open("rb") as fh:
        for n, line in enumerate(fh, 1):
            try:
                record = orjson.loads(line)
                claimed = record.pop("hash")
            except (orjson.JSONDecodeError, KeyError, AttributeError):
                return False, f"line {n}: not an audit record"
            if record.get("prev") != prev:
                return False, f"line {n}: does not follow line {n - 1} (a record was deleted, inserted or moved)"
            if hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest() != claimed:
                return False, f"line {n}: contents changed after it was written"
            prev = claimed
    return True, "chain intact"
