"""Is an answer right? Checks of a candidate answer against a gold answer that never raise or hang.

Modes (`check` in a task arena's config):
- exact:   normalised strings equal (case, surrounding space and punctuation, inner whitespace).
- numeric: both parse as numbers (commas, fractions "a/b", a trailing %) and agree to 1e-6
           relative; an unparseable candidate is wrong.
- mcq:     the first letter A-J of each, alone or as "(B)" / "B." / "B)", agrees.
- math:    equal plain numbers ("1/2" and "0.5") pass at once; everything else goes to math-verify
           (LaTeX and plain expressions, sets in any order, intervals, tuples in order). Both sides
           are normalised first (`math_forms`): an outer \\boxed{...} is unwrapped, and text without
           math delimiters is parsed as "$text$" (math-verify only reads LaTeX inside delimiters:
           a bare "\\frac12" parses to nothing and a bare "1, 2" to its last number), falling back
           to the raw text when that yields nothing. math-verify runs in a worker process with its
           own per-call timeouts (they use signal.alarm, which only works in a main thread); a call
           that still overruns `timeout_s` kills the worker and the check counts as failed
           ("timeout"), so no answer can hang a run, whichever thread asks.
- auto:    numeric when the gold answer is a number, else exact.

`check_answer(candidate, gold, math)` picks the check from the gold answer's shape, for
benchmarks whose rows mix kinds: a single letter A-J (also "(C)" or "\\text{(C)}", as AMC golds
are written) is a multiple-choice letter; otherwise equal normalised strings pass; a gold with
digits, LaTeX or operators is checked as math (numbers first, then math-verify; with `math`
None, numbers only); any other gold (a word, a name) needs the normalised strings to match. It
returns None when math-verify overran its timeout, so callers can count that apart from wrong.

Not here: extracting the answer from a model's text (agents/answer_formats.py), or judging free
prose (a judge role does that).
"""

from __future__ import annotations

import multiprocessing
import re
import threading
import time
from fractions import Fraction
from typing import Literal

CheckMode = Literal["auto", "exact", "numeric", "mcq", "math"]
_PUNCT = " \t\n.,;:!\"'`"
_MCQ = re.compile(r"^\(?([A-Ja-j])(?:[).:]|\s|$)")
_MCQ_GOLD = re.compile(r"\(?([A-J])\)?\.?")
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf)\{([^{}]*)\}")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?")
_DELIMITED = re.compile(r"\$|\\\(|\\\[|\\boxed")
_MATHY = re.compile(r"[\d\\^_{}=+\-*/<>()\[\]|]")
_READY = "ready"  # the worker's first message: math-verify is imported


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip(_PUNCT).lower())


_EXPONENT = re.compile(r"[eE]\s*([-+]?\d+)\s*$")
MAX_EXPONENT = 400
"""Largest |exponent| read in `1e400` notation: Fraction("1e999999999") would compute 10**999999999
(a hang on model text); beyond this no answer is a float either."""


def to_number(text: str) -> Fraction | None:
    """A number written as an int, decimal, fraction or percentage (commas allowed), or None."""
    s = text.strip().strip("$").replace(",", "").rstrip(".")
    scale = 1
    if s.endswith("%"):
        s, scale = s[:-1].strip(), 100
    exponent = _EXPONENT.search(s)
    if exponent is not None and abs(int(exponent.group(1)[:8])) > MAX_EXPONENT:
        return None
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
        # exact: float() of a number written out to 400 digits would overflow
        return a is not None and b is not None and abs(a - b) <= Fraction(1, 10**6) * max(1, abs(b))
    if mode == "mcq":
        letter = mcq_letter(candidate)
        return letter is not None and letter == mcq_letter(gold)
    if mode == "math":
        if math is None:
            raise ValueError("check mode 'math' needs a MathVerifier")
        return _math_check(candidate, gold, math) is True
    raise ValueError(f"unknown check mode {mode!r}; known: auto, exact, numeric, mcq, math")


def check_answer(candidate: str | None, gold: str, math: MathVerifier | None) -> bool | None:
    """Whether `candidate` is right, the check chosen by the gold's shape (module docstring);
    None when math-verify overran its timeout. Never raises on any candidate text."""
    if candidate is None:
        return False
    letter = _gold_letter(gold)
    if letter is not None:
        return _letter(candidate) == letter
    if normalize(candidate) == normalize(gold):
        return True
    if not _MATHY.search(gold):
        return False
    return _math_check(candidate, gold, math)


def _gold_letter(gold: str) -> str | None:
    m = _MCQ_GOLD.fullmatch(_unwrap(gold))
    return m.group(1) if m else None


def _letter(candidate: str) -> str | None:
    return mcq_letter(_unwrap(candidate))


def _unwrap(text: str) -> str:
    """`text` without surrounding space, $...$, an outer \\boxed{...} or \\text{...}."""
    s = unbox(text.strip().strip("$").strip())
    m = _TEXT_WRAP.fullmatch(s)
    return (m.group(1) if m else s).strip()


