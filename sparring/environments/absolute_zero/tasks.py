"""Absolute Zero task types: deduction, abduction, induction over (program, input, output).

- deduction: the solver sees f and an input and predicts the output; checked by value
  against the stored output (`outputs_equal`, no code runs).
- abduction: the solver sees f and an output and writes an input; any input works: f is run
  on it in the sandbox and the result compared by value with the stored output.
- induction: the solver sees a hint message and the first half of the input/output pairs
  (`split_pairs`) and writes f; its program runs on the held-out half, scored `all` or
  `fraction` (rewards.induction_score).

Proposals: deduction/abduction proposers write (f, input); the Executor validates the pair
(static check + two runs in separate processes that must agree) and the run's output completes
the triplet. Induction proposers get a program from the deduction/abduction buffers and write
inputs plus a message: exactly the number of distinct inputs asked for (more are cut, fewer are
"wrong_input_count", as in the released code, so fewer examples never pay), a message without
code ("code_in_message"), and every input must validate. `precheck` applies the rules that need
no run. This module turns text and Executor results into
`Proposal`s, buffer `Entry`s, `SolverTask`s and scores; it runs nothing itself (the arena
does, through the Executor) and imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sparring.environments.absolute_zero import prompts
from sparring.environments.absolute_zero.buffers import TASK_TYPES, Entry
from sparring.environments.absolute_zero.checks import (REJECTIONS, CallResult, code_in_message, function_count,
                                                        outputs_equal)
from sparring.environments.absolute_zero.rewards import InductionScoring, induction_score

MIN_INDUCTION_INPUTS = 2  # one shown to the solver, one held out
#: Why a proposal is not valid: format problems, then `precheck`'s rules, then the Executor's REJECTIONS.
PROPOSAL_REJECTIONS: tuple[str, ...] = ("bad_format", "truncated", "too_few_inputs", "wrong_input_count",
                                        "code_in_message", "multiple_functions", "outside_grammar") + REJECTIONS


@dataclass(frozen=True)
class Proposal:
    """A parsed proposer answer (not yet validated)."""

    task: str
    program: str
    inputs: tuple[str, ...]
    message: str = ""


def parse_proposal(task: str, text: str, program: str | None = None, max_inputs: int = 10) -> Proposal | None:
    """Read a proposer's answer; None on a format error. Induction needs the given `program`;
    its inputs are de-duplicated (by text) and cut at `max_inputs`."""
    if task in ("deduction", "abduction"):
        parsed = prompts.parse_triplet_proposal(text)
        return None if parsed is None else Proposal(task, parsed[0], (parsed[1],))
    if task == "induction":
        if program is None:
            raise ValueError("an induction proposal needs the program it was written for")
        parsed = prompts.parse_inputs_proposal(text)
        if parsed is None:
            return None
        inputs = tuple(dict.fromkeys(parsed[0]))[:max_inputs]
        return Proposal(task, program, inputs, parsed[1])
    raise ValueError(f"unknown task type {task!r}; choose from {TASK_TYPES}")


def precheck(proposal: Proposal, asked: int | None = None, single_function: bool = False) -> str | None:
    """A rejection reason that needs no run, else None. Induction: fewer than
    `MIN_INDUCTION_INPUTS` distinct inputs ("too_few_inputs": no task at all), other than the
    `asked` number ("wrong_input_count"), or code in the message ("code_in_message").
    Deduction/abduction with `single_function` (the release's rule): more than one def
    ("multiple_functions"); a program that does not parse is left to the Executor."""
    if proposal.task == "induction":
        if len(proposal.inputs) < MIN_INDUCTION_INPUTS:
            return "too_few_inputs"
        if asked is not None and len(proposal.inputs) != asked:
            return "wrong_input_count"
        return "code_in_message" if code_in_message(proposal.message, proposal.program) else None
    if single_function and (function_count(proposal.program) or 0) > 1:
        return "multiple_functions"
    return None


def accept(proposal: Proposal, results: Sequence[CallResult], step: int) -> tuple[Entry | None, str | None]:
    """(buffer entry, None) when every input validated, else (None, first rejection reason)."""
    if len(results) != len(proposal.inputs):
        raise ValueError(f"{len(results)} validation results for {len(proposal.inputs)} inputs")
    for r in results:
        if not r.ok:
            return None, r.reason
    return Entry(proposal.task, proposal.program, proposal.inputs, tuple(r.output_repr for r in results),
                 proposal.message, step), None


Pairs = tuple[tuple[str, str], ...]


def split_pairs(inputs: Sequence[str], outputs: Sequence[str]) -> tuple[Pairs, Pairs]:
    """(shown, held_out): the first n // 2 pairs are shown, the rest held out (n >= 2)."""
    pairs = tuple(zip(inputs, outputs))
    if len(pairs) < MIN_INDUCTION_INPUTS:
        raise ValueError(f"an induction task needs >= {MIN_INDUCTION_INPUTS} pairs, got {len(pairs)}")
    half = len(pairs) // 2
    return pairs[:half], pairs[half:]


@dataclass(frozen=True)
class SolverTask:
    """What a solver is asked, with the hidden part kept for checking."""

    task: str
    program: str  # shown in deduction/abduction; the hidden reference program in induction
    input: str = ""  # deduction: shown; abduction: the proposer's input (hidden; any input may work)
    output: str = ""  # deduction: hidden; abduction: shown
    message: str = ""
    shown: tuple[tuple[str, str], ...] = ()  # induction pairs the solver sees
    held_out: tuple[tuple[str, str], ...] = ()  # induction pairs its program is checked on
    step: int = -1  # when the task entered the buffer

    def prompt(self) -> str:
        if self.task == "deduction":
            return prompts.solve_deduction_prompt(self.program, self.input)
        if self.task == "abduction":
            return prompts.solve_abduction_prompt(self.program, self.output)
        return prompts.solve_induction_prompt(self.message, self.shown)


def solver_task(entry: Entry) -> SolverTask:
    if entry.task == "induction":
        shown, held_out = split_pairs(entry.inputs, entry.outputs)
        return SolverTask("induction", entry.program, message=entry.message, shown=shown, held_out=held_out,
                          step=entry.step)
    return SolverTask(entry.task, entry.program, entry.input, entry.output, step=entry.step)


def answer_calls(task: SolverTask, answer: str) -> list[tuple[str, str]]:
    """The (program, input) runs a parsed answer needs before it can be scored."""
    if task.task == "deduction":
        return []
    if task.task == "abduction":
        return [(task.program, answer)]
    return [(answer, i) for i, _ in task.held_out]


def score_answer(task: SolverTask, answer: str, results: Sequence[CallResult],
                 scoring: InductionScoring = "all", equality: str = "strict") -> float:
    """Score in [0, 1] of a parsed answer given the results of its `answer_calls`; outputs are
    compared under `equality` (checks.outputs_equal: "strict" types, or the release's ==)."""
    if task.task == "deduction":
        return 1.0 if outputs_equal(answer, task.output, equality) else 0.0
    if task.task == "abduction":
        (r,) = results
        return 1.0 if r.ok and outputs_equal(r.output_repr, task.output, equality) else 0.0
    if len(results) != len(task.held_out):
        raise ValueError(f"{len(results)} results for {len(task.held_out)} held-out pairs")
    passed = [r.ok and outputs_equal(r.output_repr, o, equality) for r, (_, o) in zip(results, task.held_out)]
    return induction_score(passed, scoring)


def answer_text(task: SolverTask) -> str:
    """A well-formed correct answer (the warm start's targets; abduction: the proposer's input)."""
    if task.task == "deduction":
        return prompts.tag("output", task.output)
    if task.task == "abduction":
        return prompts.tag("input", task.input)
    return prompts.code_block(task.program)


def proposal_text(entry: Entry) -> str:
    """The well-formed proposer answer that would have produced `entry` (warm start targets)."""
    if entry.task == "induction":
        inputs = "\n".join(prompts.tag("input", i) for i in entry.inputs)
        return f"{inputs}\n{prompts.tag('message', entry.message)}"
    return f"{prompts.code_block(entry.program)}\n{prompts.tag('input', entry.input)}"


# Simple seed-style programs for the format warm start: (program, inputs, outputs, message).
# They teach the answer format, not reasoning; outputs are checked in the sandbox by a test.
FORMAT_EXAMPLES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str], ...] = (
    ('def f(a):\n    return a + 1',
     ('3', '-2', '10'),
     ('4', '-1', '11'),
     'Add one to a number.'),
    ('def f(a, b):\n    return a * b',
     ('2, 3', '4, 5', '0, 7'),
     ('6', '20', '0'),
     'Multiply the two numbers.'),
    ('def f(s):\n    return s[::-1]',
     ("'abc'", "'hello'", "'ab'"),
     ("'cba'", "'olleh'", "'ba'"),
     'Reverse the string.'),
    ('def f(lst):\n    return sorted(lst)',
     ('[3, 1, 2]', '[5, 4]', '[2, 2, 1]'),
     ('[1, 2, 3]', '[4, 5]', '[1, 2, 2]'),
     'Sort the list.'),
    ('def f(x):\n    return [i * 2 for i in x]',
     ('[1, 2, 3]', '[0]', '[5, 6]'),
     ('[2, 4, 6]', '[0]', '[10, 12]'),
     'Double every item.'),
    ('def f(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total',
     ('4', '6', '1'),
     ('6', '15', '0'),
     'Sum the numbers below n.'),
    ('def f(s):\n    return s.upper()',
     ("'abc'", "'Hi'", "'x y'"),
     ("'ABC'", "'HI'", "'X Y'"),
     'Upper-case the text.'),
    ('def f(a, b):\n    return max(a, b)',
     ('3, 7', '9, 2', '-1, -5'),
     ('7', '9', '-1'),
     'The larger of the two.'),
    ('def f(lst):\n    return len(lst)',
     ('[1, 2, 3]', '[]', "['a']"),
     ('3', '0', '1'),
     'Count the items.'),
    ('def f(s, c):\n    return s.count(c)',
     ("'banana', 'a'", "'hello', 'l'", "'abc', 'z'"),
     ('3', '2', '0'),
     'Count a character in the text.'),
    ('def f(d):\n    return sorted(d.keys())',
     ("{'b': 1, 'a': 2}", "{'x': 0}", "{3: 'c', 1: 'a'}"),
     ("['a', 'b']", "['x']", '[1, 3]'),
     'The sorted keys.'),
    ("def f(n):\n    if n % 2 == 0:\n        return 'even'\n    return 'odd'",
     ('4', '7', '0'),
     ("'even'", "'odd'", "'even'"),
     'Say whether n is even or odd.'),
    ('def f(lst):\n    return [x for x in lst if x > 0]',
     ('[1, -2, 3]', '[-1, -2]', '[0, 5]'),
     ('[1, 3]', '[]', '[5]'),
     'Keep the positive items.'),
    ('def f(s):\n    return s.split()',
     ("'a b c'", "'hello world'", "'one'"),
     ("['a', 'b', 'c']", "['hello', 'world']", "['one']"),
     'Split the text into words.'),
    ('def f(a, b):\n    return a[b]',
     ('[10, 20, 30], 1', "'xyz', 0", '(4, 5), -1'),
     ('20', "'x'", '5'),
     'Pick the item at an index.'),
    ('def f(lst):\n    return sum(lst) - max(lst)',
     ('[1, 2, 3]', '[5, 5]', '[10]'),
     ('3', '5', '0'),
     'Sum without the largest item.'),
)


def format_entries(task: str) -> list[Entry]:
    """FORMAT_EXAMPLES as buffer entries of one task type (one entry per input for triplets)."""
    if task == "induction":
        return [Entry("induction", p, i, o, m) for p, i, o, m in FORMAT_EXAMPLES]
    return [Entry(task, p, (x,), (y,)) for p, i, o, _ in FORMAT_EXAMPLES for x, y in zip(i, o)]
