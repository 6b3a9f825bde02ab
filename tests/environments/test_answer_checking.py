"""Math answer checking: equivalent forms pass, wrong ones fail, the gold's shape picks the check,
and a pathological expression comes back within its timeout, from any thread."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import pytest

from sparring.environments.problems.checking import MathVerifier, check, check_answer, math_forms, plain_number, unbox

pytest.importorskip("math_verify")


@pytest.fixture(scope="module")
def math():
    verifier = MathVerifier(timeout_s=30)
    verifier.start()
    yield verifier
    verifier.close()


EQUIVALENT = [  # (candidate, gold)
    ("0.5", "1/2"), ("1/2", "\\frac{1}{2}"), ("\\frac{1}{2}", "0.5"), ("$\\frac12$", "0.5"), ("\\frac12", "1/2"),
    ("\\dfrac{3}{4}", "0.75"), ("42.0", "42"), ("1000", "1,000"), ("-\\frac{1}{2}", "-0.5"),
    ("{2,1}", "{1, 2}"), ("\\{2, 1\\}", "1, 2"), ("2, 1", "1, 2"), ("{3, 1, 2}", "\\{1,2,3\\}"),
    ("\\boxed{0.5}", "\\frac{1}{2}"), ("1/2", "\\boxed{\\frac{1}{2}}"), ("\\boxed{\\{2,1\\}}", "{1,2}"),
    ("$\\boxed{2, 1}$", "\\{1, 2\\}"), ("\\sqrt{12}", "2\\sqrt{3}"), ("x = 3", "3"), ("\\frac{\\pi}{2}", "\\pi/2"),
    ("[0, 1)", "[0,1)"),
]
WRONG = [
    ("1/3", "1/2"), ("0.51", "\\frac{1}{2}"), ("\\frac{1}{3}", "0.5"), ("{1, 3}", "{1, 2}"), ("1, 2, 3", "{1, 2}"),
    ("12", "1, 2"), ("1,2", "12"), ("(2, 1)", "(1, 2)"), ("\\boxed{3}", "\\boxed{4}"), ("", "1/2"),
    ("\\sqrt{2}", "2"), ("[0, 1]", "[0,1)"), ("}{\\frac{", "1/2"), ("x" * 500, "1/2"),
]


@pytest.mark.parametrize("candidate, gold", EQUIVALENT)
def test_equivalent_forms_pass(math, candidate, gold):
    assert check(candidate, gold, "math", math) is True
    assert check_answer(candidate, gold, math) is True


@pytest.mark.parametrize("candidate, gold", WRONG)
def test_wrong_answers_fail(math, candidate, gold):
    assert check(candidate, gold, "math", math) is False
    assert check_answer(candidate, gold, math) is False


def test_the_gold_shape_picks_the_check(math):
    # multiple choice: a single letter A-J, also as (C) or \text{(C)} (AMC golds in MATH)
    assert check_answer("B", "B", math) and check_answer("(b)", "B", math) and check_answer("B) Paris", "B", None)
    assert check_answer("C", "\\text{(C)}", None) and check_answer("\\text{(C)}", "C", None)
    assert not check_answer("A", "B", math) and not check_answer("Paris", "B", None)
    # words: normalised strings
    assert check_answer("Paris.", "paris", None) and not check_answer("Lyon", "Paris", math)
    # math without a verifier: numbers only
    assert check_answer("0.5", "1/2", None) and not check_answer("\\frac{1}{2}", "0.5", None)
    assert check_answer(None, "1/2", math) is False


def test_numbers_pass_without_the_worker():
    class NoWorker(MathVerifier):
        def verify(self, gold, answer):
            raise AssertionError("equal numbers must not reach math-verify")

    verifier = NoWorker()
    for candidate, gold in [("0.5", "1/2"), ("\\boxed{50\\%}", "1/2"), ("1,000", "1000"), ("$42$", "42.0")]:
        assert check(candidate, gold, "math", verifier) is True


def test_normalisation_helpers():
    assert unbox("\\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert unbox("\\boxed{1} + \\boxed{2}") == "\\boxed{1} + \\boxed{2}"  # not one box
    assert unbox("\\boxed{{1}") == "\\boxed{{1}"
    assert math_forms("\\frac12") == ("$\\frac12$", "\\frac12")
    assert math_forms("$x$") == ("$x$",) and math_forms("\\boxed{1, 2}") == ("$1, 2$", "1, 2")
    assert plain_number("1,000") == 1000 and plain_number("1,2") is None and plain_number("3/4") == Fraction(3, 4)


PATHOLOGICAL = ["(10^{10^{10}})!", "2^{2^{2^{2^{2^{2^2}}}}}", "9^9^9^9^9"]


@pytest.mark.parametrize("expression", PATHOLOGICAL)
def test_a_pathological_expression_returns_within_its_timeout(expression):
    verifier = MathVerifier(timeout_s=2)
    try:
        verifier.start()
        t0 = time.perf_counter()
        result = check_answer(expression, "3", verifier)
        elapsed = time.perf_counter() - t0
        assert result is not True and elapsed < 6, (result, elapsed)
        if result is None:  # the hard kill: counted, and the next check gets a fresh worker
            assert verifier.timeouts == 1
        assert check_answer("0.5", "\\frac{1}{2}", verifier) is True
    finally:
        verifier.close()


def test_a_pathological_expression_from_a_worker_thread():
    verifier = MathVerifier(timeout_s=2)
    try:
        verifier.start()
        t0 = time.perf_counter()
        result = asyncio.run(asyncio.to_thread(check_answer, "(10^{10^{10}})!", "3", verifier))
        elapsed = time.perf_counter() - t0
        assert result is not True and elapsed < 6, (result, elapsed)
        verifier.start()  # a killed worker restarts lazily; start it here so no check pays for that

        async def several():  # checks from many threads share the one worker, one at a time
            return await asyncio.gather(*(asyncio.to_thread(check_answer, c, g, verifier)
                                          for c, g in [("{2, 1}", "\\{1, 2\\}"), ("0.5", "\\frac12"), ("3", "4")]))

        assert asyncio.run(several()) == [True, True, False]
    finally:
        verifier.close()
