"""The Absolute Zero arena's `prompt:` section: chat or AZR's plain base-model prompt, and the
answer_tag format (every answer read only from the final <answer> span after the reasoning)."""

from __future__ import annotations

import asyncio
import copy

import pytest

from sparring.agents.policies import _turn
from sparring.arenas.absolute_zero import AbsoluteZeroArena, format_examples, make_roles
from sparring.config import AbsoluteZeroArenaConfig, AdvantageConfig, ConfigError, load_config
from sparring.environments.absolute_zero import prompts
from sparring.environments.absolute_zero.checks import CallResult
from sparring.training.credit import AdvantageAssigner
from sparring.types import SamplingParams

REVERSE = "def f(s):\n    return s[::-1]"
DECOY = "def f(s):\n    return 0"
S = SamplingParams(64, 1.0)


def make_cfg(**kw) -> AbsoluteZeroArenaConfig:
    base = dict(name="az", episodes_per_step=2, references=1, mc_samples=2, induction_inputs=4, task_types=["abduction"])
    return AbsoluteZeroArenaConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def bare_tokenizer(tokenizer):
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = None
    return tok


# ----- prompts ---------------------------------------------------------------------------------
def test_default_roles_are_the_original_chat_roles(tokenizer):
    for role in make_roles(make_cfg(task_types=["deduction", "abduction", "induction"]), S, tokenizer).values():
        assert role.prompt_style == "chat" and not role.answer_tag and not role.starts_in_reasoning
        assert role.messages("TASK") == [{"role": "system", "content": prompts.SYSTEM_PROMPT},
                                         {"role": "user", "content": "TASK"}]


def test_plain_style_is_azr_base_model_prompt(tokenizer, bare_tokenizer):
    cfg = make_cfg(prompt={"answer_format": "answer_tag"})
    role = make_roles(cfg, S, bare_tokenizer)[("abduction", "solver")]  # auto: no chat template -> plain
    assert role.prompt_style == "plain" and role.starts_in_reasoning
    text = role.prompt_text("Find an input.")
    assert text.startswith("A conversation between User and Assistant. The user asks a question, and the Assistant "
                           "solves it. The assistant first thinks about the reasoning process in the mind and then "
                           "provides the user with the answer. The reasoning process and answer are enclosed within "
                           "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
                           "process here </think> <answer> answer here </answer>. User: Find an input.\n")
    assert text.endswith(prompts.ANSWER_TAG_INSTRUCTION + "\nAssistant: <think>")
    assert role.prompt_ids(tokenizer, "Find an input.") == tokenizer(text, add_special_tokens=True)["input_ids"]
    with pytest.raises(ValueError, match="prompt.style"):
        make_roles(make_cfg(prompt={"style": "chat"}), S, bare_tokenizer)


# ----- answer_tag parsing ------------------------------------------------------------------------
def test_answer_tag_ignores_a_decoy_answer_inside_the_reasoning(tokenizer):
    chat = make_roles(make_cfg(prompt={"answer_format": "answer_tag"}), S, tokenizer)
    solver = chat[("abduction", "solver")]
    text = "<think>try <answer><input>1</input></answer>? no.</think>\n<answer><input>'abc'</input></answer>"
    assert solver.solver_answer(text) == "'abc'"
    assert solver.parse(text, None) == text
    assert solver.solver_answer("<answer> 'abc' </answer>") == "'abc'"  # a bare answer inside the span
    assert solver.solver_answer("<input>'abc'</input>") is None  # outside any <answer>: not read
    assert solver.parse("<think><answer><input>1</input></answer></think>", None) is None  # only a decoy

    plain = make_roles(make_cfg(prompt={"answer_format": "answer_tag", "style": "plain"}), S, tokenizer)
    solver = plain[("abduction", "solver")]  # the completion starts inside <think>
    assert solver.solver_answer("<answer><input>1</input></answer> hmm </think> <answer><input>2</input></answer>") == "2"
    assert solver.solver_answer("<answer><input>1</input></answer> and more thinking") is None


def test_answer_tag_proposals_come_from_the_final_span_only(tokenizer):
    proposer = make_roles(make_cfg(prompt={"answer_format": "answer_tag"}), S, tokenizer)[("abduction", "proposer")]
    outside = f"```python\n{REVERSE}\n```\n<input>'abc'</input>\n<answer>see above</answer>"
    inside = (f"<think>```python\n{DECOY}\n```<input>1</input></think>"
              f"<answer>\n```python\n{REVERSE}\n```\n<input>'abc'</input>\n</answer>")
    assert proposer.parse(outside, None) is None
    got = proposer.proposal(inside, None, 4)
    assert got.program == REVERSE and got.inputs == ("'abc'",)


