"""Reasoning benchmarks (math, mcq): loading in every supported shape, scoring a scripted policy
against hand-counted outcomes, pass@k / mean@n and their intervals by hand, and the CLI with
--canonical. Every fixture is written here; nothing is downloaded."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from sparring.agents.policies import ScriptedPolicy
from sparring.cli import main as sparring_main
from sparring.environments.verification.stats import wilson
from sparring.evals import reasoning as rb
from sparring.evals.cli import main as evals_main

pytest.importorskip("math_verify")

# (problem, gold as stored, the scripted reply, the expected outcome)
MATH = [
    ("What is 6 * 7?", "42", "\\boxed{42}", "correct"),
    ("Half of one?", "\\frac{1}{2}", "So it is \\boxed{0.5}.", "correct"),
    ("Three quarters as a decimal?", "0.75", "\\boxed{\\frac{3}{4}}", "correct"),
    ("Three over four?", "3/4", "\\boxed{\\dfrac34}", "correct"),
    ("Roots of x^2 - 3x + 2?", "\\{1, 2\\}", "\\boxed{2, 1}", "correct"),
    ("Odd primes below 7?", "{3, 5}", "\\boxed{\\{5,3\\}}", "correct"),
    ("Tom has 10 eggs and eats 4, then buys 12. Eggs?", "10 - 4 = 6, 6 + 12 = 18.\n#### 18", "\\boxed{18}", "correct"),
    ("A car costs 100 per day for 10 days. Cost?", "100 * 10 = 1000\n#### 1,000", "\\boxed{1000}", "correct"),
    ("What is 3 + 4?", 7, "Adding: 3 + 4 = 7, so the answer is \\boxed{7}.", "correct"),
    ("Simplify sqrt(12).", "2\\sqrt{3}", "\\boxed{\\sqrt{12}}", "correct"),
    ("Quarter turn in radians?", "\\frac{\\pi}{2}", "\\boxed{\\pi/2}", "correct"),
    ("What is 2 - 5?", "-3", "<think>maybe \\boxed{3}</think>Therefore \\boxed{-3}", "correct"),
    ("One quarter?", 0.25, "\\boxed{1/4}", "correct"),
    ("What is 2 + 3?", "5", "\\boxed{6}", "wrong"),
    ("One third?", "\\frac{1}{3}", "\\boxed{0.33}", "wrong"),
    ("Roots of (x-1)(x-2)?", "{1, 2}", "\\boxed{1, 3}", "wrong"),
    ("The point (1, 2)?", "(1, 2)", "\\boxed{(2, 1)}", "wrong"),
    ("A dozen?", "12 eggs\n#### 12", "First \\boxed{12}, no wait: \\boxed{13}", "wrong"),
    ("What is 4 + 5?", "9", "The answer is 9.", "no_answer"),
    ("What is 5 + 5?", "10", "\\boxed{10", "no_answer"),
]
MATH_CORRECT = 13

# (question, options, gold as stored, the scripted reply, the expected outcome)
MCQ = [
    ("Capital of France?", ["Berlin", "Paris", "Rome"], "B", "\\boxed{B}", "correct"),
    ("2 + 2?", ["3", "4", "5", "6"], 1, "I think \\boxed{(B)}", "correct"),
    ("Largest planet?", ["Mars", "Jupiter"], "Jupiter", "\\boxed{\\text{B}}", "correct"),
    ("Red fruit?", ["Apple", "Banana", "Kiwi"], "(A)", "\\boxed{Apple}", "correct"),
    ("Noble gas?", ["O", "N", "Ne", "H"], "C", "<think>\\boxed{A}?</think>\\boxed{C}", "correct"),
    ("Prime?", ["4", "6", "7"], 2, "\\boxed{A}", "wrong"),
    ("Ocean?", ["Pacific", "Sahara"], "A", "\\boxed{B) Sahara}", "wrong"),
    ("Mammal?", ["Shark", "Whale", "Trout"], "B", "It is B.", "no_answer"),
]
MCQ_CORRECT = 5


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture
def math_file(tmp_path):
    return _write_jsonl(tmp_path / "math.jsonl", [{"problem": p, "answer": a} for p, a, _, _ in MATH])


@pytest.fixture
def mcq_file(tmp_path):
    return _write_jsonl(tmp_path / "mcq.jsonl", [{"question": q, "options": o, "answer": a} for q, o, a, _, _ in MCQ])


def _policy(replies: dict[str, str]) -> ScriptedPolicy:
    return ScriptedPolicy(lambda observation, legal: replies[observation])


# ------------------------------------------------------------------------------ loading

def test_math_loading_reads_every_form(math_file):
    questions = rb.load_questions("math", path=math_file)
    assert len(questions) == 20 and [q.id for q in questions[:2]] == ["0", "1"]
    golds = {q.question: q.answer for q in questions}
    assert golds["What is 3 + 4?"] == "7" and golds["One quarter?"] == "0.25"
    assert golds["Tom has 10 eggs and eats 4, then buys 12. Eggs?"] == "18"  # GSM8K's '#### 18'
    assert golds["A car costs 100 per day for 10 days. Cost?"] == "1,000"
    assert len(rb.load_questions("math", path=math_file, limit=3)) == 3


def test_mcq_answers_map_to_letters(mcq_file):
    questions = rb.load_questions("mcq", path=mcq_file)
    assert [q.answer for q in questions] == ["B", "B", "B", "A", "C", "C", "A", "B"]
    assert questions[0].observation() == "Capital of France?\n\nA) Berlin\nB) Paris\nC) Rome"


@pytest.mark.parametrize("answer", ["D", 3, -1, True, "Lyon", 1.0])
def test_an_answer_that_names_no_option_is_an_error(tmp_path, answer):
    path = _write_jsonl(tmp_path / "bad.jsonl", [{"question": "q", "options": ["x", "y", "z"], "answer": answer}])
    with pytest.raises(ValueError, match=r"bad.jsonl: row 0: answer .* is not a letter A-C"):
        rb.load_questions("mcq", path=path)


def test_separate_option_columns_in_csv_and_parquet(tmp_path):
    import datasets

    rows = [{"Question": "Capital of Italy?", "A": "Paris", "B": "Rome", "C": "Oslo", "D": "Bern", "Answer": "B"},
            {"Question": "3 * 3?", "A": "6", "B": "8", "C": "9", "D": "12", "Answer": "C"}]
    data = datasets.Dataset.from_list(rows)
    for path in (tmp_path / "mcq.csv", tmp_path / "mcq.parquet"):
        data.to_csv(str(path)) if path.suffix == ".csv" else data.to_parquet(str(path))
        questions = rb.load_questions("mcq", path=path, question_field="Question", answer_field="Answer",
                                      options_field="A,B,C,D")
        assert [(q.answer, q.options[2]) for q in questions] == [("B", "Oslo"), ("C", "9")]


def test_a_json_list_and_an_index_answer_column(tmp_path):
    path = tmp_path / "mmlu_pro.json"
    path.write_text(json.dumps([{"question": "q?", "options": ["a", "b", "c"], "answer_index": 2}]))
    (q,) = rb.load_questions("mcq", path=path, answer_field="answer_index")
    assert q.answer == "C"


@pytest.mark.parametrize("kind, fields, key, name", [
    ("math", {"question_field": "prompt"}, "question_field", "prompt"),
    ("math", {"answer_field": "solution"}, "answer_field", "solution"),
    ("mcq", {"options_field": "choices"}, "options_field", "choices"),
    ("mcq", {"options_field": "A,B,Z"}, "options_field", "A"),
])
def test_a_missing_field_names_the_file_the_field_and_the_columns(tmp_path, kind, fields, key, name):
    path = _write_jsonl(tmp_path / "data.jsonl", [{"question": "q", "problem": "q", "options": ["1", "2"],
                                                   "answer": "1"}])
    with pytest.raises(rb.MissingField, match=rf"data.jsonl: {key} '{name}' is not a column; columns: \[") as err:
        rb.load_questions(kind, path=path, **fields)
    assert err.value.key == key and "'options'" in str(err.value)


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        rb.load_questions("math")
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        rb.load_questions("math", path=tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="unknown file type"):
        rb.load_questions("math", path=tmp_path / "data.txt")
    empty = _write_jsonl(tmp_path / "empty.jsonl", [{"problem": "q", "answer": ""}])
    with pytest.raises(ValueError, match="row 0: field 'answer' is empty"):
        rb.load_questions("math", path=empty)


# ------------------------------------------------------------------------------ scoring

def test_math_scores_exactly_the_hand_counted_outcomes(math_file):
    questions = rb.load_questions("math", path=math_file)
    role = rb.reasoning_role("math")
    assert role.answer_format == "boxed" and "\\boxed{}" in role.user_text("x")
    replies = {p: reply for p, _, reply, _ in MATH}
    report = asyncio.run(rb.evaluate(_policy(replies), questions, role))
    got = {r.id: r.outcome for r in report.results}
    assert [got[str(i)] for i in range(20)] == [o for *_, o in MATH]
    assert report.outcomes == {"correct": MATH_CORRECT, "wrong": 5, "no_answer": 2, "check_timeout": 0}
    m = report.metrics()
    assert m["math/pass@1"] == m["math/mean@1"] == MATH_CORRECT / 20 == 0.65
    assert (m["math/pass@1_ci_low"], m["math/pass@1_ci_high"]) == pytest.approx(wilson(13, 20))


def test_mcq_scores_exactly_the_hand_counted_outcomes(mcq_file):
    questions = rb.load_questions("mcq", path=mcq_file)
    role = rb.reasoning_role("mcq")
    assert "letter of the correct option" in role.user_text("x")
    replies = {q.observation(): reply for q, (*_, reply, _) in zip(questions, MCQ)}
    report = asyncio.run(rb.evaluate(_policy(replies), questions, role))
    assert [r.outcome for r in report.results] == [o for *_, o in MCQ]
    assert report.metrics()["mcq/mean@1"] == MCQ_CORRECT / 8


def test_mcq_with_bracket_answers(mcq_file):
    questions = rb.load_questions("mcq", path=mcq_file)
    role = rb.reasoning_role("mcq", "bracket")
    assert "[B]" in role.user_text("x")
    replies = {q.observation(): f"[{q.answer}]" if i % 2 else "[A]" for i, q in enumerate(questions)}
    report = asyncio.run(rb.evaluate(_policy(replies), questions, role))
    right = sum((f"[{q.answer}]" if i % 2 else "[A]") == f"[{q.answer}]" for i, q in enumerate(questions))
    assert report.outcomes["correct"] == right == 5


def test_pass_at_k_and_mean_at_n_by_hand(tmp_path):
    # 4 problems x 4 samples with 2, 1, 3, 2 right answers
    rights = [2, 1, 3, 2]
    path = _write_jsonl(tmp_path / "m.jsonl", [{"problem": f"q{i}", "answer": str(i)} for i in range(4)])
    questions = rb.load_questions("math", path=path)
    asked = {f"q{i}": 0 for i in range(4)}

    def reply(observation, legal):
        i, s = int(observation[1:]), asked[observation]
        asked[observation] += 1
        return f"\\boxed{{{i}}}" if s < rights[i] else f"\\boxed{{{i + 100}}}"

    report = asyncio.run(rb.evaluate(ScriptedPolicy(reply), questions, rb.reasoning_role("math"),
                                     samples=4, ks=[1, 2, 4]))
    assert report.correct == rights
    m = report.metrics()
    assert m["math/pass@1"] == pytest.approx(0.5) and m["math/mean@4"] == pytest.approx(0.5)
    assert m["math/pass@2"] == pytest.approx((5 / 6 + 1 / 2 + 1 + 5 / 6) / 4)  # 1 - C(4-c, 2) / C(4, 2)
    assert m["math/pass@4"] == 1.0
    assert (m["math/pass@4_ci_low"], m["math/pass@4_ci_high"]) == pytest.approx(wilson(4, 4))  # 0/1 values
    half = 1.96 * math.sqrt((0 + 0.0625 + 0.0625 + 0) / 3 / 4)  # per-problem accuracies .5 .25 .75 .5
    assert (m["math/mean@4_ci_low"], m["math/mean@4_ci_high"]) == pytest.approx((0.5 - half, 0.5 + half))
    saved = json.loads(json.dumps(report.to_json()))
    assert saved["pass_at"]["2"] == pytest.approx(19 / 24) and len(saved["results"]) == 16


def test_untrusted_answers_never_raise(tmp_path):
    path = _write_jsonl(tmp_path / "m.jsonl", [{"problem": "q", "answer": "\\frac{1}{2}"}])
    questions = rb.load_questions("math", path=path)
    for text in ["\\boxed{}", "\\boxed{\\frac{", "\\boxed{" * 1000, "\x00\\boxed{\x00}", "\\boxed{9^9^9^9^9}"]:
        report = asyncio.run(rb.evaluate(_policy({"q": text}), questions, rb.reasoning_role("math")))
        assert report.results[0].outcome in ("wrong", "no_answer")


# ------------------------------------------------------------------------------ the CLI

def test_sparring_eval_canonical_math_scores_1(math_file, tmp_path, capsys):
    out = tmp_path / "math.json"
    assert sparring_main(["eval", "--benchmark", "math", "--data", math_file, "--canonical",
                          "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "math/pass@1=1.0000" in printed and "math/mean@1=1.0000" in printed
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "math" and saved["problems"] == 20 and saved["outcomes"]["correct"] == 20
    # sparring eval's --answer-format defaults to bracket for games; math still reads \boxed{}
    assert all(r["answer"].startswith("\\boxed{") for r in saved["results"])


def test_sparring_eval_scores_an_answers_file_exactly(math_file, tmp_path, capsys):
    """The 20-problem fixture, answered by the scripted replies through --answers: 13 / 20."""
    answers = _write_jsonl(tmp_path / "answers.jsonl", [{"id": str(i), "answer": reply}
                                                         for i, (_, _, reply, _) in enumerate(MATH)])
    assert sparring_main(["eval", "--benchmark", "math", "--data", math_file, "--answers", answers]) == 0
    printed = capsys.readouterr().out
    assert "math/pass@1=0.6500" in printed and "math/mean@1=0.6500" in printed
    short = _write_jsonl(tmp_path / "short.jsonl", [{"id": "0", "answer": "\\boxed{42}"}])
    assert sparring_main(["eval", "--benchmark", "math", "--data", math_file, "--answers", short]) == 2
    assert "question '1' has 0 answers" in capsys.readouterr().err
    assert sparring_main(["eval", "--benchmark", "math", "--data", math_file, "--answers", answers, "--canonical"]) == 2
    assert "give only one of --model, --canonical or --answers" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["boxed", "bracket", "think", "answer_tag"])
def test_canonical_mcq_scores_1_in_every_format(mcq_file, capsys, fmt):
    assert evals_main(["--benchmark", "mcq", "--data", mcq_file, "--canonical", "--answer-format", fmt,
                       "--samples", "2", "--k", "1,2"]) == 0
    printed = capsys.readouterr().out
    assert "mcq/pass@1=1.0000" in printed and "mcq/pass@2=1.0000" in printed and "mcq/mean@2=1.0000" in printed


@pytest.mark.parametrize("argv, message", [
    (["--benchmark", "math", "--canonical"], "needs exactly one of --data FILE or --dataset ID"),
    (["--benchmark", "math", "--canonical", "--data", "{math}", "--question-field", "prompt"],
     "--question-field: {math}: question_field 'prompt' is not a column"),
    (["--benchmark", "math", "--canonical", "--data", "{math}", "--options-field", "x"], "--options-field applies"),
    (["--benchmark", "mcq", "--canonical", "--data", "{math}"], "--question-field:"),
    (["--benchmark", "humaneval", "--canonical", "--data", "{math}"], "--data applies to --benchmark math|mcq"),
    (["--benchmark", "math", "--canonical", "--data", "{math}", "--samples", "2", "--k", "3"], "pass@3 needs"),
    (["--benchmark", "math", "--canonical", "--data", "{math}", "--max-new-tokens", "0"], "--max-new-tokens"),
    (["--benchmark", "math", "--canonical", "--data", "/nonexistent.jsonl"], "--data: data file /nonexistent"),
])
def test_bad_options_exit_2_naming_the_option(math_file, capsys, argv, message):
    argv = [a.replace("{math}", math_file) for a in argv]
    assert evals_main(argv) == 2
    assert message.replace("{math}", math_file) in capsys.readouterr().err


def test_tiny_model_math(tiny_path, math_file, tmp_path, capsys):
    out = tmp_path / "tiny.json"
    assert evals_main(["--benchmark", "math", "--data", math_file, "--model", tiny_path, "--limit", "3",
                       "--samples", "2", "--temperature", "1.0", "--max-new-tokens", "8", "--json", str(out)]) == 0
    assert "math/mean@2=" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["model"] == tiny_path and sum(saved["outcomes"].values()) == 6
