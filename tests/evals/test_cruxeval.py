"""CRUXEval: a 20-problem fixture written here, scored in both modes by a scripted policy against
hand-counted outcomes (through the sandbox), the canonical harness check through `sparring eval`,
answers files, answer reading, option and field errors, and a program that never returns."""

from __future__ import annotations

import asyncio
import csv
import json
import time

import pytest

from sparring.agents.policies import ScriptedPolicy
from sparring.cli import main as sparring_main
from sparring.evals import cruxeval as cx
from sparring.evals.answers import Answer
from sparring.evals.cli import main as evals_main
from sparring.sandbox import Sandbox

# (id, code, input, output, output-mode reply, its outcome, input-mode reply, its outcome)
ROWS = [
    ("add", "def f(a, b):\n    return a + b", "3, 4", "7",
     "[ANSWER]\nassert f(3, 4) == 7\n[/ANSWER]", "correct",
     "[ANSWER]\nassert f(5, 2) == 7\n[/ANSWER]", "correct"),  # another input, same output
    ("reverse", "def f(xs):\n    return xs[::-1]", "[1, 2, 3]", "[3, 2, 1]",
     "[ANSWER]assert f([1, 2, 3]) == [3, 2, 1][/ANSWER]", "correct",
     "[ANSWER]\nassert f([1, 2, 3]) == [3, 2, 1]\n[/ANSWER]", "correct"),
    ("upper", "def f(s):\n    return s.upper()", "'abc'", "'ABC'",
     "<answer>'ABC'</answer>", "correct",
     "[ANSWER]\nassert f('ABC') == 'ABC'\n[/ANSWER]", "correct"),  # not the recorded 'abc'
    ("count", "def f(s, c):\n    return s.count(c)", "'banana', 'a'", "3",
     "[ANSWER]\nassert f('banana', 'a') == 2\n[/ANSWER]", "wrong",
     "<answer>'aaa', 'a'</answer>", "correct"),  # the plain argument list
    ("keys", "def f(d):\n    return sorted(d)", "{'b': 1, 'a': 2}", "['a', 'b']",
     "Sorting the keys. [ANSWER]\nassert f({'b': 1, 'a': 2}) == ['a', 'b']", "correct",  # unclosed
     "[ANSWER]\nassert f({'a': 0, 'b': 0}) == ['a', 'b']\n[/ANSWER]", "correct"),
    ("invert", "def f(d):\n    return {v: k for k, v in d.items()}", "{'x': 1, 'y': 2}",
     "{1: 'x', 2: 'y'}",
     "[ANSWER]\nassert f({'x': 1, 'y': 2}) == {2: 'y', 1: 'x'}\n[/ANSWER]", "correct",
     "[ANSWER]\nassert f({'x': 2, 'y': 1}) == {1: 'x', 2: 'y'}\n[/ANSWER]", "wrong"),
    ("squares", "def f(n):\n    return sum(i * i for i in range(n))", "4", "14",
     "[ANSWER]\nassert f(4) == 14.0\n[/ANSWER]", "correct",  # 14 == 14.0, as CRUXEval's assert
     "[ANSWER]\nassert f('4') == 14\n[/ANSWER]", "runtime_error"),
    ("evens", "def f(xs):\n    return [x for x in xs if x % 2 == 0]", "[1, 2, 3, 4, 6]",
     "[2, 4, 6]",
     "[ANSWER]\nassert f([1, 2, 3, 4, 6]) == f([1, 2, 3, 4, 6])\n[/ANSWER]", "parse_error",
     "f([2, 4, 6])", "correct"),  # a bare call
    ("join", "def f(words, sep):\n    return sep.join(words)", "['a', 'b', 'c'], '-'", "'a-b-c'",
     "```python\nassert f(['a', 'b', 'c'], '-') == 'a-b-c'\n```", "correct",
     "[ANSWER]\nassert f(['a', 'b', 'c'], sep='-') == 'a-b-c'\n[/ANSWER]", "correct"),
    ("pair", "def f(s):\n    return (len(s), s[0])", "'hello'", "(5, 'h')",
     "[ANSWER]\nassert f('hello') == [5, 'h']\n[/ANSWER]", "wrong",  # a list is not the tuple
     "[ANSWER]\nassert f('h' + 'ello') == (5, 'h')\n[/ANSWER]", "correct"),  # an expression
    ("argmax", "def f(xs):\n    return xs.index(max(xs))", "[3, 9, 2]", "1",
     "<think>[ANSWER]assert f([3, 9, 2]) == 2[/ANSWER]?</think>[ANSWER]assert f([3, 9, 2]) == 1"
     "[/ANSWER]", "correct",
     "[ANSWER]\nassert f([1, 2) == 1\n[/ANSWER]", "parse_error"),
    ("divide", "def f(a, b):\n    return a / b", "7, 2", "3.5",
     "[ANSWER]\nassert f(7, 2) == 3\n[/ANSWER]", "wrong",
     "[ANSWER]\nassert f(7, 0) == 3.5\n[/ANSWER]", "runtime_error"),
    ("digits", "def f(s):\n    return s.isdigit()", "'123'", "True",
     "True", "correct",  # the plain value
     "[ANSWER]\nassert f('12a') == True\n[/ANSWER]", "wrong"),
    ("replace", "def f(text, old, new):\n    return text.replace(old, new)", "'a.b.c', '.', '/'",
     "'a/b/c'",
     "", "no_answer",
     "[ANSWER]\nassert f('a/b/c', 'x', 'y') == 'a/b/c'\n[/ANSWER]", "correct"),
    ("histogram", "def f(s):\n    d = {}\n    for ch in s:\n        d[ch] = d.get(ch, 0) + 1\n"
     "    return d", "'abca'", "{'a': 2, 'b': 1, 'c': 1}",
     "[ANSWER]\nassert f('abca') == {'a': 2, 'b': 1, 'c': 1}\n[/ANSWER]", "correct",
     "   ", "no_answer"),
    ("below", "LIMIT = 10\n\ndef f(xs):\n    return [x for x in xs if x < LIMIT]", "[5, 15, 8]",
     "[5, 8]",
     "[ANSWER]\nassert f([5, 15, 8]) == [5, 8\n[/ANSWER]", "parse_error",
     "[ANSWER]\nassert f([LIMIT - 5, 8]) == [5, 8]\n[/ANSWER]", "correct"),  # the code's global
    ("factorial", "def f(n):\n    return 1 if n <= 1 else n * f(n - 1)", "5", "120",
     "Multiplying down from 5:\nassert f(5) == 120", "correct",  # the last assertion line
     "[ANSWER]\nassert f(4) == 120\n[/ANSWER]", "wrong"),
    ("scale", "def f(x, scale=1):\n    return x * scale", "2, scale=3", "6",
     "[ANSWER]\nassert 6 == f(2, scale=3)\n[/ANSWER]", "correct",  # either side first
     "[ANSWER]\nassert f(6) == 6\n[/ANSWER]", "correct"),
    ("first", "def f(s):\n    return s.split()[0] if s else ''", "'hi there'", "'hi'",
     "[ANSWER]\nassert f('hi there') == 'hi there'\n[/ANSWER]", "wrong",
     "[ANSWER]\nassert f(None) == 'hi'\n[/ANSWER]", "wrong"),
    ("halve", "def f(n):\n    while n != 0:\n        n -= 2\n    return n", "4", "0",
     "[ANSWER]\nassert f(4) == 0\n[/ANSWER]", "correct",
     "[ANSWER]\nassert f(3) == 0\n[/ANSWER]", "timeout"),  # odd: never returns
]
O_CORRECT, I_CORRECT = 13, 11  # counted by hand from ROWS


