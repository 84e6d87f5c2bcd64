"""Audit: one event per request that touches child data, written before the response leaves.

The default sink appends JSON lines to a file; each record carries the SHA-256 of the one before, so
editing, deleting, inserting or reordering records breaks the chain. Records hold field paths and
reasons, never field values. If the sink cannot write, the caller fails the request closed
(``AUDIT_UNAVAILABLE``) and returns nothing.

Where the chains are (:class:`AuditTrail`, from ``WARDGATE_AUDIT_PATH``): a directory holds one chain per
instance, ``<directory>/<instance>.jsonl`` (``WARDGATE_INSTANCE``, the host name by default), and a path with
``{instance}`` in it names each instance's chain; a file path (with a suffix, or an existing file) is one
chain shared by every writer, as before. A chain has one writing instance, so instances on different hosts
never contend for a lock on shared storage; ``wardgate audit`` and ``accessLog`` read every chain.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
import fcntl
import glob
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gateway.errors import AuditUnavailable, ConfigError
from gateway.metrics import Metrics
from gateway.types import Subject

GENESIS = "0" * 64
INSTANCE = "{instance}"


@dataclass(frozen=True)
class AuditTrail:
    """Where the audit chains are: ``pattern`` names each instance's chain (with ``{instance}``), or is the one
    file every writer shares.

        trail = AuditTrail.at(Path("/var/lib/wardgate/audit"))     # a directory: one chain per instance
        trail.chain("gw-1")                                        # /var/lib/wardgate/audit/gw-1.jsonl
        trail.chains()                                             # every chain written so far
    """

    pattern: str

    @classmethod
    def at(cls, path: Path) -> AuditTrail:
        """From the ``audit_path`` setting: a path with ``{instance}``, a directory (an existing one, or a
        path without a suffix), or one file (a path with a suffix, or an existing file)."""
        text = str(path)
        if INSTANCE in text:
            rest = text.replace(INSTANCE, "")
            if text.count(INSTANCE) != 1 or "{" in rest or "}" in rest:
                raise ConfigError(
                    f"audit_path {text!r}: put {INSTANCE} in it once and no other braces, "
                    f"e.g. /var/lib/wardgate/audit/{INSTANCE}.jsonl"
                )
            return cls(text)
        if path.is_dir() or (not path.suffix and not path.exists()):
            return cls(str(path / f"{INSTANCE}.jsonl"))
        return cls(text)

    @property
    def per_instance(self) -> bool:
        return INSTANCE in self.pattern

    def chain(self, instance: str) -> Path:
        """The file ``instance`` appends to."""
        return Path(self.pattern.replace(INSTANCE, instance))

    def chains(self) -> list[Path]:
        """Every chain file there is now, by name."""
        if not self.per_instance:
            path = Path(self.pattern)
            return [path] if path.exists() else []
        head, tail = self.pattern.split(INSTANCE)
        return sorted(Path(p) for p in glob.glob(glob.escape(head) + "*" + glob.escape(tail)) if Path(p).is_file())

    def instance_of(self, chain: Path) -> str:
        """The instance whose chain ``chain`` is ("" for a shared file)."""
        if not self.per_instance:
            return ""
        head, tail = self.pattern.split(INSTANCE)
        return str(chain)[len(head) : len(str(chain)) - len(tail)]

    def records(self, **match: Any) -> list[dict[str, Any]]:
        """Every chain's records whose fields equal ``match``, oldest first."""
        found = [r for chain in self.chains() for r in read_records(chain, **match)]
        return sorted(found, key=lambda r: str(r.get("at", "")))


def audit_event(kind: str, request_id: str, subject: Subject, purpose: str, **fields: Any) -> dict[str, Any]:
    """An audit record's common head — what, when, which request, who, why — plus ``fields``."""
    return {
        "type": kind,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "requestId": request_id,
        "practitioner": subject.practitioner_id,
        "role": subject.role,
        "agency": subject.agency,
        "mfa": subject.mfa,
        "purpose": purpose,
        **fields,
    }


