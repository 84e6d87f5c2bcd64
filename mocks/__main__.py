"""``python -m mocks mocks ...`` / ``python -m mocks children ...``: the mock agencies' commands."""

from mocks.cli import main

raise SystemExit(main())
