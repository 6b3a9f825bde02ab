"""CRUXEval (Gu et al. 2024): predict what a short Python function returns (CRUXEval-O), or an
input for which it returns a given value (CRUXEval-I), checked by running it in the sandbox.

Data. Rows with three fields (names configurable): ``code`` defines a function ``f`` (and may
define globals and helpers); ``input`` is the Python source of the call's arguments (``"[1, 2],
3"`` means ``f([1, 2], 3)``); ``output`` is the Python literal ``f`` returns. Read from a
``.jsonl``/``.json``/``.parquet``/``.csv`` file or a hub id (``cruxeval-org/cruxeval``, split
``test``, 800 rows) with the math|mcq benchmarks' reader; an id column (``id``, ...) names each
problem, else its row index. Inputs may be any expressions (12 of CRUXEval's 800 are, e.g.
``dict(e=1), 'u'``, a lambda, or a name the code defines); outputs must be literals (all 800
are). A missing field names the option and the columns; an input that is not an argument list,
an output that is not a literal or code that does not compile names the row. Nothing of the
data runs on the host.

Two modes, scored apart: ``output`` (CRUXEval-O: shown the code and the input, predict the
output) and ``input`` (CRUXEval-I: shown the code and the output, give any input that yields
it).

Answers. The prompt asks, as CRUXEval's does, for the completed assertion between ``[ANSWER]``
and ``[/ANSWER]``. Read: the text after the last ``</think>``; in it the last ``[ANSWER]`` block
(its closing tag may be missing: CRUXEval stops generation there), else
``code_reasoning.extract_answer`` (the last ``<answer>`` tag, else the first fenced block, else
the whole text); a fence inside the block is unwrapped. That text is

- an assertion ``assert f(ARGS) == VALUE`` (``assert`` optional, either side first; else the
  last line that is one): output mode takes VALUE, input mode ARGS, the other side is ignored
  (as CRUXEval's post-processing does);
- else the plain answer: output mode the VALUE alone; input mode a call ``f(ARGS)`` or the bare
  ARGS (code_reasoning's abduction answer).

Scoring, through the sandbox. CRUXEval's check executes ``assert <output> == f(<input>)``. Here
``f`` runs in the sandbox through the calls harness (``code_reasoning.run_calls``): the code is
executed in its own namespace and the call is evaluated there (so an input may name the code's
globals), and the result crosses back to the host only as a literal of builtin types, where it
is compared with Python ``==`` (``1 == 1.0 == True``, as in CRUXEval's assert; a returned object
with a rigged ``__eq__`` is not a literal and never counts).

- output: VALUE must be a Python literal (the prompt asks for one; read with
  ``ast.literal_eval`` on the host, nothing of the answer runs, so ``f(...)`` can't be
  answered with itself). It is right when it equals what ``f(input)`` returns in the sandbox,
  run once per problem: the execution is the truth. A row whose recorded output differs from
  that run is listed in ``reference_mismatch`` (and ``--canonical`` scores it wrong); a
  reference run that fails makes each sample of that problem ``reference_error``.
- input: ARGS may be any Python expressions (as in CRUXEval); right when ``f(ARGS)``, run in
  the sandbox, returns a value equal to the recorded output. Any input that works counts.

Every sample ends as one outcome: correct, wrong, no_answer (nothing to read), parse_error
(output: not a literal; input: not an argument list), runtime_error (``f`` or the arguments
raised), timeout, memory_limit, output_limit, killed (the sandbox run's status), or
reference_error. Metrics per mode (``cruxeval_o/`` and ``cruxeval_i/``): ``pass@k`` (the
unbiased estimator, humaneval.pass_at_k) and ``mean@n`` with 95% intervals
(reasoning.interval: Wilson when each problem's value is 0 or 1, else the normal
approximation).

What it does not do: stop an input-mode answer that is code with side effects (it runs in the
sandbox, which contains it, and could e.g. rebind a builtin ``f`` uses, as it could in
CRUXEval's own harness); use CRUXEval's few-shot prompts (one instruction with an example
stands in for them); download anything itself (a hub id goes through ``datasets``).
"""

from __future__ import annotations

import ast
import logging
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sparring.agents.policies import ScriptedPolicy
from sparring.agents.roles import Role
from sparring.evals.answers import answer_then_execute, sample_count
from sparring.evals.code_reasoning import FUNCTION, extract_answer, parse_literal, run_calls
from sparring.evals.reasoning import _ID_FIELDS, _pick, _read_rows, pass_stats
from sparring.types import SamplingParams

log = logging.getLogger(__name__)

