"""Code-reasoning eval: the built-in triplets are verified in the sandbox, the canonical policy
scores 1.0, and wrong, unparseable, crashing and alternative answers are scored by name."""

from __future__ import annotations

import asyncio
import json

import pytest

from sparring.agents.policies import ScriptedPolicy
from sparring.evals import code_reasoning as cr
from sparring.evals.answers import Answer
from sparring.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(backend="local") as sb:
        yield sb


@pytest.fixture(scope="module")
def triplets():
    return cr.load_triplets()


def test_builtin_set_is_verified_in_the_sandbox(triplets, sandbox):
    """Every shipped triplet: f(input) really returns output (same types), run sandboxed."""
    assert 30 <= len(triplets) <= 60
    by_task = {t: sum(x.task == t for x in triplets) for t in cr.TASKS}
    assert by_task["deduction"] >= 15 and by_task["abduction"] >= 15
    calls = [(t.program, *cr.parse_call_args(t.input)) for t in triplets]
    for t, call in zip(triplets, cr.run_calls(sandbox, calls)):
        assert call.status == "ok" and call.literal, (t.source, call)
        assert cr.same_value(call.value, cr.parse_literal(t.output)), (t.source, call.value_repr)


def test_canonical_policy_scores_one(triplets, sandbox):
    report = asyncio.run(cr.evaluate(cr.canonical_policy(triplets), triplets, sandbox=sandbox))
    assert report.accuracy == {"deduction": 1.0, "abduction": 1.0, "all": 1.0}
    assert report.metrics()["code_reasoning_accuracy"] == 1.0


def test_answers_are_scored_by_outcome(sandbox):
    twice = "def f(a, b):\n    return a * 2 + b"
    loop = "def f(n):\n    while n:\n        pass\n    return n"
    ded = cr.Triplet("deduction", twice, "3, 4", "10", "t:1")
    abd = cr.Triplet("abduction", twice, "10, -5", "15", "t:2")
    hang = cr.Triplet("abduction", loop, "0", "0", "t:3")
    answers = [
        ["<answer>10</answer>", "<answer>11</answer>", "<answer>10.0</answer>",
         "it is <answer>nope</answer>", "```\n10\n```", "I think <answer>9</answer> no, "
         "<answer>10</answer>"],
        ["<answer>5, 5</answer>", "<answer>b=1, a=7</answer>", "<answer>1, 1</answer>",
         "<answer>'a', 1</answer>", "<answer>1, (</answer>", "<answer>x, 1</answer>"],
        ["<answer>0</answer>", "<answer>1</answer>", "<answer>n=0</answer>",
         "<answer>0, 1</answer>", "<answer>[]</answer>", "<answer>0</answer>"],
    ]
    report = cr.score([ded, abd, hang], [[Answer(a, False) for a in group] for group in answers],
                      sandbox, timeout_s=0.5)
    outcomes = [[r.outcome for r in report.results if r.source == s] for s in ("t:1", "t:2", "t:3")]
    assert outcomes[0] == ["correct", "wrong", "wrong", "unparseable", "correct", "correct"]
    # any input that gives the output counts; a TypeError inside f is an error outcome
    assert outcomes[1] == ["correct", "correct", "wrong", "error", "unparseable", "unparseable"]
    # [] is falsy: the loop ends and f returns [], which is not 0
    assert outcomes[2] == ["correct", "timeout", "correct", "error", "wrong", "correct"]
    assert report.accuracy["deduction"] == pytest.approx(3 / 6)
    assert report.accuracy["abduction"] == pytest.approx(5 / 12)
    assert report.outcomes["abduction"]["timeout"] == 1


@pytest.mark.parametrize("text,args,kwargs", [
    ("1", (1,), {}), ("[1, 2], 3", ([1, 2], 3), {}), ("(1, 2)", ((1, 2),), {}),
    ("", (), {}), ("'a', k={'x': None}", ("a",), {"k": {"x": None}}), ("1, 2,", (1, 2), {}),
    ("-3, 2.5, True", (-3, 2.5, True), {}),
])
def test_parse_call_args(text, args, kwargs):
    assert cr.parse_call_args(text) == (args, kwargs)


