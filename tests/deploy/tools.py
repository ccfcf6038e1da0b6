"""Where the deployment tests find their command-line tools (promtool, kustomize, ...).

::

    subprocess.run([tool("promtool"), "check", "rules", path], check=True)

``tools/install`` puts them in ``$NEWSWATCH_CACHE/tools`` (default ``~/.cache/newswatch/tools``):
binaries in ``bin/``, Python tools in ``venv/bin/``. A missing tool skips the test locally and
fails it in CI (``CI`` set), where a skip would hide that nothing was checked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def tools_dir() -> Path:
    """Return the folder ``tools/install`` installs into."""
    cache = os.environ.get("NEWSWATCH_CACHE") or str(Path.home() / ".cache" / "newswatch")
    return Path(cache) / "tools"


def tool(name: str) -> Path:
    """Return the path of an installed tool; skip the test (fail it in CI) when it is missing."""
    for folder in ("bin", "venv/bin"):
        path = tools_dir() / folder / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    message = f"{name} not found in {tools_dir()}: run tools/install"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
