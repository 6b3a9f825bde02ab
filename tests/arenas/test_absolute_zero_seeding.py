"""Absolute Zero's seeding stage (`seed:`): before RL the model proposes, untrained, until every task
buffer holds `seed.size` valid entries; triplets from a JSONL file come first; accepted entries are
appended to <run dir>/absolute_zero/<name>/seed.jsonl, so a killed run resumes where it was."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from sparring.agents.policies import _turn
from sparring.arenas.absolute_zero import AbsoluteZeroArena, validation_config
from sparring.config import AbsoluteZeroArenaConfig
from sparring.environments.absolute_zero.buffers import IDENTITY
from sparring.environments.absolute_zero.validation import Executor
from sparring.types import SamplingParams

S = SamplingParams(64, 1.0)


class Killed(Exception):
    """Stands in for a kill of the process mid-seeding."""


class ProposerPolicy:
    """Writes a new valid proposal each call (program `a + k` for a counter k); every `bad`-th
    triplet call is malformed; raises Killed on call number `kill_at`. Records the roles asked."""

    trainable = True

    def __init__(self, start: int = 0, bad: int = 0, kill_at: int | None = None) -> None:
        self.k, self.bad, self.kill_at = start, bad, kill_at
        self.calls: list[str] = []

    async def act(self, role, player, observation, legal, state=None):
        self.calls.append(role.name)
        if self.kill_at is not None and len(self.calls) >= self.kill_at:
            raise Killed
        self.k += 1
        k = self.k
        if role.name == "induction/proposer":
            text = "".join(f"<input>{k + i}</input>" for i in range(4)) + "<message>See the pairs.</message>"
        elif self.bad and k % self.bad == 0:
            text = "no code today"
        else:
            text = f"```python\ndef f(a):\n    return a + {k}\n```\n<input>{k}</input>"
        return _turn(role, player, text, legal, True, prompt=[1], completion=[2], logprobs=[-0.5])


class NoPolicy:
    trainable = True

    async def act(self, *args, **kwargs):
        raise AssertionError("the policy was asked during seeding")


def make_cfg(**kw) -> AbsoluteZeroArenaConfig:
    base = dict(name="az", episodes_per_step=2, references=1, mc_samples=1, induction_inputs=4,
                sandbox={"timeout_s": 1.0, "workers": 2}, seed={"size": 4, "max_rounds": 10})
    return AbsoluteZeroArenaConfig(**{**base, **kw})


def seed(cfg, policy, seed_log, state=None, show_progress=False):
    """Build the arena (optionally from a state), run its `prepare` hook; returns (arena, metrics)."""
    async def go():
        arena = AbsoluteZeroArena(cfg, policy, Executor(cfg=validation_config(cfg), workers=2), S, seed_log=seed_log)
        try:
            if state is not None:
                arena.load_state_dict(state)
            return arena, await arena.prepare(show_progress=show_progress)
        finally:
            await arena.aclose()
    return asyncio.run(go())


def programs(buffer):
    return [e.program for e in buffer.entries]


def test_seeding_fills_every_buffer_to_the_size_untrained(tmp_path):
    log = tmp_path / "absolute_zero" / "az" / "seed.jsonl"
    policy = ProposerPolicy(bad=3)
    arena, metrics = seed(make_cfg(), policy, log, show_progress=True)
    for t in ("deduction", "abduction", "induction"):
        assert len(arena.buffers[t]) >= 4, t
        assert all(e.seed and e.step == -1 for e in arena.buffers[t].entries)  # kept for good, like the identity
    # the triplets are shared by deduction and abduction (the release's one seed set)
    assert programs(arena.buffers["deduction"]) == programs(arena.buffers["abduction"])
    assert set(policy.calls) <= {"deduction/proposer", "abduction/proposer", "induction/proposer"}  # no solver
    first_induction = policy.calls.index("induction/proposer")  # induction starts on the full triplet set
    assert "deduction/proposer" not in policy.calls[first_induction:]
    induction_programs = {e.program for e in arena.buffers["induction"].entries[1:]}
    assert induction_programs <= set(programs(arena.buffers["deduction"]))
    assert metrics["az/seed/rounds"] >= 3 and metrics["az/seed/deduction"] == len(arena.buffers["deduction"])
    assert metrics["perf/az_seed_s"] > 0
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    stored = sum(len(arena.buffers[t]) - 1 for t in ("deduction", "abduction", "induction"))  # all but the identity
    assert len(lines) == stored
    assert arena.state_dict()["seeded"] is True


def test_seeding_resumes_from_seed_jsonl_after_a_kill(tmp_path, caplog):
    log = tmp_path / "seed.jsonl"
    cfg = make_cfg(seed={"size": 6, "max_rounds": 10})
    with pytest.raises(Killed):  # round 1 (4 triplet proposals) completes; round 2 dies
        seed(cfg, ProposerPolicy(kill_at=5), log)
    saved = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(saved) == 8  # 4 triplets, each in the deduction and the abduction buffer
    with log.open("a") as f:
        f.write('{"task": "deduction", "prog')  # a line torn by the kill
    policy = ProposerPolicy(start=100)
    with caplog.at_level(logging.WARNING):
        arena, metrics = seed(cfg, policy, log)
    assert f"{log}:9" in caplog.text  # the torn line is named and skipped
    first = [p for p in programs(arena.buffers["deduction"]) if p != IDENTITY][:4]
    assert first == [f"def f(a):\n    return a + {k}" for k in (1, 2, 3, 4)]  # reloaded, not proposed again
    triplet_calls = [c for c in policy.calls if c != "induction/proposer"]
    assert len(triplet_calls) == 4  # 1 + 4 reloaded; one more round of 4 reaches 6
    assert len(arena.buffers["deduction"]) >= 6 and len(arena.buffers["induction"]) >= 6


def test_seed_file_is_loaded_first_and_invalid_lines_are_named(tmp_path, caplog):
    path = tmp_path / "seeds.jsonl"
    rows = [
        {"program": "def f(a):\n    return a * 3", "input": "2", "output": "6"},                # 1: both triplets
        {"task": "abduction", "program": "def f(s):\n    return s[::-1]", "input": "'ab'"},      # 2: abduction only
        {"program": "def f(a):\n    return a - 1", "inputs": ["1", "2", "3", "4"],              # 3: induction
         "outputs": ["0", "1", "2", "3"], "message": "Take one away."},
        "not json",                                                                              # 4
        {"program": "def f(a)\n    return a", "input": "1"},                                     # 5: syntax error
        {"program": "def f(a):\n    return a * 3", "input": "3", "output": "10"},                # 6: output mismatch
        {"program": "def f(a):\n    return a", "inputs": ["1", "2"], "message": "Same."},        # 7: 2 of 4 inputs
        {"snippet": "def f(a):\n    return a", "input": "dict(a=1)", "output": "{'a': 1}"},      # 8: not a literal
        {"input": "1"},                                                                          # 9: no program
        {"program": "def f(a):\n    return a", "inputs": ["1", "2", "3", "4"],                  # 10: code in message
         "message": "def f(a): return a"},
    ]
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    cfg = make_cfg(seed={"size": 0, "path": str(path)})
    with caplog.at_level(logging.WARNING):
        arena, metrics = seed(cfg, NoPolicy(), tmp_path / "log.jsonl")
    assert programs(arena.buffers["deduction"]) == [IDENTITY, "def f(a):\n    return a * 3"]
    assert programs(arena.buffers["abduction"]) == [IDENTITY, "def f(a):\n    return a * 3",
                                                    "def f(s):\n    return s[::-1]"]
    assert arena.buffers["abduction"].entries[2].outputs == ("'ba'",)  # the sandbox's output
    ind = arena.buffers["induction"].entries[-1]
    assert (ind.program, ind.outputs, ind.message, ind.seed) == ("def f(a):\n    return a - 1", ("0", "1", "2", "3"),
                                                                 "Take one away.", True)
    for line, why in ((4, "JSON"), (5, "syntax_error"), (6, "output"), (7, "wrong_input_count"), (8, "bad_input"),
                      (9, "program"), (10, "code_in_message")):
        assert any(f"{path}:{line}" in r.message and why in r.message for r in caplog.records), (line, caplog.text)
    assert metrics["az/seed/file_rejected"] == 7 and metrics["az/seed/file_loaded"] == 3
    assert not (tmp_path / "log.jsonl").exists()  # the file's entries are not copied to the resume log
    with pytest.raises(ValueError, match="seed.path.*\\n.*no such file or directory"):  # the config names it
        make_cfg(seed={"path": str(tmp_path / "missing.jsonl")})


def test_seeding_gives_up_after_max_rounds_and_says_how_far_it_got(tmp_path, caplog):
    cfg = make_cfg(task_types=["deduction"], seed={"size": 4, "max_rounds": 2})
    policy = ProposerPolicy(bad=1)  # never a valid proposal
    with caplog.at_level(logging.WARNING):
        arena, metrics = seed(cfg, policy, tmp_path / "seed.jsonl")
    assert len(policy.calls) == 4 and metrics["az/seed/rounds"] == 2
    assert "2 rounds" in caplog.text and "deduction 1/4" in caplog.text
    assert arena.state_dict()["seeded"] is True  # RL starts from what there is


def test_a_seeded_state_skips_seeding(tmp_path):
    cfg = make_cfg(task_types=["deduction"], seed={"size": 2})
    arena, _ = seed(cfg, ProposerPolicy(), tmp_path / "seed.jsonl")
    state = json.loads(json.dumps(arena.state_dict()))
    other, metrics = seed(cfg, NoPolicy(), tmp_path / "seed.jsonl", state=state)
    assert metrics == {} and other.buffers.state_dict() == arena.buffers.state_dict()
    old = {"buffers": state["buffers"]}  # a checkpoint from before seeding existed: RL had started
    _, metrics = seed(cfg, NoPolicy(), tmp_path / "seed.jsonl", state=old)
    assert metrics == {}


def test_seed_config():
    assert AbsoluteZeroArenaConfig().seed.size == 0 and AbsoluteZeroArenaConfig().seed.path is None
    with pytest.raises(ValueError, match="seed.size"):
        AbsoluteZeroArenaConfig(seed={"size": 64}, buffer={"cap": 64})
    with pytest.raises(ValueError):
        AbsoluteZeroArenaConfig(seed={"sizes": 4})
