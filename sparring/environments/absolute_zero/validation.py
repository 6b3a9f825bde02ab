"""The validation executor of Absolute Zero: every proposal and every solver check goes here.

    from sparring.environments.absolute_zero import Executor, ValidationConfig, values_equal
    async with Executor(cfg=ValidationConfig()) as ex:          # or Executor(sandbox=sb)
        r = await ex.validate("def f(a):\\n    return a * 2", "21")
        r.ok, r.reason, r.output_repr                            # True, None, "42"
        rs = await ex.validate_many([(program, input_text), ...])   # concurrent, in order
        counts = count_reasons(rs)                               # {"ok": n, "timeout": n, ...}

Interface notes for the arena (differences from the first sketch of issue 5, if any, are
listed here): ``CallResult`` is frozen; ``reason`` is always one of ``REJECTIONS`` when
``ok`` is False, and ``output_repr`` is set exactly when ``ok`` is True. Compare outputs
with ``values_equal`` (by value, types strict at every level: ``1 != 1.0 != True``, set
order irrelevant), never by comparing repr strings: a set's repr depends on the hash seed.

What a validation does, in order (the first failing step names the rejection):
  1. ``static_check`` (``checks.py``): size, syntax, forbidden imports/names/attributes, one
     entry function; no code runs;
  2. ``parse_input``: the input text is a list of literals (``ast`` only) -> "bad_input";
  3. one run in the sandbox (a fresh fork of a warm worker): load the program, call
     ``f(*args)`` under ``cfg.timeout_s`` and ``cfg.memory_mb``; the result must be made of
     builtin types only, round-trip through ``repr`` -> ``ast.literal_eval`` (so no objects,
     functions, generators, ``nan``/``inf``, frozensets) and fit ``cfg.max_output_chars``;
  4. ``validate`` only: ``cfg.determinism_runs - 1`` more runs, concurrently, each in a
     freshly exec'd interpreter with its own random ``PYTHONHASHSEED``, so every run
     differs from the first in hash seed, address layout (``id``), and clock and random
     state; all results must equal the first by value -> else "nondeterministic". A run
     that hits a limit in this step reports that limit ("timeout", "memory_limit").

``run`` is steps 1-3 (a solver's check of a known-deterministic program needs no second
run). Nothing here raises for anything a program or input text does: a failure of the
sandbox itself is the rejection "sandbox_error". Untrusted code is never executed in this
process. Detection of nondeterminism is probabilistic: a program that is nondeterministic
only rarely (e.g. the order of a two-element set of strings, same order in half of the
seeds) can pass.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence

from sparring.sandbox import CodeRunner, Sandbox, SandboxError
from sparring.sandbox.calls import CallResult as SandboxCall
from sparring.sandbox.calls import acall_many

from .checks import (REJECTIONS, CallResult, ValidationConfig, accept, parse_input, reject,
                     static_check, values_equal)

#: Seconds an execution may run beyond ``cfg.timeout_s`` (the call itself is stopped at
#: ``cfg.timeout_s``; this covers loading the program and, for a determinism run, starting a
#: fresh interpreter).
STARTUP_GRACE_S = 1.0


class Executor:
    """Validates (program, input) pairs in a sandbox; see the module docstring.

    ``sandbox``: an existing ``Sandbox`` to share (not closed by this executor); by default
    the executor starts its own ``Sandbox("local", workers=workers)`` and closes it.
    """

    def __init__(self, sandbox: Sandbox | None = None,
                 cfg: ValidationConfig = ValidationConfig(), *,
                 workers: int | None = None) -> None:
        if not isinstance(cfg, ValidationConfig):
            raise TypeError(f"cfg must be a ValidationConfig, got {type(cfg).__name__}")
        if sandbox is not None and workers is not None:
            raise ValueError("workers applies only to the executor's own sandbox; "
                             "pass either sandbox or workers")
        if sandbox is not None and not isinstance(sandbox, CodeRunner):
            raise TypeError(f"sandbox must be a Sandbox (or CodeRunner) or None, got {type(sandbox).__name__}")
        self.cfg = cfg
        self._owns_sandbox = sandbox is None
        self.sandbox = sandbox if sandbox is not None else Sandbox("local", workers=workers)
        self._limits = self.sandbox.limits.updated(timeout_s=cfg.timeout_s + STARTUP_GRACE_S,
                                                   memory_mb=cfg.memory_mb)

    # ----------------------------------------------------------------------------- checks

    async def run(self, program: str, input_text: str) -> CallResult:
        """Static check, input parse and one sandboxed execution of ``f(*input)``."""
        rejected = static_check(program, self.cfg)
        if rejected is not None:
            return rejected
        args = parse_input(input_text, self.cfg)
        if args is None:
            return reject("bad_input", _bad_input_detail(input_text, self.cfg))
        return await self._execute(program, args, hash_seed=None)

    async def validate(self, program: str, input_text: str) -> CallResult:
        """``run`` plus ``cfg.determinism_runs - 1`` runs in fresh interpreters that must
        agree with it by value."""
        first = await self.run(program, input_text)
        if not first.ok or self.cfg.determinism_runs == 1:
            return first
        args = parse_input(input_text, self.cfg)
        assert args is not None and first.output_repr is not None  # run() parsed it
        seeds = _distinct_seeds(self.cfg.determinism_runs - 1)
        others = await asyncio.gather(*(self._execute(program, args, hash_seed=s)
                                        for s in seeds))
        for other in others:
            if other.reason in ("sandbox_error", "timeout", "memory_limit"):
                return reject(other.reason, f"in a determinism run: {other.detail}")
            if not other.ok:
                return reject("nondeterministic", f"returned in one process, {other.reason} in "
                                                  f"another: {other.detail}")
            assert other.output_repr is not None
            if not values_equal(first.output_repr, other.output_repr):
                return reject("nondeterministic", f"{first.output_repr[:100]} in one process, "
                                                  f"{other.output_repr[:100]} in another")
        return first

    async def validate_many(self, items: Sequence[tuple[str, str]]) -> list[CallResult]:
        """``validate`` every (program, input_text) concurrently; results in input order."""
        return list(await asyncio.gather(*(self._validate_item(i, item)
                                           for i, item in enumerate(items))))

    async def run_many(self, items: Sequence[tuple[str, str]]) -> list[CallResult]:
        """``run`` every (program, input_text) concurrently; results in input order."""
        return list(await asyncio.gather(*(self.run(*_pair(i, item))
                                           for i, item in enumerate(items))))

    async def _validate_item(self, index: int, item: tuple[str, str]) -> CallResult:
        return await self.validate(*_pair(index, item))

    async def _execute(self, program: str, args: tuple, hash_seed: int | None) -> CallResult:
        try:
            batch = await acall_many(self.sandbox, program, self.cfg.entry, [args],
                                     per_call_timeout_s=self.cfg.timeout_s,
                                     limits=self._limits, hash_seed=hash_seed)
        except SandboxError as e:
            return reject("sandbox_error", f"{type(e).__name__}: {e}")
        return classify(batch.calls[0], self.cfg)

    # ----------------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Close the sandbox if this executor started it (a shared one stays open)."""
        if self._owns_sandbox:
            self.sandbox.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Executor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def classify(call: SandboxCall, cfg: ValidationConfig) -> CallResult:
    """Turn one sandboxed call's outcome into an accepted output or a named rejection."""
    if call.status == "ok":
        if not call.literal or call.value_repr is None:
            shown = (call.value_repr or "")[:100]
            return reject("unrepresentable_output",
                          f"the result does not round-trip through repr/literal_eval: {shown}")
        if len(call.value_repr) > cfg.max_output_chars:
            return reject("output_too_large", f"the result's repr has {len(call.value_repr)} "
                                              f"characters > {cfg.max_output_chars}")
        return accept(call.value_repr)
    if call.status == "timeout":
        return reject("timeout", call.detail or f"longer than {cfg.timeout_s} s")
    if call.status == "memory_limit":
        return reject("memory_limit", call.detail or f"more than {cfg.memory_mb} MiB")
    if call.status == "output_limit":
        return reject("output_too_large", "the program printed more than the sandbox's "
                                          "output cap")
    exception = call.exception or ""
    if exception.startswith("repr() of the result failed"):  # e.g. an int of 5000 digits
        return reject("unrepresentable_output", exception)
    if call.status == "killed" and call.detail.startswith(("sandbox", "execution ended early: "
                                                           "sandbox")):
        return reject("sandbox_error", call.detail)
    return reject("runtime_error", exception or call.detail or call.status)


