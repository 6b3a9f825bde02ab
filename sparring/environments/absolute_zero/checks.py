"""Checks of Absolute Zero proposals that run no code: config, static AST check, inputs, equality,
the number of functions, and code in an induction proposer's message.

Everything here is pure and cheap, and safe on untrusted text: it parses with ``ast`` and
``ast.literal_eval`` only, never ``exec``/``eval``. The static check is defense in depth
(it rejects programs that are obviously not self-contained pure functions before they
reach a sandbox); the sandbox (``sparring.sandbox``) is the real isolation, and a program
that passes this check is still only ever run there.

Policy (documented here because the arena and its prompts depend on it):
  - a program must define exactly one top-level ``def <cfg.entry>`` (a plain ``def``, not
    ``async def``, a lambda or an assignment) and must not rebind that name anywhere at top
    level; helper functions, classes, constants and imports of allowed modules are allowed,
    and so is other top-level code (it runs in the sandbox); the released AZR code accepts
    only one ``def`` in the whole program: ``function_count`` lets the arena apply that rule
    (``checks.helpers: false``);
  - an import is rejected when any dotted prefix of the module is in
    ``cfg.forbidden_modules`` (``import os.path as p``, ``from os import system``, ``import
    math, os``), when it is relative (``from . import x``), or, with ``cfg.allowed_modules``
    set, when its top-level package is not listed; ``from __future__ import ...`` is allowed;
  - any *reference* to a name in ``cfg.forbidden_calls`` is rejected, called or not (``g =
    eval`` is caught too), as is any dunder name other than ``__name__`` (``__builtins__``,
    ``__import__``, ``__loader__`` ...), any dunder attribute other than those in
    ``cfg.allowed_dunder_attributes`` (``().__class__.__bases__``), any attribute in
    ``cfg.forbidden_attributes`` (frame and code objects reached without dunders:
    ``gen.gi_frame.f_globals``, ``operator.attrgetter``; imported by name too), and string
    constants that would make ``str.format`` read a dunder attribute (``"{0.__class__}"``)
    -- all of these are the rejection "forbidden_call";
  - the check is not complete (a format string assembled at run time passes it): it makes
    escapes harder and keeps proposals honest; isolation is the sandbox's job;
  - ``id``, ``hash`` and ``print`` are allowed: the first two are caught, when they matter,
    by the determinism check (two runs in separate processes with different hash seeds);
    printing is harmless (results travel on a separate, nonce-tagged channel).

Not done here: anything that needs running the program (timeouts, memory, determinism,
output representability): see ``validation.py``.
"""

from __future__ import annotations

import ast
import re
import warnings
import textwrap
from dataclasses import dataclass
from typing import Any

MODEL_TEXT = "<model text>"  # the file name untrusted text is parsed under
# Its SyntaxWarnings ("invalid decimal literal" for `1a`) would reach stderr and say nothing the
# rejection does not; only warnings of text parsed under this name are filtered.
warnings.filterwarnings("ignore", category=SyntaxWarning, module=re.escape(MODEL_TEXT))


def parse_model_text(text: str, mode: str = "exec") -> ast.AST:
    """`ast.parse` of untrusted text (programs, inputs, answers), without SyntaxWarnings."""
    return ast.parse(text, filename=MODEL_TEXT, mode=mode)


#: Every reason a proposal or a solver check can be rejected with (``CallResult.reason``).
REJECTIONS: tuple[str, ...] = (
    "program_too_large", "syntax_error", "forbidden_import", "forbidden_call",
    "no_entry_function", "bad_input", "timeout", "memory_limit", "runtime_error",
    "nondeterministic", "unrepresentable_output", "output_too_large", "sandbox_error")

