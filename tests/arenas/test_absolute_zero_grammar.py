"""Absolute Zero on the tiny grammar: proposals outside it are rejected, the buffers start from
generated training-split seeds, the warm start teaches the format and not the answers, and the
held-out evaluation scores the arena's own solvers exactly as training does (sandbox included)."""

from __future__ import annotations

import ast
import asyncio
import json

import pytest

from sparring.agents.policies import _turn
from sparring.arenas.absolute_zero import AbsoluteZeroArena, format_examples, validation_config
from sparring.arenas.absolute_zero_eval import evaluate_heldout, load_eval_triplets
from sparring.config import AbsoluteZeroArenaConfig, OptimConfig
from sparring.environments.absolute_zero import grammar
from sparring.environments.absolute_zero.validation import Executor
from sparring.types import SamplingParams

IN = "```python\ndef f(a):\n    return sorted(a)[1:]\n```\n<input>[3, 1, 2]</input>"
OUT = "```python\ndef f(a):\n    return len(str(a))\n```\n<input>[3, 1, 2]</input>"  # str: not in the grammar


class Script:
    trainable = True

    def __init__(self, answer) -> None:
        self.answer = answer

    async def act(self, role, player, observation, legal, state=None):
        return _turn(role, player, self.answer(role.name, observation), legal, True, prompt=[1], completion=[2],
                     logprobs=[-1.0])


def cfg(**kw) -> AbsoluteZeroArenaConfig:
    base = dict(name="az", task_types=["deduction", "abduction"], episodes_per_step=2, references=1, mc_samples=2,
                grammar={"seed_triplets": 8}, sandbox={"timeout_s": 0.5, "workers": 2})
    return AbsoluteZeroArenaConfig(**{**base, **kw})


def arena_with(c, policy) -> AbsoluteZeroArena:
    return AbsoluteZeroArena(c, policy, Executor(cfg=validation_config(c), workers=2), SamplingParams(32, 1.0))


def test_outside_grammar_is_a_counted_rejection_and_seeds_come_from_the_training_split():
    proposals = iter([IN, OUT, IN, OUT])
    c = cfg()

    def answer(role, obs):
        return next(proposals) if role.endswith("proposer") else "<output>0</output>" if "deduction" in role \
            else "<input>[0, 0]</input>"

    async def go():
        arena = arena_with(c, Script(answer))
        try:
            seeds = {t: [e for e in arena.buffers[t].entries if e.seed and e.program != grammar_identity()]
                     for t in ("deduction", "abduction")}
            return arena, seeds, await arena.play_step(0, [1, 2])
        finally:
            await arena.aclose()

    arena, seeds, episodes = asyncio.run(go())
    for t, entries in seeds.items():
        assert len(entries) == 8 and all(grammar.in_grammar(e.program) for e in entries)
        assert not any(grammar.heldout(e.program, 0.3) for e in entries)
    outcomes = sorted(e.metadata["outcome"] for e in episodes if e.roles[0].endswith("proposer"))
    assert outcomes == ["outside_grammar", "outside_grammar", "valid", "valid"]
    m = arena.metrics(episodes)
    assert m["az/deduction/reject/outside_grammar"] == 1.0 and m["az/abduction/reject/outside_grammar"] == 1.0


def grammar_identity() -> str:
    from sparring.environments.absolute_zero.buffers import IDENTITY
    return IDENTITY


def test_grammar_warm_start_writes_grammar_proposals_and_format_only_solver_answers():
    rows = format_examples(cfg(), 200, seed=0)
    parts = {"proposer": 0, "solver": 0}
    right = deductions = 0
    for row in rows:
        prompt, completion = row["prompt"][-1]["content"], row["completion"][0]["content"]
        program = (prompt if "Predict" in prompt or "Find" in prompt else completion).split("```python\n")[1]
        program = program.split("\n```")[0]
        assert grammar.in_grammar(program) and not grammar.heldout(program, 0.3)
        if prompt.startswith("Propose"):
            parts["proposer"] += 1
            continue
        parts["solver"] += 1
        if "Predict" in prompt:  # deduction: is the target the program's real output?
            deductions += 1
            namespace: dict = {}
            exec(program, namespace)  # a generated grammar program, not model output
            value = namespace["f"](ast.literal_eval(prompt.split("<input>")[1].split("</input>")[0]))
            right += repr(value) == completion.split("<output>")[1].split("</output>")[0]
    assert parts == {"proposer": 100, "solver": 100}
    # the target is another task's answer: right only by coincidence
    assert deductions >= 40 and right / deductions < 0.3