def count_reasons(results: Iterable[CallResult]) -> dict[str, int]:
    """``{"ok": accepted, <reason>: rejected with it, ...}`` with every reason present."""
    counts = dict.fromkeys(("ok",) + REJECTIONS, 0)
    for r in results:
        counts["ok" if r.ok else str(r.reason)] += 1
    return counts


class RejectionCounter:
    """Running counts of outcomes, e.g. for metrics: ``counter.update(results)`` then
    ``counter.metrics("absolute_zero/propose")`` -> ``{"absolute_zero/propose/ok": n, ...}``."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter(dict.fromkeys(("ok",) + REJECTIONS, 0))

    def add(self, result: CallResult) -> None:
        self.counts["ok" if result.ok else str(result.reason)] += 1

    def update(self, results: Iterable[CallResult]) -> None:
        for r in results:
            self.add(r)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def metrics(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}/{k}": float(v) for k, v in self.counts.items()}


def _pair(index: int, item: object) -> tuple[str, str]:
    """A (program, input_text) pair; non-str members are left for the checks to reject."""
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise TypeError(f"items[{index}] must be a (program, input_text) pair, "
                        f"got {type(item).__name__}")
    return item[0], item[1]


def _distinct_seeds(n: int) -> list[int]:
    seeds: set[int] = set()
    while len(seeds) < n:
        seeds.add(secrets.randbelow(2**32))
    return list(seeds)


def _bad_input_detail(input_text: object, cfg: ValidationConfig) -> str:
    if not isinstance(input_text, str):
        return f"the input must be str, got {type(input_text).__name__}"
    if len(input_text) > cfg.max_input_chars:
        return f"{len(input_text)} characters > {cfg.max_input_chars}"
    return f"not a list of Python literal arguments: {input_text[:100]!r}"