def unbox(text: str) -> str:
    """The content of `text` when all of it is one \\boxed{...}, else `text`."""
    s = text.strip()
    if not (s.startswith("\\boxed{") and s.endswith("}")):
        return s
    depth = 0
    for i, ch in enumerate(s[len("\\boxed"):], len("\\boxed")):
        depth += (ch == "{") - (ch == "}")
        if depth == 0:  # the box closes here: the whole text only if this is its end
            return s[len("\\boxed{"):-1].strip() if i == len(s) - 1 else s
    return s


def plain_number(text: str) -> Fraction | None:
    """`to_number`, but a comma must separate thousands ("1,000"): "1,2" is a list, not 12. LaTeX's
    "\\%", "1,\\!000" and "1{,}000" are read too."""
    s = text.strip().strip("$").strip().replace("\\%", "%").replace("\\!", "").replace("{,}", ",")
    if "," in s and not _THOUSANDS.fullmatch(s):
        return None
    return to_number(s)


def _math_check(candidate: str, gold: str, math: MathVerifier | None) -> bool | None:
    """Equal plain numbers pass without the worker; the rest is math-verify's (None: timeout)."""
    a, b = plain_number(unbox(candidate)), plain_number(unbox(gold))
    if a is not None and a == b:
        return True
    if math is None:
        return False
    return math.verify(gold, candidate)


def math_forms(text: str) -> tuple[str, ...]:
    """What math-verify's parse is given, in order, until one yields something: text with math
    delimiters ($, \\(, \\[, \\boxed) as it is; other text as "$text$", then as it is."""
    s = unbox(text)
    return (s,) if _DELIMITED.search(s) else (f"${s}$", s)


def _parse(parse, text: str) -> list:
    for form in math_forms(text):
        parsed = parse(form)
        if parsed:
            return parsed
    return []


def _math_worker(conn) -> None:  # pragma: no cover - runs in the child process
    from math_verify import parse, verify

    conn.send(_READY)
    while True:
        try:
            gold, answer = conn.recv()
        except EOFError:
            return
        try:
            ok = bool(verify(_parse(parse, gold), _parse(parse, answer)))
        except Exception:  # noqa: BLE001 - any failure of the checker on untrusted text: not verified
            ok = False
        conn.send(ok)


class MathVerifier:
    """math-verify in a worker process, one call at a time (thread-safe), with a hard timeout.

    `timeout_s` bounds each call; the first call after a (re)start also waits for the worker to
    import math-verify (about a second) unless `start()` was called first. A worker that dies
    during a check is counted in `crashes` (the check returns None, like a timeout); one that dies
    before it is ready is a broken installation and raises."""

    start_method = "spawn"  # a fresh interpreter: no locks or threads inherited from the trainer
    worker = staticmethod(_math_worker)

    def __init__(self, timeout_s: float = 10.0) -> None:
        try:
            import math_verify  # noqa: F401
        except ImportError as err:
            raise ImportError("check mode 'math' needs math-verify: pip install 'sparring[math]'") from err
        self.timeout_s = timeout_s
        self.timeouts = 0  # calls that overran and killed the worker
        self.crashes = 0  # calls whose worker died
        self._lock = threading.Lock()
        self._proc = None
        self._conn = None
        self._ready = False

    def _start(self) -> None:
        ctx = multiprocessing.get_context(self.start_method)
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=self.worker, args=(child,), daemon=True)
        self._proc.start()
        child.close()
        self._ready = False

    def start(self, wait_s: float = 120.0) -> None:
        """Start the worker now and wait until it is ready, so no call's clock includes the start."""
        with self._lock:
            if self._proc is None or not self._proc.is_alive():
                self.close()
                self._start()
            if not self._ready:
                if not self._conn.poll(wait_s):
                    self.close()
                    raise RuntimeError(f"the math-verify worker was not ready within {wait_s} s")
                self._receive()  # _READY, or a startup failure raised

    def _receive(self):
        """The worker's next message (after `poll` said one is there); None if the worker died."""
        try:
            message = self._conn.recv()
        except (EOFError, OSError):
            proc = self._proc
            self.close()
            code = proc.exitcode
            if not self._ready:
                raise RuntimeError(f"the math-verify worker died before it was ready (exit code {code})") from None
            self.crashes += 1
            return None
        if message == _READY:
            self._ready = True
        return message

    def verify(self, gold: str, answer: str) -> bool | None:
        """True/False, or None when the check timed out or its worker died (it is then restarted)."""
        with self._lock:
            if self._proc is None or not self._proc.is_alive():
                self.close()
                self._start()
            try:
                self._conn.send((gold, answer))
            except OSError:  # the worker died since is_alive(): its end shows up below as EOF
                pass
            deadline = time.monotonic() + self.timeout_s
            while self._conn.poll(max(0.0, deadline - time.monotonic())):
                message = self._receive()
                if message is None:
                    return None
                if message != _READY:
                    return bool(message)
            self.timeouts += 1
            self.close()
            return None

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()
            self._conn.close()
        self._proc = self._conn = None
        self._ready = False
