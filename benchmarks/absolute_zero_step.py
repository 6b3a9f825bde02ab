"""Absolute Zero proposal validation: proposals validated per second, Executor vs. naive baseline.

Both sides do the same checks on the same ~200 proposals: parse + static AST check + input
parse on the host, then one execution of ``f(*input)``, and for a proposal that passes, a
second execution in another process whose result must agree (determinism), then the output
checks (builtin types only, ``repr`` round-trips, size cap). Same limits (2 s, 256 MiB) and
the same harness program and result classification on both sides.

  - executor: ``Executor(Sandbox("local", workers=--parallel))``, full isolation (bubblewrap
    namespaces, own uid, rlimits, seccomp), ``validate_many`` over all proposals; the first
    run is a fork of a warm worker, the determinism run a fresh interpreter with its own
    hash seed;
  - baseline: one fresh ``python -I -c HARNESS`` subprocess per execution (no isolation but
    RLIMIT_AS), ``--parallel`` proposals at a time.

The proposal mix is what a proposer early in training writes: about 60% valid programs and
every rejection kind the executor can name except "sandbox_error" (a failure of the sandbox
itself), timeouts and memory bombs included at a low rate (each timeout costs both sides
the full 2 s). Rounds alternate between the two sides and the medians are compared; the
process is pinned to ``--cpus`` CPUs. Both sides must reach the same verdict on every
proposal, or the benchmark fails. Last line: ``absolute_zero_validation_speedup=<ratio>``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparring.environments.absolute_zero import (CallResult, Executor,  # noqa: E402
                                                 ValidationConfig, count_reasons, parse_input,
                                                 static_check, values_equal)
from sparring.environments.absolute_zero.checks import reject  # noqa: E402
from sparring.environments.absolute_zero.validation import (STARTUP_GRACE_S,  # noqa: E402
                                                            classify)
from sparring.sandbox import ExecLimits, ExecResult, Sandbox  # noqa: E402
from sparring.sandbox.calls import _parse, _prepare  # noqa: E402  (the same harness)

VALID = [
    ("def f(xs):\n    return sorted(xs, key=lambda x: (-x, x))[:3]", "[5, 3, 9, 1, {i}]"),
    ("def f(s):\n    counts = {}\n    for c in s:\n        counts[c] = counts.get(c, 0) + 1\n"
     "    return counts", "'mississippi{i}'"),
    ("def is_prime(n):\n    if n < 2:\n        return False\n    k = 2\n    while k * k <= n:\n"
     "        if n % k == 0:\n            return False\n        k += 1\n    return True\n\n"
     "def f(a, b):\n    return [n for n in range(a, b) if is_prime(n)]", "{i}, {k}"),
    ("from functools import lru_cache\n\n@lru_cache(maxsize=None)\ndef fib(n):\n"
     "    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\ndef f(n):\n    return fib(n)",
     "{k}"),
    ("def f(matrix):\n    return [list(row) for row in zip(*matrix)]", "[[1, 2, {i}], [4, 5, 6]]"),
    ("def f(words):\n    return {w[0]: len(w) for w in words}", "['apple', 'banana', 'c{i}']"),
    ("import math\n\ndef f(a, b):\n    return (math.gcd(a, b), a * b // math.gcd(a, b))",
     "{k}, 18"),
    ("from collections import Counter\n\ndef f(s):\n    return Counter(s).most_common(2)",
     "'abracadabra{i}'"),
    ("def f(s):\n    stack = []\n    for c in s:\n        if c == '(':\n"
     "            stack.append(c)\n        elif c == ')':\n            if not stack:\n"
     "                return False\n            stack.pop()\n    return not stack", "'(()){i}()'"),
    ("def f(n):\n    return {str(k) for k in range(n)}", "{j}"),
    ("def f(x, y):\n    return (x / (y + 1), round(x ** 0.5, 3), x % 7)", "{i}.5, 3"),
    ("class Node:\n    def __init__(self, v, nxt=None):\n        self.v, self.nxt = v, nxt\n\n"
     "def f(xs):\n    head = None\n    for x in xs:\n        head = Node(x, head)\n"
     "    out = []\n    while head:\n        out.append(head.v)\n        head = head.nxt\n"
     "    return out", "[1, 2, 3, {i}]"),
]

#: (reason, program, input, count per 100 proposals).
REJECTED = [
    ("program_too_large", "def f(a):\n    return a\n" + "# padding\n" * 500, "{i}", 2),
    ("syntax_error", "def f(a)\n    return a + {i}", "1", 5),
    ("forbidden_import", "import os\n\ndef f(a):\n    return os.getcwd() + str(a)", "{i}", 3),
    ("forbidden_import", "import random\n\ndef f(a):\n    return random.randint(0, a)", "{i}", 2),
    ("forbidden_call", "def f(a):\n    return eval('a + {i}')", "1", 3),
    ("no_entry_function", "def g(a):\n    return a * {i}", "1", 3),
    ("bad_input", "def f(a):\n    return a", "[1, 2", 3),
    ("runtime_error", "def f(xs):\n    return xs[{i} + 10]", "[1, 2, 3]", 4),
    ("runtime_error", "def f(a):\n    return a // 0", "{i}", 2),
    ("nondeterministic", "def f(n):\n    return list({str(k) for k in range(n)})", "25", 2),
    ("nondeterministic", "def f(a):\n    return id(a) % 1000 + {i}", "[1]", 1),
    ("unrepresentable_output", "def f(a):\n    return (x * {i} for x in range(a))", "3", 2),
    ("unrepresentable_output", "class P:\n    pass\n\ndef f(a):\n    return P()", "{i}", 1),
    ("output_too_large", "def f(a):\n    return list(range(a))", "{m}", 3),
    ("memory_limit", "def f(a):\n    return len(bytearray(2 ** 31 + a))", "{i}", 2),
    ("timeout", "def f(a):\n    while a >= 0:\n        a += 1", "{i}", 1),
]


def proposals(n: int) -> list[tuple[str, str, str]]:
    """``n`` (expected verdict, program, input) in a fixed interleaved order; ``{i}`` in a
    template is the proposal's number, ``{j}``, ``{k}``, ``{m}`` numbers derived from it."""
    pool: list[tuple[str, str, str]] = []
    for reason, program, inp, per_100 in REJECTED:
        pool += [(reason, program, inp)] * per_100
    n_valid = 100 - len(pool)
    pool += [("ok", p, inp) for p, inp in (VALID * 10)[:n_valid]]
    # Interleave deterministically (a stride coprime to 100), then number the copies.
    order = [pool[(k * 37) % len(pool)] for k in range(len(pool))]
    out = []
    for i in range(n):
        reason, program, inp = order[i % len(order)]
        values = {"{i}": i, "{j}": i % 20 + 5, "{k}": i % 200 + 60, "{m}": i + 2000}
        for key, value in values.items():
            program, inp = program.replace(key, str(value)), inp.replace(key, str(value))
        out.append((reason, program, inp))
    return out


