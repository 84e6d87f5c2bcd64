"""The error boundary every command runs inside: a mistake is one line, a fault is one line and a file.

    $ wardgate run --config nosuch.toml
    wardgate: config file nosuch.toml does not exist (WARDGATE_CONFIG or --config names it)       (exit 2)
    $ wardgate policy test
    wardgate: internal error (KeyError at gateway/x.py:12); details in /tmp/wardgate-error-1a2b.log  (exit 1)

What the user gave wrongly (an option, a file, a setting, a port already in use) is a
:class:`~gateway.errors.ConfigError` raised where it is found, with a message that names it; argparse's own
complaints become the same through :class:`CommandParser`. Either is one line on stderr and exit 2. Anything
else is a fault in Wardgate: its traceback goes to a private file (it may quote what a command was working
on), and the terminal gets one line saying where. Output cut short by the reader (``| head``) ends quietly
with 141, as a shell reports SIGPIPE; Ctrl-C ends quietly with 130.

Exit codes: 0 done; 1 a check found problems (``policy test``, ``audit verify``) or an internal fault;
2 a mistake in what was given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

from gateway.config import CONFIG_VARIABLE, Settings, load_settings
from gateway.errors import ConfigError, UsageError

MISTAKE, FAULT, INTERRUPTED, PIPE_CLOSED = 2, 1, 130, 141


class CommandParser(argparse.ArgumentParser):
    """argparse, with its errors raised as :class:`UsageError` (one line) instead of usage text and exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)", prog=self.prog)


def shared_option(parsers: Sequence[argparse.ArgumentParser], *names: str, **kwargs: Any) -> None:
    """Add one option to a command and each of its subcommands, so it is accepted before or after the
    subcommand's name (``wardgate audit --file X verify`` and ``wardgate audit verify --file X``).

    The subcommands' copies default to "not given", so they never overwrite a value given earlier.
    """
    first, *rest = parsers
    first.add_argument(*names, **kwargs)
    for parser in rest:
        parser.add_argument(*names, **{**kwargs, "default": argparse.SUPPRESS})


def int_between(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number in ``[low, high]``, refused with the range it must be in."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            limit = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{value} is out of range: give a number {limit}")
        return value

    return parse


PORT = int_between(1, 65_535)


def command_settings(config: str | None = None, **overrides: Any) -> Settings:
    """The settings a command runs with: ``--config`` (when given) names the file for this process and any
    workers it starts, then :func:`gateway.config.load_settings` (``None`` overrides are not given)."""
    if config:
        os.environ[CONFIG_VARIABLE] = config
    return load_settings(**overrides)


def package_version() -> str:
    try:
        return version("wardgate")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def run_command(command: Callable[[], int], *, prog: str = "wardgate") -> int:
    """Run one command inside the boundary; the exit code to leave with."""
    try:
        code = command()
        sys.stdout.flush()  # a reader that went away is noticed here, inside the boundary
        return code
    except ConfigError as exc:
        say(f"{getattr(exc, 'prog', None) or prog}: {exc.message}")
        return MISTAKE
    except BrokenPipeError:
        _silence_stdout()
        return PIPE_CLOSED
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as exc:
        say(f"{prog}: internal error ({_origin(exc)}); details in {_write_details(exc)}")
        return FAULT


def say(line: str) -> None:
    """One line on stderr: newlines and runs of spaces in a message (from a library) are folded."""
    print(" ".join(line.split()), file=sys.stderr, flush=True)


def _origin(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    where = frames[-1]
    return f"{type(exc).__name__} at {os.path.relpath(where.filename)}:{where.lineno}"


def _write_details(exc: BaseException) -> str:
    """The traceback, in a new file only this user can read; its path."""
    fd, path = tempfile.mkstemp(prefix="wardgate-error-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"wardgate {package_version()} on Python {sys.version.split()[0]}, {dt.datetime.now().isoformat()}\n")
        fh.write(f"command: {' '.join(sys.argv)}\n\n")
        fh.write("".join(traceback.format_exception(exc)))
    return path


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush does not raise again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (captured in tests)
        pass