DEFAULT_FORBIDDEN_MODULES: tuple[str, ...] = (
    # processes, files, the interpreter itself
    "os", "sys", "subprocess", "shutil", "pathlib", "io", "tempfile", "glob", "fnmatch",
    "fileinput", "filecmp", "mmap", "fcntl", "pty", "tty", "termios", "resource", "posix",
    "nt", "pwd", "grp", "platform", "sysconfig", "site", "builtins", "importlib", "imp",
    "pkgutil", "runpy", "zipimport", "code", "codeop", "ctypes", "cffi", "gc", "inspect",
    "traceback", "linecache", "dis", "types", "weakref", "atexit", "signal", "faulthandler", "tracemalloc",
    "pickle", "cPickle", "marshal", "shelve", "dbm", "sqlite3", "copyreg", "zipfile",
    "tarfile", "gzip", "bz2", "lzma", "zlib", "logging", "warnings",
    # nondeterminism: randomness, clocks, concurrency
    "random", "secrets", "uuid", "time", "datetime", "calendar", "timeit", "threading",
    "_thread", "multiprocessing", "concurrent", "asyncio", "sched", "queue", "selectors",
    "select",
    # network
    "socket", "ssl", "http", "urllib", "urllib3", "requests", "ftplib", "smtplib", "telnetlib",
    "xmlrpc", "socketserver", "webbrowser", "email",
    # heavyweight or unusual in a short pure function
    "numpy", "pandas", "torch", "tensorflow", "sympy", "scipy", "hashlib", "hmac",
)

DEFAULT_FORBIDDEN_CALLS: tuple[str, ...] = (
    "open", "exec", "eval", "compile", "input", "__import__", "globals", "locals", "vars",
    "breakpoint", "exit", "quit", "getattr", "setattr", "delattr", "memoryview", "help",
    "dir",
)

DEFAULT_FORBIDDEN_ATTRIBUTES: tuple[str, ...] = (
    "gi_frame", "gi_code", "ag_frame", "ag_code", "cr_frame", "cr_code", "f_globals",
    "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "co_code",
    "func_globals", "func_code", "import_module", "system", "popen", "mro",
    "attrgetter", "methodcaller",  # operator.attrgetter("__class__") reads any attribute
)

_DUNDER = re.compile(r"^__\w+__$")
# "{0.__class__}" / "{x[__y__]}" in a format string reads an attribute without any AST node.
_FORMAT_DUNDER = re.compile(r"\{[^{}]*(\.|\[)\s*__")


