"""Helpers for code arenas: call a function of a program on inputs, check cases, determinism.

A call runs inside the sandbox through a small harness that loads the program (as module
``solution``, so ``if __name__ == "__main__"`` blocks do not run), calls the function with
literal arguments, and reports each outcome on a nonce-tagged line of stdout. Results cross
back as ``repr`` text: when a result is made only of builtin types (checked by exact type, so
subclasses with a rigged ``__eq__`` or ``__repr__`` do not count) the host rebuilds it with
``ast.literal_eval`` and compares it with the expected value on the host, where the program
cannot interfere. What a harness in the program's own process cannot prevent: a program that
patches interpreter memory (ctypes) can make its own calls report anything; it still cannot
see the expected values, which never enter the sandbox.
"""

from __future__ import annotations

import ast
import concurrent.futures
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .result import ExecLimits, ExecResult, Status
from .sandbox import Sandbox

_HARNESS = r'''
import os as _os, signal as _signal, sys as _sys, time as _time, ast as _ast

def _sparring_harness(_code, _func, _calls, _nonce, _per_call):
    _repr, _type, _str, _write, _clock = repr, type, str, _os.write, _time.perf_counter
    _scalars = (int, float, complex, str, bytes, bool, type(None))
    _seqs = (list, tuple, set, frozenset)

    def _plain(x, depth=0):
        t = _type(x)
        if depth > 100:
            return False
        if t in _scalars:
            return True
        if t in _seqs:
            return all(_plain(v, depth + 1) for v in x)
        if t is dict:
            return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in x.items())
        return False

    def _emit(index, kind, payload="", elapsed=0.0):
        try:
            _sys.stdout.flush()
        except BaseException:
            pass
        line = "\n%s %d %s %.6f %s\n" % (_nonce, index, kind, elapsed, _repr(_str(payload)))
        _write(1, line.encode("utf-8", "backslashreplace"))

    class _CallTimeout(BaseException):
        pass

    def _alarm(signum, frame):
        raise _CallTimeout()

    module = type(_sys)("solution")
    _sys.modules["solution"] = module
    try:
        exec(compile(_code, "<solution>", "exec"), module.__dict__)
        fn = module.__dict__.get(_func)
        if not callable(fn):
            raise NameError("the program defines no function %r" % (_func,))
    except MemoryError:
        _emit(-1, "memory", "MemoryError while loading the program")
        return
    except BaseException as e:
        import traceback
        traceback.print_exc()
        _emit(-1, "load_error", "%s: %s" % (_type(e).__name__, e))
        return
    _signal.signal(_signal.SIGALRM, _alarm)
    for index, (args, kwargs) in enumerate(_calls):
        kind, payload = "ok", ""
        start = _clock()
        try:
            if _per_call:
                _signal.setitimer(_signal.ITIMER_REAL, _per_call)
            value = fn(*args, **kwargs)
            _signal.setitimer(_signal.ITIMER_REAL, 0)
            try:
                payload = _repr(value)
                kind = "ok" if _plain(value) else "ok_opaque"
            except BaseException as e:
                kind, payload = "raise", "repr() of the result failed: %s" % (_type(e).__name__,)
        except _CallTimeout:
            kind = "timeout"
        except MemoryError:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
            kind = "memory"
        except BaseException as e:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
            try:
                payload = "%s: %s" % (_type(e).__name__, e)
            except BaseException:
                payload = _type(e).__name__
            kind = "raise"
        _emit(index, kind, payload, _clock() - start)

_sparring_harness(__CODE__, __FUNC__, _ast.literal_eval(__CALLS__), __NONCE__, __PER_CALL__)
'''

_KIND_STATUS: dict[str, Status] = {"ok": "ok", "ok_opaque": "ok", "raise": "error",
                                   "timeout": "timeout", "memory": "memory_limit",
                                   "load_error": "error"}


@dataclass(frozen=True)
class Call:
    """Arguments of one call; a plain tuple means positional arguments only."""

    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallResult:
    """Outcome of one function call. ``value`` is set only for builtin-typed results."""

    status: Status
    value_repr: str | None = None  # repr of the returned value (status "ok")
    literal: bool = False  # value_repr was produced from builtin types only
    exception: str | None = None  # "TypeError: ..." when the call raised
    duration_s: float = 0.0
    detail: str = ""

    @property
    def value(self) -> Any:
        """The returned value rebuilt on the host; ValueError unless it is a plain literal."""
        if self.status != "ok" or not self.literal or self.value_repr is None:
            raise ValueError(f"no literal value (status={self.status}, literal={self.literal})")
        return ast.literal_eval(self.value_repr)


