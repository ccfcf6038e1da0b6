"""``python -m monitor`` runs the ``newswatch`` command."""

from monitor.cli import main

raise SystemExit(main())
