"""Keep the compiled index on disk between starts, keyed by what the watch-topic files hold.

In: a topics directory, a cache directory and a way to build the index. Out: the
:class:`~monitor.tagging.index.Index` of those files, read from
``<cache>/tagging/index-<fingerprint>.pickle`` when it is there, else built (which validates
every file and raises ``ConfigErrors`` before anything is written) and then stored. At 10,000
watch topics a start from the cache takes about a quarter of a build.

It must never serve an index of other files or other code. The fingerprint is a SHA-256 of
every YAML file's path and bytes (contents, not modification times), of the source of the
modules that decide what an index holds, and of the Python and ``pyahocorasick`` versions;
anything else gives another file name. A cache that cannot be read or written only makes
the start slower. The cache directory is the service's own (``NEWSWATCH_CACHE``): only it
should be able to write there, because the entries are pickles.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from monitor.tagging import candidates, parse, rules, scripts, terms, text
from monitor.tagging import index as index_module
from monitor.tagging.index import Index

logger = logging.getLogger(__name__)


def _code_fingerprint() -> bytes:
    digest = hashlib.sha256(sys.version.encode())
    # The pickle holds automata and numpy arrays: their libraries' versions are part of it.
    for library in ("pyahocorasick", "numpy"):
        try:
            digest.update(f"{library} {version(library)}".encode())
        except PackageNotFoundError:
            digest.update(f"{library} ?".encode())
    for module in (index_module, candidates, parse, rules, scripts, terms, text):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.digest()


_CODE = _code_fingerprint()


def fingerprint(directory: Path) -> str:
    """A SHA-256 of the watch-topic and entity files of ``directory`` and of the code."""
    digest = hashlib.sha256(_CODE)
    for folder in (directory, directory / "entities"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix in (".yaml", ".yml") and path.is_file():
                data = path.read_bytes()
                digest.update(f"{path.relative_to(directory).as_posix()}\0{len(data)}\0".encode())
                digest.update(data)
    return digest.hexdigest()


def load_or_build(directory: str | Path, cache_dir: Path, build: Callable[[], Index]) -> Index:
    """Return the cached index of ``directory``'s files, or ``build()`` it and store it."""
    folder = cache_dir / "tagging"
    try:
        key = fingerprint(Path(directory))
    except OSError:
        return build()  # the build reports which file cannot be read
    path = folder / f"index-{key}.pickle"
    try:
        with path.open("rb") as f:
            found = pickle.load(f)
        if isinstance(found, Index):
            return found
    except FileNotFoundError:
        pass
    except Exception:  # a damaged entry: rebuild and overwrite it
        logger.warning("unreadable tagging index cache, rebuilding", extra={"path": str(path)},
                       exc_info=True)
    built = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".index-", delete=False) as out:
            pickle.dump(built, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(out.name, path)
        for old in folder.glob("index-*.pickle"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        logger.warning("cannot write the tagging index cache", extra={"path": str(path)},
                       exc_info=True)
    return built