@pytest.mark.parametrize("text", ["x", "1, (", "__import__('os')", "1) or (2", "**{'a': 1}",
                                  "f(1)", "[1] * 3", "1; 2", "*[1, 2]"])
def test_parse_call_args_rejects_non_literals(text):
    with pytest.raises(ValueError):
        cr.parse_call_args(text)


def test_unparseable_answers_print_no_syntax_warning():
    """A model's answer such as `1a` is a ValueError, not also a SyntaxWarning on stderr (the
    held-out evals of a long run printed them). A fresh interpreter: pytest's own warning
    filters would override the library's."""
    import subprocess
    import sys

    script = ("from sparring.evals import code_reasoning as cr\n"
              "for text in ('1a', '0x1for', '[1, 2a]'):\n"
              "    for parse in (cr.parse_literal, cr.parse_call_args):\n"
              "        try:\n"
              "            parse(text)\n"
              "        except ValueError:\n"
              "            print('rejected')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split() == ["rejected"] * 6, done.stderr
    assert "SyntaxWarning" not in done.stderr, done.stderr


@pytest.mark.parametrize("a,b,same", [
    (1, 1, True), (1, 1.0, False), (1, True, False), ([1, (2, 3)], [1, (2, 3)], True),
    ([1, 2], (1, 2), False), ({"a": [1]}, {"a": [1]}, True), ({"a": 1}, {"a": 1.0}, False),
    (0.1 + 0.2, 0.3, True), (float("nan"), float("nan"), True), ({1, 2}, {2, 1}, True),
    ("a", b"a", False), (None, None, True),
])
def test_same_value(a, b, same):
    assert cr.same_value(a, b) is same


def test_extract_answer():
    assert cr.extract_answer("think <answer>1</answer> then <ANSWER> 2 </ANSWER>") == "2"
    assert cr.extract_answer("text\n```python\n[1, 2]\n```") == "[1, 2]"
    assert cr.extract_answer("  42 \n") == "42"


@pytest.mark.parametrize("row,message", [
    ("not json", "not JSON"),
    ("[1]", "JSON object"),
    ({"task": "deduction", "program": "def f(): pass", "input": ""}, "'output'"),
    ({"task": "induction", "program": "p", "input": "1", "output": "1"}, "induction"),
    ({"task": "deduction", "program": "p", "input": "x", "output": "1"}, "literals"),
    ({"task": "abduction", "program": "p", "input": "1", "output": "f(1)"}, "not a Python literal"),
])
def test_load_triplets_names_the_problem(tmp_path, row, message):
    path = tmp_path / "t.jsonl"
    good = {"task": "deduction", "program": "def f(a):\n    return a", "input": "1",
            "output": "1"}
    line = row if isinstance(row, str) else json.dumps(row)
    path.write_text(json.dumps(good) + "\n\n" + line + "\n")
    with pytest.raises(ValueError, match=message) as err:
        cr.load_triplets(path)
    assert "t.jsonl:3" in str(err.value)


def test_load_triplets_limit_and_empty(tmp_path, triplets):
    assert cr.load_triplets(limit=5) == triplets[:5]
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="no triplets"):
        cr.load_triplets(empty)


def test_scripted_answers_flow_through_evaluate(triplets, sandbox):
    wrong = ScriptedPolicy(lambda obs, legal: "<answer>None</answer>")
    report = asyncio.run(cr.evaluate(wrong, triplets, samples=2, sandbox=sandbox))
    assert report.samples == 2 and len(report.results) == 2 * len(triplets)
    assert report.accuracy["all"] == 0.0  # no shipped output is None, no f(None) returns it
    assert sum(sum(o.values()) for o in report.outcomes.values()) == 2 * len(triplets)
