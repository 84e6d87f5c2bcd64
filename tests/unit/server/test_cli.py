"""Every mistake gets one clear line: each bad input a new user (or operator, or integrator) tried, run through the
real ``wardgate`` command, must end with exactly one line on stderr, exit code 2 and no traceback.

The table runs in process through :func:`gateway.server.cli.main`, which is what the console script calls; a few
cases that need a real process (a reader that goes away, the console script itself) run as subprocesses.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.config import PROJECT_ROOT
from gateway.server import cli
from gateway.server.cli import main

CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens there, so every call is refused at once
AGENCIES = ("health", "education", "social-care", "police", "housing", "youth-justice", "camhs", "sexual-health")


@dataclass(frozen=True)
class Mistake:
    """One bad input: the command line (``{tmp}`` is a scratch directory, ``{busy}`` a port something already
    listens on), files to write first, variables to set, and what the one line must say."""

    name: str
    argv: list[str]
    says: str
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    edit: tuple[str, str, str] | None = None  # (project file under connectors/ or policies/, old, new) in a copy
    code: int = 2


def connector(old: str, new: str, file: str = "health.yaml") -> tuple[str, str, str]:
    return (f"connectors/{file}", old, new)


EXPLAIN = ["policy", "explain", "--persona", "gp", "--purpose", "routine-care"]
CONNECTORS_COPY = {"WARDGATE_CONNECTORS": '["{tmp}/connectors"]'}
POLICY_COPY = {"WARDGATE_POLICY_DIR": "{tmp}/policies"}
CASE = "cases:\n  - name: one\n    persona: gp\n    purpose: routine-care\n    expect: {{{expect}}}\n"
DOC = "{ me { id } }"
DOC_ID = "sha256:" + hashlib.sha256(DOC.encode()).hexdigest()
BAD_DOC = "{ me { nmae } }"
BAD_DOC_ID = "sha256:" + hashlib.sha256(BAD_DOC.encode()).hexdigest()

MISTAKES = [
    # --- the command line itself ---------------------------------------------------------------------------
    Mistake("no command", [], "the following arguments are required: COMMAND"),
    Mistake("unknown command", ["serve"], "invalid choice: 'serve'"),
    Mistake("port not a number", ["run", "--port", "x"], "'x' is not a whole number"),
    Mistake("port out of range (item 3)", ["run", "--port", "99999"], "99999 is out of range"),
    Mistake("no workers", ["run", "--workers", "0"], "0 is out of range"),
    Mistake("unknown persona", ["token", "--persona", "nobody"], "unknown persona 'nobody'; known: social-worker"),
    Mistake("token valid for no time", ["token", "--persona", "gp", "--ttl", "0"], "0 is out of range"),
    # --- item 1 and 13: the config file and settings -------------------------------------------------------
    Mistake("config file missing", ["run", "--config", "{tmp}/nosuch.toml"], "config file {tmp}/nosuch.toml does not"),
    Mistake("config file is a directory", ["run", "--config", "{tmp}"], "is a directory, not a TOML file"),
    Mistake("config file not TOML", ["run", "--config", "{tmp}/w.toml"], "not valid TOML", {"w.toml": "port =\n"}),
    Mistake(
        "misspelt config key",
        ["config", "check", "--config", "{tmp}/w.toml"],
        "unknown key 'prot' (did you mean 'port'?)",
        {"w.toml": "prot = 8001\n"},
    ),
    Mistake(
        "config value out of range",
        ["run", "--config", "{tmp}/w.toml"],
        "{tmp}/w.toml: port: should be less than or equal to 65535",
        {"w.toml": "port = 70000\n"},
    ),
    Mistake(
        "variable out of range", ["run"], "WARDGATE_WORKERS: should be greater than", env={"WARDGATE_WORKERS": "0"}
    ),
    Mistake("variable not JSON", ["run"], "WARDGATE_AGENCY_URLS: not valid JSON", env={"WARDGATE_AGENCY_URLS": "{x}"}),
    Mistake(
        "misspelt variable",
        ["run"],
        "unknown variable WARDGATE_PROT (did you mean WARDGATE_PORT?)",
        env={"WARDGATE_PROT": "8001"},
    ),
    Mistake(
        "agency URL without a scheme",
        ["run"],
        "'localhost:9101' is not an http:// or https:// URL",
        env={"WARDGATE_AGENCY_URLS": '{"health": "localhost:9101"}'},
    ),
    Mistake(
        "misspelt agency in agency_urls",
        ["run"],
        "agency_urls names helth, which has no connector",
        env={"WARDGATE_AGENCY_URLS": '{"helth": "http://127.0.0.1:9101"}'},
    ),
    Mistake("production without keys", ["run"], "set WARDGATE_JWKS_URL", env={"WARDGATE_MODE": "production"}),
    Mistake(
        "unknown mode", ["run"], "WARDGATE_MODE: should be 'development' or 'production'", env={"WARDGATE_MODE": "dev"}
    ),
    Mistake(
        "this instance's audit chain is a directory",
        ["run"],
        "audit_path {tmp}/audit: this instance's chain {tmp}/audit/gw-1.jsonl is not a file",
        {"audit/gw-1.jsonl/keep": ""},
        env={"WARDGATE_AUDIT_PATH": "{tmp}/audit", "WARDGATE_INSTANCE": "gw-1"},
    ),
    Mistake(
        "audit path with braces other than {instance}",
        ["run"],
        "put {instance} in it once and no other braces",
        env={"WARDGATE_AUDIT_PATH": "{tmp}/{host}/{instance}.jsonl"},
    ),
    # --- item 2: connector files ---------------------------------------------------------------------------
    Mistake(
        "connector YAML syntax error",
        ["run"],
        "health.yaml:4:6: not valid YAML",
        env=CONNECTORS_COPY,
        edit=connector("agency: health", "agency: [health"),
    ),
    Mistake(
        "connector date format with an unknown directive",
        ["run"],
        "'%Y-%q-%d' is not a date format",
        env=CONNECTORS_COPY,
        edit=connector('dob: {path: birthDate, date: "%Y-%m-%d"}', 'dob: {path: birthDate, date: "%Y-%q-%d"}'),
    ),
    Mistake(
        "connector date format without a day",
        ["config", "check"],
        "'%Y-%m' does not give a whole date",
        env=CONNECTORS_COPY,
        edit=connector('date: "%d/%m/%Y"}', 'date: "%Y-%m"}', "education.yaml"),
    ),
    Mistake(
        "connector query template with a bad date format",
        ["run"],
        "search {dob:%Y-%q}: '%Y-%q' is not a date format",
        env=CONNECTORS_COPY,
        edit=connector('"{dob:%Y-%m-%d}"', '"{dob:%Y-%q}"'),
    ),
    Mistake(
        "connector with a misspelt key",
        ["run"],
        "unknown key 'titel' (did you mean 'title'?)",
        env=CONNECTORS_COPY,
        edit=connector("title: GP record", "titel: GP record"),
    ),
    Mistake(
        "connector path that does not parse",
        ["run"],
        "record.id: bad path",
        env=CONNECTORS_COPY,
        edit=connector("  id: id\n", "  id: 'a..b'\n"),
    ),
    Mistake(
        "connector directory missing",
        ["run"],
        "connector directory {tmp}/none does not exist",
        env={"WARDGATE_CONNECTORS": '["{tmp}/none"]'},
    ),
    # --- item 3: ports -------------------------------------------------------------------------------------
    Mistake("gateway port in use", ["run", "--port", "{busy}"], "cannot listen on 127.0.0.1:{busy}: address already"),
    Mistake("mock port in use", ["mocks", "--base-port", "{busy}", "--children", "50"], "directory: cannot listen on"),
    Mistake("mock ports past the last port", ["mocks", "--base-port", "65530"], "need ports up to 65535"),
    Mistake("host not on this machine", ["run", "--host", "10.255.255.1"], "no such address on this machine"),
    # --- item 4: --faults files ----------------------------------------------------------------------------
    Mistake("faults file missing", ["mocks", "--faults", "{tmp}/none.json"], "--faults {tmp}/none.json: no such file"),
    Mistake("faults not JSON", ["mocks", "--faults", "{tmp}/f.json"], "not JSON", {"f.json": "{police: 1}"}),
    Mistake("faults not an object", ["mocks", "--faults", "{tmp}/f.json"], "expected an object", {"f.json": "[]"}),
    Mistake(
        "faults out of range",
        ["mocks", "--faults", "{tmp}/f.json"],
        "police: error_rate: should be less than or equal to 1",
        {"f.json": '{"police": {"error_rate": 2}}'},
    ),
    Mistake(
        "faults with a misspelt key",
        ["mocks", "--faults", "{tmp}/f.json"],
        "unknown key 'eror_rate' (did you mean 'error_rate'?)",
        {"f.json": '{"police": {"eror_rate": 0.1}}'},
    ),
    Mistake(
        "faults for a misspelt agency",
        ["mocks", "--faults", "{tmp}/f.json"],
        "unknown agency 'polce'; did you mean 'police'?",
        {"f.json": '{"polce": {"error_rate": 0.1}}'},
    ),
    # --- item 5: children, policies, explain ---------------------------------------------------------------
    Mistake("a population of no children", ["children", "--children", "0"], "0 is out of range"),
    Mistake("no children asked for", ["children", "--limit", "0"], "0 is out of range"),
    Mistake("misspelt kind", ["children", "--kind", "shieldd"], "did you mean 'shielded'?"),
    Mistake("no child of that kind", ["children", "--kind", "refuge", "--children", "1"], "no child of kind 'refuge'"),
    Mistake(
        "Rego syntax error",
        ["policy", "check"],
        "access.rego:",
        env=POLICY_COPY,
        edit=("policies/wardgate/access/access.rego", "import rego.v1\n", "import rego.v1\nbroken if { x := [1 }\n"),
    ),
    Mistake(
        "policy data naming a field the schema does not have",
        ["policy", "check"],
        "the policy names Child.dateOfBrith, which the schema does not have",
        env=POLICY_COPY,
        edit=("policies/wardgate/config/data.json", '"Child.dateOfBirth"', '"Child.dateOfBrith"'),
    ),
    Mistake(
        "the same, found by config check",
        ["config", "check"],
        "policy fields: the policy names Child.dateOfBrith",
        env=POLICY_COPY,
        edit=("policies/wardgate/config/data.json", '"Child.dateOfBirth"', '"Child.dateOfBrith"'),
    ),
    Mistake(
        "explain an unknown agency",
        [*EXPLAIN, "--facts", "{}", "--field", "Child.involvements @youth-klub"],
        "unknown agency 'youth-klub'",
    ),
    Mistake(
        "explain an unknown field",
        [*EXPLAIN, "--facts", "{}", "--field", "Child.nmae"],
        "Child.nmae is not a field of the schema",
    ),
    Mistake(
        "explain facts that are not JSON",
        [*EXPLAIN, "--field", "Child.name", "--facts", "{shielded: true}"],
        "--facts is not JSON",
    ),
    Mistake(
        "explain facts with a misspelt key",
        [*EXPLAIN, "--field", "Child.name", "--facts", '{"shieldd": true}'],
        "unknown key 'shieldd' (did you mean 'shielded'?)",
    ),
    Mistake(
        "explain a child that is not an NHS number",
        [*EXPLAIN, "--field", "Child.name", "--child", "123"],
        "--child '123' is not a valid NHS number",
    ),
    Mistake(
        "case table without `cases:` (the README's old example)",
        ["policy", "test", "{tmp}/t_cases.yaml"],
        "a case table is a mapping with a `cases:` list",
        {"t_cases.yaml": "- name: one\n  persona: gp\n  purpose: routine-care\n  expect: {Child.name: allow}\n"},
    ),
    Mistake(
        "case table naming an unknown agency",
        ["policy", "test", "{tmp}/t_cases.yaml"],
        "cases[0] 'one': unknown agency 'youth-klub'",
        {"t_cases.yaml": CASE.format(expect="Child.involvements @youth-klub: allow")},
    ),
    Mistake(
        "case table with a misspelt key",
        ["policy", "test", "{tmp}/t_cases.yaml"],
        "unknown key 'cases[0].purpse' (did you mean 'purpose'?)",
        {"t_cases.yaml": CASE.format(expect="Child.name: allow").replace("purpose:", "purpse:")},
    ),
    Mistake(
        "case table with a YAML error",
        ["policy", "test", "{tmp}/t_cases.yaml"],
        "t_cases.yaml:5:",
        {"t_cases.yaml": CASE.format(expect="Child.name: allow").replace("{Child", "{[Child")},
    ),
    Mistake("case file missing", ["policy", "test", "{tmp}/none_cases.yaml"], "case file {tmp}/none_cases.yaml does"),
    # --- item 6: explain with the agencies down --------------------------------------------------------------
    Mistake(
        "explain a live child with every agency down",
        [*EXPLAIN, "--field", "Child.address", "--child", "9434765919"],
        "no agency answered: health at http://127.0.0.1:9 (unavailable)",
        env={"WARDGATE_AGENCY_URLS": "{closed}"},
    ),
    # --- item 7: options where users put them, the audit file ----------------------------------------------
    Mistake(
        "audit file missing (--file after)", ["audit", "verify", "--file", "{tmp}/a.jsonl"], "no audit trail there"
    ),
    Mistake("audit file missing (--file before)", ["audit", "--file", "{tmp}/a.jsonl", "verify"], "no audit trail"),
    Mistake(
        "audit directory with no chain",
        ["audit", "verify", "--file", "{tmp}"],
        "{instance}.jsonl: no audit trail there",
    ),
    Mistake(
        "configured audit file missing",
        ["audit", "verify"],
        "audit_path {tmp}/none.jsonl: no audit trail there",
        env={"WARDGATE_AUDIT_PATH": "{tmp}/none.jsonl"},
    ),
    Mistake(
        "who-searched a date that is not one",
        ["audit", "who-searched", "--name", "A B", "--dob", "02/03/2014"],
        "--dob '02/03/2014' is not a date",
    ),
    Mistake(
        "--engine after the subcommand, with OPA down",
        ["policy", "test", "--engine", "opa"],
        "OPA at http://127.0.0.1:9 refused the policy or is unreachable",
        env={"WARDGATE_OPA_URL": CLOSED},
    ),
    # --- every file read at load: trusted documents ---------------------------------------------------------
    Mistake(
        "trusted documents required without a file",
        ["run"],
        "trusted_documents=require needs trusted_documents_path",
        env={"WARDGATE_TRUSTED_DOCUMENTS": "require"},
    ),
    Mistake(
        "trusted document id that is not its hash",
        ["config", "check"],
        "is not the SHA-256 of its document",
        {"d.json": f'{{"sha256:00": "{DOC}"}}'},
        env={"WARDGATE_TRUSTED_DOCUMENTS": "require", "WARDGATE_TRUSTED_DOCUMENTS_PATH": "{tmp}/d.json"},
    ),
    Mistake(
        "trusted document that does not validate",
        ["run"],
        "trusted document sha256:29ce4cba01ea...: Cannot query field 'nmae' on type 'Me'",
        {"d.json": f'{{"{DOC_ID}": "{DOC}", "{BAD_DOC_ID}": "{BAD_DOC}"}}'},
        env={"WARDGATE_TRUSTED_DOCUMENTS": "require", "WARDGATE_TRUSTED_DOCUMENTS_PATH": "{tmp}/d.json"},
    ),
    # --- config check: several problems at once ------------------------------------------------------------
    Mistake(
        "config check with two problems",
        ["config", "check"],
        "2 problems in the configuration (listed above)",
        {"audit/gw-1.jsonl/keep": ""},
        env={"WARDGATE_PROT": "1", "WARDGATE_AUDIT_PATH": "{tmp}/audit", "WARDGATE_INSTANCE": "gw-1"},
    ),
]


def forget_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file, and none after the test either, whatever ``--config`` sets (monkeypatch restores only
    a variable it has seen, so it is set before it is removed)."""
    monkeypatch.setenv("WARDGATE_CONFIG", "")
    monkeypatch.delenv("WARDGATE_CONFIG")