def _outcomes(mode: str) -> list[str]:
    return [row[5] if mode == "output" else row[7] for row in ROWS]


def test_the_hand_counts():
    assert len(ROWS) == 20 and len({r[0] for r in ROWS}) == 20
    assert _outcomes("output").count("correct") == O_CORRECT
    assert _outcomes("input").count("correct") == I_CORRECT


def _write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    rows = [{"id": i, "code": c, "input": x, "output": y} for i, c, x, y, *_ in ROWS]
    return _write_jsonl(tmp_path_factory.mktemp("cruxeval") / "crux.jsonl", rows)


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(backend="local") as sb:
        yield sb


@pytest.fixture(scope="module")
def problems(data_file):
    return cx.load_problems(data_file)


def test_scripted_policy_scores_exactly_the_hand_counts(problems, sandbox):
    """Right on a hand-chosen subset, wrong or malformed on the rest: exact accuracy per mode,
    and each sample's outcome by name (the never-ending input is a timeout, not a hang)."""
    replies = {}
    for task in cx.tasks(problems):
        row = next(r for r in ROWS if r[0] == task.id)
        replies[task.observation()] = row[4] if task.mode == "output" else row[6]
    policy = ScriptedPolicy(lambda observation, legal: replies[observation])
    t0 = time.perf_counter()
    report = asyncio.run(cx.evaluate(policy, problems, sandbox=sandbox, timeout_s=1.0))
    assert time.perf_counter() - t0 < 60
    for mode in cx.MODES:
        got = [r.outcome for r in report.results if r.mode == mode]
        assert got == _outcomes(mode), mode
    metrics = report.metrics()
    assert metrics["cruxeval_o/pass@1"] == pytest.approx(O_CORRECT / 20)
    assert metrics["cruxeval_i/pass@1"] == pytest.approx(I_CORRECT / 20)
    assert metrics["cruxeval_o/mean@1"] == pytest.approx(O_CORRECT / 20)
    assert report.modes["output"].outcomes == {
        **{o: 0 for o in cx.OUTCOMES}, "correct": 13, "wrong": 4, "parse_error": 2, "no_answer": 1}
    assert report.modes["input"].outcomes == {
        **{o: 0 for o in cx.OUTCOMES}, "correct": 11, "wrong": 4, "runtime_error": 2,
        "parse_error": 1, "no_answer": 1, "timeout": 1}
    lo, hi = report.modes["input"].pass_ci[1]
    assert lo < I_CORRECT / 20 < hi and report.reference_mismatch == []
    timed_out = next(r for r in report.results if r.outcome == "timeout")
    assert timed_out.id == "halve" and timed_out.extracted == "3"
    assert "ZeroDivisionError" in next(r.detail for r in report.results
                                       if r.id == "divide" and r.mode == "input")