MODES = ("output", "input")
PREFIX = {"output": "cruxeval_o", "input": "cruxeval_i"}
OUTCOMES = ("correct", "wrong", "no_answer", "parse_error", "runtime_error", "timeout",
            "memory_limit", "output_limit", "killed", "reference_error")
_STATUS_OUTCOME = {"error": "runtime_error", "timeout": "timeout", "memory_limit": "memory_limit",
                   "output_limit": "output_limit", "killed": "killed"}

SYSTEM_PROMPT = ("You are an expert Python programmer. Reason about the program step by step if "
                 "you need to, then give your final answer as the completed assertion between "
                 "[ANSWER] and [/ANSWER].")
_ASK = {
    "output": ("Complete the assertion with the value f returns, written as a Python literal (no "
               "expressions, no function calls), even if the function looks wrong. Example: "
               "[ANSWER]assert f([1, 2]) == 3[/ANSWER]"),
    "input": ("Find any input for which f returns the given output; there may be several, give "
              "one. Complete the assertion with it. Example: "
              "[ANSWER]assert f('ba', 'nana') == 'banana'[/ANSWER]"),
}


@dataclass(frozen=True)
class CruxProblem:
    id: str
    code: str  # defines f
    input: str  # the call's argument source
    output: str  # the returned value as a literal
    source: str = ""  # "file: row i", for messages


@dataclass(frozen=True)
class CruxTask:
    """One problem asked in one mode (what a policy sees; ``id`` is the problem's)."""

    problem: CruxProblem
    mode: str

    @property
    def id(self) -> str:
        return self.problem.id

    def observation(self) -> str:
        p = self.problem
        check = (f"assert f({p.input}) == ??" if self.mode == "output"
                 else f"assert f(??) == {p.output}")
        return f"[PYTHON]\n{p.code.rstrip()}\n{check}\n[/PYTHON]"

    def gold_answer(self) -> str:
        return f"[ANSWER]\nassert f({self.problem.input}) == {self.problem.output}\n[/ANSWER]"


def tasks(problems: Sequence[CruxProblem], modes: Sequence[str] = MODES) -> list[CruxTask]:
    """Every problem in every mode, mode by mode."""
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ValueError(f"modes must be a non-empty subset of {MODES}, got {tuple(modes)!r}")
    return [CruxTask(p, m) for m in dict.fromkeys(modes) for p in problems]


# ------------------------------------------------------------------------------ loading

def call_source(args: str) -> str:
    """``"[1, 2], 3"`` -> ``"f([1, 2], 3\\n)"``, checked to be exactly one call of ``f``
    (ValueError otherwise); unlike code_reasoning.parse_call_args the arguments may be any
    expressions (they are evaluated in the sandbox, never here)."""
    if not isinstance(args, str):
        raise ValueError(f"arguments must be text, got {type(args).__name__}")
    source = f"{FUNCTION}({args}\n)"
    try:
        node = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise ValueError(f"not an argument list: {args[:100]!r}") from e
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == FUNCTION):
        raise ValueError(f"not an argument list: {args[:100]!r}")
    return source