def _set_memory_limit(memory_mb: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))


class NaiveValidator:
    """The same checks with one fresh ``python -I`` subprocess per execution."""

    def __init__(self, cfg: ValidationConfig) -> None:
        self.cfg = cfg
        self.limits = ExecLimits(timeout_s=cfg.timeout_s + STARTUP_GRACE_S,
                                 memory_mb=cfg.memory_mb)

    def execute(self, program: str, args: tuple) -> CallResult:
        # ``_prepare`` reads the sandbox only when no limits are given.
        harness, nonce, n, limits = _prepare(None, program, self.cfg.entry,  # type: ignore
                                             [args], self.cfg.timeout_s, None, self.limits)
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-I", "-c", harness], capture_output=True,
                                  timeout=limits.timeout_s, env={}, check=False,
                                  preexec_fn=lambda: _set_memory_limit(limits.memory_mb))
        except subprocess.TimeoutExpired:
            return reject("timeout", "subprocess timeout")
        status = "ok" if proc.returncode == 0 else "error"
        execution = ExecResult(status=status, stdout=proc.stdout.decode("utf-8", "replace"),
                               stderr=proc.stderr.decode("utf-8", "replace"),
                               duration_s=time.perf_counter() - start,
                               exit_code=proc.returncode)
        return classify(_parse(execution, nonce, n).calls[0], self.cfg)

    def validate(self, program: str, input_text: str) -> CallResult:
        rejected = static_check(program, self.cfg)
        if rejected is not None:
            return rejected
        args = parse_input(input_text, self.cfg)
        if args is None:
            return reject("bad_input", "not literal arguments")
        first = self.execute(program, args)
        if not first.ok:
            return first
        for _ in range(self.cfg.determinism_runs - 1):
            other = self.execute(program, args)
            if other.reason in ("sandbox_error", "timeout", "memory_limit"):
                return other
            if not other.ok or not values_equal(first.output_repr, other.output_repr):
                return reject("nondeterministic", "runs disagree")
        return first


