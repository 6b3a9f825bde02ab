"""Correctness on ordinary programs: correct ones pass their tests, broken ones fail them."""

from __future__ import annotations

import pytest
from sandbox_programs import FUNCTION_PROGRAMS, STDIN_PROGRAMS

from sparring.sandbox.calls import check_cases


def test_there_are_at_least_50_programs():
    assert len(FUNCTION_PROGRAMS) + len(STDIN_PROGRAMS) >= 50
    names = [p[0] for p in FUNCTION_PROGRAMS + STDIN_PROGRAMS]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("program", FUNCTION_PROGRAMS, ids=[p[0] for p in FUNCTION_PROGRAMS])
def test_function_program(sb, program):
    name, func, code, (old, new), cases = program
    assert old in code, f"{name}: the mutation does not apply"
    good = check_cases(sb, code, func, cases)
    assert good.all_passed, (name, good.failures, good.results)
    bad = check_cases(sb, code.replace(old, new), func, cases)
    assert not bad.all_passed, f"{name}: the broken version passed its tests"


@pytest.mark.parametrize("program", STDIN_PROGRAMS, ids=[p[0] for p in STDIN_PROGRAMS])
def test_stdin_program(sb, program):
    name, code, (old, new), cases = program
    assert old in code
    stdins = [stdin for stdin, _ in cases]
    for variant, should_pass in ((code, True), (code.replace(old, new), False)):
        results = sb.run_many([variant] * len(cases), stdins=stdins)
        passed = all(r.status == "ok" and r.stdout == expected
                     for r, (_, expected) in zip(results, cases))
        assert passed == should_pass, (name, should_pass, results)
