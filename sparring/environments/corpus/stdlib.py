"""An offline default corpus: the docstrings of the installed Python standard library.

Every machine that runs sparring has it, it needs no download, and it is real technical prose
about code, so a corpus-grounded arena runs out of the box. Modules are never imported (some
have side effects: antigravity opens a browser, this prints, turtle and tkinter open windows);
their source files are parsed with `ast`. One document per module, public class, function and
method docstring of at least `min_chars` characters, in file order, each headed by the object's
name ("json.dumps (function)"); long docstrings are cut into parts.

Skipped: site-packages, test suites (test/tests/idle_test), private names (`_helper`; dunders are
kept), definitions nested in functions or in if/try blocks, repeated docstrings (kept once), a
second definition of one name (a property's setter) and files that do not parse.
"""

from __future__ import annotations

import ast
import functools
import logging
import sysconfig
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from sparring.environments.corpus import Document
from sparring.environments.corpus.chunking import chunk_text, normalise

logger = logging.getLogger(__name__)

_SKIP_DIRS = frozenset({"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"})
_PART = ", part 99 of 99"  # the longest part suffix a header can get; reserved in every chunk's budget


def stdlib_documents(min_chars: int = 200, chunk_chars: int = 1500) -> list[Document]:
    """Documents from the standard library's docstrings, sorted by module path then position;
    built once per process and settings (the warm start and the arena both read them)."""
    return list(_stdlib_documents(min_chars, chunk_chars))


@functools.lru_cache(maxsize=4)
def _stdlib_documents(min_chars: int, chunk_chars: int) -> tuple[Document, ...]:
    started = time.perf_counter()
    root = Path(sysconfig.get_paths()["stdlib"])
    docs: list[Document] = []
    seen_names: set[str] = set()
    seen_texts: set[str] = set()
    for path in _source_files(root):
        for name, kind, docstring in _docstrings(path, _module_name(root, path)):
            if name in seen_names or docstring in seen_texts or len(docstring) < min_chars:
                continue
            seen_names.add(name)
            seen_texts.add(docstring)
            docs.extend(_documents(name, kind, docstring, chunk_chars, min_chars))
    logger.info("stdlib corpus: %d documents from %s in %.1fs", len(docs), root, time.perf_counter() - started)
    return tuple(docs)


def _source_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if not _SKIP_DIRS & set(p.relative_to(root).parts[:-1]))


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _docstrings(path: Path, module: str) -> Iterator[tuple[str, str, str]]:
    """(dotted name, kind, docstring) for the module and its public classes, functions and methods."""
    try:
        with warnings.catch_warnings():  # old escape sequences in a few files warn on parse
            warnings.simplefilter("ignore")
            tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError) as exc:
        logger.debug("stdlib corpus: skipping %s (%s)", path, exc)
        return
    docstring = ast.get_docstring(tree)
    if docstring:
        yield module, "module", docstring
    yield from _members(tree, module, in_class=False)


def _members(node: ast.Module | ast.ClassDef, prefix: str, in_class: bool) -> Iterator[tuple[str, str, str]]:
    for child in node.body:
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if child.name.startswith("_") and not child.name.endswith("__"):
            continue
        name = f"{prefix}.{child.name}"
        docstring = ast.get_docstring(child)
        if isinstance(child, ast.ClassDef):
            if docstring:
                yield name, "class", docstring
            yield from _members(child, name, in_class=True)
        elif docstring:
            yield name, "method" if in_class else "function", docstring


def _documents(name: str, kind: str, docstring: str, chunk_chars: int, min_chars: int) -> list[Document]:
    header = f"{name} ({kind})"
    budget = chunk_chars - len(header) - len(_PART) - 2
    if budget < 1:
        raise ValueError(f"chunk_chars={chunk_chars} leaves no room for the docstring of {name} after its header")
    if len(docstring) + len(header) + 2 <= chunk_chars:
        pieces = [normalise(docstring)]
    else:
        pieces = chunk_text(docstring, budget, min(min_chars, budget))
    source = f"stdlib:{name}"
    if len(pieces) == 1:
        return [Document(f"{source}#0", f"{header}\n\n{pieces[0]}", source)]
    return [Document(f"{source}#0.{i}", f"{name} ({kind}, part {i + 1} of {len(pieces)})\n\n{piece}", source)
            for i, piece in enumerate(pieces)]