def run_baseline(items: list[tuple[str, str, str]], cfg: ValidationConfig,
                 parallel: int) -> tuple[float, list[CallResult]]:
    naive = NaiveValidator(cfg)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(parallel) as ex:
        results = list(ex.map(lambda it: naive.validate(it[1], it[2]), items))
    return len(items) / (time.perf_counter() - start), results


def run_executor(executor: Executor, items: list[tuple[str, str, str]]
                 ) -> tuple[float, list[CallResult]]:
    start = time.perf_counter()
    results = asyncio.run(executor.validate_many([(p, i) for _, p, i in items]))
    return len(items) / (time.perf_counter() - start), results


def check_verdicts(label: str, items: list[tuple[str, str, str]],
                   results: list[CallResult]) -> None:
    wrong = [(want, r.reason or "ok", r.detail) for (want, _, _), r in zip(items, results)
             if want != (r.reason or "ok")]
    if wrong:
        raise SystemExit(f"{label}: {len(wrong)} proposals got an unexpected verdict, "
                         f"e.g. {wrong[:3]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--proposals", type=int, default=200, help="proposals per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--parallel", type=int, default=2, help="sandbox workers = baseline threads")
    p.add_argument("--cpus", type=int, default=2, help="pin this process to N CPUs")
    args = p.parse_args()

    cpus = sorted(os.sched_getaffinity(0))[:args.cpus]
    os.sched_setaffinity(0, cpus)
    cfg = ValidationConfig()
    items = proposals(args.proposals)
    mix = count_reasons(reject(w, "") if w != "ok" else CallResult(True, None, "0")
                        for w, _, _ in items)
    print(f"machine: cpus_pinned={len(cpus)} of {os.cpu_count()} parallel={args.parallel} "
          f"loadavg_before={os.getloadavg()[0]:.2f}", flush=True)
    print("mix: " + " ".join(f"{k}={v}" for k, v in mix.items() if v), flush=True)
    rates: dict[str, list[float]] = {"baseline": [], "executor": []}
    with Sandbox("local", workers=args.parallel) as sb:
        executor = Executor(sandbox=sb, cfg=cfg)
        run_executor(executor, items[:20])  # warm-up
        for rnd in range(args.rounds):
            rate, results = run_baseline(items, cfg, args.parallel)
            check_verdicts("baseline", items, results)
            rates["baseline"].append(rate)
            rate, results = run_executor(executor, items)
            check_verdicts("executor", items, results)
            rates["executor"].append(rate)
            print(f"round {rnd}: baseline={rates['baseline'][-1]:.1f}/s "
                  f"executor={rates['executor'][-1]:.1f}/s", flush=True)
    base, ours = statistics.median(rates["baseline"]), statistics.median(rates["executor"])
    print(f"baseline_python_I_subprocess_proposals_per_s={base:.1f} ({args.proposals} proposals "
          f"x {args.rounds} rounds, parallel={args.parallel}, 2 executions per passing proposal)")
    print(f"executor_local_sandbox_proposals_per_s={ours:.1f} (workers={args.parallel}, full "
          f"isolation, seccomp on, determinism run in a fresh interpreter)")
    print(f"loadavg_after={os.getloadavg()[0]:.2f}")
    print(f"absolute_zero_validation_speedup={ours / base:.2f}")


if __name__ == "__main__":
    main()
