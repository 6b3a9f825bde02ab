"""Absolute Zero prompt text and answer parsing: what each of the six roles is shown and must write.

Output formats (the same tags in every role, so a small model learns one vocabulary):

- program: a fenced block  ```python\\ndef f(...):\\n    ...\\n```
- input:   <input>ARGS</input>  where ARGS is what goes between the parentheses of f(...),
           as Python literals separated by commas (``[1, 2], 'a'``)
- output:  <output>VALUE</output>  a Python literal
- message: <message>TEXT</message> (induction proposers: a hint shown to the solver)

Parsing is lenient about layout and strict about structure: text inside ``<think>...</think>``
is ignored; when a block appears several times the last one counts (drafts come first); a
missing block is a format error (None), never an exception. With AZR's answer format the arena
first cuts out the final ``<answer>...</answer>`` span (the role does) and these parsers read
inside it; a solver's answer may then also be bare (``bare=True``: no tag around the value).

Not here: validation (the Executor), which inputs are shown to whom (tasks.py), or roles.
"""

from __future__ import annotations

import re
from typing import Sequence

from sparring.environments import delimited

# Blocks are found by linear scans (environments/delimited.py): a lazy regex over model text of
# many unclosed tags is quadratic.
_THINK = delimited.tag_pair("think", 0)
_CODE = (re.compile(r"```[ \t]*(?:(?:python3?|py)[ \t]*)?\r?\n", re.IGNORECASE), re.compile("```"))
_TAGS = {tag: delimited.tag_pair(tag) for tag in ("input", "output", "message")}

SYSTEM_PROMPT = ("You write and reason about small deterministic Python functions. "
                 "Follow the answer format exactly.")

#: AZR's plain prompt for a base model (Zhao et al. 2025); the completion starts inside <think>.
AZR_TEXT = ("A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
            "The assistant first thinks about the reasoning process in the mind and then provides the user with "
            "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> "
            "</answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here "
            "</answer>. User: {user}\nAssistant: <think>")

#: Appended to every task with the answer_tag format (unless the user template is set).
ANSWER_TAG_INSTRUCTION = ("Think first inside <think> </think>, then write your answer, in the format asked "
                          "above, inside <answer> </answer>.")

RULES = ("The function must be named f, be deterministic and self-contained: no file, network or "
         "console I/O, no randomness, no clock, no external state; its arguments and return value "
         "are Python literals.")


def strip_thinking(text: str) -> str | None:
    """The answer part of a completion: closed <think> blocks removed; None if one never closes."""
    text = delimited.without(text, *_THINK)
    return None if "<think>" in text else text


def code_block(program: str) -> str:
    return f"```python\n{program.strip()}\n```"


def tag(name: str, value: str) -> str:
    return f"<{name}>{value}</{name}>"


def last_code(text: str) -> str | None:
    blocks = [b.strip() for b in delimited.contents(text, *_CODE)]
    blocks = [b for b in blocks if b]
    return blocks[-1] if blocks else None


def tags(text: str, name: str) -> list[str]:
    return [v.strip() for v in delimited.contents(text, *_TAGS[name])]


def last_tag(text: str, name: str) -> str | None:
    found = tags(text, name)
    return found[-1] if found and found[-1] else None


# ----- proposer prompts ----------------------------------------------------------------------
_GOAL = {
    "deduction": "The solver will see f and the input and must predict the output.",
    "abduction": "The solver will see f and the output and must find an input that produces it.",
}


def reference_text(program: str, input_text: str, output: str) -> str:
    return f"{code_block(program)}\n{tag('input', input_text)}\n{tag('output', output)}"


def propose_triplet_prompt(task: str, references: Sequence[tuple[str, str, str]]) -> str:
    """Deduction/abduction proposer: K reference (program, input, output) triplets, then the ask."""
    if task not in _GOAL:
        raise ValueError(f"no triplet proposer for task type {task!r}")
    refs = "\n\n".join(reference_text(*r) for r in references)
    return (f"Propose a new {task} task: a function f and one input for it. {_GOAL[task]} {RULES}\n\n"
            f"Reference tasks:\n{refs}\n\n"
            f"Write a new task, different from the references, as a ```python block with f, then "
            f"<input>the arguments of f</input>.")


def propose_inputs_prompt(program: str, num_inputs: int) -> str:
    """Induction proposer: a program; asks for exactly `num_inputs` inputs and a hint message in
    words (a message with code is rejected: tasks.precheck)."""
    return (f"Here is a function f:\n{code_block(program)}\n\n"
            f"Write exactly {num_inputs} different inputs for f, each as <input>the arguments of f</input>, "
            f"then <message>a short hint about what f does</message>. The solver will see the message "
            f"and some inputs with their outputs, and must write f. The message must not contain code: "
            f"describe f in words, without Python.")


# ----- solver prompts ------------------------------------------------------------------------
def solve_deduction_prompt(program: str, input_text: str) -> str:
    return (f"Predict the output of f.\n{code_block(program)}\n{tag('input', input_text)}\n\n"
            f"Answer with <output>the value f returns, as a Python literal</output>.")


def solve_abduction_prompt(program: str, output: str) -> str:
    return (f"Find an input for which f returns the output.\n{code_block(program)}\n{tag('output', output)}\n\n"
            f"Answer with <input>the arguments of f, as Python literals</input>.")


def solve_induction_prompt(message: str, pairs: Sequence[tuple[str, str]]) -> str:
    shown = "\n".join(f"{tag('input', i)} {tag('output', o)}" for i, o in pairs)
    return (f"Write a function f that fits these examples. {RULES}\n"
            f"Hint: {message}\n{shown}\n\n"
            f"Answer with f in a ```python block.")


# ----- answer parsing ------------------------------------------------------------------------
def parse_triplet_proposal(text: str) -> tuple[str, str] | None:
    """(program, input text) of a deduction/abduction proposal, or None on a format error."""
    text = strip_thinking(text)
    if text is None:
        return None
    program = last_code(text)
    input_text = last_tag(text, "input")
    if program is None or input_text is None:
        return None
    return program, input_text


def parse_inputs_proposal(text: str) -> tuple[list[str], str] | None:
    """(inputs, message) of an induction proposal, or None on a format error."""
    text = strip_thinking(text)
    if text is None:
        return None
    inputs = [i for i in tags(text, "input") if i]
    message = last_tag(text, "message")
    if not inputs or message is None:
        return None
    return inputs, message


def parse_solver_answer(task: str, text: str, bare: bool = False) -> str | None:
    """The answer of a solver: output text (deduction), input text (abduction) or a program
    (induction); None on a format error. `bare`: without its tag or code block, the whole
    (stripped) text is the answer (inside an <answer> span, AZR's format)."""
    text = strip_thinking(text)
    if text is None:
        return None
    if task == "deduction":
        found = last_tag(text, "output")
    elif task == "abduction":
        found = last_tag(text, "input")
    elif task == "induction":
        found = last_code(text)
    else:
        raise ValueError(f"unknown task type {task!r}")
    if found is None and bare:
        return text.strip() or None
    return found
