"""Absolute Zero rewards: hand-computed values for every branch (rewards.py)."""

from __future__ import annotations

import pytest

from sparring.environments.absolute_zero.rewards import (Penalties, ast_complexity, ast_edit_distance, diversity,
                                                         induction_score, learnability, proposal_bonus,
                                                         proposer_reward, solver_reward)

PAPER, CODE, NONE = Penalties.scheme("paper"), Penalties.scheme("code"), Penalties.scheme("none")
IDENTITY = "def f(a):\n    return a"
PLUS_ONE = "def f(a):\n    return a + 1"


def test_learnability():
    assert learnability([1, 0, 0, 1]) == 0.5
    assert learnability([1, 0, 0]) == pytest.approx(2 / 3)  # mean 1/3 -> 1 - 1/3
    assert learnability([1, 1, 1]) == 0.0  # always solved: nothing to learn
    assert learnability([0, 0]) == 0.0  # never solved: nothing to learn
    assert learnability([0.5, 0.25]) == pytest.approx(0.625)  # fraction-scored induction rollouts
    with pytest.raises(ValueError, match="at least one"):
        learnability([])


def test_induction_score():
    assert induction_score([True, False, True, True], "all") == 0.0
    assert induction_score([True, False, True, True], "fraction") == 0.75
    assert induction_score([True, True], "all") == 1.0
    with pytest.raises(ValueError):
        induction_score([], "all")
    with pytest.raises(ValueError, match="scoring"):
        induction_score([True], "most")


def test_solver_reward():
    assert solver_reward(True, 1.0, PAPER) == 1.0
    assert solver_reward(True, 0.0, PAPER) == -0.5
    assert solver_reward(False, 0.0, PAPER) == -1.0
    assert solver_reward(True, 0.25, PAPER) == 0.25  # partial induction credit
    assert solver_reward(True, 0.0, CODE) == -0.5 and solver_reward(False, 0.0, CODE) == -1.0
    assert solver_reward(True, 0.0, NONE) == 0.0 and solver_reward(False, 0.0, NONE) == 0.0
    with pytest.raises(ValueError):
        solver_reward(True, 1.5, PAPER)


def test_proposer_reward_schemes():
    # paper: format error -1, parsed but invalid -0.5, valid -> learnability (0 when unlearnable)
    assert proposer_reward("bad_format", penalties=PAPER) == -1.0
    assert proposer_reward("invalid", penalties=PAPER) == -0.5
    assert proposer_reward("valid", [1, 1], PAPER) == 0.0
    assert proposer_reward("valid", [1, 0, 0, 0], PAPER) == 0.75
    # code: any invalid proposal -1, valid but unlearnable -0.5
    assert proposer_reward("invalid", penalties=CODE) == -1.0
    assert proposer_reward("valid", [0, 0], CODE) == -0.5
    assert proposer_reward("valid", [1, 0], CODE) == 0.5
    # the bonus is added only to a learnable proposal
    assert proposer_reward("valid", [1, 0], PAPER, bonus=0.25) == 0.75
    assert proposer_reward("valid", [1, 1], PAPER, bonus=0.25) == 0.0
    with pytest.raises(ValueError):
        proposer_reward("weird", penalties=PAPER)
    with pytest.raises(ValueError, match="scheme"):
        Penalties.scheme("mine")


def test_ast_complexity_and_distance():
    # Module, FunctionDef, arguments, Return, arg, Name, Load = 7 nodes
    assert ast_complexity(IDENTITY) == 0.07
    assert ast_complexity("def f(:") == 0.0
    # breadth-first node types: [Module, FunctionDef, arguments, Return, arg, Name, Load] against
    # [Module, FunctionDef, arguments, Return, arg, BinOp, Name, Add, Constant, Load]: 3 insertions / 10
    assert ast_edit_distance(IDENTITY, PLUS_ONE) == pytest.approx(0.3)
    assert ast_edit_distance(IDENTITY, IDENTITY) == 0.0
    assert ast_edit_distance(IDENTITY, "def f(:") == 1.0
    assert diversity(PLUS_ONE, [IDENTITY, PLUS_ONE]) == pytest.approx(0.15)
    assert diversity(PLUS_ONE, []) == 0.0


def test_proposal_bonus():
    assert proposal_bonus(PLUS_ONE, [IDENTITY]) == 0.0  # off by default
    assert proposal_bonus(IDENTITY, [], complexity_coef=1.0) == pytest.approx(0.07)
    assert proposal_bonus(IDENTITY, [], complexity_coef=10.0, complexity_max=0.5) == 0.5  # capped
    assert proposal_bonus(PLUS_ONE, [IDENTITY], diversity_coef=1.0) == pytest.approx(0.3)
    assert proposal_bonus(PLUS_ONE, [IDENTITY], diversity_coef=2.0, diversity_max=0.5) == 0.5
