"""Verdict parsing and the verification / judging rewards, each against values worked by hand."""

from __future__ import annotations

import pytest

from sparring.environments.problems.arithmetic import Arithmetic, corrupt, OPS
from sparring.environments.problems.checking import MathVerifier, check, to_number
from sparring.environments.verification import (Verdict, parse_grades, parse_preference, parse_rubric, parse_score,
                                                parse_verdict)
from sparring.environments.verification import rewards
from sparring.environments.verification.stats import correlation, verdict_stats, wilson


@pytest.mark.parametrize("text, want", [
    ("correct", Verdict(True)), ("Incorrect", Verdict(False)), (" yes ", Verdict(True)), ("no", Verdict(False)),
    ("correct, 0.8", Verdict(True, 0.8)), ("incorrect 75%", Verdict(False, 0.75)), ("correct (0.9)", Verdict(True, 0.9)),
    ("correct, 1.5", None), ("maybe", None), ("", None), (None, None), ("correct incorrect", None),
])
def test_verdicts_parse_exactly(text, want):
    assert parse_verdict(text) == want


def test_a_confident_verdict_states_a_probability_of_correct():
    assert Verdict(True, 0.8).p_correct == pytest.approx(0.8)
    assert Verdict(False, 0.75).p_correct == pytest.approx(0.25)
    assert Verdict(False).p_correct == 0.0


def test_scores_preferences_rubrics_and_grades_parse_exactly():
    assert [parse_score(s) for s in ("7", "7/10", "score: 10", "0", "11", "seven", None)] == [7, 7, 10, None, None, None, None]
    assert [parse_preference(s) for s in ("A", " b.", "C", "A or B", None)] == ["A", "B", None, None, None]
    rubric = "Criteria:\n1. The answer is a number.\n2) It equals a + b.\n- It has no units."
    assert parse_rubric(rubric) == ["The answer is a number.", "It equals a + b.", "It has no units."]
    assert parse_rubric("1. only one") is None
    assert parse_rubric("1. same\n2. Same") is None
    assert parse_rubric("\n".join(f"{i}. c{i}" for i in range(1, 10)), max_items=8) is None
    assert parse_grades("yes, no, yes", 3) == [True, False, True]
    assert parse_grades("pass fail", 2) == [True, False]
    assert parse_grades("yes, no", 3) is None and parse_grades("yes, maybe", 2) is None


def test_balanced_class_weights_make_every_constant_verdict_earn_chance():
    truths = [True] * 9 + [False]
    w = rewards.class_weights(truths, "balanced")
    assert w == {True: pytest.approx(10 / 18), False: pytest.approx(10 / 2)}

    def mean_reward(says):
        return sum(rewards.agreement_reward(Verdict(s), t, w[t]) for s, t in zip(says, truths)) / len(truths)

    assert mean_reward([True] * 10) == pytest.approx(0.5)  # always "correct"
    assert mean_reward([False] * 10) == pytest.approx(0.5)  # always "incorrect"
    assert mean_reward(truths) == pytest.approx(1.0)  # right every time
    # unweighted, "always correct" would earn 0.9
    assert rewards.class_weights(truths, "none") == {True: 1.0, False: 1.0}
    assert rewards.class_weights([True, True], "balanced") == {True: 1.0, False: 1.0}
    assert rewards.class_weights(truths, {"correct": 0.5, "incorrect": 2}) == {True: 0.5, False: 2.0}


def test_agreement_rewards_binary_brier_and_invalid():
    assert rewards.agreement_reward(Verdict(True), True, 2.0) == 2.0
    assert rewards.agreement_reward(Verdict(True), False, 2.0) == 0.0
    assert rewards.agreement_reward(None, True, 2.0, invalid_penalty=-1.0) == -1.0  # not weighted
    assert rewards.agreement_reward(Verdict(True, 0.8), True, scoring="brier") == pytest.approx(1 - 0.2 ** 2)
    assert rewards.agreement_reward(Verdict(True, 0.8), False, scoring="brier") == pytest.approx(1 - 0.8 ** 2)
    assert rewards.agreement_reward(Verdict(False, 0.9), False, 0.5, scoring="brier") == pytest.approx(0.5 * (1 - 0.1 ** 2))


def test_judge_scores_map_to_the_unit_interval_and_pay_agreement():
    assert [rewards.unit_score(s) for s in (1, 4, 10)] == [0.0, pytest.approx(1 / 3), 1.0]
    with pytest.raises(ValueError):
        rewards.unit_score(0)
    truths = [True, True, True, False, False]
    honest = [rewards.pointwise_reward(rewards.unit_score(10 if t else 1), t) for t in truths]
    always_ten = [rewards.pointwise_reward(rewards.unit_score(10), t) for t in truths]
    assert sum(honest) / 5 == 1.0
    assert sum(always_ten) / 5 == pytest.approx(0.6)  # the share of right answers, and no more
    assert rewards.pointwise_reward(rewards.unit_score(7), True) == pytest.approx(6 / 9)
    assert rewards.pointwise_reward(None, True, invalid_penalty=-0.5) == -0.5


def test_pairwise_and_meta_judge_rewards():
    assert rewards.pairwise_reward("A", True, False) == 1.0
    assert rewards.pairwise_reward("A", False, True) == 0.0
    assert rewards.pairwise_reward("B", True, True) is None  # a tie: no reward exists
    assert rewards.pairwise_reward(None, True, False) == -1.0
    # the answer is wrong; judgement A said 10/10 (unit 1), B said 2/10 (unit 1/9): B is closer
    assert rewards.meta_judge_reward("B", 1.0, 1 / 9, False) == 1.0
    assert rewards.meta_judge_reward("A", 1.0, 1 / 9, False) == 0.0
    assert rewards.meta_judge_reward("A", 0.5, 0.5, True) is None
    assert rewards.rubric_unit([True, False, True, True]) == 0.75


