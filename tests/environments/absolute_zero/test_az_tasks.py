"""Absolute Zero task logic: parsing of every role's answer, task construction, scoring, presets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sparring.config import load_config
from sparring.environments.absolute_zero import prompts, tasks
from sparring.environments.absolute_zero.buffers import IDENTITY, Entry
from sparring.environments.absolute_zero.checks import CallResult
from sparring.environments.absolute_zero.validation import Executor

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
OK = lambda r: CallResult(True, None, r)  # noqa: E731
FAIL = CallResult(False, "runtime_error", None, "TypeError")


def test_triplet_proposal_parsing():
    text = "draft:\n```python\ndef f(a):\n    return 0\n```\n<input>1</input>\nfinal:\n```python\ndef f(a, b):\n    return a + b\n```\n<input> 1, 2 </input>"
    p = tasks.parse_proposal("deduction", text)
    assert p == tasks.Proposal("deduction", "def f(a, b):\n    return a + b", ("1, 2",))  # the last blocks count
    assert tasks.parse_proposal("abduction", "```py\ndef f(a):\n    return a\n```<input>3</input>").program == IDENTITY
    think = "<think>```python\ndef f(a):\n    return 9\n```</think>```python\ndef f(a):\n    return a\n```\n<input>1</input>"
    assert tasks.parse_proposal("deduction", think).program == IDENTITY
    for bad in ["def f(a):\n    return a\n<input>1</input>",  # no fenced block
                "```python\ndef f(a):\n    return a\n```",  # no input
                "```python\ndef f(a):\n    return a\n```<input></input>",  # empty input
                "<think>```python\ndef f(a):\n    return a\n```<input>1</input>",  # thinking never closed
                ""]:
        assert tasks.parse_proposal("deduction", bad) is None, bad


def test_induction_proposal_parsing_and_precheck():
    text = "<input>1</input><input>2</input><input>1</input><input>3</input><message> adds </message>"
    p = tasks.parse_proposal("induction", text, IDENTITY, max_inputs=2)
    assert p == tasks.Proposal("induction", IDENTITY, ("1", "2"), "adds")  # de-duplicated, then cut at 2
    assert tasks.precheck(p) is None
    single = tasks.parse_proposal("induction", "<input>1</input><input>1</input><message>m</message>", IDENTITY)
    assert single.inputs == ("1",) and tasks.precheck(single) == "too_few_inputs"
    assert tasks.parse_proposal("induction", "<input>1</input><input>2</input>", IDENTITY) is None  # no message
    with pytest.raises(ValueError, match="program"):
        tasks.parse_proposal("induction", text)
    with pytest.raises(ValueError, match="task type"):
        tasks.parse_proposal("sorting", text)


def test_accept_takes_the_first_rejection():
    p = tasks.Proposal("induction", IDENTITY, ("1", "2", "3"), "m")
    entry, reason = tasks.accept(p, [OK("1"), OK("2"), OK("3")], step=7)
    assert reason is None and entry == Entry("induction", IDENTITY, ("1", "2", "3"), ("1", "2", "3"), "m", 7)
    timeout = CallResult(False, "timeout", None)
    assert tasks.accept(p, [OK("1"), timeout, FAIL], 7) == (None, "timeout")
    with pytest.raises(ValueError):
        tasks.accept(p, [OK("1")], 7)


def test_split_pairs_and_induction_task():
    assert tasks.split_pairs(["a", "b"], ["A", "B"]) == ((("a", "A"),), (("b", "B"),))
    shown, held = tasks.split_pairs(list("abcde"), list("ABCDE"))
    assert [i for i, _ in shown] == ["a", "b"] and [i for i, _ in held] == ["c", "d", "e"]
    with pytest.raises(ValueError):
        tasks.split_pairs(["a"], ["A"])
    t = tasks.solver_task(Entry("induction", "def f(a):\n    return a * 3", ("1", "2", "5", "7"), ("3", "6", "15", "21"),
                                "triple", 2))
    prompt = t.prompt()
    assert "Hint: triple" in prompt and "<input>2</input> <output>6</output>" in prompt
    assert "15" not in prompt and "return a * 3" not in prompt  # held-out pairs and program hidden
    assert tasks.answer_calls(t, "PROG") == [("PROG", "5"), ("PROG", "7")]
    assert tasks.score_answer(t, "PROG", [OK("15"), OK("22")], "all") == 0.0
    assert tasks.score_answer(t, "PROG", [OK("15"), OK("22")], "fraction") == 0.5
    assert tasks.score_answer(t, "PROG", [OK("15"), OK("21")], "all") == 1.0
    assert tasks.score_answer(t, "PROG", [FAIL, OK("21")], "fraction") == 0.5


def test_deduction_and_abduction_tasks():
    e = Entry("deduction", "def f(a):\n    return {a, 2}", ("1",), ("{1, 2}",))
    d = tasks.solver_task(e)
    assert "{1, 2}" not in d.prompt() and "<input>1</input>" in d.prompt()
    assert tasks.answer_calls(d, "{2, 1}") == []
    assert tasks.score_answer(d, "{2, 1}", []) == 1.0  # by value: set order does not matter
    assert tasks.score_answer(d, "[1, 2]", []) == 0.0 and tasks.score_answer(d, "not python", []) == 0.0
    a = tasks.solver_task(Entry("abduction", "def f(s):\n    return len(s)", ("'abc'",), ("3",)))
    assert "<output>3</output>" in a.prompt() and "'abc'" not in a.prompt()
    assert tasks.answer_calls(a, "'xyz'") == [("def f(s):\n    return len(s)", "'xyz'")]
    assert tasks.score_answer(a, "'xyz'", [OK("3")]) == 1.0  # any input that gives the output
    assert tasks.score_answer(a, "'xy'", [OK("2")]) == 0.0
    assert tasks.score_answer(a, "1", [FAIL]) == 0.0


def test_solver_answer_parsing():
    assert prompts.parse_solver_answer("deduction", "so <output> [1, 2] </output>") == "[1, 2]"
    assert prompts.parse_solver_answer("abduction", "<input>1</input> or <input>2</input>") == "2"
    assert prompts.parse_solver_answer("induction", "```python\ndef f(a):\n    return a\n```") == IDENTITY
    assert prompts.parse_solver_answer("deduction", "<input>1</input>") is None
    assert prompts.parse_solver_answer("induction", "def f(a): return a") is None
    with pytest.raises(ValueError):
        prompts.parse_solver_answer("sorting", "x")


def test_warm_start_targets_are_correct_in_the_sandbox():
    """Every FORMAT_EXAMPLES output is what its program returns (validated as a proposal would be)."""
    items = [(p, i) for p, ins, _, _ in tasks.FORMAT_EXAMPLES for i in ins]
    expected = [o for _, _, outs, _ in tasks.FORMAT_EXAMPLES for o in outs]

    async def go():
        async with Executor(workers=2) as ex:
            return await ex.validate_many(items)

    results = asyncio.run(go())
    assert [r.reason for r in results if not r.ok] == []
    assert [r.output_repr for r in results] == expected
    for task in ("deduction", "abduction", "induction"):
        for e in tasks.format_entries(task):
            text = tasks.proposal_text(e)
            parsed = tasks.parse_proposal(task, text, e.program)
            assert parsed.inputs == e.inputs and (task == "induction" or parsed.program == e.program)
            st = tasks.solver_task(e)
            assert prompts.parse_solver_answer(task, tasks.answer_text(st)) is not None


def test_presets_load():
    tiny = load_config(CONFIGS / "absolute_zero_tiny.yaml")
    (az,) = tiny.arenas
    assert az.kind == "absolute_zero" and tiny.advantages.estimator == "trr_plus_plus"
    assert tiny.checkpoint.every == 5 and tiny.run.steps == 20 and tiny.warm_start.enabled
    qwen = load_config(CONFIGS / "absolute_zero_qwen.yaml")
    (az,) = qwen.arenas
    assert (az.episodes_per_step, az.references, az.mc_samples) == (64, 6, 8)
    with pytest.raises(ValueError, match="task_types"):
        load_config(data={"arenas": [{"kind": "absolute_zero", "task_types": ["deduction", "deduction"]}]})
