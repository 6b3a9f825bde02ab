"""End to end through the Absolute Zero arena with a scripted policy and the real sandbox.

One step, 3 proposals per task type (K=1 reference, N=2 Monte-Carlo solver rollouts, 4
induction inputs). The proposals cover every outcome the brief names: valid, nondeterministic,
infinite loop, forbidden import, syntax error, bad format (and too few inputs); the solver
answers are fixed. Every reward, buffer change and TRR++ advantage is checked against values
worked out by hand below. The scripted policy answers each role from a queue in call order (the
arena issues its requests in a fixed order); solve-phase answers to buffer-sampled tasks are
chosen so their reward does not depend on which buffer entry was drawn.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math

import pytest

from sparring.agents.policies import _turn
from sparring.arenas.absolute_zero import AbsoluteZeroArena, format_examples, validation_config
from sparring.config import AbsoluteZeroArenaConfig, AdvantageConfig
from sparring.environments.absolute_zero.buffers import IDENTITY
from sparring.environments.absolute_zero.tasks import PROPOSAL_REJECTIONS
from sparring.environments.absolute_zero.validation import Executor
from sparring.training.credit import AdvantageAssigner
from sparring.types import SamplingParams

DOUBLE = "def f(a):\n    return a * 2"
REVERSE = "def f(s):\n    return s[::-1]"
IDENT_CODE = f"```python\n{IDENTITY}\n```"

PROPOSALS = {
    "deduction/proposer": [
        f"```python\n{DOUBLE}\n```\n<input>21</input>",                                   # valid: 42
        "```python\ndef f(a):\n    return id(a)\n```\n<input>5</input>",                    # nondeterministic
        "```python\ndef f(a):\n    while True:\n        pass\n```\n<input>1</input>",       # infinite loop
    ],
    "abduction/proposer": [
        f"Here it is:\n```python\n{REVERSE}\n```\n<input>'abc'</input>",                   # valid: 'cba'
        "```python\nimport os\ndef f(a):\n    return a\n```\n<input>1</input>",             # forbidden import
        "```python\ndef f(a)\n    return a\n```\n<input>1</input>",                         # syntax error
    ],
    "induction/proposer": [
        "<input>1</input>\n<input>'x'</input>\n<input>[2]</input>\n<input>3</input>\n<message>same</message>",  # valid
        "<input>1</input> <input>2</input> and no message",                                 # bad format
        "<input>1</input>\n<input>1</input>\n<message>dup</message>",                       # too few inputs
    ],
}
SOLVES = {
    # 2 Monte-Carlo answers to the valid proposal, then the solve phase: the fresh task, 2 buffer draws
    "deduction/solver": ["<output>42</output>", "<output>41</output>",
                         "<output>42</output>", "<output>oops</output>", "no tags"],
    "abduction/solver": ["<input>'abc'</input>", '<input>"abc"</input>',
                         "<input>'abc'</input>", "<input>1, 2</input>", "no tags"],
    "induction/solver": [IDENT_CODE, "no code",
                         "```python\ndef f(a):\n    return [a]\n```", IDENT_CODE,
                         "```python\nimport os\ndef f(a):\n    return a\n```"],
}


class QueuePolicy:
    """Answers each role from its queue, in call order; every turn is trainable."""

    trainable = True

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = {k: list(v) for k, v in answers.items()}
        self.prompts: dict[str, list[str]] = {}

    async def act(self, role, player, observation, legal, state=None):
        self.prompts.setdefault(role.name, []).append(observation)
        text = self.answers[role.name].pop(0)
        return _turn(role, player, text, legal, True, prompt=[1, 2], completion=[3, 4], logprobs=[-0.5, -0.5])


def make_cfg(**kw) -> AbsoluteZeroArenaConfig:
    base = dict(name="az", episodes_per_step=3, references=1, mc_samples=2, induction_inputs=4,
                sandbox={"timeout_s": 0.5, "workers": 2}, reward={"scheme": "paper"})  # the hand-worked values
    return AbsoluteZeroArenaConfig(**{**base, **kw})


def run_step(cfg, policy, export_path=None):
    async def go():
        arena = AbsoluteZeroArena(cfg, policy, Executor(cfg=validation_config(cfg), workers=2),
                                  SamplingParams(64, 1.0), export_path)
        try:
            episodes = await arena.play_step(0, [11, 12, 13])
            return arena, episodes
        finally:
            await arena.aclose()
    return asyncio.run(go())


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    policy = QueuePolicy({**PROPOSALS, **SOLVES})
    arena, episodes = run_step(make_cfg(), policy, tmp_path_factory.mktemp("az") / "buffers.jsonl")
    assert all(not q for q in policy.answers.values()), f"unused answers: {policy.answers}"
    return arena, episodes, policy


def by_role(episodes):
    out = {}
    for e in episodes:
        out.setdefault(e.roles[0], []).append(e)
    return out


def test_outcomes_and_rewards(played):
    _, episodes, _ = played
    roles = by_role(episodes)
    assert sorted(roles) == sorted([*PROPOSALS, *SOLVES])  # six roles, MC rollouts not among them
    assert len(episodes) == 18
    outcomes = {r: [e.metadata["outcome"] for e in roles[r]] for r in PROPOSALS}
    assert outcomes == {
        "deduction/proposer": ["valid", "nondeterministic", "timeout"],
        "abduction/proposer": ["valid", "forbidden_import", "syntax_error"],
        "induction/proposer": ["valid", "bad_format", "too_few_inputs"],
    }
    # paper scheme: valid -> learnability 1 - mean_solve if 0 < mean < 1 else 0; parsed but invalid
    # -> -0.5; bad format -> -1. MC: deduction [1, 0] -> 0.5; abduction [1, 1] -> 0; induction [1, 0] -> 0.5
    rewards = {r: [e.rewards[0] for e in roles[r]] for r in roles}
    assert rewards["deduction/proposer"] == [0.5, -0.5, -0.5]
    assert rewards["abduction/proposer"] == [0.0, -0.5, -0.5]
    assert rewards["induction/proposer"] == [0.5, -1.0, -0.5]
    assert [e.metadata["mean_solve"] for e in roles["deduction/proposer"]] == [0.5, None, None]
    assert roles["abduction/proposer"][0].metadata["mean_solve"] == 1.0
    # solvers: correct 1, well formed but wrong -0.5 (a runtime error or a forbidden import in the
    # answer is wrong, not malformed), no answer block -1
    assert rewards["deduction/solver"] == [1.0, -0.5, -1.0]
    assert rewards["abduction/solver"] == [1.0, -0.5, -1.0]
    assert rewards["induction/solver"] == [-0.5, 1.0, -0.5]
    # malformed turns are counted invalid and trained with their penalty (forfeit, never retried)
    bad = [e for e in episodes if e.turns[0].invalid]
    assert {(e.roles[0], e.rewards[0]) for e in bad} == {("induction/proposer", -1.0), ("deduction/solver", -1.0),
                                                         ("abduction/solver", -1.0)}
    assert all(e.forfeit == 0 for e in bad)


def test_solve_phase_takes_fresh_proposals_first(played):
    _, episodes, policy = played
    roles = by_role(episodes)
    assert [e.metadata["task_step"] for e in roles["deduction/solver"]][0] == 0  # this step's proposal
    # the MC prompts and the first solve-phase prompt are the same task (the valid proposal)
    ded = policy.prompts["deduction/solver"]
    assert ded[0] == ded[1] == ded[2] and "return a * 2" in ded[0] and "<input>21</input>" in ded[0]
    ind = policy.prompts["induction/solver"][0]
    assert "Hint: same" in ind and "<input>1</input> <output>1</output>" in ind and "[2]" not in ind  # held out
    assert "'Hello World'" in policy.prompts["deduction/proposer"][0]  # K=1 reference: the identity seed


def test_buffers_grow_with_valid_proposals(played, tmp_path):
    arena, _, _ = played
    ded, abd, ind = (arena.buffers[t].entries for t in ("deduction", "abduction", "induction"))
    assert [(e.program, e.inputs, e.outputs, e.step, e.seed) for e in ded] == [
        (IDENTITY, ("'Hello World'",), ("'Hello World'",), -1, True), (DOUBLE, ("21",), ("42",), 0, False)]
    assert [(e.program, e.inputs, e.outputs) for e in abd][1] == (REVERSE, ("'abc'",), ("'cba'",))
    assert len(abd) == 2 and len(ind) == 2
    assert (ind[1].program, ind[1].inputs, ind[1].outputs, ind[1].message) == (
        IDENTITY, ("1", "'x'", "[2]", "3"), ("1", "'x'", "[2]", "3"), "same")
    # resumable and exported
    state = json.loads(json.dumps(arena.state_dict()))
    other = AbsoluteZeroArena(make_cfg(), None, None)
    other.load_state_dict(state)
    assert other.buffers.state_dict() == arena.buffers.state_dict()
    arena.after_update(1)
    lines = [json.loads(x) for x in arena.export_path.read_text().splitlines()]
    assert len(lines) == 6
    assert lines[1] == {"task": "deduction", "program": DOUBLE, "input": "21", "output": "42", "message": "", "step": 0}
    assert lines[5]["input"] == ["1", "'x'", "[2]", "3"] and lines[5]["task"] == "induction"


def test_trr_plus_plus_advantages(played):
    _, episodes, _ = played
    samples = AdvantageAssigner(AdvantageConfig(estimator="trr_plus_plus")).assign(episodes)
    assert len(samples) == 18
    adv = {}
    for s in samples:
        assert s.key == ("az", s.role)
        adv.setdefault(s.role, []).append(s.advantage)
    a, b, c = 2 / math.sqrt(3), 1 / math.sqrt(3), math.sqrt(3) / 2
    # [0.5, -0.5, -0.5]: mean -1/6, deviations (2/3, -1/3, -1/3), unbiased std 1/sqrt(3)
    expected = {
        "deduction/proposer": [a, -b, -b],
        "abduction/proposer": [a, -b, -b],  # [0, -0.5, -0.5]: the same shape at half the scale
        # [0.5, -1, -0.5]: mean -1/3, deviations (5/6, -2/3, -1/6), std sqrt(7/12)
        "induction/proposer": [5 / 6 / math.sqrt(7 / 12), -2 / 3 / math.sqrt(7 / 12), -1 / 6 / math.sqrt(7 / 12)],
        # [1, -0.5, -1]: mean -1/6, deviations (7/6, -1/3, -5/6), std sqrt(13/12)
        "deduction/solver": [7 / 6 / math.sqrt(13 / 12), -1 / 3 / math.sqrt(13 / 12), -5 / 6 / math.sqrt(13 / 12)],
        "abduction/solver": [7 / 6 / math.sqrt(13 / 12), -1 / 3 / math.sqrt(13 / 12), -5 / 6 / math.sqrt(13 / 12)],
        # [-0.5, 1, -0.5]: mean 0, std sqrt(3)/2
        "induction/solver": [-0.5 / c, 1 / c, -0.5 / c],
    }
    assert sorted(adv) == sorted(expected)
    for role, values in expected.items():
        assert adv[role] == pytest.approx(values, abs=1e-5), role


def test_metrics(played):
    arena, episodes, _ = played
    m = arena.metrics(episodes)
    assert m["az/deduction/valid_rate"] == pytest.approx(1 / 3)
    assert m["az/deduction/reject/nondeterministic"] == 1 and m["az/deduction/reject/timeout"] == 1
    assert m["az/abduction/reject/forbidden_import"] == 1 and m["az/abduction/reject/syntax_error"] == 1
    assert m["az/induction/reject/bad_format"] == 1 and m["az/induction/reject/too_few_inputs"] == 1
    assert sum(m[f"az/deduction/reject/{r}"] for r in PROPOSAL_REJECTIONS) == 2
    assert m["az/deduction/mc_solve_rate"] == 0.5 and m["az/abduction/mc_solve_rate"] == 1.0
    assert m["az/abduction/learnable_rate"] == 0.0 and m["az/induction/learnable_rate"] == 1.0
    assert m["az/deduction/solve_rate"] == pytest.approx(1 / 3) and m["az/induction/solve_rate"] == pytest.approx(1 / 3)
    assert m["az/deduction/solver_format_rate"] == pytest.approx(2 / 3)
    assert m["az/buffer/deduction"] == m["az/buffer/induction"] == 2 and m["az/deduction/added"] == 1
    assert m["az/program_chars_mean"] == (len(DOUBLE) + len(REVERSE)) / 2
    assert m["az/learnability_mean"] == pytest.approx((0.5 + 0.0 + 0.5) / 3)
    assert m["az/learnability_zero_share"] == pytest.approx(1 / 3) and m["az/learnability_mid_share"] == pytest.approx(2 / 3)
    assert m["az/learnability_low_share"] == m["az/learnability_high_share"] == 0.0
    nodes = [len(list(ast.walk(ast.parse(p)))) for p in (DOUBLE, REVERSE)]
    assert m["az/program_ast_nodes_mean"] == pytest.approx(sum(nodes) / 2)
    assert m["perf/az_generation_s"] >= 0 and m["perf/az_sandbox_s"] > 0.5  # the infinite loop ran to its timeout
    # sandbox runs in phase D: abduction 2 MC + 2 parsed answers, induction 1 MC + 3 answers, 2 held-out pairs each
    assert m["perf/az_sandbox_runs"] == 4 + 4 * 2


def test_code_scheme_penalties():
    policy = QueuePolicy({**PROPOSALS, **SOLVES})
    _, episodes = run_step(make_cfg(reward={"scheme": "code"}), policy)
    roles = by_role(episodes)
    # code: every invalid proposal -1, valid but unlearnable -0.5
    assert [e.rewards[0] for e in roles["deduction/proposer"]] == [0.5, -1.0, -1.0]
    assert [e.rewards[0] for e in roles["abduction/proposer"]] == [-0.5, -1.0, -1.0]
    assert [e.rewards[0] for e in roles["induction/proposer"]] == [0.5, -1.0, -1.0]


def test_format_examples_cover_every_role_in_the_answer_format():
    from sparring.arenas.absolute_zero import make_roles

    cfg = make_cfg()
    rows = format_examples(cfg, 60, seed=0)
    assert len(rows) == 60
    roles = list(make_roles(cfg, SamplingParams()).values())  # rows cycle through the six roles
    for i, row in enumerate(rows):
        role = roles[i % 6]
        assert row["prompt"] == role.messages(row["prompt"][-1]["content"])
        answer = row["completion"][0]["content"]
        assert role.parse(answer, None) == answer, (role.name, answer)  # well formed for its role
        assert role.parse("no answer", None) is None


class StubExecutor:
    """Returns queued results in call order (to stage failures of the sandbox itself)."""

    def __init__(self, validations, runs):
        self.validations, self.runs = list(validations), list(runs)

    async def validate_many(self, items):
        return [self.validations.pop(0) for _ in items]

    async def run_many(self, items):
        return [self.runs.pop(0) for _ in items]

    async def aclose(self):
        pass


def test_sandbox_failures_are_counted_not_trained():
    from sparring.environments.absolute_zero.checks import CallResult

    broken = CallResult(False, "sandbox_error", None, "worker died")
    cfg = make_cfg(task_types=["abduction"], episodes_per_step=2)
    policy = QueuePolicy({
        "abduction/proposer": [f"```python\n{REVERSE}\n```\n<input>'abc'</input>", f"```python\n{DOUBLE}\n```\n<input>1</input>"],
        "abduction/solver": ["<input>'abc'</input>", "<input>'abc'</input>", "<input>'abc'</input>", "no tags"],
    })
    # validation: proposal 0 valid, proposal 1 hit a sandbox failure; checks: MC 1 broken, MC 2 correct,
    # the first solve-phase answer broken (the second is malformed and runs nothing)
    executor = StubExecutor([CallResult(True, None, "'cba'"), broken], [broken, CallResult(True, None, "'cba'"), broken])

    async def go():
        arena = AbsoluteZeroArena(cfg, policy, executor, SamplingParams(64, 1.0))
        return arena, await arena.play_step(0, [1, 2])

    arena, episodes = asyncio.run(go())
    assert not executor.validations and not executor.runs
    props = [e for e in episodes if e.metadata["phase"] == "propose"]
    solves = [e for e in episodes if e.metadata["phase"] == "solve"]
    # MC [broken, 1] -> mean over the one real check = 1 -> unlearnable -> 0 (not 1 - 0.5)
    assert props[0].metadata["mean_solve"] == 1.0 and props[0].rewards == [0.0] and props[0].turns[0].trainable
    assert props[1].metadata["outcome"] == "sandbox_error" and not props[1].turns[0].trainable
    assert [e.turns[0].trainable for e in solves] == [False, True] and solves[1].rewards == [-1.0]
    samples = AdvantageAssigner(AdvantageConfig(estimator="trr_plus_plus")).assign(episodes)
    assert len(samples) == 2  # the two untrained turns give no samples
    m = arena.metrics(episodes)
    assert m["az/untrained_turns"] == 2 and m["az/abduction/reject/sandbox_error"] == 1
    assert m["az/abduction/solve_rate"] == 0.0 and m["az/abduction/solver_format_rate"] == 0.0  # the trained one


def test_the_verification_stage_runs_on_absolute_zero_from_config():
    """verify: {} judges the 7 well-formed trained solver answers, truth from the sandbox's check
    (deduction right/wrong, abduction right/wrong, induction wrong/right/wrong): balanced weights
    7/6 for a right answer, 7/8 for a wrong one."""
    verdicts = ["[correct]", "[correct]", "[incorrect]", "[incorrect]", "[incorrect]", "[correct]", "[maybe]"]
    policy = QueuePolicy({**PROPOSALS, **SOLVES, "verifier": verdicts})
    cfg = make_cfg(verify={"candidates": "self", "show": "answer"})
    arena, episodes = run_step(cfg, policy)
    checks = [e for e in episodes if e.roles == ["verifier"]]
    assert [e.metadata["truth"] for e in checks] == [True, False, True, False, False, True, False]
    assert [e.rewards[0] for e in checks] == pytest.approx([7 / 6, 0.0, 0.0, 7 / 8, 7 / 8, 7 / 6, -1.0])
    assert policy.prompts["verifier"][0].startswith("Problem: ") and "Proposed answer: 42" in policy.prompts["verifier"][0]
    m = arena.metrics(episodes)
    assert m["verify/az/accuracy"] == pytest.approx(4 / 7) and m["verify/az/invalid_rate"] == pytest.approx(1 / 7)
    with pytest.raises(ValueError, match="verifies the solvers' own answers"):
        make_cfg(verify={"candidates": "reference"})
