"""The tiny program grammar: rendered programs do what their op chains do, stay inside the
grammar, split by program text, and the check rejects anything outside it."""

from __future__ import annotations

import random

import pytest

from sparring.environments.absolute_zero import grammar as g


def test_rendered_source_runs_as_its_chain():
    rng = random.Random(0)
    for _ in range(500):
        program = g.random_program(rng, max_depth=3)
        value = g.random_input(rng, program.takes)
        namespace: dict = {}
        exec(program.source, namespace)  # our own generated code, not model output
        try:
            expected = program(value)
        except (IndexError, ValueError) as e:
            with pytest.raises(type(e)):
                namespace["f"](value)
            continue
        assert namespace["f"](value) == expected, program.source
        assert g.in_grammar(program.source)


def test_parentheses_follow_precedence():
    by_name = {op.name: op for op in g.OPS}
    assert g.Program("int", (by_name["add1"], by_name["mul2"])).source.endswith("return (a + 1) * 2")
    assert g.Program("list", (by_name["map_add2"], by_name["tail"])).source.endswith("return [x + 2 for x in a][1:]")
    assert g.Program("list", (by_name["sum"], by_name["sub3"])).source.endswith("return sum(a) - 3")


@pytest.mark.parametrize("program", [
    "def f(a):\n    return open(a)",
    "def f(a):\n    import os\n    return a",
    "def f(a):\n    return a.__class__",
    "def f(a):\n    return a / 2",
    "def f(a, b):\n    return a",
    "def g(a):\n    return a",
    "def f(a):\n    return [y for y in a]",
    "def f(a):\n    return [x for x in a if x]",
    "def f(a):\n    return a + 1000",
    "def f(a):\n    return 'a'",
    "def f(a):\n    return print(a)",
    "def f(a):\n    return sorted(a, reverse=True)",
    "x = 1\ndef f(a):\n    return a",
    "def f(a):\n    y = a\n    return y",
    "not python at all (",
    "def f(a):\n    return " + "-" * 6000 + "a",  # the parser's MemoryError, a crash of the step before
    "def f(a):\n    return " + "-" * 3000 + "a",  # RecursionError
])
def test_programs_outside_the_grammar_are_rejected(program):
    assert not g.in_grammar(program)


def test_accepted_hand_written_programs():
    for program in ("def f(a):\n    return a", "def f(a):\n    return sum(sorted(a)[1:]) * 2",
                    "def f(a):\n    return max([x * 3 for x in a[::-1]]) - 1", "def f(a):\n    return -a"):
        assert g.in_grammar(program)


def test_triplets_come_from_one_split_and_are_distinct():
    train = g.triplets(random.Random(1), 100, "train", fraction=0.3)
    held = g.triplets(random.Random(2), 100, "heldout", fraction=0.3)
    assert len({(e.program, e.input) for e in train}) == 100
    assert not {e.program for e in train} & {e.program for e in held}
    assert all(g.heldout(e.program, 0.3) for e in held) and not any(g.heldout(e.program, 0.3) for e in train)
    for e in held[:20]:
        namespace: dict = {}
        exec(e.program, namespace)
        assert repr(namespace["f"](eval(e.input))) == e.output
    assert g.triplets(random.Random(1), 100, "train", fraction=0.3) == train  # deterministic


def test_model_text_parses_without_syntax_warnings_and_others_still_warn():
    import warnings

    from sparring.environments.absolute_zero.checks import parse_model_text, static_check

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", category=SyntaxWarning, module=r"<model text>")  # as checks.py installs
        g.in_grammar("def f(a):\n    return [1for x in a]")  # parses (it is [1 for x in a]), warns in plain ast
        static_check("def f(a):\n    return 0x1for")
        parse_model_text("[1for x in y]", "eval")
        assert not [w for w in caught if issubclass(w.category, SyntaxWarning)]
        compile("[1for x in y]", "<user code>", "eval")
        assert [w for w in caught if issubclass(w.category, SyntaxWarning)]
