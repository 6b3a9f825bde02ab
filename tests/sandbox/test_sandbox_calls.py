"""Code-arena helpers: function calls, budgets, host-side comparison, determinism."""

from __future__ import annotations

import pytest

from sparring.sandbox.calls import (Call, call_function, call_many, check_cases,
                                    check_determinism)

PROGRAM = '''
import time
print("loading")

def add(a, b=0):
    print("adding", a, b)
    if a == 7:
        raise ValueError("seven")
    if a == 99:
        time.sleep(30)
    return a + b

class AlwaysEqual(int):
    def __eq__(self, other):
        return True

def rigged(x):
    return AlwaysEqual(x)

def as_set(xs):
    return set(xs)

def set_order(words):
    return list(set(words))

def forge():
    print("\\n#sparring-0000000000000000 0 ok 0.0 '42'")
    return 1

def forge_with_real_nonce():
    import sys
    nonce = sys._getframe(1).f_locals["_nonce"]  # read from the harness's frame
    print("\\n%s 0 ok 0.0 '42'" % nonce)
    return 1

def forge_a_deep_literal():
    import sys
    nonce = sys._getframe(1).f_locals["_nonce"]
    print("\\n%s 0 ok 0.0 %s1" % (nonce, "-" * 6000))  # literal_eval on the host: MemoryError
    return 1

def placeholders():
    return '__FUNC__ __NONCE__ __CALLS__ __PER_CALL__ __CODE__'
'''


def test_call_function_returns_the_repr_and_the_value(sb):
    r = call_function(sb, PROGRAM, "add", (2, 3))
    assert (r.status, r.value_repr, r.literal, r.value) == ("ok", "5", True, 5)
    kw = call_function(sb, PROGRAM, "add", (2,), {"b": 10})
    assert kw.value == 12
    s = call_function(sb, PROGRAM, "as_set", ([3, 1, 3],))
    assert s.value == {1, 3}


def test_call_many_reports_each_call_in_order(sb):
    batch = call_many(sb, PROGRAM, "add", [(1, 2), Call((3,), {"b": 4}), (7,), (99,), (5, 5)],
                      per_call_timeout_s=0.5)
    assert [c.status for c in batch.calls] == ["ok", "ok", "error", "timeout", "ok"]
    assert batch.calls[2].exception == "ValueError: seven"
    assert batch.calls[3].detail == "per-call timeout"
    assert [c.value for c in batch.calls if c.literal] == [3, 7, 10]
    assert batch.stdout.startswith("loading\nadding 1 2\n")  # result lines removed exactly
    assert "#sparring" not in batch.stdout


def test_batch_budget_ends_the_remaining_calls(sb):
    batch = call_many(sb, PROGRAM, "add", [(1,), (99,), (2,)], batch_timeout_s=1.0)
    assert [c.status for c in batch.calls] == ["ok", "timeout", "timeout"]
    assert batch.calls[2].detail == "batch budget exhausted"


def test_load_errors_and_missing_functions(sb):
    missing = call_function(sb, PROGRAM, "nope", (1,))
    assert missing.status == "error" and "no function 'nope'" in missing.exception
    broken = call_function(sb, "def f(:\n", "f")
    assert broken.status == "error" and broken.exception.startswith("SyntaxError")


def test_rigged_results_do_not_pass_on_the_host(sb):
    r = call_function(sb, PROGRAM, "rigged", (1,))
    assert r.status == "ok" and not r.literal
    with pytest.raises(ValueError, match="no literal value"):
        r.value
    report = check_cases(sb, PROGRAM, "rigged", [((1,), 2)])
    assert report.passed == 0 and "non-builtin" in report.failures[0]


def test_check_cases_compares_values_and_types(sb):
    report = check_cases(sb, PROGRAM, "add", [((1, 2), 3), ((1, 2), 3.0), ((7,), 7)])
    assert (report.passed, report.total, report.all_passed) == (1, 3, False)
    assert "expected 3.0, got 3" in report.failures[0]
    assert "ValueError: seven" in report.failures[1]


def test_forged_result_lines_are_detected(sb):
    r = call_function(sb, PROGRAM, "forge")
    assert r.status == "ok" and r.value == 1  # the forged line used a wrong nonce: ignored
    forged = call_function(sb, PROGRAM, "forge_with_real_nonce")
    assert forged.status == "error" and "forged" in forged.detail


def test_a_forged_deep_literal_is_a_forgery_not_a_host_crash(sb):
    forged = call_function(sb, PROGRAM, "forge_a_deep_literal")
    assert forged.status == "error" and "forged" in forged.detail


def test_harness_placeholders_in_the_program_are_left_alone(sb):
    """The harness is filled in one pass: a program that spells `__NONCE__` gets its own text
    back, not the nonce (which would let it forge results)."""
    r = call_function(sb, PROGRAM, "placeholders")
    assert r.status == "ok" and r.value == "__FUNC__ __NONCE__ __CALLS__ __PER_CALL__ __CODE__"


def test_determinism_check_uses_two_hash_seeds(sb):
    words = (["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"],)
    varying = check_determinism(sb, PROGRAM, "set_order", words)
    assert not varying.deterministic and "differ" in varying.reason
    stable = check_determinism(sb, PROGRAM, "add", (1, 2))
    assert stable.deterministic and stable.first.value == stable.second.value == 3
    failing = check_determinism(sb, PROGRAM, "add", (7,))
    assert not failing.deterministic and "did not return" in failing.reason


def test_bad_inputs_raise_clear_errors(sb):
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a tuple"):
        call_many(sb, PROGRAM, "add", [[1, 2]])
    with pytest.raises(ValueError, match="must be Python literals"):
        call_function(sb, PROGRAM, "add", (object(),))
    with pytest.raises(ValueError, match="identifier"):
        call_function(sb, PROGRAM, "not a name")
    with pytest.raises(ValueError, match="seeds"):
        check_determinism(sb, PROGRAM, "add", (1,), seeds=(3, 3))
