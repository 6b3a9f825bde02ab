"""Sandbox throughput: executions/s of short programs, full isolation vs. plain subprocesses.

Sandbox side: ``Sandbox(backend)`` with every protection on (namespaces, unprivileged uid,
rlimits, seccomp) runs short programs with ``run_many`` on ``--parallel`` workers. Baseline:
one ``python -I -S -c PROGRAM`` subprocess per program (no isolation at all) with the same
parallelism. Rounds alternate between the two and the medians are compared, so machine
noise hits both sides alike; the process is pinned to ``--cpus`` CPUs. Every output is
checked against the expected one on both sides.

Then a soak: ``--soak`` executions in a row of programs that try to leave things behind
(detached processes, threads, fds, files, fifos, crashes, timeouts), after which the leak
counters must all be 0. Last line: ``sandbox_speedup_vs_subprocess=...``
(goals: >= 3x the baseline and >= 400 executions/s on 2 cores).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparring.sandbox import ExecLimits, Sandbox  # noqa: E402

#: Short programs of the kind a code arena checks, with their expected stdout.
SHORT_PROGRAMS: list[tuple[str, str]] = [
    ("print(sum(range(1000)))", "499500\n"),
    ("print(' '.join(sorted('sandbox')))", "a b d n o s x\n"),
    ("import math\nprint(math.factorial(20))", "2432902008176640000\n"),
    ("from collections import Counter\nprint(Counter('abracadabra').most_common(1)[0][0])", "a\n"),
    ("def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n"
     "print(fib(50))", "12586269025\n"),
    ("xs = [x * x for x in range(100) if x % 3 == 0]\nprint(len(xs), xs[-1])", "34 9801\n"),
    ("import heapq\nprint(heapq.nsmallest(3, [5, 1, 4, 2, 3]))", "[1, 2, 3]\n"),
    ("s = 'racecar'\nprint(s == s[::-1])", "True\n"),
    ("import json\nprint(json.dumps({'b': 1, 'a': [1, 2]}, sort_keys=True))",
     '{"a": [1, 2], "b": 1}\n'),
    ("from typing import List\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n"
     "print(total([1, 2, 3]))", "6\n"),
]

#: Programs that each try to leave something behind (for the soak).
LEAKY_PROGRAMS: list[str] = [
    "print('plain')",
    "raise ValueError('boom')",
    "import os\nos.makedirs('a/b')\nopen('a/b/f', 'w').write('x')\nos.chmod('a', 0)",
    "import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', "
    "'import time; time.sleep(60)'], start_new_session=True)",
    "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)",
    "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()",
    "fds = [open('/dev/null') for _ in range(40)]",
    "x = bytearray(400 * 2**20)",
    "import sys\nsys.stdout.write('z' * 200_000)",
    "import ctypes\nctypes.string_at(0)",
    "import os\nos.mkfifo('fifo')\nr, w = os.pipe()",
]


def programs(n: int) -> list[tuple[str, str]]:
    return [SHORT_PROGRAMS[i % len(SHORT_PROGRAMS)] for i in range(n)]


def baseline_rate(n: int, parallel: int) -> float:
    """Executions/s of one ``python -I -S -c`` subprocess per program."""
    def one(item: tuple[str, str]) -> bool:
        code, expected = item
        out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                             text=True, timeout=30, env={}, check=False)
        return out.returncode == 0 and out.stdout == expected

    items = programs(n)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(parallel) as ex:
        ok = list(ex.map(one, items))
    elapsed = time.perf_counter() - start
    if not all(ok):
        raise SystemExit(f"baseline: {ok.count(False)} programs gave wrong output")
    return n / elapsed


def sandbox_rate(sb: Sandbox, n: int) -> float:
    items = programs(n)
    start = time.perf_counter()
    results = sb.run_many([code for code, _ in items])
    elapsed = time.perf_counter() - start
    bad = [r for r, (_, want) in zip(results, items) if r.status != "ok" or r.stdout != want]
    if bad:
        raise SystemExit(f"sandbox: {len(bad)} programs gave wrong output, e.g. {bad[0]}")
    return n / elapsed


def host_processes_of(uids: list[int]) -> int:
    wanted = set(uids)
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                count += os.stat(f"/proc/{name}").st_uid in wanted
            except FileNotFoundError:
                pass
    return count


def host_files_of(uids: list[int]) -> int:
    wanted = set(uids)
    count = 0
    for root in ("/tmp", "/var/tmp", "/dev/shm"):
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                try:
                    count += os.lstat(os.path.join(dirpath, name)).st_uid in wanted
                except FileNotFoundError:
                    pass
    return count


def soak(sb: Sandbox, n: int, label: str) -> dict[str, int]:
    """``n`` leaky executions in a row; returns the leak counters (all should be 0)."""
    sb.run_many(LEAKY_PROGRAMS)  # warm up lazily created threads and buffers
    before = {s.index: s for s in sb.stats()}
    host_fds = len(os.listdir("/proc/self/fd"))
    threads = threading.active_count()
    codes = [LEAKY_PROGRAMS[i % len(LEAKY_PROGRAMS)] for i in range(n)]
    start = time.perf_counter()
    results = sb.run_many(codes)
    elapsed = time.perf_counter() - start
    after = sb.stats()
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    counters = {
        "executions": sum(s.runs - before[s.index].runs for s in after),
        "leaked_processes": sum(s.leftover_processes for s in after)
        + host_processes_of(sb.sandbox_uids),
        "leaked_worker_fds": sum(s.worker_fds - before[s.index].worker_fds for s in after),
        "leaked_host_fds": len(os.listdir("/proc/self/fd")) - host_fds,
        "leaked_host_threads": threading.active_count() - threads,
        "leaked_scratch_entries": sum(s.scratch_entries for s in after),
        "leaked_host_files": host_files_of(sb.sandbox_uids),
        "worker_restarts": sum(s.restarts for s in after),
    }
    print(f"soak_{label}: " + " ".join(f"{k}={v}" for k, v in counters.items())
          + f" seconds={elapsed:.1f} statuses={statuses}", flush=True)
    return counters


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", default="local", help="comma-separated: local,docker")
    p.add_argument("--parallel", type=int, default=2, help="workers = baseline threads")
    p.add_argument("--cpus", type=int, default=2, help="pin this process to N CPUs")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--sandbox-n", type=int, default=2000, help="programs per sandbox round")
    p.add_argument("--baseline-n", type=int, default=400, help="programs per baseline round")
    p.add_argument("--soak", type=int, default=10_000, help="leak soak executions (0: skip)")
    args = p.parse_args()

    cpus = sorted(os.sched_getaffinity(0))[:args.cpus]
    os.sched_setaffinity(0, cpus)
    print(f"machine: cpus_pinned={len(cpus)} of {os.cpu_count()} parallel={args.parallel} "
          f"loadavg_before={os.getloadavg()[0]:.2f}", flush=True)
    limits = ExecLimits(timeout_s=5.0, memory_mb=256)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    sandboxes = {}
    for name in backends:
        options = {"cpuset_cpus": ",".join(map(str, cpus))} if name == "docker" else {}
        sandboxes[name] = Sandbox(name, workers=args.parallel, limits=limits, seccomp=True,
                                  **options)
    try:
        rates: dict[str, list[float]] = {"baseline": [], **{b: [] for b in backends}}
        for name, sb in sandboxes.items():
            sandbox_rate(sb, 200)  # warm-up
        for rnd in range(args.rounds):
            rates["baseline"].append(baseline_rate(args.baseline_n, args.parallel))
            for name, sb in sandboxes.items():
                rates[name].append(sandbox_rate(sb, args.sandbox_n))
            print(f"round {rnd}: " + " ".join(f"{k}={v[-1]:.1f}/s" for k, v in rates.items()),
                  flush=True)
        base = statistics.median(rates["baseline"])
        print(f"baseline_subprocess_exec_per_s={base:.1f} (python -I -S -c, "
              f"{args.baseline_n} programs x {args.rounds} rounds, parallel={args.parallel})")
        for name in backends:
            rate = statistics.median(rates[name])
            print(f"sandbox_{name}_exec_per_s={rate:.1f} ({args.sandbox_n} programs x "
                  f"{args.rounds} rounds, workers={args.parallel}, full isolation, seccomp on) "
                  f"speedup={rate / base:.2f}")
        leaks_ok = True
        if args.soak:
            for name, sb in sandboxes.items():
                counters = soak(sb, args.soak, name)
                leaks_ok &= all(v == 0 for k, v in counters.items() if k != "executions")
        print(f"loadavg_after={os.getloadavg()[0]:.2f} leaks={'none' if leaks_ok else 'FOUND'}")
    finally:
        for sb in sandboxes.values():
            sb.close()
    main_backend = backends[0]
    print(f"sandbox_speedup_vs_subprocess={statistics.median(rates[main_backend]) / base:.2f}")
    if not leaks_ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