def load_problems(path: str | Path | None = None, dataset: str | None = None,
                  name: str | None = None, split: str = "test", code_field: str | None = None,
                  input_field: str | None = None, output_field: str | None = None,
                  limit: int | None = None) -> list[CruxProblem]:
    """The problems of a local file (`path`) or a hub dataset (`dataset`, `name`, `split`), in
    order; fields default to code, input, output; `limit`: the first N."""
    if (path is None) == (dataset is None):
        raise ValueError("give exactly one of path (a local file) or dataset (a hub id)")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be an int >= 1, got {limit!r}")
    rows, columns, where = _read_rows(path, dataset, name, split)
    fields = {key: _pick(f"{key}_field", wanted or key, columns, where)
              for key, wanted in (("code", code_field), ("input", input_field),
                                  ("output", output_field))}
    id_field = next((f for f in _ID_FIELDS if f in columns), None)
    out: list[CruxProblem] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        if limit is not None and len(out) == limit:
            break
        at = f"{where}: row {i}"
        text = {key: _source_text(row.get(column), column, at, empty=key == "input")
                for key, column in fields.items()}
        try:
            compile(text["code"], at, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
            raise ValueError(f"{at}: field {fields['code']!r} does not compile ({e})") from e
        for key, check in (("input", call_source), ("output", parse_literal)):
            try:
                check(text[key])
            except ValueError as e:
                raise ValueError(f"{at}: field {fields[key]!r}: {e}") from e
        ident = str(row[id_field]) if id_field and row.get(id_field) is not None else str(i)
        if ident in seen:
            raise ValueError(f"{at}: id {ident!r} is also row {seen[ident]}'s")
        seen[ident] = i
        out.append(CruxProblem(ident, text["code"], text["input"], text["output"], at))
    if not out:
        raise ValueError(f"{where}: no problems")
    return out


def _source_text(value: Any, column: str, where: str, empty: bool = False) -> str:
    """Python source text of a field; numbers a file's reader typed (CSV, parquet) as their
    repr. ``empty``: blank text is allowed (an input of no arguments, ``f()``)."""
    if isinstance(value, (bool, int, float)):
        return repr(value)
    if not isinstance(value, str) or not (empty or value.strip()):
        raise ValueError(f"{where}: field {column!r} must be {'' if empty else 'non-empty '}"
                         f"Python source text, got {value!r:.100}")
    return value


# ------------------------------------------------------------------------------ the role

def cruxeval_role(mode: str, max_new_tokens: int = 512, temperature: float = 0.0,
                  top_p: float = 1.0) -> Role:
    """The solver role ``cruxeval/<mode>``; its observation is a CruxTask's."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return Role(f"cruxeval/{mode}", system_prompt=SYSTEM_PROMPT,
                user_template="{observation}\n" + _ASK[mode],
                sampling=SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature,
                                        top_p=top_p))


# ------------------------------------------------------------------------------ reading answers

_ANSWER_BLOCK = re.compile(r"\[ANSWER\](.*?)(?:\[/ANSWER\]|\Z)", re.S | re.I)


def read_answer(text: str) -> str:
    """The answer part of a model's text (module docstring): after the last ``</think>``, the
    last [ANSWER] block (or extract_answer's choice), fence unwrapped, stripped."""
    text = text.rsplit("</think>", 1)[-1]
    blocks = _ANSWER_BLOCK.findall(text)
    return extract_answer(blocks[-1] if blocks else text)


def _is_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == FUNCTION)


def _call_args(source: str, call: ast.Call) -> str:
    """The argument source of ``f(...)`` as written."""
    segment = ast.get_source_segment(source, call) or ""
    return segment[segment.index("(") + 1:segment.rindex(")")].strip()


def split_assertion(text: str) -> tuple[str, str] | None:
    """``assert f(ARGS) == VALUE`` (``assert`` optional, either side first) -> the source of
    ``(ARGS, VALUE)``; else the same for the last line that is such an assertion; else None."""
    candidates = [text.strip()]
    candidates += [ln.strip() for ln in reversed(text.splitlines()) if ln.strip()]
    for source in candidates:
        try:
            body = ast.parse(source).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        if len(body) != 1 or not isinstance(body[0], (ast.Assert, ast.Expr)):
            continue
        test = body[0].test if isinstance(body[0], ast.Assert) else body[0].value
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1
                and isinstance(test.ops[0], ast.Eq)):
            continue
        call, value = test.left, test.comparators[0]
        if not _is_call(call):
            call, value = value, call
        if _is_call(call):
            return _call_args(source, call), (ast.get_source_segment(source, value) or "").strip()
    return None