def test_verdict_stats_count_unreadable_verdicts_as_wrong():
    s = verdict_stats([True, True, False, False], [True, None, True, False])
    assert s["accuracy"] == 0.5 and s["invalid_rate"] == 0.25
    assert s["precision"] == 0.5 and s["recall"] == 0.5
    assert s["balanced_accuracy"] == 0.5 and s["majority_rate"] == 0.5 and s["says_correct_share"] == 0.5
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert correlation([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert correlation([1, 1, 1], [1, 2, 3]) is None


def test_arithmetic_splits_are_disjoint_and_corruptions_are_wrong():
    train, held = Arithmetic("+-*", 12, "train"), Arithmetic("+-*", 12, "heldout")
    assert not set(train.space) & set(held.space)
    assert len(train) + len(held) == 3 * 13 * 13
    import random
    rng = random.Random(0)
    for a, op, b in held.space:
        assert corrupt(a, op, b, rng) != OPS[op](a, b)
    p = Arithmetic("+", 5, "train", correct_share=1.0).sample(rng)
    assert check(p.candidates[0], p.answer)


@pytest.mark.parametrize("candidate, gold, mode, want", [
    ("42", "42", "auto", True), ("42.0", "42", "auto", True), ("1,000", "1000", "numeric", True),
    ("1/2", "0.5", "numeric", True), ("50%", "0.5", "numeric", True), ("41", "42", "auto", False),
    ("forty", "42", "auto", False), (None, "42", "auto", False),
    ("Paris.", "paris", "exact", True), ("  New   York ", "new york", "auto", True),
    ("(B)", "B", "mcq", True), ("B. Paris", "b", "mcq", True), ("C", "B", "mcq", False), ("", "B", "mcq", False),
])
def test_answer_checks(candidate, gold, mode, want):
    assert check(candidate, gold, mode) is want
    assert to_number("3/0") is None


def test_numbers_out_of_float_range_are_counted_not_raised_or_hung():
    """`1e400` overflowed float() in the numeric check and the voting key; `1e999999999` made
    Fraction compute 10**999999999 (a hang). Both are now answers like any other."""
    import time

    from sparring.environments.challenges.rewards import answer_key

    t0 = time.perf_counter()
    for text in ("1e999999999", "1e-999999999", "1e999999999%"):
        assert to_number(text) is None
        assert check(text, "5", "auto") is False and check("5", text, "numeric") is False
        assert answer_key(text, "free") == ("text", text)
    assert time.perf_counter() - t0 < 5.0
    assert check("1e400", "1e400", "numeric") and not check("1e400", "1e399", "numeric")
    assert check("2.5e3", "2500", "auto") and check("0.1000001", "0.1", "numeric")
    assert answer_key("1e400", "free") == answer_key("10e399", "free") != answer_key("1e399", "free")
    assert answer_key("0.5", "free") == answer_key("1/2", "free")


def test_math_verify_checks_off_the_main_thread_and_never_hangs():
    pytest.importorskip("math_verify")
    import threading

    math = MathVerifier(timeout_s=60)
    try:
        results = {}
        worker = threading.Thread(target=lambda: results.update(
            half=check("0.5", "\\frac{1}{2}", "math", math), wrong=check("1/3", "\\frac{1}{2}", "math", math)))
        worker.start()
        worker.join(120)
        assert results == {"half": True, "wrong": False}
    finally:
        math.close()


def _hanging_worker(conn):
    conn.recv()
    import time
    time.sleep(600)


def test_a_check_that_hangs_is_killed_and_counted():
    pytest.importorskip("math_verify")

    class Hanging(MathVerifier):
        start_method = "fork"
        worker = staticmethod(_hanging_worker)

    math = Hanging(timeout_s=0.5)
    assert math.verify("1", "1") is None and math.timeouts == 1
    assert math._proc is None  # killed; the next call starts a fresh worker
    math.close()


def test_all_corruptions_lists_every_wrong_answer_corrupt_can_make():
    import random
    from sparring.environments.problems.arithmetic import all_corruptions

    rng = random.Random(1)
    for a, op, b in [(7, "-", 3), (4, "+", 4), (0, "*", 9), (12, ">", 30)]:
        listed = set(all_corruptions(a, op, b))
        assert OPS[op](a, b) not in listed
        assert {corrupt(a, op, b, rng) for _ in range(500)} == listed
    assert all_corruptions(7, "-", 3) == [-6, -4, 2, 3, 5, 6, 10, 14, 21]


def test_balanced_interval_brackets_the_balanced_accuracy():
    from sparring.environments.verification.stats import balanced_interval

    truths = [True] * 10 + [False] * 90
    says = [True] * 8 + [False] * 2 + [False] * 45 + [True] * 45  # recall 0.8 and 0.5
    s = verdict_stats(truths, says)
    assert s["balanced_accuracy"] == pytest.approx(0.65)
    lo, hi = balanced_interval(truths, says)
    half = 1.96 * (0.8 * 0.2 / 10 + 0.5 * 0.5 / 90) ** 0.5 / 2
    assert (lo, hi) == (pytest.approx(0.65 - half), pytest.approx(0.65 + half))
