"""The task arena and its checking stages, end to end with scripted policies.

Every reward path is checked against values worked by hand: RISE agreement with class weights,
SPOC multi-round credit (through the trainer's advantage assignment), pointwise / pairwise /
rubric judging, the meta-judge, calibration problems that alone train the judge, and the
proposer's difficulty reward. Scripts answer from the observation text, so they are honest,
lazy ("always correct", "always 10") or malformed as each test needs.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from pydantic import ValidationError

from sparring.agents.policies import _turn
from sparring.arenas.tasks import TaskArena, format_rows
from sparring.arenas.tasks_config import TaskArenaConfig
from sparring.config import AdvantageConfig
from sparring.environments.problems.arithmetic import OPS
from sparring.training.credit import AdvantageAssigner

PROBLEM = re.compile(r"What is (\d+) ([-+*]) (\d+)\?")
PROPOSED = re.compile(r"Proposed answer: (\S+)")


def gold(obs: str) -> int:
    a, op, b = PROBLEM.search(obs).groups()
    return OPS[op](int(a), int(b))


class Script:
    """Answers each role with `answers[role](observation)`; trainable like the shared model."""

    trainable = True

    def __init__(self, **answers) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    async def act(self, role, player, observation, legal, state=None):
        self.asked.append((role.name, observation))
        return _turn(role, player, self.answers[role.name](observation), legal, True)


def right_if_even(obs: str) -> str:
    g = gold(obs)
    return f"[{g}]" if g % 2 == 0 else f"[{g + 1}]"


def honest_verifier(obs: str) -> str:
    said = PROPOSED.search(obs).group(1)
    return "[correct]" if said == str(gold(obs)) else "[incorrect]"


def play(arena: TaskArena, n: int = 8, step: int = 0):
    return asyncio.run(arena.play_step(step, list(range(100, 100 + n))))


def arena_with(policy, **cfg) -> TaskArena:
    base = {"name": "arith", "episodes_per_step": 8, "samples": 2,
            "source": {"generator": "arithmetic", "ops": "+", "max_operand": 9}}
    return TaskArena(TaskArenaConfig(**{**base, **cfg}), policy)


def phase(episodes, name):
    return [e for e in episodes if e.metadata.get("phase") == name]


def test_rise_pays_class_weighted_agreement_and_always_correct_earns_only_chance():
    cfg = {"verify": {"candidates": "self", "show": "answer", "class_weights": "balanced"}}
    honest = play(arena_with(Script(solver=right_if_even, verifier=honest_verifier), **cfg))
    lazy = play(arena_with(Script(solver=right_if_even, verifier=lambda o: "[correct]"), **cfg))
    for episodes in (honest, lazy):
        solves, checks = phase(episodes, "solve"), phase(episodes, "verify")
        assert len(solves) == 16 and len(checks) == 16  # one verification per own answer
        truths = [e.metadata["truth"] for e in checks]
        assert truths == [e.metadata["truth"] for e in solves]
        n, pos = len(truths), sum(truths)
        weights = {True: n / (2 * pos), False: n / (2 * (n - pos))}
        for e in checks:
            agrees = e.metadata["says"] == e.metadata["truth"]
            assert e.rewards == [pytest.approx(weights[e.metadata["truth"]] if agrees else 0.0)]
        for e in solves:  # right 1, wrong 0
            assert e.rewards == [float(e.metadata["truth"])]
    mean = lambda eps: sum(e.rewards[0] for e in phase(eps, "verify")) / 16  # noqa: E731
    assert mean(honest) == pytest.approx(1.0)
    assert mean(lazy) == pytest.approx(0.5)


def test_cross_and_reference_candidates():
    script = Script(solver=right_if_even, verifier=honest_verifier)
    cross = play(arena_with(script, verify={"candidates": "cross", "show": "answer"}), n=2)
    solves = phase(cross, "solve")
    shown = [PROPOSED.search(obs).group(1) for role, obs in script.asked if role == "verifier"]
    answers = [s.turns[0].action for s in solves]
    assert shown == [answers[1], answers[0], answers[3], answers[2]]  # each sample checks the other's
    ref = play(arena_with(Script(solver=right_if_even, verifier=honest_verifier),
                          source={"generator": "arithmetic", "ops": "+", "max_operand": 9, "correct_share": 0.5},
                          verify={"candidates": "reference"}), n=8)
    checks = phase(ref, "verify")
    assert len(checks) == 8  # one reference candidate per problem, not per sample
    assert all(e.metadata["says"] == e.metadata["truth"] for e in checks)


def test_unreadable_verdicts_and_answers_are_counted_with_their_penalty():
    arena = arena_with(Script(solver=lambda o: "  ", verifier=lambda o: "[perhaps]"),
                       invalid_penalty=-0.5, verify={"candidates": "reference", "invalid_penalty": -2.0})
    episodes = play(arena, n=4)
    assert all(e.rewards == [-0.5] and e.forfeit == 0 for e in phase(episodes, "solve"))
    checks = phase(episodes, "verify")
    assert checks and all(e.rewards == [-2.0] and e.turns[0].invalid for e in checks)
    m = arena.metrics(episodes)
    assert m["tasks/arith/format_rate"] == 0.0 and m["verify/arith/invalid_rate"] == 1.0


def test_spoc_credits_the_final_answer_and_each_verification():
    """solve wrong -> verify "incorrect" (right) -> revise right -> verify "correct" (right)."""
    def solver(obs):
        return f"[{gold(obs) + 1}]" if "previous answer" not in obs else f"[{gold(obs)}]"

    arena = arena_with(Script(solver=solver, verifier=honest_verifier), samples=1,
                       self_correction={"rounds": 2, "class_weights": "none"})
    (ep,) = play(arena, n=1)
    assert [(t.role, t.player) for t in ep.turns] == [("solver", 0), ("verifier", 1), ("solver", 0), ("verifier", 1)]
    assert ep.roles == ["solver", "verifier"] and ep.rewards == [1.0, 0.0]
    assert [t.reward for t in ep.turns] == [None, 1.0, None, 1.0]
    assert ep.metadata["first_truth"] is False and ep.metadata["truth"] is True
    samples = AdvantageAssigner(AdvantageConfig(estimator="reinforce")).assign([ep])
    # solver: final reward 1 on both turns; verifier: return 2, and the second check is credited
    # only with what follows it (2 - 1 earned before)
    assert [(s.role, s.advantage) for s in samples] == [("solver", 1.0), ("solver", 1.0),
                                                       ("verifier", 2.0), ("verifier", 1.0)]
    m = arena.metrics([ep])
    assert m["tasks/arith/first_answer_solve_rate"] == 0.0 and m["tasks/arith/solve_rate"] == 1.0
    assert m["tasks/arith/verify_rounds_mean"] == 2.0


def test_spoc_stops_when_the_verifier_accepts_and_rewards_a_wrong_acceptance_zero():
    arena = arena_with(Script(solver=lambda o: f"[{gold(o) + 1}]", verifier=lambda o: "[correct]"), samples=1,
                       self_correction={"rounds": 3, "class_weights": "none"})
    (ep,) = play(arena, n=1)
    assert [t.role for t in ep.turns] == ["solver", "verifier"]
    assert ep.rewards == [0.0, 0.0] and ep.turns[1].reward == 0.0


def test_an_always_ten_judge_earns_less_than_an_honest_one():
    def judge_honest(obs):
        said = re.search(r"Answer: \[?(-?\d+)", obs).group(1)
        return "[10]" if int(said) == gold(obs) else "[1]"

    rewards = {}
    for name, judge in (("honest", judge_honest), ("always_ten", lambda o: "[10]")):
        arena = arena_with(Script(solver=right_if_even, judge=judge), judge={"mode": "pointwise"})
        episodes = play(arena)
        judged = phase(episodes, "judge")
        assert len(judged) == 16 and all(e.turns[0].trainable for e in judged)  # gold answers: trained
        rewards[name] = sum(e.rewards[0] for e in judged) / len(judged)
        share_right = sum(e.metadata["truth"] for e in judged) / len(judged)
        metrics = arena.metrics(episodes)
    assert rewards["honest"] == 1.0
    assert rewards["always_ten"] == pytest.approx(share_right) and rewards["always_ten"] < 1.0
    assert metrics["judge/arith/score_mean"] == 1.0 and metrics["judge/arith/score_hist/10"] == 1.0


def test_pairwise_judging_rewards_only_decided_pairs():
    def first_is_right(obs):  # sample 0 right, sample 1 wrong on odd problems; both right on even
        return "[A]"

    seen = {}

    def solver(obs):
        k = seen.get(obs, 0)
        seen[obs] = k + 1
        g = gold(obs)
        return f"[{g}]" if k == 0 or g % 2 == 0 else f"[{g + 3}]"

    arena = arena_with(Script(solver=solver, judge=first_is_right), judge={"mode": "pairwise"})
    episodes = play(arena)
    for e in phase(episodes, "judge"):
        t_a, t_b = e.metadata["truths"]
        if t_a == t_b:
            assert not e.turns[0].trainable and e.rewards == [0.0]
        else:
            assert e.turns[0].trainable and e.rewards == [1.0]  # "A" is the right one here


def test_rubric_judging_writes_then_grades_and_is_one_trajectory():
    def judge(obs):
        if "Write a rubric" in obs:
            return "1. It is a number.\n2. It is the sum."
        return "[yes, no]"

    arena = arena_with(Script(solver=right_if_even, judge=judge), judge={"mode": "rubric"})
    episodes = play(arena, n=2)
    for e in phase(episodes, "judge"):
        assert len(e.turns) == 2 and e.metadata["unit"] == 0.5
        assert e.rewards == [0.5]  # 1 - |0.5 - truth| either way
    bad = arena_with(Script(solver=right_if_even, judge=lambda o: "no rubric"), judge={"mode": "rubric"})
    for e in phase(play(bad, n=2), "judge"):
        assert len(e.turns) == 1 and e.turns[0].invalid and e.rewards == [-1.0]


def test_meta_judge_picks_the_more_accurate_judgement():
    calls = {"n": 0}

    def judge(obs):  # alternately 10 and 1 for the same answer
        calls["n"] += 1
        return "[10]" if calls["n"] % 2 else "[1]"

    def meta(obs):
        a = int(re.search(r"Judgement A: (\d+)", obs).group(1))
        return "[A]" if a == 10 else "[B]"  # always trusts the 10

    arena = arena_with(Script(solver=right_if_even, judge=judge, meta_judge=meta), judge={"mode": "pointwise", "meta": True})
    episodes = play(arena, n=4)
    metas = phase(episodes, "meta_judge")
    assert len(metas) == 8
    for e in metas:
        truth = e.metadata["meta_right"]
        assert e.rewards == [1.0 if truth else 0.0]
    solves = phase(episodes, "solve")
    assert sum(m.rewards[0] for m in metas) == sum(s.metadata["truth"] for s in solves)  # right iff the answer is
    assert arena.metrics(episodes)["judge/arith/meta_accuracy"] == pytest.approx(
        sum(s.metadata["truth"] for s in solves) / 8)


def test_proposer_solver_judge_without_gold_answers():
    """MAE: proposed questions have no gold answer; the judge's score is the solver's reward and
    only the calibration problems train the judge; the proposer earns 1 - mean score."""
    def proposer(obs):
        return "[What is 2 + 2?]"

    def judge(obs):
        return "[4]"  # unit 1/3 for every answer

    arena = arena_with(Script(proposer=proposer, solver=lambda o: "[4]", judge=judge),
                       propose={}, judge={"mode": "pointwise", "calibration_per_step": 2,
                                          "calibration": {"generator": "arithmetic", "ops": "+", "max_operand": 9}})
    episodes = play(arena, n=2)
    props = phase(episodes, "propose")
    assert len(props) == 2 and all(p.rewards == [pytest.approx(1 - 1 / 3)] for p in props)
    solves = phase(episodes, "solve")
    own = [s for s in solves if not s.metadata["calibration"]]
    assert len(own) == 4 and all(s.rewards == [pytest.approx(1 / 3)] and s.turns[0].trainable for s in own)
    calib = [s for s in solves if s.metadata["calibration"]]
    assert len(calib) == 4 and not any(s.turns[0].trainable for s in calib)
    judged = phase(episodes, "judge")
    assert sum(e.turns[0].trainable for e in judged) == 4  # the calibration answers only
    assert all(e.metadata["verifiable"] == e.turns[0].trainable for e in judged)
    m = arena.metrics(episodes)
    assert m["judge/arith/score_mean_unverifiable"] == pytest.approx(1 / 3)
    assert m["tasks/arith/proposal_valid_rate"] == 1.0


def test_config_refuses_stages_that_cannot_work():
    base = {"name": "t", "source": {"generator": "arithmetic"}}
    for extra, words in [({"propose": {}}, "needs judge"),
                         ({"samples": 1, "judge": {"mode": "pairwise"}}, "samples >= 2"),
                         ({"verify": {}, "self_correction": {}}, "choose one"),
                         ({"judge": {"mode": "rubric", "meta": True}}, "pointwise"),
                         ({"source": {"generator": "arithmetic", "path": __file__}}, "exactly one")]:
        with pytest.raises(ValidationError, match=words):
            TaskArenaConfig(**{**base, **extra})


def test_problems_from_a_jsonl_file_with_reference_candidates(tmp_path):
    path = tmp_path / "problems.jsonl"
    rows = [{"question": "Capital of France?", "answer": "Paris", "cands": ["Paris", "Lyon"]},
            {"question": "2 + 2?", "answer": "4", "cands": ["5"]}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    script = Script(solver=lambda o: "[Paris]", verifier=lambda o: "[correct]")
    arena = arena_with(script, source={"path": str(path), "candidates_field": "cands"},
                       verify={"candidates": "reference"}, samples=1)
    episodes = play(arena, n=6)
    truths = {(e.metadata["truth"]) for e in phase(episodes, "verify")}
    assert truths <= {True, False} and phase(episodes, "verify")
    with pytest.raises(ValueError, match="question_field 'q' is not a column"):
        arena_with(script, source={"path": str(path), "question_field": "q"})


def test_format_rows_teach_every_enabled_role_nothing_about_the_truth():
    cfg = TaskArenaConfig(name="t", verify={"candidates": "reference"}, judge={})
    rows = format_rows(cfg, 30, seed=0)
    assert len(rows) == 40  # 10 verifier prompts, each with both verdicts
    verdicts = {}
    for r in rows:
        if "Proposed answer" in r["prompt"][-1]["content"]:
            verdicts.setdefault(r["prompt"][-1]["content"], []).append(r["completion"][0]["content"])
    assert len(verdicts) == 10 and all(sorted(v) == ["[no]", "[yes]"] for v in verdicts.values())


def test_several_verdicts_per_candidate_form_one_group():
    arena = arena_with(Script(solver=right_if_even, verifier=honest_verifier),
                       verify={"candidates": "reference", "samples": 3})
    checks = phase(play(arena, n=4), "verify")
    assert len(checks) == 12
    groups = [e.group for e in checks]
    assert len(set(groups)) == 4 and all(groups.count(g) == 3 for g in groups)