@dataclass(frozen=True)
class CallBatch:
    """All calls of one execution plus the execution itself (stdout without result lines)."""

    calls: list[CallResult]
    execution: ExecResult
    stdout: str


@dataclass(frozen=True)
class CaseReport:
    passed: int
    total: int
    results: list[CallResult]
    failures: list[str]  # one line per failed case, saying why

    @property
    def all_passed(self) -> bool:
        return self.passed == self.total


@dataclass(frozen=True)
class DeterminismResult:
    deterministic: bool
    first: CallResult
    second: CallResult
    reason: str


def call_many(sb: Sandbox, code: str, func: str, inputs: Sequence[tuple | Call], *,
              per_call_timeout_s: float | None = None, batch_timeout_s: float | None = None,
              limits: ExecLimits | None = None, hash_seed: int | None = None) -> CallBatch:
    """Call ``func`` of ``code`` once per input, in one sandboxed execution, in order.

    ``per_call_timeout_s`` bounds each call (SIGALRM in the program); ``batch_timeout_s``
    bounds the whole execution (default: the sandbox's timeout). Calls share the program's
    module state, as in a test harness; use one ``call_many`` per input for full isolation.
    """
    program, nonce, n, base = _prepare(sb, code, func, inputs, per_call_timeout_s,
                                       batch_timeout_s, limits)
    execution = sb.run(program, limits=base, hash_seed=hash_seed)
    return _parse(execution, nonce, n)


async def acall_many(sb: Sandbox, code: str, func: str, inputs: Sequence[tuple | Call], *,
                     per_call_timeout_s: float | None = None,
                     batch_timeout_s: float | None = None, limits: ExecLimits | None = None,
                     hash_seed: int | None = None) -> CallBatch:
    """``call_many`` for asyncio (through ``Sandbox.arun``): concurrent calls share the pool."""
    program, nonce, n, base = _prepare(sb, code, func, inputs, per_call_timeout_s,
                                       batch_timeout_s, limits)
    execution = await sb.arun(program, limits=base, hash_seed=hash_seed)
    return _parse(execution, nonce, n)


def _prepare(sb: Sandbox, code: str, func: str, inputs: Sequence[tuple | Call],
             per_call_timeout_s: float | None, batch_timeout_s: float | None,
             limits: ExecLimits | None) -> tuple[str, str, int, ExecLimits]:
    """The harness program, its nonce, the number of calls and the limits of one execution."""
    calls = [_check_call(i, c) for i, c in enumerate(inputs)]
    if not isinstance(code, str) or not isinstance(func, str) or not func.isidentifier():
        raise ValueError(f"code must be str and func an identifier, got func={func!r}")
    for name, v in (("per_call_timeout_s", per_call_timeout_s),
                    ("batch_timeout_s", batch_timeout_s)):
        if v is not None and not v > 0:
            raise ValueError(f"{name} must be > 0, got {v!r}")
    nonce = "#sparring-" + secrets.token_hex(8)
    program = fill_template(_HARNESS, {"__CODE__": repr(code), "__FUNC__": repr(func),
                                       "__CALLS__": repr(repr([(c.args, dict(c.kwargs)) for c in calls])),
                                       "__NONCE__": repr(nonce), "__PER_CALL__": repr(per_call_timeout_s or 0.0)})
    base = limits or sb.limits
    if batch_timeout_s is not None:
        base = base.updated(timeout_s=batch_timeout_s)
    return program, nonce, len(calls), base


def call_function(sb: Sandbox, code: str, func: str, args: tuple = (),
                  kwargs: Mapping[str, Any] | None = None, **options: Any) -> CallResult:
    """Call ``func(*args, **kwargs)`` from ``code`` in the sandbox; options as ``call_many``."""
    batch = call_many(sb, code, func, [Call(tuple(args), dict(kwargs or {}))], **options)
    return batch.calls[0]


def check_cases(sb: Sandbox, code: str, func: str,
                cases: Sequence[tuple[tuple | Call, Any]], **options: Any) -> CaseReport:
    """Run every ``(input, expected)`` case; a case passes when the call returned a plain
    value equal (on the host) to ``expected``."""
    batch = call_many(sb, code, func, [inp for inp, _ in cases], **options)
    failures = []
    for i, ((inp, expected), r) in enumerate(zip(cases, batch.calls)):
        if r.status != "ok":
            failures.append(f"case {i}: {r.status} {r.exception or r.detail}")
        elif not r.literal:
            failures.append(f"case {i}: returned a non-builtin value {r.value_repr[:100]}")
        elif (got := r.value) != expected or type(got) is not type(expected):
            failures.append(f"case {i}: expected {expected!r}, got {r.value_repr[:200]}")
    return CaseReport(passed=len(cases) - len(failures), total=len(cases),
                      results=batch.calls, failures=failures)