def test_tags_format_with_a_plain_prompt_skips_the_opened_reasoning(tokenizer):
    solver = make_roles(make_cfg(prompt={"style": "plain"}), S, tokenizer)[("abduction", "solver")]
    assert solver.starts_in_reasoning and not solver.answer_tag
    assert solver.solver_answer("<input>1</input> maybe </think> <input>'abc'</input>") == "'abc'"
    assert solver.solver_answer("<input>1</input> still thinking") is None
    tags = make_roles(make_cfg(), S, tokenizer)[("abduction", "solver")]
    assert tags.solver_answer("<input>1</input> x <input>'abc'</input>") == "'abc'"  # the original rule


@pytest.mark.parametrize("prompt", [{"style": "plain", "answer_format": "answer_tag"}, {"answer_format": "answer_tag"},
                                    {"style": "plain"}])
def test_warm_start_rows_in_the_configured_format(tokenizer, prompt):
    cfg = make_cfg(task_types=["deduction", "abduction", "induction"], prompt=prompt)
    roles = list(make_roles(cfg, S, tokenizer).values())
    rows = format_examples(cfg, 12, seed=0, tokenizer=tokenizer)
    for i, row in enumerate(rows):
        role = roles[i % 6]
        completion = row["completion"] if role.prompt_style == "plain" else row["completion"][0]["content"]
        assert isinstance(row["prompt"], str) == (role.prompt_style == "plain")
        assert role.parse(completion, None) == completion, (role.name, completion)
        assert ("<answer>" in completion) == role.answer_tag


def test_prompt_config_errors_name_the_key():
    base = {"kind": "absolute_zero", "name": "az"}
    with pytest.raises(ConfigError, match=r"arenas\.0\.prompt\.answer_format"):
        load_config(data={"arenas": [{**base, "prompt": {"answer_format": "boxed"}}]})
    with pytest.raises(ConfigError, match=r"arenas\.0\.prompt: .*text must contain \{user\}"):
        load_config(data={"arenas": [{**base, "prompt": {"text": "no slot"}}]})


# ----- one step: answer_tag parsing in the arena and the overlong mask --------------------------------
class TextPolicy:
    """Answers each role from its queue of (text, cut off at the cap?), in call order."""

    trainable = True

    def __init__(self, answers) -> None:
        self.answers = {k: list(v) for k, v in answers.items()}

    async def act(self, role, player, observation, legal, state=None):
        text, cut = self.answers[role.name].pop(0)
        return _turn(role, player, text, legal, True, prompt=[1], completion=[2, 3], logprobs=[-0.5, -0.5],
                     truncated=cut)


class RecordingExecutor:
    def __init__(self) -> None:
        self.validated, self.ran = [], []

    async def validate_many(self, items):
        self.validated += items
        return [CallResult(True, None, "'cba'") for _ in items]

    async def run_many(self, items):
        self.ran += items
        return [CallResult(True, None, "'cba'") for _ in items]

    async def aclose(self):
        pass


def test_answer_tag_step_and_cut_off_turns_under_both_overlong_rules(tokenizer):
    cfg = make_cfg(prompt={"answer_format": "answer_tag"})
    policy = TextPolicy({
        "abduction/proposer": [
            (f"<think><answer>```python\n{DECOY}\n```<input>1</input></answer></think>"
             f"<answer>```python\n{REVERSE}\n```\n<input>'abc'</input></answer>", False),
            ("<think>a long plan that never", True),  # cut off at the token cap
        ],
        "abduction/solver": [
            ("<answer><input>'abc'</input></answer>", False),  # Monte-Carlo rollouts of the valid proposal
            ("<think>easy</think><answer>'abc'</answer>", False),
            ("<think><answer><input>1</input></answer></think><answer><input>'abc'</input></answer>", False),  # solve
            ("<think>so many cases to", True),  # cut off
        ],
    })
    executor = RecordingExecutor()

    async def go():
        arena = AbsoluteZeroArena(cfg, policy, executor, S, tokenizer=tokenizer)
        return await arena.play_step(0, [1, 2])

    episodes = asyncio.run(go())
    assert not any(policy.answers.values())
    assert executor.validated == [(REVERSE, "'abc'")]  # the final span's proposal, not the decoy
    assert [i for _, i in executor.ran] == ["'abc'", "'abc'", "'abc'"]
    props = [e for e in episodes if e.metadata["phase"] == "propose"]
    solves = [e for e in episodes if e.metadata["phase"] == "solve"]
    assert [e.metadata["outcome"] for e in props] == ["valid", "truncated"]
    assert [e.turns[0].truncated for e in solves] == [False, True] and solves[0].metadata["well_formed"]
    assert props[1].rewards == [-1.0] and solves[1].rewards == [-1.0]  # the format penalty applies either way

    estimator = AdvantageConfig(estimator="trr_plus_plus")
    invalid = AdvantageAssigner(estimator, overlong="invalid").assign(episodes)
    masked = AdvantageAssigner(estimator, overlong="mask").assign(episodes)
    assert len(invalid) == 4 and sorted(s.reward for s in invalid)[:2] == [-1.0, -1.0]
    assert len(masked) == 2 and all(s.reward != -1.0 for s in masked)
