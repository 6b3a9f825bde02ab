"""Absolute Zero rewards: pure functions from task outcomes to the numbers the trainer sees.

- Solver score (`score_answers`): 1 when the answer is correct, else 0; induction is scored on
  held-out pairs either as `all` (1 only if every pair passes; the AZR code's `binary`) or as
  `fraction` (the share that passes; the AZR code's `accuracy`).
- Proposer learnability (`learnability`): `1 - mean_solve` when `0 < mean_solve < 1`, else 0,
  where `mean_solve` is the mean solver score over N Monte-Carlo solver rollouts sampled at the
  training temperature (never greedy). A task every rollout solves, or none does, teaches
  nothing and earns nothing.
- Format-aware penalties (`Penalties`): what a malformed, invalid, wrong or unlearnable answer
  earns instead. Two schemes from the source, plus none:

  ========================  ============  ============  ======
  outcome                   ``paper``     ``code``      ``none``
  ========================  ============  ============  ======
  proposer bad format       -1.0          -1.0          0.0
  proposer invalid          -0.5          -1.0          0.0
  proposer valid, r = 0     0.0           -0.5          0.0
  solver bad format         -1.0          -1.0          0.0
  solver wrong (score 0)    -0.5          -0.5          0.0
  ========================  ============  ============  ======

  ``paper`` reads the paper's eq. 6 (r_role if passable, -0.5 if wrong but well formatted, -1
  on format errors) with a proposal that parses but fails validation as "wrong but well
  formatted" and a valid proposal as passable (so an unlearnable one gets its r_propose, 0).
  ``code`` is the released AZR reward manager: any proposal that fails parsing *or* validation
  gets -1 (its format score is 0), and a valid proposal whose learnability is 0 gets -0.5.
- Optional proposer bonuses, off by default (AZR's intrinsic rewards, simplified): program
  complexity (AST node count / 100) and diversity (mean normalised edit distance between the
  program's AST node-type sequence and the references'), each `coef * value` capped at `max`,
  added only to a proposal with positive learnability (as AZR's `sum` combination).

Not here: running programs (the arena does that through the sandbox Executor) or torch.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Literal, Sequence

from sparring.environments.absolute_zero.checks import parse_model_text

Scheme = Literal["paper", "code", "none"]
InductionScoring = Literal["all", "fraction"]
SCHEMES: tuple[str, ...] = ("paper", "code", "none")


@dataclass(frozen=True)
class Penalties:
    """Rewards of the outcomes that are not a scored answer (see the module table)."""

    proposer_bad_format: float
    proposer_invalid: float
    proposer_unlearnable: float
    solver_bad_format: float
    solver_wrong: float

    @classmethod
    def scheme(cls, name: str) -> "Penalties":
        if name == "paper":
            return cls(-1.0, -0.5, 0.0, -1.0, -0.5)
        if name == "code":
            return cls(-1.0, -1.0, -0.5, -1.0, -0.5)
        if name == "none":
            return cls(0.0, 0.0, 0.0, 0.0, 0.0)
        raise ValueError(f"unknown penalty scheme {name!r}; choose from {SCHEMES}")


def mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("mean of no values: a proposal needs at least one Monte-Carlo solver rollout")
    return sum(values) / len(values)


def learnability(solve_scores: Sequence[float]) -> float:
    """1 - mean_solve if 0 < mean_solve < 1 else 0 (the AZR proposer reward)."""
    m = mean(solve_scores)
    return 1.0 - m if 0.0 < m < 1.0 else 0.0


def induction_score(passed: Sequence[bool], scoring: InductionScoring) -> float:
    """Score of an induction answer from its held-out pair results."""
    if not passed:
        raise ValueError("an induction task needs at least one held-out pair")
    if scoring == "all":
        return 1.0 if all(passed) else 0.0
    if scoring == "fraction":
        return sum(bool(p) for p in passed) / len(passed)
    raise ValueError(f"unknown induction scoring {scoring!r}; choose 'all' or 'fraction'")


def solver_reward(well_formed: bool, score: float, penalties: Penalties) -> float:
    """The trained solver's reward: its score when positive, else the wrong/format penalty."""
    if not well_formed:
        return penalties.solver_bad_format
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"solver score must be in [0, 1], got {score}")
    return score if score > 0.0 else penalties.solver_wrong


def proposer_reward(outcome: Literal["bad_format", "invalid", "valid"], solve_scores: Sequence[float] = (),
                    penalties: Penalties = Penalties.scheme("paper"), bonus: float = 0.0) -> float:
    """The proposer's reward for one proposal (`bonus` is added only when learnable)."""
    if outcome == "bad_format":
        return penalties.proposer_bad_format
    if outcome == "invalid":
        return penalties.proposer_invalid
    if outcome != "valid":
        raise ValueError(f"unknown proposal outcome {outcome!r}")
    r = learnability(solve_scores)
    return r + bonus if r > 0.0 else penalties.proposer_unlearnable


# ----- optional bonuses ----------------------------------------------------------------------
def _node_types(program: str) -> list[str] | None:
    try:
        tree = parse_model_text(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return [type(n).__name__ for n in ast.walk(tree)]


def ast_node_count(program: str) -> int:
    """AST nodes of a program (0 for one that does not parse)."""
    return len(_node_types(program) or ())


def ast_complexity(program: str) -> float:
    """AST node count / 100 (0 for a program that does not parse)."""
    return ast_node_count(program) / 100.0


def _levenshtein(a: Sequence[str], b: Sequence[str]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def ast_edit_distance(a: str, b: str, max_nodes: int = 400) -> float:
    """Edit distance between the programs' AST node-type sequences / the longer length, in [0, 1].

    A cheap stand-in for a tree edit distance: both walks are breadth-first, cut at `max_nodes`
    so the cost stays bounded. A program that does not parse is at distance 1 from anything.
    """
    na, nb = _node_types(a), _node_types(b)
    if not na or not nb:
        return 1.0
    na, nb = na[:max_nodes], nb[:max_nodes]
    return _levenshtein(na, nb) / max(len(na), len(nb))


def diversity(program: str, references: Sequence[str]) -> float:
    """Mean AST edit distance to the references (0 with no references)."""
    if not references:
        return 0.0
    return sum(ast_edit_distance(program, r) for r in references) / len(references)


def proposal_bonus(program: str, references: Sequence[str], complexity_coef: float = 0.0, complexity_max: float = 0.5,
                   diversity_coef: float = 0.0, diversity_max: float = 0.5) -> float:
    """Sum of the enabled bonuses (a coefficient of 0 disables one)."""
    total = 0.0
    if complexity_coef:
        total += min(complexity_coef * ast_complexity(program), complexity_max)
    if diversity_coef:
        total += min(diversity_coef * diversity(program, references), diversity_max)
    return total