@dataclass(frozen=True)
class ValidationConfig:
    """Limits and rules every proposal and solver check is validated against."""

    entry: str = "f"  # the one entry function every program must define at top level
    forbidden_modules: tuple[str, ...] = DEFAULT_FORBIDDEN_MODULES  # any dotted prefix matches
    forbidden_calls: tuple[str, ...] = DEFAULT_FORBIDDEN_CALLS  # names that may not appear
    forbidden_attributes: tuple[str, ...] = DEFAULT_FORBIDDEN_ATTRIBUTES  # ``x.<name>``
    allowed_dunder_attributes: tuple[str, ...] = ("__init__", "__name__")  # e.g. self.__init__
    allowed_modules: tuple[str, ...] | None = None  # if set: only these top-level packages
    timeout_s: float = 2.0  # wall clock for loading the program and one call
    memory_mb: int = 256  # address space of the program's process
    max_program_chars: int = 4000  # longer programs: "program_too_large"
    max_input_chars: int = 1000  # longer input text: "bad_input"
    max_output_chars: int = 1000  # longer output repr: "output_too_large" (never truncated)
    determinism_runs: int = 2  # executions in separate processes that must agree (>= 1)

    def __post_init__(self) -> None:
        if not isinstance(self.entry, str) or not self.entry.isidentifier():
            raise ValueError(f"ValidationConfig.entry must be an identifier, got {self.entry!r}")
        for name in ("forbidden_modules", "forbidden_calls", "forbidden_attributes",
                     "allowed_dunder_attributes"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"ValidationConfig.{name} must be a tuple of str, got {value!r}")
        if self.allowed_modules is not None and not (
                isinstance(self.allowed_modules, tuple)
                and all(isinstance(v, str) for v in self.allowed_modules)):
            raise ValueError(f"ValidationConfig.allowed_modules must be None or a tuple of str, "
                             f"got {self.allowed_modules!r}")
        if not (isinstance(self.timeout_s, (int, float)) and 0 < self.timeout_s < 3600):
            raise ValueError(f"ValidationConfig.timeout_s must be in (0, 3600), "
                             f"got {self.timeout_s!r}")
        for name, low in (("memory_mb", 48), ("max_program_chars", 1), ("max_input_chars", 0),
                          ("max_output_chars", 1), ("determinism_runs", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"ValidationConfig.{name} must be an int >= {low}, "
                                 f"got {value!r}")


@dataclass(frozen=True)
class CallResult:
    """Outcome of validating or running one (program, input): accepted with an output repr,
    or rejected with one of ``REJECTIONS``."""

    ok: bool
    reason: str | None  # one of REJECTIONS when not ok, else None
    output_repr: str | None  # repr of f(*args) when ok; ast.literal_eval(output_repr) == value
    detail: str = ""  # short human-readable why

    def __post_init__(self) -> None:
        if self.ok != (self.reason is None) or (self.reason is not None
                                                and self.reason not in REJECTIONS):
            raise ValueError(f"CallResult: ok={self.ok} needs reason None, else one of "
                             f"REJECTIONS; got reason={self.reason!r}")
        if self.ok != (self.output_repr is not None):
            raise ValueError("CallResult: output_repr is set exactly when ok")

    @property
    def value(self) -> Any:
        """The output rebuilt on the host (ValueError when rejected)."""
        if not self.ok or self.output_repr is None:
            raise ValueError(f"no output: rejected with {self.reason}")
        return ast.literal_eval(self.output_repr)


def reject(reason: str, detail: str = "") -> CallResult:
    return CallResult(ok=False, reason=reason, output_repr=None, detail=detail[:300])


def accept(output_repr: str) -> CallResult:
    return CallResult(ok=True, reason=None, output_repr=output_repr)


# ----------------------------------------------------------------------------- static check

def static_check(program: str, cfg: ValidationConfig = ValidationConfig()) -> CallResult | None:
    """Reject ``program`` without running it, or return None when it passes (see the module
    docstring for the rules). Never raises for any program text."""
    if not isinstance(program, str):
        return reject("syntax_error", f"the program must be str, got {type(program).__name__}")
    if len(program) > cfg.max_program_chars:
        return reject("program_too_large",
                      f"{len(program)} characters > {cfg.max_program_chars}")
    try:
        tree = parse_model_text(program)
    except (SyntaxError, ValueError) as e:  # ValueError: null bytes
        return reject("syntax_error", f"{type(e).__name__}: {e}")
    except (RecursionError, MemoryError):
        return reject("syntax_error", "the program is nested too deeply to parse")
    try:
        return _check_nodes(tree, cfg) or _check_entry(tree, cfg)
    except RecursionError:
        return reject("syntax_error", "the program is nested too deeply to check")


def _module_forbidden(module: str, cfg: ValidationConfig) -> bool:
    parts = module.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    if prefixes & set(cfg.forbidden_modules):
        return True
    return cfg.allowed_modules is not None and parts[0] not in cfg.allowed_modules


def _check_nodes(tree: ast.AST, cfg: ValidationConfig) -> CallResult | None:
    calls = set(cfg.forbidden_calls)
    attrs = set(cfg.forbidden_attributes)
    dunders_ok = set(cfg.allowed_dunder_attributes)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _module_forbidden(alias.name, cfg):
                    return reject("forbidden_import", f"import {alias.name} (line {node.lineno})")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                return reject("forbidden_import",
                              f"relative import from {'.' * node.level}{node.module or ''} "
                              f"(line {node.lineno})")
            module = node.module or ""
            if module == "__future__":
                continue
            if _module_forbidden(module, cfg):
                return reject("forbidden_import", f"from {module} import ... (line {node.lineno})")
            for alias in node.names:
                if alias.name in calls or alias.name in attrs:  # from operator import attrgetter
                    return reject("forbidden_call",
                                  f"from {module} import {alias.name} (line {node.lineno})")
                if alias.name != "*" and _module_forbidden(f"{module}.{alias.name}", cfg):
                    return reject("forbidden_import",  # ``from x import os``-style submodules
                                  f"from {module} import {alias.name} (line {node.lineno})")
        elif isinstance(node, ast.Name):
            if node.id in calls:
                return reject("forbidden_call", f"uses {node.id} (line {node.lineno})")
            if _DUNDER.match(node.id) and node.id != "__name__":
                return reject("forbidden_call", f"uses the dunder name {node.id} "
                                                f"(line {node.lineno})")
        elif isinstance(node, ast.Attribute):
            if _DUNDER.match(node.attr) and node.attr not in dunders_ok:
                return reject("forbidden_call", f"accesses the dunder attribute .{node.attr} "
                                                f"(line {node.lineno})")
            if node.attr in attrs:
                return reject("forbidden_call", f"accesses the attribute .{node.attr} "
                                                f"(line {node.lineno})")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _FORMAT_DUNDER.search(node.value):
                return reject("forbidden_call", f"a format string reads a dunder attribute "
                                                f"(line {node.lineno})")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name in calls:  # ``def eval(...)`` would shadow and be referenced later
                return reject("forbidden_call", f"defines {node.name} (line {node.lineno})")
    return None


def _check_entry(tree: ast.Module, cfg: ValidationConfig) -> CallResult | None:
    entry = cfg.entry
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry]
    if not defs:
        if any(isinstance(n, ast.AsyncFunctionDef) and n.name == entry for n in tree.body):
            return reject("no_entry_function", f"{entry} must be a plain def, not async def")
        return reject("no_entry_function", f"no top-level def {entry}(...)")
    if len(defs) > 1:
        return reject("no_entry_function", f"def {entry} appears {len(defs)} times at top level")
    for node in _module_level_nodes(tree):
        rebinds = (
            (isinstance(node, ast.Name) and node.id == entry
             and isinstance(node.ctx, (ast.Store, ast.Del)))
            or (isinstance(node, (ast.Import, ast.ImportFrom))
                and any((a.asname or a.name.split(".")[0]) == entry for a in node.names))
            or (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and node.name == entry and node is not defs[0]))
        if rebinds:
            return reject("no_entry_function",
                          f"{entry} is rebound at top level (line {node.lineno})")
    for node in ast.walk(tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)) and entry in node.names:
            return reject("no_entry_function",
                          f"{entry} is declared global in a function (line {node.lineno})")
    return None


