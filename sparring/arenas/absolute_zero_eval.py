"""Held-out evaluation of the Absolute Zero solvers, and the tiny grammar's generated triplets.

`evaluate_heldout` asks the arena's own solver roles (the prompts they are trained on) about
held-out (program, input, output) triplets and scores the answers exactly as training does:
deduction by value, abduction by running the program on the answer in the arena's sandbox. A
check that failed in the sandbox itself is no verdict on the model: it is left out of the
accuracy and counted. `grammar_seeds` draws the grammar's generated triplets of the training
split: the seed set, and the programs of the format warm start.

Not here: the step (absolute_zero.py) or the grammar (environments/absolute_zero/grammar.py).
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from sparring.environments.absolute_zero import grammar, tasks
from sparring.environments.absolute_zero.buffers import Entry

if TYPE_CHECKING:
    from sparring.arenas.absolute_zero import AbsoluteZeroArena
    from sparring.arenas.absolute_zero_config import AbsoluteZeroArenaConfig

EVAL_TASKS = ("deduction", "abduction")


def grammar_seeds(cfg: AbsoluteZeroArenaConfig, count: int | None = None, salt: str = "seed") -> dict[str, list[Entry]]:
    """`count` (default `grammar.seed_triplets`) generated triplets of the training split per
    deduction/abduction task type of the arena, marked as seeds; the same for the same config."""
    g = cfg.grammar
    n = g.seed_triplets if count is None else count
    rng = random.Random(f"{salt}/{g.heldout_fraction}/{g.max_depth}")
    return {t: [replace(e, seed=True) for e in grammar.triplets(rng, n, "train", g.heldout_fraction, g.max_depth,
                                                              task=t)]
            for t in cfg.task_types if t in EVAL_TASKS and n > 0}


def load_eval_triplets(path: str | Path) -> list[Entry]:
    """Deduction and abduction lines of a triplet JSONL file ({task, program, input, output});
    a malformed line is an error naming the file and the line."""
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                task, program, inp, output = row["task"], row["program"], row["input"], row["output"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"eval_triplets {path}: line {n}: want {{task, program, input, output}} ({e})") from None
            if task in EVAL_TASKS:
                out.append(Entry(task, str(program), (str(inp),), (str(output),)))
    if not out:
        raise ValueError(f"eval_triplets {path}: no deduction or abduction triplets")
    return out


async def evaluate_heldout(arena: AbsoluteZeroArena, policy, entries: list[Entry]) -> dict[str, float]:
    """eval/<arena>/<task>/heldout_accuracy (and overall), the format rate, sandbox failures, and
    how many of the held-out programs the buffers hold (proposals that happened to write one)."""
    solves = [tasks.solver_task(e) for e in entries]
    roles = [arena.roles[(s.task, "solver")] for s in solves]
    turns = await asyncio.gather(*(policy.act(r, 0, s.prompt(), None) for r, s in zip(roles, solves)))
    answers = [None if t.invalid else r.solver_answer(t.text) for r, t in zip(roles, turns)]
    calls = [tasks.answer_calls(s, a) if a is not None else [] for s, a in zip(solves, answers)]
    flat = [c for cs in calls for c in cs]
    results = await arena.executor.run_many(flat) if flat else []
    scores: dict[str, list[float]] = {t: [] for t in EVAL_TASKS}
    k = failed = 0
    for s, a, cs in zip(solves, answers, calls):
        mine = results[k:k + len(cs)]
        k += len(cs)
        if any(r.reason == "sandbox_error" for r in mine):
            failed += 1
            continue
        score = 0.0 if a is None else tasks.score_answer(s, a, mine, arena.cfg.reward.induction_scoring,
                                                         arena.cfg.checks.equality)
        scores[s.task].append(score)
    p = f"eval/{arena.name}"
    out = {f"{p}/{t}/heldout_accuracy": sum(v) / len(v) for t, v in scores.items() if v}
    every = [x for v in scores.values() for x in v]
    if every:
        out[f"{p}/heldout_accuracy"] = sum(every) / len(every)
    out[f"{p}/heldout_format_rate"] = sum(a is not None for a in answers) / len(answers)
    out[f"{p}/heldout_sandbox_errors"] = float(failed)
    held = {e.program for e in entries}
    proposed = {e.program for t in EVAL_TASKS for e in arena.buffers[t].entries if not e.seed}
    out[f"{p}/heldout_programs_in_buffers"] = float(len(held & proposed))
    return out
