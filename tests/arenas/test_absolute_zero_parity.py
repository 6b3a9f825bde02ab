"""One Absolute Zero step per gap found against the released code: induction proposals with too
few inputs or code in the message, the release's equality, the release's one-function rule, and
AZR's answer format under the Qwen preset (a completion without it gets the format penalty)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sparring.agents.policies import _turn
from sparring.arenas.absolute_zero import AbsoluteZeroArena
from sparring.config import AbsoluteZeroArenaConfig, load_config
from sparring.environments.absolute_zero.buffers import IDENTITY
from sparring.environments.absolute_zero.checks import CallResult
from sparring.types import SamplingParams

REPO = Path(__file__).resolve().parents[2]
S = SamplingParams(64, 1.0)
IDENT_CODE = f"```python\n{IDENTITY}\n```"
DOUBLE = "def f(a):\n    return a * 2"


class ScriptPolicy:
    """Answers each role from its queue, then with its default; records every prompt."""

    trainable = True

    def __init__(self, answers: dict[str, list[str]], defaults: dict[str, str] | None = None) -> None:
        self.answers = {k: list(v) for k, v in answers.items()}
        self.defaults = defaults or {}
        self.prompts: dict[str, list[str]] = {}

    async def act(self, role, player, observation, legal, state=None):
        self.prompts.setdefault(role.name, []).append(observation)
        queue = self.answers.get(role.name) or []
        text = queue.pop(0) if queue else self.defaults.get(role.name, "no answer")
        return _turn(role, player, text, legal, True, prompt=[1], completion=[2, 3], logprobs=[-0.5, -0.5])


class EchoExecutor:
    """Every program returns its first argument (the identity), or a fixed output when given."""

    def __init__(self, output: str | None = None) -> None:
        self.output = output
        self.validated: list[tuple[str, str]] = []

    async def validate_many(self, items):
        self.validated += items
        return [CallResult(True, None, self.output or i) for _, i in items]

    async def run_many(self, items):
        return [CallResult(True, None, self.output or i) for _, i in items]

    async def aclose(self):
        pass


def play(cfg, policy, executor, tokenizer=None):
    async def go():
        arena = AbsoluteZeroArena(cfg, policy, executor, S, tokenizer=tokenizer)
        return arena, await arena.play_step(0, list(range(cfg.episodes_per_step)))
    return asyncio.run(go())


def make_cfg(**kw) -> AbsoluteZeroArenaConfig:
    base = dict(name="az", references=1, mc_samples=1, induction_inputs=4)
    return AbsoluteZeroArenaConfig(**{**base, **kw})


def proposals(episodes, task):
    return [e for e in episodes if e.task == task and e.metadata["phase"] == "propose"]


@pytest.mark.parametrize("scheme, invalid", [("code", -1.0), ("paper", -0.5)])
def test_induction_with_fewer_inputs_than_asked_is_invalid(scheme, invalid):
    policy = ScriptPolicy({"induction/proposer": [
        "<input>1</input><input>2</input><input>3</input><input>4</input><message>same</message>",
        "<input>1</input><input>2</input><message>same</message>",  # 2 of the 4 asked
    ]}, {"induction/solver": IDENT_CODE})
    executor = EchoExecutor()
    arena, episodes = play(make_cfg(task_types=["induction"], episodes_per_step=2, reward={"scheme": scheme}),
                           policy, executor)
    props = proposals(episodes, "induction")
    assert [e.metadata["outcome"] for e in props] == ["valid", "wrong_input_count"]
    assert props[1].rewards == [invalid] and not props[1].turns[0].invalid  # well formed, parsed, invalid
    assert len(executor.validated) == 4  # the short proposal never reached the sandbox
    m = arena.metrics(episodes)
    assert m["az/induction/reject/wrong_input_count"] == 1 and m["az/induction/valid_rate"] == 0.5
    assert len(arena.buffers["induction"]) == 2


def test_induction_message_with_code_is_rejected_and_the_prompt_forbids_it():
    four = "<input>1</input><input>2</input><input>3</input><input>4</input>"
    policy = ScriptPolicy({"induction/proposer": [
        four + "<message>It returns its argument unchanged.</message>",
        four + f"<message>{IDENTITY}</message>",  # the program itself
    ]}, {"induction/solver": IDENT_CODE})
    arena, episodes = play(make_cfg(task_types=["induction"], episodes_per_step=2), policy, EchoExecutor())
    assert [e.metadata["outcome"] for e in proposals(episodes, "induction")] == ["valid", "code_in_message"]
    assert proposals(episodes, "induction")[1].rewards == [-1.0]
    assert arena.metrics(episodes)["az/induction/reject/code_in_message"] == 1
    assert "must not contain code" in policy.prompts["induction/proposer"][0]


@pytest.mark.parametrize("equality, reward", [("strict", -0.5), ("release", 1.0)])
def test_the_release_equality_is_selectable(equality, reward):
    policy = ScriptPolicy({"deduction/proposer": [f"```python\n{DOUBLE}\n```\n<input>21</input>"],
                           "deduction/solver": ["<output>42</output>", "<output>42.0</output>"]})
    _, episodes = play(make_cfg(task_types=["deduction"], episodes_per_step=1, checks={"equality": equality}),
                       policy, EchoExecutor("42"))
    (solve,) = [e for e in episodes if e.metadata["phase"] == "solve"]
    assert solve.rewards == [reward]  # 42.0 for 42: wrong by type (strict), right by == (release)


def test_the_release_one_function_rule_is_selectable():
    helper = "```python\ndef g(x):\n    return x\n\ndef f(a):\n    return g(a)\n```\n<input>1</input>"
    for helpers, outcome in ((True, "valid"), (False, "multiple_functions")):
        policy = ScriptPolicy({"abduction/proposer": [helper]}, {"abduction/solver": "<input>1</input>"})
        arena, episodes = play(make_cfg(task_types=["abduction"], episodes_per_step=1, checks={"helpers": helpers}),
                               policy, EchoExecutor())
        assert [e.metadata["outcome"] for e in proposals(episodes, "abduction")] == [outcome]
    assert arena.metrics(episodes)["az/abduction/reject/multiple_functions"] == 1


def test_qwen_preset_pays_the_format_penalty_for_answers_outside_the_format(tokenizer):
    (cfg,) = load_config(REPO / "configs" / "absolute_zero_qwen.yaml").arenas
    cfg = cfg.model_copy(update={"task_types": ["deduction"], "episodes_per_step": 3, "mc_samples": 2, "references": 1})
    assert cfg.prompt.answer_format == "answer_tag" and cfg.prompt.style == "plain"
    task = f"```python\n{DOUBLE}\n```\n<input>21</input>"
    policy = ScriptPolicy({
        "deduction/proposer": [f"plan </think>\n<answer>\n{task}\n</answer>",  # AZR's format: valid
                               f"plan </think>\n{task}",                         # no <answer>: bad format
                               f"still thinking <answer>\n{task}\n</answer>"],    # never closed </think>
        "deduction/solver": ["ok </think> <answer>42</answer>", "ok </think> <answer>41</answer>",  # Monte Carlo
                             "ok </think> <answer>42</answer>",       # well formed and right
                             "ok </think> <output>42</output>",       # right, but not in <answer>
                             "<answer>42</answer> hmm"],              # the answer inside the reasoning
    })
    _, episodes = play(cfg, policy, EchoExecutor("42"), tokenizer)
    props = proposals(episodes, "deduction")
    assert [e.metadata["outcome"] for e in props] == ["valid", "bad_format", "bad_format"]
    assert [e.rewards[0] for e in props] == [0.5, -1.0, -1.0]
    solves = [e for e in episodes if e.metadata["phase"] == "solve"]
    assert [e.rewards[0] for e in solves] == [1.0, -1.0, -1.0]
    assert [e.turns[0].invalid for e in solves] == [False, True, True]
