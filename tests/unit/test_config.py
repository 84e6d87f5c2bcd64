"""Settings: the annotated example file stays complete and true, and a config file is never silently ignored."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.config import PROJECT_ROOT, Settings, load_settings
from gateway.errors import ConfigError

EXAMPLE = PROJECT_ROOT / "wardgate.example.toml"
SETTING = re.compile(r"^# ([a-z_]+) = (.*)$")


def example_settings() -> list[tuple[str, Any]]:
    """Every commented-out setting in the example, as TOML would read it uncommented, in order."""
    found = []
    for line in EXAMPLE.read_text().splitlines():
        if m := SETTING.match(line):
            found.extend(tomllib.loads(f"{m[1]} = {m[2]}").items())
    return found


def test_the_example_names_every_setting_and_only_settings() -> None:
    text = EXAMPLE.read_text()
    named = {key for key, _ in example_settings()} | set(re.findall(r"^# ([a-z_]+): set WARDGATE_", text, re.M))
    assert named == set(Settings.model_fields)


def test_every_value_in_the_example_is_accepted() -> None:
    for key, value in example_settings():
        Settings(**{key: value})  # a misspelt key or an out-of-range value raises


def test_the_example_gives_the_defaults() -> None:
    first: dict[str, Any] = {}
    for key, value in example_settings():
        first.setdefault(key, value)
    for key, field in Settings.model_fields.items():
        if key in first and isinstance(field.default, str | int | float | bool) and field.default is not None:
            assert first[key] == field.default, key


def test_a_missing_config_file_is_an_error_not_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WARDGATE_CONFIG", str(tmp_path / "nosuch.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()
    monkeypatch.setenv("WARDGATE_CONFIG", str(EXAMPLE))
    assert load_settings().port == 8000  # every line of the example is commented out: the defaults