def test_heldout_evaluation_scores_like_training(tmp_path):
    """Four held-out triplets; the script answers two right (one deduction by value, one abduction
    with an input other than the recorded one, checked in the sandbox) and two wrong."""
    rows = [{"task": "deduction", "program": "def f(a):\n    return sum(a) * 2", "input": "[1, 2]", "output": "6"},
            {"task": "deduction", "program": "def f(a):\n    return a + 3", "input": "4", "output": "7"},
            {"task": "abduction", "program": "def f(a):\n    return sorted(a)", "input": "[2, 1]", "output": "[1, 2]"},
            {"task": "abduction", "program": "def f(a):\n    return len(a)", "input": "[5, 5]", "output": "2"},
            {"task": "induction", "program": "def f(a):\n    return a", "input": "1", "output": "1"}]  # ignored
    path = tmp_path / "held.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    entries = load_eval_triplets(path)
    assert len(entries) == 4
    replies = {"sum(a) * 2": "<output>6</output>", "a + 3": "<output>8</output>",
               "sorted(a)": "<input>[1, 2]</input>", "len(a)": "<input>[1, 2, 3]</input>"}

    def answer(role, obs):
        return next(v for k, v in replies.items() if k in obs)

    async def go():
        arena = arena_with(cfg(), Script(answer))
        try:
            return await evaluate_heldout(arena, arena.policy, entries)
        finally:
            await arena.aclose()

    m = asyncio.run(go())
    assert m["eval/az/deduction/heldout_accuracy"] == 0.5 and m["eval/az/abduction/heldout_accuracy"] == 0.5
    assert m["eval/az/heldout_accuracy"] == 0.5 and m["eval/az/heldout_format_rate"] == 1.0
    assert m["eval/az/heldout_sandbox_errors"] == 0.0


def test_eval_triplets_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task": "deduction", "program": "def f(a):\\n    return a", "input": "1", "output": "1"}\n{"x": 1}\n')
    with pytest.raises(ValueError, match=rf"{bad}: line 2"):
        load_eval_triplets(bad)


def test_learning_rate_zero_is_a_valid_control():
    assert OptimConfig(learning_rate=0.0).learning_rate == 0.0
    with pytest.raises(ValueError):
        OptimConfig(learning_rate=-1e-4)


def test_a_repeated_proposal_is_solved_once_in_the_solve_phase():
    """Two identical valid proposals are one new task: the solve phase takes it once, then buffer
    samples (a proposer repeating itself must not fill the solver's batch)."""
    c = cfg(mc_samples=1)

    def answer(role, obs):
        return IN if role.endswith("proposer") else "<output>0</output>" if "deduction" in role else "<input>[0, 0]</input>"

    async def go():
        arena = arena_with(c, Script(answer))
        try:
            return await arena.play_step(0, [1, 2])
        finally:
            await arena.aclose()

    episodes = asyncio.run(go())
    solves = [e for e in episodes if e.roles[0].endswith("solver")]
    assert len(solves) == 4  # 2 per task type
    for task in ("deduction", "abduction"):
        steps = sorted(e.metadata["task_step"] for e in solves if e.roles[0] == f"{task}/solver")
        assert steps == [-1, 0]  # the new task once (proposed at step 0), then a seed from the buffer


def test_solver_samples_answer_each_solve_task_as_one_group():
    """solver_samples: 2 with 4 seeds: per task type 2 solve tasks, each answered twice, the two
    answers one group (same prompt, same Episode.group); proposers declare no group; the trained
    answers per step stay one per seed. solver_samples: 1 (the paper) declares no groups."""

    def answer(role, obs):  # the answer names its prompt, so equal texts mean one prompt
        if role.endswith("proposer"):
            return IN
        tag = "output" if "deduction" in role else "input"
        return f"<{tag}>{sum(map(ord, obs)) % 997}</{tag}>"

    def play(k):
        async def go():
            arena = arena_with(cfg(solver_samples=k, episodes_per_step=4, mc_samples=1), Script(answer))
            try:
                return await arena.play_step(0, [1, 2, 3, 4])
            finally:
                await arena.aclose()

        return asyncio.run(go())

    episodes = play(2)
    assert all(e.group is None for e in episodes if e.roles[0].endswith("proposer"))
    for task in ("deduction", "abduction"):
        solves = [e for e in episodes if e.roles[0] == f"{task}/solver"]
        assert [e.seed for e in solves] == [1, 2, 3, 4]
        assert [e.group for e in solves] == [1, 1, 3, 3]
        texts = [e.turns[0].text for e in solves]
        assert texts[0] == texts[1] and texts[2] == texts[3] and texts[0] != texts[2]
    assert all(e.group is None for e in play(1))