def _module_level_nodes(tree: ast.Module):
    """Nodes whose bindings are module-level: everything but the insides of functions,
    lambdas and classes (whose names are local); comprehensions are walked, since a walrus
    in them binds at module level (their loop variables are flagged too: a harmless excess)."""
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, scopes):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                stack.extend(node.decorator_list)  # evaluated in the enclosing scope
            continue
        stack.extend(ast.iter_child_nodes(node))


# ----------------------------------------------------------------------------- functions, messages

def function_count(program: str) -> int | None:
    """``def``s anywhere in ``program`` (helpers, nested functions, methods; lambdas do not
    count), or None when it does not parse (the static check names that "syntax_error").
    The released AZR code rejects a proposal with more than one (``reject_multiple_functions``)."""
    tree = _parse(program)
    if tree is None:
        return None
    return sum(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(tree))


_PYTHON_FENCE = re.compile(r"```[ \t]*(python3?|py)?[ \t]*\r?\n(.*?)```", re.DOTALL | re.IGNORECASE)
_DEF = re.compile(r"\bdef\s+\w+\s*\(")
_LAMBDA = re.compile(r"\blambda\b[\w\s,*=]{0,80}:")  # bounded: no quadratic scans of hostile text
_RETURN = re.compile(r"\breturn\b")
_CODE_CHARS = frozenset("()[]{}=+-*/%<>:.,")
_MIN_LEAK_CHARS = 6  # shorter program lines ("else:", "pass") say nothing
_MAX_STATEMENT_CHARS = 300  # a return statement read out of a message is cut here
_MAX_RETURNS = 50  # occurrences of "return" examined per message


