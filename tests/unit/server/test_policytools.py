"""`wardgate policy test` and `explain`: the shipped case table passes, is thorough, and catches a broken policy."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from gateway.config import PROJECT_ROOT
from gateway.dev import PERSONAS
from gateway.server.cli import main

CASES = PROJECT_ROOT / "policies/wardgate/access/access_cases.yaml"
REGO = PROJECT_ROOT / "policies/wardgate/access/access.rego"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The exit code, and what the command wrote (stdout, then stderr where a mistake is reported)."""
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_shipped_table_passes_on_the_embedded_engine(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["policy", "--engine", "embedded", "test"], capsys)
    assert code == 0, out
    n = len(yaml.safe_load(CASES.read_text())["cases"])
    assert re.search(rf"^{n} cases, \d+ checks, 0 case\(s\) failed", out, re.M), out


def test_the_table_covers_every_reason_the_policy_gives_and_every_persona() -> None:
    rego = REGO.read_text()
    reasons = set(re.findall(r'(?:allow|deny)\("([A-Z_]+)"\)', rego)) | set(re.findall(r'"reason": "([A-Z_]+)"', rego))
    reasons -= {"UNKNOWN_LABEL"}  # unreachable from the schema: every label is one of the known seven
    table = CASES.read_text()
    missing = sorted(r for r in reasons if not re.search(rf"\b{r}\b", table))
    assert missing == []
    personas = {c.get("persona") for c in yaml.safe_load(table)["cases"]}
    assert {p.name for p in PERSONAS} <= personas


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", root)
    for path in root.rglob("*"):
        if path.suffix in (".rego", ".json") and old in path.read_text():
            path.write_text(path.read_text().replace(old, new))
            return root
    raise AssertionError(f"{old!r} not found")


@pytest.mark.parametrize(
    ("old", "new", "failure"),
    [
        # a police officer loses the safeguarding role
        (
            '"restricted_roles": ["social-worker", "police-officer", "yot-worker"]',
            '"restricted_roles": ["social-worker", "yot-worker"]',
            "Child.youthJustice: expected allow SAFEGUARDING_ROLE, got deny NOT_NEED_TO_KNOW",
        ),
        # the shield is forgotten: a fail-open policy
        (
            "\tshielded\n\tnot child_protection_override",
            "\tfalse\n\tnot child_protection_override",
            "deny SHIELDED, got",
        ),
        # two factors no longer asked for
        ("\tnot mfa\n", "\tfalse\n", "Child.police: expected deny TWO_FACTOR_REQUIRED, got"),
    ],
)
def test_a_broken_policy_fails_the_table_saying_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, failure: str
) -> None:
    root = broken_copy(tmp_path, old, new)
    code, out = run(["policy", "--policy-dir", str(root), "test", str(CASES)], capsys)
    assert code == 1
    assert "FAIL" in out and failure in out, out


def test_a_malformed_case_is_a_clear_error_not_a_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad_cases.yaml"
    bad.write_text(
        "cases:\n  - name: typo\n    persona: gp\n    purpose: routine-care\n    expect: {Child.nmae: allow}\n"
    )
    code, out = run(["policy", "test", str(bad)], capsys)
    assert code == 2 and "Child.nmae is not a field of the schema" in out
    bad.write_text(
        "cases:\n  - name: typo\n    persona: gp\n    purpose: routine-care\n    expect: {Child.name: permit}\n"
    )
    code, out = run(["policy", "test", str(bad)], capsys)
    assert code == 2 and "is not `allow [REASON]`" in out


def test_explain_gives_the_decision_and_reason_for_given_facts(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["policy", "explain", "--persona", "gp", "--purpose", "routine-care", "--field", "Child.address"]
    code, out = run([*argv, "--facts", json.dumps({"shielded": True})], capsys)
    assert code == 0 and re.search(r"^decision\s+deny SHIELDED$", out, re.M), out
    code, out = run([*argv, "--facts", "{}"], capsys)
    assert code == 0 and re.search(r"^decision\s+allow CONTACT$", out, re.M), out
    code, out = run([*argv, "--facts", '{"shieldd": true}'], capsys)
    assert code == 2 and "not a child-facts object" in out


def test_the_readme_case_table_runs_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's example, copied into a file, is a whole case table that passes on the shipped policy."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    example = readme.split("saved as `my_cases.yaml`", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    table = tmp_path / "my_cases.yaml"
    table.write_text(example)
    code, out = run(["policy", "test", str(table)], capsys)
    assert code == 0, out
    assert re.search(r"^2 cases, 7 checks, 0 case\(s\) failed", out, re.M), out