@pytest.fixture
def busy() -> Iterator[int]:
    """A loopback port something is listening on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def prepare(m: Mistake, tmp: Path, busy: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Write the case's files, copy and edit project files, set its variables; the argv to run."""
    closed = "{" + ", ".join(f'"{a}": "{CLOSED}"' for a in AGENCIES) + "}"

    def fill(text: str) -> str:
        return text.replace("{tmp}", str(tmp)).replace("{busy}", str(busy)).replace("{closed}", closed)

    forget_config(monkeypatch)
    monkeypatch.setenv("WARDGATE_MODE", "development")
    monkeypatch.setenv("WARDGATE_AUDIT_PATH", str(tmp / "audit" / "audit.jsonl"))
    for name, text in m.files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)
    if m.edit is not None:
        rel, old, new = m.edit
        top = rel.split("/", 1)[0]
        shutil.copytree(PROJECT_ROOT / top, tmp / top)
        path = tmp / rel
        assert old in path.read_text(), f"{old!r} not in {rel}"
        path.write_text(path.read_text().replace(old, new, 1))
    for key, value in m.env.items():
        monkeypatch.setenv(key, fill(value))
    return [fill(a) for a in m.argv]


@pytest.mark.parametrize("m", MISTAKES, ids=[m.name for m in MISTAKES])
def test_every_mistake_is_one_line_and_exit_2(
    m: Mistake, tmp_path: Path, busy: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = prepare(m, tmp_path, busy, monkeypatch)
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert "Traceback" not in out + err
    assert len(lines) == 1, err
    assert code == m.code, err
    expected = m.says.replace("{tmp}", str(tmp_path)).replace("{busy}", str(busy))
    assert expected in lines[0]
    assert lines[0].startswith("wardgate")


def test_config_check_passes_on_the_shipped_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    forget_config(monkeypatch)
    monkeypatch.setenv("WARDGATE_AUDIT_PATH", str(tmp_path / "audit.jsonl"))
    assert main(["config", "check", "--config", str(PROJECT_ROOT / "wardgate.example.toml")]) == 0
    out = capsys.readouterr().out
    checks = ("mode", "connectors", "variables", "schema", "services", "policy", "policy fields", "audit trail")
    for check in (*checks, "case tables"):
        assert f"ok    {check}" in out, out
    assert out.rstrip().endswith("configuration ok")


def test_an_internal_fault_is_one_line_saying_where_the_details_are(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "_personas", broken)
    assert main(["personas"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("wardgate: internal error (RuntimeError at ") and "details in " in err
    details = Path(err.rsplit("details in ", 1)[1].strip())
    assert "RuntimeError: a bug" in details.read_text() and "Traceback" in details.read_text()
    assert details.stat().st_mode & 0o077 == 0  # only its owner may read it
    details.unlink()


def test_options_are_accepted_before_and_after_the_subcommand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--file`, `--engine`, `--policy-dir` and `--config` work on either side of the subcommand's name."""
    forget_config(monkeypatch)
    audit = tmp_path / "audit.jsonl"
    audit.write_text("")
    assert main(["audit", "verify", "--file", str(audit)]) == 0
    assert main(["audit", "--file", str(audit), "verify"]) == 0
    assert main(["policy", "test", "--engine", "embedded", "--policy-dir", str(PROJECT_ROOT / "policies")]) == 0
    assert main(["policy", "--engine", "embedded", "check"]) == 0


def wardgate(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).with_name("wardgate")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60, **kwargs)  # type: ignore[call-overload]


def test_the_console_script_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    out = wardgate("run", "--config", str(tmp_path / "nosuch.toml"))
    assert out.returncode == 2 and out.stdout == ""
    assert (
        out.stderr
        == f"wardgate: config file {tmp_path}/nosuch.toml does not exist (WARDGATE_CONFIG or --config names it)\n"
    )
    assert wardgate("--version").stdout.startswith("wardgate ")


def test_a_reader_that_goes_away_ends_the_output_quietly() -> None:
    """`wardgate children ... | head -1`: no BrokenPipeError, and the shell's usual status for SIGPIPE."""
    script = Path(sys.executable).with_name("wardgate")
    pipeline = f"'{script}' children --children 20000 --limit 20000 | head -1"
    out = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], capture_output=True, text=True, timeout=120)
    assert out.stdout.count("\n") == 1 and out.stdout.startswith('{"nhsNumber"')
    assert out.stderr == ""
    assert out.returncode == 141


def test_python_m_mocks_shares_the_boundary(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mocks", "mocks", "--faults", str(tmp_path / "none.json")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
        env={**os.environ, "WARDGATE_MODE": "development"},
    )
    assert out.returncode == 2
    assert out.stderr == f"python -m mocks: --faults {tmp_path}/none.json: no such file\n"
