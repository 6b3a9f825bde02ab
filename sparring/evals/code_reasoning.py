"""Code-reasoning eval from held-out (program, input, output) triplets: deduction and abduction.

Triplets are JSON lines, the export format of the Absolute Zero buffers::

    {"task": "deduction", "program": "def f(a):\\n    return a", "input": "1", "output": "1"}

``program`` defines ``f``; ``input`` is the text of the arguments of a call (``"[1, 2], 3"``
means ``f([1, 2], 3)``; keyword arguments allowed), every argument a Python literal;
``output`` is the literal ``f`` returns. Two tasks:

- deduction: shown the program and the input, predict the output. Correct when the answer,
  read with ``ast.literal_eval``, equals the expected value (same types, recursively; floats
  within 1e-9 relative). Scored on the host, nothing runs.
- abduction: shown the program and the output, give an input. Correct when running ``f`` on
  it in the sandbox (``sparring.sandbox.calls``, which rebuilds the result on the host from
  builtin types only) returns the expected value. Any input that works counts.

Answers are read from the last ``<answer>...</answer>``, else the first fenced block, else
the whole text. Every answer ends as one counted outcome: correct, wrong, unparseable (no
literal / no argument list), or, for abduction, the call's sandbox status (error, timeout,
memory_limit, ...). A built-in held-out set (``data/code_reasoning.jsonl``, hand-written,
not drawn from any training buffer) makes it work out of the box.

What it does not do: induction (writing a program from examples), or de-duplicate the
triplets against a training buffer (keep export files apart yourself).
"""

from __future__ import annotations

import ast
import concurrent.futures
import json
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sparring.agents.policies import ScriptedPolicy
from sparring.agents.roles import Role
from sparring.environments import delimited
from sparring.environments.absolute_zero.checks import parse_model_text
from sparring.evals.answers import answer_then_execute
from sparring.types import SamplingParams

TASKS = ("deduction", "abduction")
FUNCTION = "f"
DEFAULT_TRIPLETS = Path(__file__).parent / "data" / "code_reasoning.jsonl"
OUTCOMES = ("correct", "wrong", "unparseable", "error", "timeout", "memory_limit",
            "output_limit", "killed")

SYSTEM_PROMPT = ("You are an expert Python programmer. Reason about the program, then give "
                 "your final answer inside <answer></answer> tags.")
_QUESTIONS = {
    "deduction": ("```python\n{program}\n```\nWhat does `f({input})` return? Answer with the "
                  "returned value as a Python literal, e.g. <answer>[1, 2]</answer>."),
    "abduction": ("```python\n{program}\n```\nGive arguments for which `f(...)` returns "
                  "`{output}`. Answer with the arguments as you would write them inside the "
                  "call, e.g. <answer>[1, 2], 'a'</answer>."),
}


@dataclass(frozen=True)
class Triplet:
    task: str
    program: str
    input: str  # the call's argument text
    output: str  # the returned value as a literal
    source: str = ""  # "file:line", for error messages and reports

    def observation(self) -> str:
        return _QUESTIONS[self.task].format(program=self.program.rstrip("\n"),
                                            input=self.input, output=self.output)

    def gold_answer(self) -> str:
        return self.output if self.task == "deduction" else self.input


