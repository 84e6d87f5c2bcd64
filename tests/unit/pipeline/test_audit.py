"""The audit trail: every kind of tampering is detected and located; several writers keep one chain."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

import orjson
import pytest

from gateway.errors import AuditUnavailable, ConfigError
from gateway.pipeline.audit import AuditTrail, JsonlAuditSink, verify
from gateway.server.cli import main


async def trail(tmp_path: Path, n: int = 5) -> Path:
    path = tmp_path / "audit.jsonl"
    sink = JsonlAuditSink(path)
    for i in range(n):
        await sink.write({"type": "child.read", "childId": f"94347659{i:02d}", "purpose": "safeguarding", "n": i})
    return path


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


async def test_an_untouched_trail_verifies(tmp_path: Path) -> None:
    assert verify(await trail(tmp_path)) == (True, "chain intact")


async def test_an_edited_record_is_detected_where_it_is(tmp_path: Path) -> None:
    path = await trail(tmp_path)
    rows = lines(path)
    rows[2] = rows[2].replace(b'"safeguarding"', b'"routine-care"')
    path.write_bytes(b"".join(rows))
    assert verify(path) == (False, "line 3: contents changed after it was written")


async def test_an_edited_record_with_its_hash_recomputed_breaks_the_next_link(tmp_path: Path) -> None:
    import hashlib

    path = await trail(tmp_path)
    rows = lines(path)
    record = orjson.loads(rows[1])
    record.pop("hash")
    record["purpose"] = "routine-care"
    record["hash"] = hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()
    rows[1] = orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n"
    path.write_bytes(b"".join(rows))
    ok, message = verify(path)
    assert not ok and message.startswith("line 3: does not follow line 2")


async def test_a_deleted_record_is_detected(tmp_path: Path) -> None:
    path = await trail(tmp_path)
    rows = lines(path)
    del rows[2]
    path.write_bytes(b"".join(rows))
    ok, message = verify(path)
    assert not ok and message.startswith("line 3: does not follow line 2")


async def test_an_inserted_record_is_detected(tmp_path: Path) -> None:
    path = await trail(tmp_path)
    rows = lines(path)
    forged = orjson.loads(rows[1])
    forged["childId"] = "9434765999"
    rows.insert(2, orjson.dumps(forged, option=orjson.OPT_SORT_KEYS) + b"\n")
    path.write_bytes(b"".join(rows))
    ok, message = verify(path)
    assert not ok and message.startswith("line 3:")


async def test_reordered_records_are_detected(tmp_path: Path) -> None:
    path = await trail(tmp_path)
    rows = lines(path)
    rows[1], rows[2] = rows[2], rows[1]
    path.write_bytes(b"".join(rows))
    ok, message = verify(path)
    assert not ok and message.startswith("line 2: does not follow line 1")


async def test_a_garbled_line_is_detected(tmp_path: Path) -> None:
    path = await trail(tmp_path)
    path.write_bytes(path.read_bytes() + b"{not json\n")
    assert verify(path) == (False, "line 6: not an audit record")


async def test_wardgate_audit_verify_exits_non_zero_on_tampering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = await trail(tmp_path)
    assert await asyncio.to_thread(main, ["audit", "--file", str(path), "verify"]) == 0
    rows = lines(path)
    del rows[0]
    path.write_bytes(b"".join(rows))
    assert await asyncio.to_thread(main, ["audit", "--file", str(path), "verify"]) == 1
    assert "line 1: does not follow" in capsys.readouterr().out


async def test_an_unwritable_sink_raises_audit_unavailable(tmp_path: Path) -> None:
    sink = JsonlAuditSink(tmp_path)  # a directory: no record can be appended
    with pytest.raises(AuditUnavailable):
        await sink.write({"type": "child.read"})
    assert not await sink.ready()


def _writer(path: str, who: int, n: int) -> None:
    async def run() -> None:
        sink = JsonlAuditSink(Path(path))
        for i in range(n):
            await sink.write({"type": "child.read", "worker": who, "n": i})

    asyncio.run(run())


def test_several_worker_processes_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 40)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert len(records) == 120 and len({r["worker"] for r in records}) == 3
    assert verify(path) == (True, "chain intact")


def test_the_audit_path_says_whether_each_instance_has_its_own_chain(tmp_path: Path) -> None:
    assert AuditTrail.at(tmp_path).chain("gw-1") == tmp_path / "gw-1.jsonl"  # an existing directory
    assert AuditTrail.at(tmp_path / "audit").chain("gw-1") == tmp_path / "audit" / "gw-1.jsonl"  # no suffix
    pattern = AuditTrail.at(tmp_path / "trail-{instance}.log")
    assert pattern.chain("gw-2") == tmp_path / "trail-gw-2.log"
    one = AuditTrail.at(tmp_path / "audit.jsonl")  # an existing single-file configuration: one shared chain
    assert one.chain("gw-1") == one.chain("gw-2") == tmp_path / "audit.jsonl"
    with pytest.raises(ConfigError, match=r"\{instance\} in it once"):
        AuditTrail.at(tmp_path / "{instance}" / "{instance}.jsonl")


async def per_instance(tmp_path: Path) -> AuditTrail:
    trail = AuditTrail.at(tmp_path / "audit")
    a, b = (JsonlAuditSink(trail.chain(name), trail=trail) for name in ("gw-a", "gw-b"))
    for i in range(6):
        await (a if i % 2 else b).write(
            {"type": "child.read", "at": f"2030-01-01T00:00:0{i}", "childId": "9434765919", "practitioner": f"P-{i}"}
        )
    return trail


async def test_accesslog_reads_every_instances_chain_oldest_first(tmp_path: Path) -> None:
    trail = await per_instance(tmp_path)
    sink = JsonlAuditSink(trail.chain("gw-a"), trail=trail)
    assert [r["practitioner"] for r in await sink.records(childId="9434765919")] == [f"P-{i}" for i in range(6)]


async def test_wardgate_audit_checks_and_reads_every_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trail = await per_instance(tmp_path)
    folder = str(tmp_path / "audit")
    assert await asyncio.to_thread(main, ["audit", "--file", folder, "verify"]) == 0
    out = capsys.readouterr().out
    assert f"{folder}/gw-a.jsonl: chain intact" in out and f"{folder}/gw-b.jsonl: chain intact" in out
    assert await asyncio.to_thread(main, ["audit", "--file", folder, "who-viewed", "9434765919"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in shown] == [f"P-{i}" for i in range(6)]

    rows = lines(trail.chain("gw-b"))
    del rows[1]
    trail.chain("gw-b").write_bytes(b"".join(rows))
    assert await asyncio.to_thread(main, ["audit", "--file", folder, "verify"]) == 1
    out = capsys.readouterr().out
    assert f"{folder}/gw-a.jsonl: chain intact" in out
    assert f"{folder}/gw-b.jsonl: line 2: does not follow line 1" in out