class AuditSink(abc.ABC):
    @abc.abstractmethod
    async def write(self, event: dict[str, Any]) -> None:
        """Persist ``event`` or raise :class:`AuditUnavailable`."""

    async def ready(self) -> bool:
        return True

    async def records(self, **match: Any) -> list[dict[str, Any]]:
        """Records whose fields equal ``match``, oldest first (for ``accessLog``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be read back here")


class JsonlAuditSink(AuditSink):
    """Append-only, hash-chained JSON lines.

    Several workers (processes) may share one file: each append takes an exclusive ``flock`` on it and
    reads the chain's tail afresh whenever the file grew since this process last wrote, so the chain
    stays one chain. Within a process, appends are group-committed: records that arrive while one
    append is in progress are written together by the next, in arrival order, with one ``fsync`` —
    each request still gets its answer only after its record is on disk, but concurrent requests
    share the disk's latency instead of queueing behind one ``fsync`` each. The write runs in a
    thread so the event loop is not blocked.
    """

    def __init__(self, path: Path, *, trail: AuditTrail | None = None) -> None:
        self.path = path
        self.trail = trail or AuditTrail(str(path))  # what :meth:`records` reads: every instance's chain
        self._last: str | None = None
        self._size = -1  # the file's size after our last write; anything else means another writer
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._drainer: asyncio.Task[None] | None = None

    def _tail_hash(self, fd: int, size: int) -> str:
        if size == 0:
            return GENESIS
        start = max(0, size - 65536)
        chunk = os.pread(fd, size - start, start)
        lines = chunk.splitlines()
        return str(orjson.loads(lines[-1])["hash"]) if lines else GENESIS

    def _append(self, events: list[dict[str, Any]]) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            last = self._last if self._last is not None and size == self._size else self._tail_hash(fd, size)
            lines = bytearray()
            for event in events:
                record = {**event, "prev": last}
                last = hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()
                lines += orjson.dumps({**record, "hash": last}, option=orjson.OPT_SORT_KEYS) + b"\n"
            if os.write(fd, lines) != len(lines):
                raise OSError("short write to the audit trail")
            os.fsync(fd)
            self._last, self._size = last, size + len(lines)
        finally:
            os.close(fd)  # releases the lock

    async def write(self, event: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.exception())  # retrieved even if its request was cancelled
        self._pending.append((event, future))
        if self._drainer is None or self._drainer.done():
            # Its own task, so a request that is cancelled mid-append cannot strand the others' records.
            self._drainer = asyncio.create_task(self._drain())
        await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                if self._last is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                await asyncio.to_thread(self._append, [event for event, _ in batch])
            except (OSError, ValueError, KeyError) as exc:
                self._last = None
                for _, future in batch:
                    error = AuditUnavailable("the audit trail cannot be written")
                    error.__cause__ = exc
                    future.set_exception(error)
                continue
            for _, future in batch:
                future.set_result(None)

    async def records(self, **match: Any) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.trail.records, **match)

    async def ready(self) -> bool:
        """Whether a record could be appended now (the file opens for appending)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
            return True
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


def verify_trail(trail: AuditTrail) -> list[tuple[Path, bool, str]]:
    """Every chain of the trail checked on its own: (chain, ok, message naming the first bad line)."""
    return [(chain, *verify(chain)) for chain in trail.chains()]


def read_records(path: Path, **match: Any) -> Iterator[dict[str, Any]]:
    """Every record of an audit file whose fields equal ``match``; nothing if there is no file yet."""
    if not path.exists():
        return
    with path.open("rb") as fh:
        for line in fh:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # `wardgate audit verify` reports it; a reader shows what it can
            if all(record.get(k) == v for k, v in match.items()):
                yield record


class MeteredAuditSink(AuditSink):
    """Any audit sink, with its append latency and failures counted."""

    def __init__(self, inner: AuditSink, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def write(self, event: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            await self.inner.write(event)
        except BaseException:
            self.metrics.audit_failures.inc()
            raise
        finally:
            self.metrics.audit_seconds.observe(time.perf_counter() - started)

    async def ready(self) -> bool:
        return await self.inner.ready()

    async def records(self, **match: Any) -> list[dict[str, Any]]:
        return await self.inner.records(**match)
