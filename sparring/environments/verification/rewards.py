"""Rewards for checking answers: a verifier or judge is paid for agreeing with the ground truth.

Ground truth is a bool per candidate answer (sandbox execution, gold answer, math-verify: the
arena decides). Nothing here rewards a judgement by another judgement of the same model: the
judge is paid only where the truth is known (`pointwise_reward`, `pairwise_reward`), so judging
never rewards itself in a closed loop.

Worked values (tests/environments/test_verification.py checks each):
- agreement, binary: a right verdict earns its class weight, a wrong one 0;
  brier: weight * (1 - (p_correct - truth)^2), a proper scoring rule for a stated confidence.
- balanced class weights over a batch with 9 correct and 1 incorrect candidate: 10/18 and 10/2,
  so "always correct" earns 9 * 10/18 / 10 = 0.5 a candidate, as much as "always incorrect",
  and only a verifier that tells them apart earns more (balanced accuracy).
- judge score s in 1..10 -> (s - 1) / 9; pointwise reward 1 - |(s - 1)/9 - truth|: an honest
  judge (10 for right, 1 for wrong) earns 1 everywhere, "always 10" earns the share of right
  answers only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Literal

from sparring.environments.verification.verdicts import Verdict

Scoring = Literal["binary", "brier"]


def class_weights(truths: Sequence[bool], mode: str | Mapping[str, float] = "none") -> dict[bool, float]:
    """Per ground-truth class, the weight of an agreement reward.

    none: 1 and 1. balanced: n / (k * n_c) for the k classes present (both weights 1 when only
    one class is present: there is nothing to balance), so every constant verdict earns the same.
    A mapping {"correct": w, "incorrect": w} gives fixed weights."""
    if isinstance(mode, Mapping):
        return {True: float(mode["correct"]), False: float(mode["incorrect"])}
    if mode == "none":
        return {True: 1.0, False: 1.0}
    if mode != "balanced":
        raise ValueError(f"class weights must be 'none', 'balanced' or {{correct: w, incorrect: w}}, got {mode!r}")
    counts = Counter(bool(t) for t in truths)
    if len(counts) < 2:
        return {True: 1.0, False: 1.0}
    n = sum(counts.values())
    return {c: n / (2 * counts[c]) for c in (True, False)}


def agreement_reward(verdict: Verdict | None, truth: bool, weight: float = 1.0, invalid_penalty: float = -1.0,
                     scoring: Scoring = "binary") -> float:
    """A verifier's reward for `verdict` on a candidate whose correctness is `truth`; an unreadable
    verdict earns `invalid_penalty` (not weighted: malformed output is not a class)."""
    if verdict is None:
        return invalid_penalty
    if scoring == "brier":
        return weight * (1.0 - (verdict.p_correct - float(truth)) ** 2)
    if scoring != "binary":
        raise ValueError(f"scoring must be 'binary' or 'brier', got {scoring!r}")
    return weight * float(verdict.correct == truth)


def unit_score(score: int) -> float:
    """A 1..10 judge score on [0, 1]: (s - 1) / 9."""
    if not 1 <= score <= 10:
        raise ValueError(f"a judge score is 1..10, got {score}")
    return (score - 1) / 9


def pointwise_reward(unit: float | None, truth: bool, invalid_penalty: float = -1.0) -> float:
    """A judge's reward for scoring an answer `unit` (on [0, 1]) whose correctness is `truth`:
    1 - |unit - truth|."""
    if unit is None:
        return invalid_penalty
    return 1.0 - abs(unit - float(truth))


def pairwise_reward(preference: str | None, truth_a: bool, truth_b: bool, invalid_penalty: float = -1.0) -> float | None:
    """A judge's reward for preferring answer A or B: 1 for the right one, 0 for the wrong one;
    None (no reward exists, not trained) when both are right or both wrong."""
    if truth_a == truth_b:
        return None
    if preference is None:
        return invalid_penalty
    return float((preference == "A") == truth_a)


def meta_judge_reward(choice: str | None, unit_a: float, unit_b: float, truth: bool,
                      invalid_penalty: float = -1.0) -> float | None:
    """A meta-judge's reward for picking judgement A or B of one answer: 1 when it picked the
    judgement closer to the truth, 0 otherwise; None when both are equally close."""
    gap_a, gap_b = abs(unit_a - float(truth)), abs(unit_b - float(truth))
    if gap_a == gap_b:
        return None
    if choice is None:
        return invalid_penalty
    return float((choice == "A") == (gap_a < gap_b))


def rubric_unit(grades: Sequence[bool] | None) -> float | None:
    """A rubric grading as a unit score: the share of criteria passed."""
    return None if grades is None else sum(grades) / len(grades)
