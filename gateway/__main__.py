"""``python -m gateway``: the ``wardgate`` command."""

from gateway.server.cli import main

raise SystemExit(main())