def test_canonical_through_sparring_eval_scores_one(data_file, tmp_path, capsys):
    out = tmp_path / "crux.json"
    assert sparring_main(["eval", "--benchmark", "cruxeval", "--canonical", "--data", data_file,
                          "--samples", "2", "--k", "1,2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("cruxeval_o/pass@1", "cruxeval_o/pass@2", "cruxeval_o/mean@2",
                 "cruxeval_i/pass@1", "cruxeval_i/pass@2", "cruxeval_i/mean@2"):
        assert f"{name}=1.0000" in printed
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "cruxeval" and saved["canonical"] is True
    assert saved["modes"]["output"]["outcomes"]["correct"] == 40
    assert saved["modes"]["input"]["pass_at"] == {"1": 1.0, "2": 1.0}
    assert len(saved["results"]) == 80 and saved["reference_mismatch"] == []


def test_one_mode_and_an_answers_file(data_file, tmp_path, capsys):
    """--answers replays {id, answer} lines; one mode per file."""
    for mode, index, correct in (("output", 4, O_CORRECT), ("input", 6, I_CORRECT)):
        answers = _write_jsonl(tmp_path / f"{mode}.jsonl",
                               [{"id": row[0], "answer": row[index]} for row in ROWS])
        assert evals_main(["--benchmark", "cruxeval", "--data", data_file, "--answers", answers,
                           "--cruxeval-mode", mode, "--exec-timeout", "1"]) == 0
        printed = capsys.readouterr().out
        prefix, other = ("cruxeval_o", "cruxeval_i") if mode == "output" else ("cruxeval_i",
                                                                               "cruxeval_o")
        assert f"{prefix}/pass@1={correct / 20:.4f}" in printed and other not in printed


def test_canonical_from_csv_with_renamed_fields(tmp_path, capsys):
    path = tmp_path / "crux.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["task_id", "program", "args", "returns"])
        writer.writerows([(i, c, x, y) for i, c, x, y, *_ in ROWS])
    assert evals_main(["--benchmark", "cruxeval", "--canonical", "--data", str(path),
                       "--code-field", "program", "--input-field", "args",
                       "--output-field", "returns", "--limit", "6"]) == 0
    printed = capsys.readouterr().out
    assert "cruxeval_o/pass@1=1.0000" in printed and "cruxeval_i/pass@1=1.0000" in printed
    assert "6 problems" in printed


def test_a_function_that_never_returns_is_a_timeout_not_a_hang(sandbox):
    """Input mode: the answer's call times out. Output mode: the row's own call never returns,
    so its samples are reference_error (the model's answer is not to blame)."""
    loop = cx.CruxProblem("loop", "def f(n):\n    while n:\n        pass\n    return n", "1", "0")
    items = cx.tasks([loop])
    answers = [[Answer("[ANSWER]assert f(1) == 1[/ANSWER]", False)],
               [Answer("[ANSWER]assert f(2) == 0[/ANSWER]", False)]]
    t0 = time.perf_counter()
    report = cx.score(items, answers, sandbox, ks=[1], timeout_s=0.5)
    assert time.perf_counter() - t0 < 30
    assert [r.outcome for r in report.results] == ["reference_error", "timeout"]
    assert "timeout" in report.results[0].detail


def test_a_recorded_output_that_does_not_hold_is_reported(sandbox):
    wrong_row = cx.CruxProblem("bad", "def f(x):\n    return x + 1", "1", "3")
    items = cx.tasks([wrong_row])
    canonical = [[Answer(t.gold_answer(), False)] for t in items]
    report = cx.score(items, canonical, sandbox, ks=[1])
    assert report.reference_mismatch == ["bad"]
    assert [r.outcome for r in report.results] == ["wrong", "wrong"]
    assert "differs from f(input) run here: bad" in cx.format_table(report)


@pytest.mark.parametrize("text,mode,part", [
    ("[ANSWER]\nassert f(1, 2) == [3]\n[/ANSWER]", "output", "[3]"),
    ("[ANSWER]\nassert f(1, 2) == [3]\n[/ANSWER]", "input", "1, 2"),
    ("[ANSWER] assert f('==', x=1) == '=='", "input", "'==', x=1"),  # no closing tag
    ("[ANSWER]f(3) == 4[/ANSWER]", "output", "4"),  # without `assert`
    ("[answer]assert f() == None[/answer]", "input", ""),  # no arguments is an answer
    ("<think>[ANSWER]assert f(0) == 1[/ANSWER]</think>\n[ANSWER]assert f(0) == 2[/ANSWER]",
     "output", "2"),
    ("[ANSWER]\n```python\nassert f(5) == 'x'\n```\n[/ANSWER]", "output", "'x'"),
    ("<answer>[1, 2], 3</answer>", "input", "[1, 2], 3"),
    ("<answer>f([1, 2], 3)</answer>", "input", "[1, 2], 3"),
    ("So the answer is 7", "output", "So the answer is 7"),  # read whole: a parse error later
    ("<answer></answer>", "output", None),
    ("", "input", None),
])
def test_answer_part(text, mode, part):
    assert cx.answer_part(text, mode) == part


@pytest.mark.parametrize("argv, message", [
    (["--benchmark", "cruxeval", "--canonical", "--data", "{data}", "--code-field", "source"],
     "--code-field: {data}: code_field 'source' is not a column; columns: ['id', 'code', 'input', "
     "'output']"),
    (["--benchmark", "cruxeval", "--canonical", "--data", "{data}", "--output-field", "out"],
     "--output-field: {data}: output_field 'out' is not a column"),
    (["--benchmark", "cruxeval", "--canonical"],
     "needs exactly one of --data FILE or --dataset ID (e.g. --dataset cruxeval-org/cruxeval)"),
    (["--benchmark", "cruxeval", "--canonical", "--data", "{data}", "--question-field", "q"],
     "--question-field applies to --benchmark math|mcq only"),
    (["--benchmark", "cruxeval", "--canonical", "--data", "{data}", "--triplets", "x.jsonl"],
     "--triplets applies to --benchmark code_reasoning only"),
    (["--benchmark", "math", "--canonical", "--data", "{data}", "--cruxeval-mode", "input"],
     "--cruxeval-mode applies to --benchmark cruxeval only"),
    (["--benchmark", "mcq", "--canonical", "--data", "{data}", "--input-field", "x"],
     "--input-field applies to --benchmark cruxeval only"),
    (["--benchmark", "cruxeval", "--data", "{data}", "--answers", "{data}"],
     "--answers with --benchmark cruxeval needs --cruxeval-mode output or input"),
    (["--benchmark", "cruxeval", "--data", "{data}", "--answers", "{data}", "--cruxeval-mode",
      "input"], "--answers: {data}: line 1: want a JSON object with id and answer"),
    (["--benchmark", "cruxeval", "--canonical", "--data", "{data}", "--max-new-tokens", "64"],
     "--max-new-tokens applies to --benchmark math|mcq only (the code benchmarks take "
     "--code-max-new-tokens)"),
    (["--benchmark", "cruxeval", "--canonical", "--data", "{data}", "--exec-timeout", "0"],
     "--exec-timeout must be > 0"),
    (["--benchmark", "cruxeval", "--canonical", "--data", "/nonexistent.jsonl"],
     "--data: data file /nonexistent.jsonl does not exist"),
])
def test_bad_options_exit_2_naming_the_option(data_file, capsys, argv, message):
    assert evals_main([a.replace("{data}", data_file) for a in argv]) == 2
    assert message.replace("{data}", data_file) in capsys.readouterr().err


@pytest.mark.parametrize("row, message", [
    ({"code": "def f(x):\n    return x", "input": "1, (", "output": "1"},
     "row 1: field 'input': not an argument list"),
    ({"code": "def f(x):\n    return x", "input": "1", "output": "object()"},
     "row 1: field 'output': not a Python literal"),
    ({"code": "def f(x:\n    return x", "input": "1", "output": "1"},
     "row 1: field 'code' does not compile"),
    ({"code": "def f(x):\n    return x", "input": "1", "output": None},
     "row 1: field 'output' must be non-empty Python source text"),
])
def test_bad_rows_name_the_row_and_the_field(tmp_path, row, message):
    good = {"code": "def f():\n    return 1", "input": "", "output": "1"}
    path = _write_jsonl(tmp_path / "bad.jsonl", [good, row])
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        cx.load_problems(path)


def test_tiny_model_answers_are_scored_without_crashing(tiny_path, data_file, tmp_path, capsys):
    out = tmp_path / "tiny.json"
    assert evals_main(["--benchmark", "cruxeval", "--data", data_file, "--model", tiny_path,
                       "--limit", "2", "--samples", "2", "--temperature", "1.0",
                       "--code-max-new-tokens", "8", "--json", str(out)]) == 0
    assert "cruxeval_o/mean@2=" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["model"] == tiny_path and len(saved["results"]) == 8
    assert sum(sum(m["outcomes"].values()) for m in saved["modes"].values()) == 8
