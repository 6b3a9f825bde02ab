"""User code: import the modules that register a user's games, arena kinds, estimators and engines.

Three ways in, all ending in a plain import (registration happens at import time):
- a config's `imports: [my_pkg.games, ...]` (the config file's folder and the working directory
  are importable, so a package beside the config needs no install);
- `--import MODULE` on `sparring train|eval|play` (repeatable);
- the `sparring.plugins` entry-point group of an installed package, loaded once per process.
An import that fails raises `PluginError` naming the module, where it was asked for and the cause.
"""

from __future__ import annotations

import importlib
import logging
import sys
import sysconfig
import traceback
from importlib.metadata import entry_points
from pathlib import Path

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "sparring.plugins"
_entry_points_loaded = False


class PluginError(ImportError):
    """A user module that could not be imported; the message names it and the cause."""


def _importable(folder: Path) -> None:
    path = str(folder.resolve())
    if path not in sys.path:
        sys.path.append(path)


def import_modules(modules: list[str], source: str = "imports", search: list[str | Path] = ()) -> None:
    """Import each module (dotted name); `search` folders (and the working directory) are added
    to the end of sys.path first. `source` says where the names came from, for errors."""
    for folder in [*search, Path.cwd()]:
        _importable(Path(folder))
    for name in modules:
        if not isinstance(name, str) or not name.strip():
            raise PluginError(f"{source}: module names must be non-empty strings, got {name!r}")
        try:
            importlib.import_module(name.strip())
        except Exception as e:  # any failure inside the user's module is reported, not swallowed
            raise PluginError(f"{source}: cannot import module {name!r}: {type(e).__name__}: {e}{_where(e)}") from e


def _where(e: BaseException) -> str:
    """Where the user's code failed: a SyntaxError's own line, else the deepest frame outside the
    standard library, installed packages, importlib and sparring (a registry clash is raised in
    sparring, a bad JSON file in json: the line to fix is the user's call), else the last frame."""
    if isinstance(e, SyntaxError) and e.filename:
        return f" at {e.filename}:{e.lineno}"
    frames = traceback.extract_tb(e.__traceback__) if e.__traceback__ else []
    library = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")}
                    | {str(Path(__file__).resolve().parent)})
    mine = [f for f in frames if not f.filename.startswith("<") and not str(Path(f.filename).resolve()).startswith(library)]
    frame = (mine or frames or [None])[-1]
    return f" at {frame.filename}:{frame.lineno}" if frame else ""


def load_entry_points() -> None:
    """Load every `sparring.plugins` entry point of the installed packages (once per process)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as e:
            raise PluginError(f"entry point {ep.name!r} = {ep.value!r} (group {ENTRY_POINT_GROUP}, package "
                              f"{getattr(ep.dist, 'name', '?')}): {type(e).__name__}: {e}") from e
        log.debug("loaded plugin %s = %s", ep.name, ep.value)
    _entry_points_loaded = True