def answer_part(text: str, mode: str) -> str | None:
    """What ``mode`` reads from an answer: VALUE (output) or ARGS (input; ``""`` from ``f()`` is
    an answer: no arguments); None when there is nothing to read."""
    read = read_answer(text)
    if not read:
        return None
    parts = split_assertion(read)
    if parts is not None:
        return parts[0] if mode == "input" else parts[1]
    if mode == "input":
        try:
            node = ast.parse(read, mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return read
        if _is_call(node):  # a bare call f(ARGS)
            return _call_args(read, node)
    return read


# ------------------------------------------------------------------------------ scoring

_PROGRAM = '''
_sparring_namespace = {"__name__": "cruxeval"}
exec(compile(_sparring_code, "<cruxeval>", "exec"), _sparring_namespace)


def f():
    return eval(compile(_sparring_call, "<call>", "eval"), _sparring_namespace)
'''


def program(code: str, call: str) -> str:
    """A program whose ``f()`` evaluates ``call`` (``call_source``'s text) where ``code`` ran:
    the code keeps its own namespace, so its ``f`` (and recursion) is untouched, and ``call``
    arrives as data, never spliced into the source."""
    return f"_sparring_code = {code!r}\n_sparring_call = {call!r}\n{_PROGRAM}"


@dataclass
class SampleResult:
    id: str
    mode: str
    sample: int
    outcome: str  # OUTCOMES
    extracted: str | None  # VALUE (output) or ARGS (input) as read; None when nothing was
    detail: str
    truncated: bool
    answer: str


@dataclass
class ModeScore:
    problems: int
    pass_at: dict[int, float]  # k -> mean pass@k over problems
    pass_ci: dict[int, tuple[float, float]]  # k -> 95% interval
    mean: float  # mean@n: mean per-problem accuracy over the n samples
    mean_ci: tuple[float, float]
    correct: list[int]  # per problem (in order): samples correct out of `samples`
    outcomes: dict[str, int]  # outcome -> count over all samples
    truncated: int = 0


@dataclass
class CruxEvalReport:
    samples: int
    ks: list[int]
    modes: dict[str, ModeScore]  # "output" / "input"
    reference_mismatch: list[str]  # ids whose recorded output is not what f(input) returns here
    results: list[SampleResult] = field(default_factory=list)
    generate_s: float = 0.0
    execute_s: float = 0.0

    def metrics(self) -> dict[str, float]:
        out, n = {}, self.samples
        for mode, m in self.modes.items():
            b = PREFIX[mode]
            for k, v in m.pass_at.items():
                lo, hi = m.pass_ci[k]
                out.update({f"{b}/pass@{k}": v, f"{b}/pass@{k}_ci_low": lo,
                            f"{b}/pass@{k}_ci_high": hi})
            out.update({f"{b}/mean@{n}": m.mean, f"{b}/mean@{n}_ci_low": m.mean_ci[0],
                        f"{b}/mean@{n}_ci_high": m.mean_ci[1]})
        return out

    def to_json(self) -> dict:
        out = asdict(self)
        for m in out["modes"].values():
            m["pass_at"] = {str(k): v for k, v in m["pass_at"].items()}
            m["pass_ci"] = {str(k): list(v) for k, v in m["pass_ci"].items()}
        out["metrics"] = self.metrics()
        return out


def _mode_score(correct: list[int], samples: int, ks: Sequence[int],
                results: list[SampleResult]) -> ModeScore:
    pass_at, pass_ci, mean, mean_ci = pass_stats(correct, samples, ks)
    counts = Counter(r.outcome for r in results)
    return ModeScore(problems=len(correct), pass_at=pass_at, pass_ci=pass_ci, mean=mean, mean_ci=mean_ci,
                     correct=correct, outcomes={o: counts[o] for o in OUTCOMES},
                     truncated=sum(r.truncated for r in results))


def _judge_call(r: SampleResult, call, expected) -> None:
    """Set ``r``'s outcome from one sandboxed call against the expected value."""
    if call.status != "ok":
        r.outcome = _STATUS_OUTCOME.get(call.status, "runtime_error")
        r.detail = (call.exception or call.detail or call.status)[:200]
    elif not call.literal:
        r.outcome, r.detail = "wrong", f"returned a non-literal {str(call.value_repr)[:100]}"
    elif call.value == expected:
        r.outcome, r.detail = "correct", ""
    else:
        r.outcome, r.detail = "wrong", f"returned {call.value_repr[:100]}"


def score(items: Sequence[CruxTask], answers: Sequence[Sequence], sandbox, ks: Sequence[int],
          timeout_s: float = 5.0) -> CruxEvalReport:
    """Score ``answers[i]`` (samples with ``.text`` and ``.truncated``) against task i, running
    every call in ``sandbox`` (in parallel; each its own isolated run)."""
    samples = sample_count(len(items), answers, ks, "task")
    expected = {}  # problem id -> the recorded output (a row's error, not a sample's)
    for t in items:
        try:
            expected[t.id] = parse_literal(t.problem.output)
        except ValueError as e:
            raise ValueError(f"problem {t.id!r}: output: {e}") from e
    # one reference run per problem asked for its output: f(input) as recorded
    references = list({t.problem.id: t.problem for t in items if t.mode == "output"}.values())
    calls = [(program(p.code, call_source(p.input)), (), {}) for p in references]
    results: list[SampleResult] = []
    predicted: list[tuple[int, Any]] = []  # output mode: (result index, literal)
    slots: list[int] = []  # input mode: the result index of each call
    for t, group in zip(items, answers):
        for s, answer in enumerate(group):
            part = answer_part(answer.text, t.mode)
            r = SampleResult(t.id, t.mode, s, "no_answer", part, "", answer.truncated,
                             answer.text)
            results.append(r)
            if part is None:
                r.detail = "nothing to read"
                continue
            try:
                if t.mode == "output":
                    predicted.append((len(results) - 1, parse_literal(part)))
                else:
                    calls.append((program(t.problem.code, call_source(part)), (), {}))
                    slots.append(len(results) - 1)
            except ValueError as e:
                r.outcome, r.detail = "parse_error", str(e)[:200]
    t0 = time.perf_counter()
    ran = run_calls(sandbox, calls, timeout_s)
    execute_s = time.perf_counter() - t0
    reference = dict(zip((p.id for p in references), ran[:len(references)]))
    for index, call in zip(slots, ran[len(references):]):
        _judge_call(results[index], call, expected[results[index].id])
    for index, value in predicted:
        r, ref = results[index], reference[results[index].id]
        if ref.status != "ok" or not ref.literal:
            r.outcome = "reference_error"
            r.detail = (f"f(input) did not return a literal: {ref.status} "
                        f"{ref.exception or ref.detail or ref.value_repr or ''}")[:200]
        elif ref.value == value:
            r.outcome = "correct"
        else:
            r.outcome = "wrong"
            r.detail = f"predicted {r.extracted[:100]}; f returns {ref.value_repr[:100]}"
    mismatch = [p.id for p in references
                if reference[p.id].status == "ok" and reference[p.id].literal
                and reference[p.id].value != expected[p.id]]
    if mismatch:
        log.warning("%d problem(s) whose recorded output is not what f(input) returns here "
                    "(scored against the execution): %s", len(mismatch), mismatch[:10])
    modes = {}
    for mode in dict.fromkeys(t.mode for t in items):
        mine = [r for r in results if r.mode == mode]
        hits = Counter(r.id for r in mine if r.outcome == "correct")
        correct = [hits[t.id] for t in items if t.mode == mode]
        modes[mode] = _mode_score(correct, samples, ks, mine)
    return CruxEvalReport(samples=samples, ks=list(ks), modes=modes, reference_mismatch=mismatch,
                          results=results, execute_s=execute_s)


async def evaluate(policy, problems: Sequence[CruxProblem], *, modes: Sequence[str] = MODES,
                   samples: int = 1, ks: Sequence[int] = (1,), max_new_tokens: int = 512,
                   temperature: float = 0.0, sandbox=None,
                   timeout_s: float = 5.0) -> CruxEvalReport:
    """Ask ``policy`` every problem in every mode ``samples`` times (all at once, so an engine
    batches them), then score. A sandbox is made (local backend) and closed when none is given."""
    items = tasks(problems, modes)
    roles = {m: cruxeval_role(m, max_new_tokens, temperature) for m in MODES}
    return await answer_then_execute(
        policy, [(roles[t.mode], t.observation()) for t in items], samples, sandbox,
        lambda answers, box: score(items, answers, box, ks, timeout_s))


def canonical_policy(items: Sequence[CruxTask]) -> ScriptedPolicy:
    """Answers each task with CRUXEval's form of the recorded row, ``[ANSWER] assert f(<input>)
    == <output> [/ANSWER]``: a harness check that must score 1.0 (below 1.0: a row that does
    not hold when run here)."""
    by_observation = {t.observation(): t.gold_answer() for t in items}
    return ScriptedPolicy(lambda observation, legal: by_observation.get(observation, ""))


def format_table(report: CruxEvalReport) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    modes = list(report.modes)
    first = report.modes[modes[0]]
    table = Table(title=f"CRUXEval: {first.problems} problems x {report.samples} samples per mode")
    table.add_column("metric")
    for mode in modes:
        table.add_column(f"{mode} ({PREFIX[mode]})", justify="right")

    def row(name: str, cell) -> None:
        table.add_row(name, *(cell(report.modes[m]) for m in modes))

    for k in report.ks:
        row(f"pass@{k}", lambda m: f"{m.pass_at[k]:.4f} [{m.pass_ci[k][0]:.4f}, "
                                   f"{m.pass_ci[k][1]:.4f}]")
    row(f"mean@{report.samples}", lambda m: f"{m.mean:.4f} [{m.mean_ci[0]:.4f}, "
                                            f"{m.mean_ci[1]:.4f}]")
    row("problems solved by any sample", lambda m: f"{sum(1 for c in m.correct if c)}/{m.problems}")
    for outcome in OUTCOMES:
        if outcome in ("correct", "wrong") or any(report.modes[m].outcomes[outcome] for m in modes):
            row(f"outcome: {outcome}", lambda m: str(m.outcomes[outcome]))
    row("truncated answers", lambda m: str(m.truncated))
    buf = StringIO()
    console = Console(file=buf, width=110)
    console.print(table)
    if report.reference_mismatch:
        console.print(f"rows whose recorded output differs from f(input) run here: "
                      f"{', '.join(report.reference_mismatch[:20])}")
    console.print(f"generate / execute seconds: {report.generate_s:.1f} / {report.execute_s:.1f}")
    return buf.getvalue()