def check_determinism(sb: Sandbox, code: str, func: str, args: tuple = (),
                      kwargs: Mapping[str, Any] | None = None, seeds: tuple[int, int] = (1, 2),
                      **options: Any) -> DeterminismResult:
    """Run the same call in two separate fresh interpreters with different hash seeds."""
    if len(seeds) != 2 or seeds[0] == seeds[1]:
        raise ValueError(f"seeds must be two different ints, got {seeds!r}")
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        first, second = ex.map(
            lambda seed: call_function(sb, code, func, args, kwargs, hash_seed=seed, **options),
            seeds)
    if first.status != "ok" or second.status != "ok":
        reason = f"a run did not return: {first.status} / {second.status}"
        return DeterminismResult(False, first, second, reason)
    if first.value_repr != second.value_repr:
        return DeterminismResult(False, first, second,
                                 f"results differ: {first.value_repr[:100]} != "
                                 f"{second.value_repr[:100]}")
    return DeterminismResult(True, first, second, "same result under both hash seeds")


def _check_call(index: int, c: object) -> Call:
    if isinstance(c, tuple):
        c = Call(c)
    if not isinstance(c, Call):
        raise TypeError(f"inputs[{index}] must be a tuple of positional arguments or a Call, "
                        f"got {type(c).__name__} (wrap a single argument as (arg,))")
    call = Call(tuple(c.args), dict(c.kwargs))
    for what, value in (("args", call.args), ("kwargs", call.kwargs)):
        try:
            same = ast.literal_eval(repr(value)) == value
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            same = False
        if not same:
            raise ValueError(f"inputs[{index}].{what} must be Python literals (they are sent "
                             f"as repr and rebuilt with ast.literal_eval): {value!r:.200}")
    return call


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """`template` with each placeholder replaced in one pass: text already inserted (a model's
    program, which may contain `__NONCE__` itself) is never substituted again."""
    return re.sub("|".join(map(re.escape, values)), lambda m: values[m.group(0)], template)


# The payload the harness writes: repr() of a str, one line. Matched before literal_eval, so a
# forged line cannot hand the host a deeply nested literal (MemoryError, RecursionError).
_PAYLOAD = re.compile(r"'(?:[^'\\\n]|\\.)*'" + "|" + r'"(?:[^"\\\n]|\\.)*"')


def _parse(execution: ExecResult, nonce: str, n: int) -> CallBatch:
    found: dict[int, CallResult] = {}
    load_error: CallResult | None = None
    tampered = False
    # Each result line is written as "\n<nonce> ...\n": removing exactly that restores the
    # program's own stdout byte for byte.
    pattern = re.compile("\n" + re.escape(nonce) + " ([^\n]*)\n")
    for m in pattern.finditer(execution.stdout):
        try:
            index_s, kind, elapsed_s, payload_s = m.group(1).split(" ", 3)
            if not _PAYLOAD.fullmatch(payload_s):
                raise ValueError("not a str repr")
            index, elapsed, payload = int(index_s), float(elapsed_s), ast.literal_eval(payload_s)
            status = _KIND_STATUS[kind]
        except (ValueError, SyntaxError, KeyError):
            tampered = True
            continue
        if index in found or index >= n or (index >= 0 and index != len(found)):
            tampered = True
            continue
        result = CallResult(
            status=status, duration_s=elapsed,
            value_repr=payload if kind in ("ok", "ok_opaque") else None,
            literal=kind == "ok" and _is_literal(payload),
            exception=payload if kind in ("raise", "load_error") else None,
            detail={"load_error": "the program failed to load", "timeout": "per-call timeout",
                    "memory": "MemoryError in the call"}.get(kind, ""))
        if index < 0:
            load_error = result
        else:
            found[index] = result
    stdout = pattern.sub("", execution.stdout)
    if tampered:
        bad = CallResult(status="error", detail="the program wrote forged harness lines")
        return CallBatch([bad] * n, execution, stdout)
    calls = []
    for i in range(n):
        if i in found:
            calls.append(found[i])
        elif load_error is not None:
            calls.append(load_error)
        else:  # the execution ended before this call reported
            status = execution.status if execution.status != "ok" else "error"
            detail = ("batch budget exhausted" if execution.status == "timeout"
                      else f"execution ended early: {execution.detail or execution.status}")
            calls.append(CallResult(status=status, detail=detail))
    return CallBatch(calls, execution, stdout)


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
        return True
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
