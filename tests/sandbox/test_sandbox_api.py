"""The public API: results, batching, asyncio, budgets, validation, errors, lifecycle."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import pytest
from sandbox_helpers import ATTACK_LIMITS, processes_of_uids

from sparring.sandbox import (ExecLimits, ExecResult, Sandbox, SandboxError,
                              SandboxUnavailable)


def test_run_captures_stdout_stderr_stdin_and_unicode(sb):
    r = sb.run("import sys\nname = input()\nprint('héllo', name)\n"
               "print('warn ✓', file=sys.stderr)\n", stdin="wörld\n")
    assert isinstance(r, ExecResult)
    assert (r.status, r.ok, r.exit_code, r.signal) == ("ok", True, 0, None)
    assert r.stdout == "héllo wörld\n" and r.stderr == "warn ✓\n"
    assert 0 < r.duration_s < 2 and r.detail == "" and not r.truncated


def test_error_reports_traceback(sb):
    r = sb.run("def f():\n    return 1 / 0\nf()\n")
    assert r.status == "error" and r.exit_code == 1
    assert "ZeroDivisionError" in r.stderr and 'File "<sandbox>", line 2' in r.stderr
    assert "return 1 / 0" in r.stderr  # source lines show in tracebacks
    syntax = sb.run("def broken(:\n")
    assert syntax.status == "error" and "SyntaxError" in syntax.stderr


def test_run_many_keeps_input_order(sb):
    codes = [f"import time\ntime.sleep({(7 - i % 7) * 0.01})\nprint({i})\n" for i in range(30)]
    results = sb.run_many(codes)
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(30)]
    per_program = sb.run_many(["print(input()[::-1])"] * 3, stdins=["abc", "de", "f"])
    assert [r.stdout for r in per_program] == ["cba\n", "ed\n", "f\n"]
    assert sb.run_many([]) == []


def test_run_many_uses_all_workers_in_parallel(sb):
    start = time.monotonic()
    results = sb.run_many(["import time\ntime.sleep(0.5)"] * 4)
    elapsed = time.monotonic() - start
    assert all(r.ok for r in results)
    assert elapsed < 1.6, elapsed  # 2 workers: two rounds of 0.5 s, not four


def test_arun_and_arun_many(sb):
    async def main():
        single = await sb.arun("print(6 * 7)")
        many = await asyncio.gather(*(sb.arun(f"print({i})") for i in range(10)))
        batch = await sb.arun_many([f"print({i} * 2)" for i in range(5)])
        return single, many, batch

    single, many, batch = asyncio.run(main())
    assert single.stdout == "42\n"
    assert [r.stdout for r in many] == [f"{i}\n" for i in range(10)]
    assert [r.stdout for r in batch] == [f"{i * 2}\n" for i in range(5)]


def test_batch_budget_cuts_the_batch(sb):
    start = time.monotonic()
    results = sb.run_many(["import time\ntime.sleep(0.4)\nprint('done')"] * 8,
                          batch_timeout_s=1.0)
    elapsed = time.monotonic() - start
    statuses = [r.status for r in results]
    assert elapsed < 2.0, elapsed
    assert statuses[:2] == ["ok", "ok"]
    assert "timeout" in statuses
    not_started = [r for r in results if r.detail == "batch budget exhausted before start"]
    assert not_started and all(r.status == "timeout" for r in not_started)


def test_per_call_limits_override_defaults(sb):
    r = sb.run("import time\ntime.sleep(0.5)", timeout_s=0.2)
    assert r.status == "timeout"
    r = sb.run("x = bytearray(150 * 2**20)", memory_mb=100)
    assert r.status == "memory_limit"
    r = sb.run("x = bytearray(150 * 2**20)\nprint('fits')", memory_mb=400)
    assert r.status == "ok" and r.stdout == "fits\n"
    r = sb.run("print('x' * 5000)", limits=ATTACK_LIMITS.updated(max_output_bytes=1000))
    assert r.status == "output_limit" and len(r.stdout) == 1000 and r.truncated


def test_hash_seed_runs_in_a_fresh_interpreter(sb):
    code = "print(hash('sparring'))"
    a, b, a2 = (sb.run(code, hash_seed=s) for s in (1, 2, 1))
    assert a.ok and b.ok, (a, b)
    assert a.stdout == a2.stdout != b.stdout
    forked = sb.run_many([code] * 6)
    assert all(r.ok for r in forked)


def test_bad_input_raises_clear_errors(sb):
    with pytest.raises(TypeError, match="code must be str"):
        sb.run(b"print(1)")
    with pytest.raises(TypeError, match="stdin must be str"):
        sb.run("print(1)", stdin=None)
    with pytest.raises(ValueError, match="timeout_s"):
        sb.run("print(1)", timeout_s=0)
    with pytest.raises(ValueError, match="memory_mb must be an int >= 48"):
        sb.run("print(1)", memory_mb=8)
    with pytest.raises(TypeError, match="sequence of programs"):
        sb.run_many("print(1)")
    with pytest.raises(ValueError, match="stdins has 1 entries for 2 programs"):
        sb.run_many(["print(1)", "print(2)"], stdins=["a"])
    with pytest.raises(ValueError, match="hash_seed"):
        sb.run("print(1)", hash_seed=-1)
    with pytest.raises(TypeError, match="unknown sandbox limit"):
        ExecLimits().updated(timeout=3)
    with pytest.raises(ValueError, match="max_processes"):
        ExecLimits(max_processes=0)
    with pytest.raises(ValueError, match="unknown sandbox backend 'firecracker'"):
        Sandbox("firecracker")
    if sb.backend == "docker":
        with pytest.raises(ValueError, match="container memory"):
            sb.run("print(1)", memory_mb=100_000)


def test_stats_report_the_leak_counters(sb):
    stats = sb.stats()
    assert len(stats) == sb.workers == 2
    for s in stats:
        assert s.leftover_processes == 0 and s.scratch_entries == 0
        assert s.uid in sb.sandbox_uids and s.uid >= 200_000
        assert 3 <= s.worker_fds <= 10


def test_a_dying_worker_is_a_counted_outcome(backend):
    with Sandbox(backend, workers=1, limits=ATTACK_LIMITS) as sb:
        handle = sb._pool.handles[0]
        if backend == "local":  # kill bwrap and the worker, and wait until they are gone
            proc = handle.channel.proc
            tree = [proc.pid, *_descendants(proc.pid)]
            for pid in reversed(tree):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass  # already gone with its parent
            proc.wait()
            deadline = time.monotonic() + 10
            while any(os.path.exists(f"/proc/{p}/cmdline") and _alive(p) for p in tree):
                assert time.monotonic() < deadline
                time.sleep(0.01)
        else:
            import docker

            api = handle.channel.client.api
            api.kill(handle.channel.cid)
            try:
                api.wait(handle.channel.cid, timeout=10)
            except docker.errors.NotFound:
                pass
        r = sb.run("print(1)")
        assert r.status == "killed" and "sandbox worker died" in r.detail
        after = sb.run("print(2)")
        assert after.stdout == "2\n"
        assert sb.stats()[0].restarts == 1


def _descendants(root: int) -> list[int]:
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = open(f"/proc/{name}/stat").read()
            except OSError:
                continue
            parents[int(name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def _alive(pid: int) -> bool:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_close_leaves_nothing_behind(backend):
    sb = Sandbox(backend, workers=2, limits=ATTACK_LIMITS)
    uids = sb.sandbox_uids
    results = sb.run_many(["import subprocess, sys\n"
                           "subprocess.Popen([sys.executable, '-c', 'import time; "
                           "time.sleep(60)'], start_new_session=True)"] * 4)
    assert all(r.ok for r in results)
    if backend == "docker":
        owner = sb._pool.launcher.owner
    else:
        bwrap_pids = [h.channel.proc.pid for h in sb._pool.handles]
    sb.close()
    sb.close()  # idempotent
    assert processes_of_uids(uids) == []
    with pytest.raises(SandboxError, match="closed"):
        sb.run("print(1)")
    if backend == "docker":
        import docker

        client = docker.from_env()
        left = client.api.containers(all=True,
                                     filters={"label": f"sparring.sandbox.owner={owner}"})
        client.close()
        assert left == []
    else:
        assert [p for p in bwrap_pids if os.path.exists(f"/proc/{p}")] == []


def test_unsafe_backend_is_loud_and_still_limits(caplog):
    with caplog.at_level(logging.WARNING, logger="sparring.sandbox"):
        with Sandbox("unsafe", workers=1, limits=ATTACK_LIMITS) as sb:
            assert any("UNSAFE" in rec.message for rec in caplog.records)
            assert sb.run("print(1 + 1)").stdout == "2\n"
            assert sb.run("while True:\n    pass", timeout_s=0.5).status == "timeout"
            assert sb.run("x = bytearray(400 * 2**20)").status == "memory_limit"
            r = sb.run("import os\nprint(sorted(os.environ))")
            assert r.stdout == "['HOME', 'LANG', 'LC_ALL', 'MALLOC_ARENA_MAX', 'PATH', " \
                "'PYTHONDONTWRITEBYTECODE', 'TMPDIR']\n", r
            leak = sb.run("import os, sys, subprocess\n"
                          "subprocess.Popen([sys.executable, '-c', 'import time; "
                          "time.sleep(60)'], start_new_session=True)")
            assert leak.ok and sb.stats()[0].leftover_processes == 0


def test_missing_bubblewrap_says_what_to_install(monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        Sandbox("local")


def test_missing_docker_engine_says_what_to_install(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(SandboxUnavailable, match="apt-get install docker.io"):
        Sandbox("docker")


def test_missing_pyseccomp_says_what_to_install(monkeypatch):
    import sys

    from sparring.sandbox import seccomp

    seccomp.filter_bpf.cache_clear()
    monkeypatch.setitem(sys.modules, "pyseccomp", None)
    try:
        with pytest.raises(SandboxUnavailable, match="pip install 'pyseccomp"):
            Sandbox("local", workers=1)
    finally:
        seccomp.filter_bpf.cache_clear()


def test_without_seccomp_programs_still_run(backend):
    with Sandbox(backend, workers=1, seccomp=False) as sb:
        assert sb.run("print('no filter')").stdout == "no filter\n"


def test_readonly_paths_are_visible_but_not_writable(tmp_path):
    import shutil
    import tempfile
    from pathlib import Path

    with pytest.raises(ValueError, match="scratch dir"):
        Sandbox("local", workers=1, readonly_paths=[str(tmp_path)])
    data = Path(tempfile.mkdtemp(prefix="sparring-test-", dir="/var/tmp"))
    try:
        (data / "input.txt").write_text("shared data")
        os.chmod(data, 0o755)
        with Sandbox("local", workers=1, readonly_paths=[str(data)]) as sb:
            r = sb.run(f"print(open({str(data / 'input.txt')!r}).read())\n"
                       f"open({str(data / 'out.txt')!r}, 'w')")
        assert r.stdout == "shared data\n" and r.status == "error", r
        assert "Read-only file system" in r.stderr or "Permission denied" in r.stderr
        assert not (data / "out.txt").exists()
    finally:
        shutil.rmtree(data)
