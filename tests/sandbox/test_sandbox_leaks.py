"""1,000 executions in a row leave no processes, file descriptors, threads or files behind.

(benchmarks/sandbox_throughput.py runs the same count over 10,000 executions.)
"""

from __future__ import annotations

import os
import threading

from sandbox_helpers import files_of_uids, processes_of_uids

from sparring.sandbox import ExecLimits, Sandbox

#: Programs that each try to leave something behind, plus ordinary ones.
LEAKY_PROGRAMS = [
    "print('plain')",
    "raise ValueError('boom')",
    "import os\nos.makedirs('a/b/c')\nopen('a/b/c/f', 'w').write('x')\nos.chmod('a/b', 0)\n"
    "open('/tmp/top', 'w').write('y')",
    "import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', "
    "'import time; time.sleep(60)'], start_new_session=True)\nprint('detached')",
    "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nprint('forked')",
    "import threading, time\nfor _ in range(3):\n"
    "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()",
    "fds = [open('/dev/null') for _ in range(40)]\nimport socket\ns = socket.socket()",
    "x = bytearray(400 * 2**20)",
    "import sys\nsys.stdout.write('z' * 200_000)",
    "import ctypes\nctypes.string_at(0)",
    "import os\nr, w = os.pipe()\nos.mkfifo('fifo')\nprint(os.getpid())",
]


def test_thousand_runs_leave_nothing_behind(backend):
    limits = ExecLimits(timeout_s=2.0, memory_mb=256, max_output_bytes=100_000)
    with Sandbox(backend, workers=2, limits=limits) as sb:
        sb.run_many(LEAKY_PROGRAMS)  # warm up: executor threads, first-use allocations
        before = {s.index: s for s in sb.stats()}
        host_fds = len(os.listdir("/proc/self/fd"))
        host_threads = threading.active_count()

        codes = [LEAKY_PROGRAMS[i % len(LEAKY_PROGRAMS)] for i in range(1000)]
        codes += ["while True:\n    pass"] * 2  # two timeouts as well
        results = sb.run_many(codes)

        statuses = {r.status for r in results}
        assert statuses == {"ok", "error", "memory_limit", "output_limit", "killed",
                            "timeout"}, statuses
        assert all(r.detail != "sandbox worker died" for r in results)
        after = sb.stats()
        for s in after:
            b = before[s.index]
            assert s.runs - b.runs > 0
            assert (s.leftover_processes, s.scratch_entries, s.restarts) == (0, 0, 0), s
            assert s.worker_fds == b.worker_fds, (b, s)
        assert sum(s.runs - before[s.index].runs for s in after) == len(codes)
        uids = sb.sandbox_uids
        assert processes_of_uids(uids) == []
        assert files_of_uids(uids) == []
        assert len(os.listdir("/proc/self/fd")) == host_fds
        assert threading.active_count() == host_threads
