"""Seed tasks in files: the seed file Absolute Zero's seeding stage reads, and the log it writes so
that a killed seeding stage resumes.

Seed file (`seed.path`), one JSON object per line; other keys are ignored, so the released AZR
code's seed files (`snippet`, `imports`, ...) and sparring's buffers.jsonl export both load:

    {"task": "deduction" | "abduction" | "induction"     (optional),
     "program": "def f(a): ..."                          (or "snippet", the release's name),
     "input": "ARGS" or ["ARGS", ...]                    (or "inputs"),
     "output": "VALUE" or [...]                          (or "outputs"; optional, checked when given),
     "message": "a hint in words"                        (induction)}

Without a task, a list of two or more inputs is an induction task and one input a triplet for
deduction and abduction both (the release's one seed set). `read_seed_file` turns lines into `SeedTask`s (a
`Proposal`, the buffers it goes to, the outputs the file expects); the arena then checks each like
a model's proposal (`tasks.precheck`, the Executor). A line that is not one is a (line, why) pair.

The log (`append_entries` / `read_entries`): the entries the model's seeding proposals added, one
`Entry.state()` per line, appended as they are accepted; reading skips a line torn by a kill.

Not here: running anything (the arena's Executor) or the seeding loop (arenas/absolute_zero_seeding.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from sparring.environments.absolute_zero.buffers import Entry
from sparring.environments.absolute_zero.tasks import Proposal

TRIPLET_TASKS = ("deduction", "abduction")


class SeedLine(BaseModel):
    """One line of a seed file (other keys are ignored)."""

    model_config = ConfigDict(extra="ignore")

    task: Literal["deduction", "abduction", "induction"] | None = None
    """The buffer it goes to; none: induction for a list of 2+ inputs, else deduction and abduction."""
    program: str = Field(validation_alias=AliasChoices("program", "snippet"))
    """The program defining f."""
    input: str | list[str] = Field(validation_alias=AliasChoices("input", "inputs"))
    """The arguments of f (the text between its parentheses), or a list of them (induction)."""
    output: str | list[str] | None = Field(None, validation_alias=AliasChoices("output", "outputs"))
    """What f returns on each input; when given, it must equal what f returns in the sandbox."""
    message: str = ""
    """Induction: the hint shown to the solver (words, no code)."""


@dataclass(frozen=True)
class SeedTask:
    """A seed-file line read as a proposal, not yet checked."""

    line: int
    proposal: Proposal
    targets: tuple[str, ...]  # the buffers it goes to
    outputs: tuple[str, ...] | None  # the outputs the file expects, aligned with proposal.inputs


def read_seed_file(path: str | Path, task_types: Sequence[str],
                   max_inputs: int) -> tuple[list[SeedTask], list[tuple[int, str]]]:
    """(seed tasks, rejected (line number, why)) of a seed file; lines are numbered from 1 and
    blank ones skipped. Induction inputs are de-duplicated and cut at `max_inputs` as a model's."""
    found: list[SeedTask] = []
    rejected: list[tuple[int, str]] = []
    for number, text in enumerate(Path(path).read_text().splitlines(), 1):
        if not text.strip():
            continue
        task = _seed_task(number, text, task_types, max_inputs)
        if isinstance(task, str):
            rejected.append((number, task))
        else:
            found.append(task)
    return found, rejected


def _seed_task(number: int, text: str, task_types: Sequence[str], max_inputs: int) -> SeedTask | str:
    """The line as a SeedTask, or why it is not one."""
    try:
        line = SeedLine.model_validate(json.loads(text))
    except json.JSONDecodeError as e:
        return f"not JSON: {e}"
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "line"
        return f"{where}: {err['msg']}" if err["loc"] else f"not a JSON object: {err['msg']}"
    inputs = [line.input] if isinstance(line.input, str) else list(line.input)
    outputs = None if line.output is None else [line.output] if isinstance(line.output, str) else list(line.output)
    if not inputs:
        return "no input"
    if outputs is not None and len(outputs) != len(inputs):
        return f"{len(outputs)} outputs for {len(inputs)} inputs"
    task = line.task or ("induction" if isinstance(line.input, list) and len(inputs) > 1 else None)
    if task == "induction":
        return _induction(number, line, inputs, outputs, task_types, max_inputs)
    targets = (task,) if task else tuple(t for t in TRIPLET_TASKS if t in task_types)
    if not targets or targets[0] not in task_types:
        return f"no {task or 'deduction or abduction'} buffer: the arena plays {list(task_types)}"
    if len(inputs) != 1:
        return f"a {targets[0]} task has one input, got {len(inputs)}"
    return SeedTask(number, Proposal(targets[0], line.program, (inputs[0],)), targets,
                    None if outputs is None else (outputs[0],))


def _induction(number: int, line: SeedLine, inputs: list[str], outputs: list[str] | None,
               task_types: Sequence[str], max_inputs: int) -> SeedTask | str:
    if "induction" not in task_types:
        return f"no induction buffer: the arena plays {list(task_types)}"
    kept = tuple(dict.fromkeys(inputs))[:max_inputs]  # as a model's proposal: distinct, cut at the ask
    expected = None
    if outputs is not None:
        first: dict[str, str] = {}
        for i, o in zip(inputs, outputs):
            first.setdefault(i, o)
        expected = tuple(first[i] for i in kept)
    return SeedTask(number, Proposal("induction", line.program, kept, line.message), ("induction",), expected)


# ----- the seeding log ---------------------------------------------------------------------------
def append_entries(path: str | Path, entries: Sequence[Entry]) -> None:
    """Append entries to the log (one JSON line each, flushed: a kill loses at most the last line)."""
    if not entries:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write("".join(json.dumps(e.state()) + "\n" for e in entries))


def read_entries(path: str | Path) -> tuple[list[Entry], list[tuple[int, str]]]:
    """(entries, skipped (line number, why)) of a log; a torn or foreign line is skipped."""
    entries: list[Entry] = []
    skipped: list[tuple[int, str]] = []
    for number, text in enumerate(Path(path).read_text().splitlines(), 1):
        if not text.strip():
            continue
        try:
            entries.append(Entry.from_state(json.loads(text)))
        except (json.JSONDecodeError, TypeError, KeyError, ValueError) as e:
            skipped.append((number, f"not an entry ({type(e).__name__}: {str(e)[:100]})"))
    return entries, skipped