def code_in_message(message: str, program: str, entry: str = "f") -> str | None:
    """Why an induction proposer's message counts as code, or None for a message in words.

    The solver must induce f from examples; a message that carries the program (or any code)
    turns induction into copying, so AZR's prompt forbids it ("You cannot provide the code
    snippet in the message"; the release does not check it, sparring does). Code is: a python
    (or bare, parseable) code block, any ``def NAME(`` or ``lambda ...:``, a ``return`` that
    parses as a return statement of more than a name, a statement line of ``program`` that
    looks like code (or is a whole line of the message) or the expression it returns (``sum(a) *
    2``; a docstring's sentence is no code), a line that parses as a statement on ``entry``
    (``f(2) == 4``, ``f = sorted``), or several lines that parse as Python statements. English
    that merely uses these words ("f should return the sum") passes. Never raises; ``ast`` only.
    """
    for check in (_code_block, _definition, _return_statement, _program_line, _statement_on_entry,
                  _code_lines):
        why = check(message, program, entry)
        if why is not None:
            return why
    return None


def _parse(text: str, mode: str = "exec") -> ast.AST | None:
    try:
        return parse_model_text(text, mode)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError, OverflowError):
        return None


def _is_code(stmt: ast.stmt) -> bool:
    """A statement more than a word or a label: ``Note: sorting`` parses as an annotation and
    ``Sorting`` as a name, neither is code."""
    if isinstance(stmt, ast.Expr):
        return not isinstance(stmt.value, (ast.Name, ast.Constant))
    if isinstance(stmt, ast.AnnAssign):
        return stmt.value is not None
    return True


def _code_block(message: str, program: str, entry: str) -> str | None:
    for m in _PYTHON_FENCE.finditer(message):
        body = m.group(2).strip()
        tree = _parse(body) if body else None
        if body and (m.group(1) or (tree is not None and any(_is_code(s) for s in tree.body))):
            return "a python code block"
    return None


def _definition(message: str, program: str, entry: str) -> str | None:
    if _DEF.search(message):
        return "a function definition (def)"
    return "a lambda" if _LAMBDA.search(message) else None


def _return_statement(message: str, program: str, entry: str) -> str | None:
    for i, m in enumerate(_RETURN.finditer(message)):
        if i == _MAX_RETURNS:
            break
        rest = message[m.start():m.start() + _MAX_STATEMENT_CHARS].split("\n", 1)[0].rstrip(" .;!?")
        tree = _parse(f"def _():\n    {rest}")
        if tree is not None:
            value = tree.body[0].body[0].value
            if value is not None and not isinstance(value, (ast.Name, ast.Constant)):
                return f"a return statement: {rest[:60]!r}"
    return None


def _program_line(message: str, program: str, entry: str) -> str | None:
    lines = {line.strip() for line in message.splitlines()}
    for line in program.splitlines():
        code = line.strip()
        if len(code) < _MIN_LEAK_CHARS or not _statement(code):  # a docstring's sentence is no code
            continue
        if code in lines or (_CODE_CHARS.intersection(code) and code in message):
            return f"a line of the program: {code[:60]!r}"
        returned = code[len("return "):].strip() if code.startswith("return ") else ""
        if len(returned) >= _MIN_LEAK_CHARS and _CODE_CHARS.intersection(returned) and returned in message:
            return f"what the program returns: {returned[:60]!r}"
    return None


def _statement(line: str) -> bool:
    """Whether one line of a program is a statement, or opens one (``for x in a:``)."""
    tree = _parse(line) or _parse(line + " pass")
    return tree is not None and bool(tree.body)


def _statement_on_entry(message: str, program: str, entry: str) -> str | None:
    for line in message.splitlines():
        line = line.strip().rstrip(" .;")
        if entry not in line:
            continue
        tree = _parse(line)
        if tree is not None and any(_is_code(s) for s in tree.body) and any(
                isinstance(n, ast.Name) and n.id == entry for n in ast.walk(tree)):
            return f"a statement on {entry}: {line[:60]!r}"
    return None


