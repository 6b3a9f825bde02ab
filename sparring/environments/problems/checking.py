"""Is an answer right? Checks of a candidate answer against a gold answer that never raise or hang.

Modes (`check` in a task arena's config):
- exact:   normalised strings equal (case, surrounding space and punctuation, inner whitespace).
- numeric: both parse as numbers (commas, fractions "a/b", a trailing %) and agree to 1e-6
           relative; an unparseable candidate is wrong.
- mcq:     the first letter A-J of each, alone or as "(B)" / "B." / "B)", agrees.
- math:    math-verify (LaTeX and plain expressions, sets, intervals). It runs in a worker process
           with math-verify's own per-call timeouts (they use signal.alarm, which only works in a
           main thread); a call that still overruns `timeout_s` kills the worker and the check
           counts as failed ("timeout"), so no answer can hang a run.
- auto:    numeric when the gold answer is a number, else exact.
"""

from __future__ import annotations

import multiprocessing
import re
import threading
from fractions import Fraction
from typing import Literal

CheckMode = Literal["auto", "exact", "numeric", "mcq", "math"]
_PUNCT = " \t\n.,;:!\"'`"
_MCQ = re.compile(r"^\(?([A-Ja-j])(?:[).:]|\s|$)")


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip(_PUNCT).lower())


def to_number(text: str) -> Fraction | float | None:
    """A number written as an int, decimal, fraction or percentage (commas allowed), or None."""
    s = text.strip().strip("$").replace(",", "").rstrip(".")
    scale = 1
    if s.endswith("%"):
        s, scale = s[:-1].strip(), 100
    try:
        if "/" in s:
            num, den = s.split("/", 1)
            return Fraction(int(num), int(den)) / scale
        return Fraction(s) / scale
    except (ValueError, ZeroDivisionError):
        return None


def mcq_letter(text: str) -> str | None:
    m = _MCQ.match(text.strip())
    return m.group(1).upper() if m else None


def check(candidate: str | None, gold: str, mode: CheckMode = "auto", math: MathVerifier | None = None) -> bool:
    """Whether `candidate` is right (None, an unreadable answer, is wrong)."""
    if candidate is None:
        return False
    if mode == "auto":
        mode = "numeric" if to_number(gold) is not None else "exact"
    if mode == "exact":
        return normalize(candidate) == normalize(gold)
    if mode == "numeric":
        a, b = to_number(candidate), to_number(gold)
        return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))
    if mode == "mcq":
        letter = mcq_letter(candidate)
        return letter is not None and letter == mcq_letter(gold)
    if mode == "math":
        if math is None:
            raise ValueError("check mode 'math' needs a MathVerifier")
        return math.verify(gold, candidate) is True
    raise ValueError(f"unknown check mode {mode!r}; known: auto, exact, numeric, mcq, math")


def _math_worker(conn) -> None:  # pragma: no cover - runs in the child process
    from math_verify import parse, verify

    while True:
        try:
            gold, answer = conn.recv()
        except EOFError:
            return
        try:
            ok = bool(verify(parse(gold), parse(answer)))
        except Exception:  # noqa: BLE001 - any failure of the checker on untrusted text: not verified
            ok = False
        conn.send(ok)


class MathVerifier:
    """math-verify in a worker process, one call at a time (thread-safe), with a hard timeout."""

    start_method = "spawn"  # a fresh interpreter: no locks or threads inherited from the trainer
    worker = staticmethod(_math_worker)

    def __init__(self, timeout_s: float = 10.0) -> None:
        try:
            import math_verify  # noqa: F401
        except ImportError as err:
            raise ImportError("check mode 'math' needs math-verify: pip install 'sparring[math]'") from err
        self.timeout_s = timeout_s
        self.timeouts = 0  # calls that overran and killed the worker
        self._lock = threading.Lock()
        self._proc = None
        self._conn = None

    def _start(self) -> None:
        ctx = multiprocessing.get_context(self.start_method)
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=self.worker, args=(child,), daemon=True)
        self._proc.start()
        child.close()

    def verify(self, gold: str, answer: str) -> bool | None:
        """True/False, or None when the check timed out (the worker is then restarted)."""
        with self._lock:
            if self._proc is None or not self._proc.is_alive():
                self._start()
            self._conn.send((gold, answer))
            if self._conn.poll(self.timeout_s):
                return bool(self._conn.recv())
            self.timeouts += 1
            self.close()
            return None

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()
            self._conn.close()
        self._proc = self._conn = None