def parse_call_args(text: str) -> tuple[tuple, dict[str, Any]]:
    """``"[1, 2], k=3"`` -> ``(([1, 2],), {"k": 3})``; ValueError unless every argument is a
    literal."""
    if not isinstance(text, str):
        raise ValueError(f"arguments must be text, got {type(text).__name__}")
    try:
        call = parse_model_text(f"f({text}\n)", "eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise ValueError(f"not an argument list: {text[:100]!r}") from e
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise ValueError(f"not an argument list: {text[:100]!r}")
    try:
        args = tuple(ast.literal_eval(a) for a in call.args)
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as e:
        raise ValueError(f"arguments must be Python literals: {text[:100]!r}") from e
    if None in kwargs:  # f(**x)
        raise ValueError(f"arguments must be Python literals: {text[:100]!r}")
    return args, kwargs


def parse_literal(text: str) -> Any:
    """``ast.literal_eval`` with every failure as ValueError (and no SyntaxWarning on stderr)."""
    try:
        return ast.literal_eval(parse_model_text(text.strip(), "eval"))
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as e:
        raise ValueError(f"not a Python literal: {text[:100]!r}") from e


_ANSWER = delimited.tag_pair("answer")
_FENCE = re.compile(r"```[\w+-]*[^\n]*\n(.*?)(?:```|\Z)", re.S)


def extract_answer(text: str) -> str:
    """The answer part of a model's text (last <answer> tag, first fenced block, or all)."""
    tags = delimited.contents(text, *_ANSWER)
    if tags:
        return tags[-1].strip()
    fence = _FENCE.search(text)
    return (fence.group(1) if fence else text).strip()


def same_value(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (``1 != 1.0 != True``); floats compare
    within 1e-9 relative, NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, complex):
        return same_value(a.real, b.real) and same_value(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return a == b  # scalars, str, bytes, sets (elements are hashable literals)


def load_triplets(path: str | Path | None = None, limit: int | None = None) -> list[Triplet]:
    """Read and validate a triplet file (default: the built-in held-out set)."""
    path = Path(path) if path is not None else DEFAULT_TRIPLETS
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be an int >= 1, got {limit!r}")
    triplets = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not JSON ({e})") from e
            if not isinstance(row, dict):
                raise ValueError(f"{where}: expected a JSON object")
            for key in ("task", "program", "input", "output"):
                if not isinstance(row.get(key), str):
                    raise ValueError(f"{where}: field {key!r} must be a string")
            if row["task"] not in TASKS:
                raise ValueError(f"{where}: task {row['task']!r} is not one of {TASKS}")
            try:
                parse_call_args(row["input"])
                parse_literal(row["output"])
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from e
            triplets.append(Triplet(row["task"], row["program"], row["input"], row["output"],
                                    where))
            if limit is not None and len(triplets) == limit:
                break
    if not triplets:
        raise ValueError(f"{path}: no triplets")
    return triplets


def reasoning_role(task: str, max_new_tokens: int = 256, temperature: float = 0.0,
                   top_p: float = 1.0) -> Role:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return Role(f"code_reasoning/{task}", system_prompt=SYSTEM_PROMPT,
                user_template="{observation}",
                sampling=SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature,
                                        top_p=top_p))


# ------------------------------------------------------------------------------ scoring

@dataclass
class ReasoningResult:
    source: str
    task: str
    sample: int
    outcome: str
    detail: str
    answer: str


@dataclass
class CodeReasoningReport:
    samples: int
    triplets: dict[str, int]  # task -> triplets
    accuracy: dict[str, float]  # task -> correct / (triplets * samples); "all" too
    outcomes: dict[str, dict[str, int]]  # task -> outcome -> count
    results: list[ReasoningResult] = field(default_factory=list)
    generate_s: float = 0.0
    execute_s: float = 0.0

    def metrics(self) -> dict[str, float]:
        out = {"code_reasoning_accuracy": self.accuracy["all"]}
        out.update({f"code_reasoning_{t}_accuracy": self.accuracy[t]
                    for t in TASKS if t in self.accuracy})
        return out

    def to_json(self) -> dict:
        return asdict(self)


def run_calls(sandbox, program_calls: Sequence[tuple[str, tuple, dict]],
              timeout_s: float = 5.0):
    """Call ``f`` of each ``(program, args, kwargs)`` in the sandbox, in parallel threads
    (each call is its own isolated run); returns ``CallResult``s in order."""
    from sparring.sandbox.calls import CallResult, call_function

    def one(item):
        program, args, kwargs = item
        try:
            return call_function(sandbox, program, FUNCTION, args, kwargs,
                                 batch_timeout_s=timeout_s)
        except ValueError as e:  # arguments that do not survive repr -> literal_eval
            return CallResult(status="error", detail=str(e))

    with concurrent.futures.ThreadPoolExecutor(max(1, 2 * sandbox.workers)) as pool:
        return list(pool.map(one, program_calls))


def score(triplets: Sequence[Triplet], answers: Sequence[Sequence], sandbox,
          timeout_s: float = 5.0) -> CodeReasoningReport:
    """Score ``answers[i]`` (samples with ``.text``) against triplet i."""
    if len(answers) != len(triplets):
        raise ValueError(f"{len(answers)} answer lists for {len(triplets)} triplets")
    samples = len(answers[0]) if answers else 0
    results, calls, slots = [], [], []
    for t, group in zip(triplets, answers):
        expected = parse_literal(t.output)
        for s, answer in enumerate(group):
            text = extract_answer(answer.text)
            r = ReasoningResult(t.source, t.task, s, "unparseable", "", answer.text)
            try:
                if t.task == "deduction":
                    got = parse_literal(text)
                    r.outcome = "correct" if same_value(got, expected) else "wrong"
                    r.detail = "" if r.outcome == "correct" else f"predicted {text[:100]}"
                else:
                    args, kwargs = parse_call_args(text)
                    calls.append((t.program, args, kwargs))
                    slots.append((len(results), expected))
            except ValueError as e:
                r.detail = str(e)
            results.append(r)
    t0 = time.perf_counter()
    for (slot, expected), call in zip(slots, run_calls(sandbox, calls, timeout_s)):
        r = results[slot]
        if call.status != "ok":
            r.outcome, r.detail = call.status, (call.exception or call.detail)[:200]
        elif not call.literal:
            r.outcome, r.detail = "wrong", f"returned a non-literal {str(call.value_repr)[:100]}"
        elif same_value(call.value, expected):
            r.outcome = "correct"
        else:
            r.outcome, r.detail = "wrong", f"returned {call.value_repr[:100]}"
    execute_s = time.perf_counter() - t0
    per_task = Counter(t.task for t in triplets)
    outcomes = {task: {o: 0 for o in OUTCOMES} for task in per_task}
    for r in results:
        outcomes[r.task][r.outcome] += 1
    accuracy = {task: outcomes[task]["correct"] / (per_task[task] * samples)
                for task in per_task}
    accuracy["all"] = (sum(o["correct"] for o in outcomes.values()) / len(results)
                       if results else 0.0)
    return CodeReasoningReport(samples=samples, triplets=dict(per_task), accuracy=accuracy,
                               outcomes=outcomes, results=results, execute_s=execute_s)


async def evaluate(policy, triplets: Sequence[Triplet], *, samples: int = 1,
                   max_new_tokens: int = 256, temperature: float = 0.0, sandbox=None,
                   timeout_s: float = 5.0) -> CodeReasoningReport:
    """Ask ``policy`` every question ``samples`` times (concurrently), then score."""
    roles = {task: reasoning_role(task, max_new_tokens, temperature) for task in TASKS}
    return await answer_then_execute(
        policy, [(roles[t.task], t.observation()) for t in triplets], samples, sandbox,
        lambda answers, box: score(triplets, answers, box, timeout_s))


def canonical_policy(triplets: Sequence[Triplet]) -> ScriptedPolicy:
    """Answers every question with the triplet's own output (deduction) or input (abduction):
    a harness check that must score 1.0."""
    by_observation = {t.observation(): f"<answer>{t.gold_answer()}</answer>" for t in triplets}
    return ScriptedPolicy(lambda observation, legal: by_observation.get(observation, ""))


def format_table(report: CodeReasoningReport) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"code reasoning: {report.samples} sample(s) per triplet")
    shown = [o for o in OUTCOMES if any(report.outcomes[t][o] for t in report.outcomes)]
    for col in ("task", "triplets", "accuracy", *shown):
        table.add_column(col, justify="right")
    for task in TASKS:
        if task in report.triplets:
            table.add_row(task, str(report.triplets[task]), f"{report.accuracy[task]:.4f}",
                          *(str(report.outcomes[task][o]) for o in shown))
    table.add_row("all", str(sum(report.triplets.values())), f"{report.accuracy['all']:.4f}",
                  *(str(sum(report.outcomes[t][o] for t in report.outcomes)) for o in shown))
    buf = StringIO()
    Console(file=buf, width=110).print(table)
    return buf.getvalue()