def _code_lines(message: str, program: str, entry: str) -> str | None:
    if len([line for line in message.splitlines() if line.strip()]) < 2:
        return None
    tree = _parse(textwrap.dedent(message).strip())
    if tree is not None and any(_is_code(s) for s in tree.body):
        return "lines of Python"
    return None


# ----------------------------------------------------------------------------- inputs, equality

def parse_input(input_text: str, cfg: ValidationConfig = ValidationConfig()) -> tuple | None:
    """The positional arguments written in ``input_text`` (the text between the parentheses
    of ``f(...)``), or None when it is not a list of Python literals.

    ``"1, [2, 3]"`` -> ``(1, [2, 3])``; ``"(1, 2)"`` -> ``((1, 2),)`` (one tuple argument, as
    in ``f((1, 2))``); ``""`` -> ``()``. Keyword arguments, ``*args``, names and calls other
    than ``set()`` are rejected; values must survive ``repr`` -> ``literal_eval`` (so
    ``1e999`` is rejected). Parsed with ``ast`` only.
    """
    if not isinstance(input_text, str) or len(input_text) > cfg.max_input_chars:
        return None
    try:
        tree = parse_model_text(f"_({input_text}\n)", "eval")
        call = tree.body
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                and call.func.id == "_") or call.keywords:
            return None
        args = []
        for node in call.args:
            if isinstance(node, ast.Starred):
                return None
            value = ast.literal_eval(node)
            if not _round_trips(value):
                return None
            args.append(value)
        return tuple(args)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return None


def _round_trips(value: Any) -> bool:
    try:
        return _typed(ast.literal_eval(repr(value))) == _typed(value)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False


#: How solver answers are compared with the expected output (``outputs_equal``).
EQUALITIES: tuple[str, ...] = ("strict", "release")


def outputs_equal(a_repr: str, b_repr: str, equality: str = "strict") -> bool:
    """Whether two output reprs denote the same value under ``equality``: "strict" is
    ``values_equal`` (types strict at every level); "release" is the released AZR code's Python
    ``==`` (``1 == 1.0 == True``, ``{'a': 1} == {'a': 1.0}``, still ``(1,) != [1]``), on values
    rebuilt with ``ast.literal_eval`` only: the release ``eval``s answers, so there ``2 + 2``
    equals ``4``; here text that is not a literal equals nothing, in either mode."""
    if equality == "strict":
        return values_equal(a_repr, b_repr)
    if equality != "release":
        raise ValueError(f"unknown equality {equality!r}; choose from {EQUALITIES}")
    try:
        return bool(ast.literal_eval(a_repr) == ast.literal_eval(b_repr))
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False


def values_equal(a_repr: str, b_repr: str) -> bool:
    """Whether two output reprs denote the same value, compared on the host by value and by
    type at every level: ``{1, 2}`` equals ``{2, 1}`` (set order does not matter) but ``1``
    differs from ``1.0`` and from ``True``, and ``(1,)`` from ``[1]``. Text that is not a
    Python literal equals nothing. Floats compare with ``==`` (``0.0 == -0.0``)."""
    try:
        return _typed(ast.literal_eval(a_repr)) == _typed(ast.literal_eval(b_repr))
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False


def _typed(value: Any) -> Any:
    """A hashable, type-tagged form of a literal: equal iff the values are equal with
    identical types at every level."""
    t = type(value)
    if t in (list, tuple):
        return (t.__name__, tuple(_typed(v) for v in value))
    if t in (set, frozenset):
        return (t.__name__, frozenset(_typed(v) for v in value))
    if t is dict:
        return ("dict", frozenset((_typed(k), _typed(v)) for k, v in value.items()))
    if t in (int, float, complex, str, bytes, bool, type(None)):
        return (t.__name__, value)
    raise TypeError(f"not a literal type: {t.__name__}")
