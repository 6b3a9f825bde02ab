"""HumanEval harness: pass@k against hand-computed values, code extraction, program assembly,
the canonical solutions passing all 164 problems through the real sandbox, negative controls,
and every failure kind counted by name."""

from __future__ import annotations

import asyncio
import itertools
import math
import time

import pytest

from sparring.agents.policies import ScriptedPolicy
from sparring.evals import humaneval as he
from sparring.evals.answers import Answer
from sparring.sandbox import Sandbox


@pytest.fixture(scope="module")
def problems():
    return he.load_problems()


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(backend="local") as sb:
        yield sb


def test_load_problems_from_the_package(problems):
    assert len(problems) == 164
    assert len({p.task_id for p in problems}) == 164
    assert problems[0].task_id == "HumanEval/0" and problems[-1].task_id == "HumanEval/163"
    assert all(f"def {p.entry_point}(" in p.prompt and "def check(" in p.test for p in problems)
    assert [p.task_id for p in he.load_problems(limit=3)] == ["HumanEval/0", "HumanEval/1",
                                                              "HumanEval/2"]
    with pytest.raises(ValueError, match="limit"):
        he.load_problems(limit=0)


def test_load_problems_names_a_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"task_id": "x"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1"):
        he.load_problems(path)


# --------------------------------------------------------------------------------- pass@k

@pytest.mark.parametrize("n,c,k,expected", [
    (1, 1, 1, 1.0), (1, 0, 1, 0.0),
    (5, 2, 1, 0.4),                    # pass@1 = c / n
    (5, 2, 2, 0.7),                    # 1 - C(3,2)/C(5,2) = 1 - 3/10
    (10, 3, 5, 1 - 21 / 252),          # 1 - C(7,5)/C(10,5)
    (4, 3, 2, 1.0),                    # n - c < k: some pair always holds a pass
    (10, 0, 5, 0.0),
    (20, 1, 10, 0.5),                  # 1 - C(19,10)/C(20,10) = 1 - 10/20
])
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert he.pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_matches_the_combinatorial_formula():
    for n, c, k in itertools.product(range(1, 13), range(0, 13), range(1, 13)):
        if c <= n and k <= n:
            exact = 1 - math.comb(n - c, k) / math.comb(n, k)
            assert he.pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12), (n, c, k)
    assert 0.0 < he.pass_at_k(1000, 1, 100) < 1.0  # large n without overflow


@pytest.mark.parametrize("n,c,k", [(3, 4, 1), (3, -1, 1), (3, 1, 4), (3, 1, 0)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        he.pass_at_k(n, c, k)


# ------------------------------------------------------------------------ reading answers

FULL = "def add(a, b):\n    return a + b"


@pytest.mark.parametrize("text,expected", [
    (f"```python\n{FULL}\n```", FULL),
    (f"Sure! Here it is:\n```python\n{FULL}\n```\nIt adds the numbers.", FULL),
    (f"```py\n{FULL}\n```", FULL),
    (f"```\n{FULL}\n```", FULL),                                   # untagged fence
    (f"```python\n{FULL}\n", FULL),                                # unclosed (truncated)
    (f"```python\nx = 1\n```\nthen\n```python\n{FULL}\n```", FULL),  # the block with the def
    (f"```text\nnote\n```\n```python\n{FULL}\n```", FULL),         # a python block first
    (f"Here is my answer:\n{FULL}", FULL),                         # raw, prose dropped
    (f"Answer below\nimport math\n{FULL}", "import math\n" + FULL),
    ("    return a + b\n", "    return a + b"),                    # raw body keeps its indent
    ("\n\n    return a + b", "    return a + b"),
    ("", None), ("   \n\t\n", None), ("```python\n\n```", None),
])
def test_extract_code(text, expected):
    assert he.extract_code(text, "add") == expected


def test_build_source_function_and_body_forms(problems):
    p = problems[0]
    body = p.canonical_solution
    source, form = he.build_source(p, he.extract_code(f"```python\n{p.prompt}{body}```",
                                                      p.entry_point))
    assert form == "function" and source.count(f"def {p.entry_point}(") == 2
    assert source.endswith(f"check({p.entry_point})\n")
    for indent in ("", "  ", "        ", "\t"):  # any uniform indent becomes 4 spaces
        lines = [ln[4:] for ln in body.splitlines()]
        shifted = "\n".join(indent + ln if ln.strip() else ln for ln in lines)
        source, form = he.build_source(p, he.extract_code(shifted, p.entry_point))
        assert form == "body" and compile(source, "s", "exec")


# ------------------------------------------------------------- the harness, end to end

def test_canonical_solutions_pass_all_164(problems, sandbox):
    t0 = time.perf_counter()
    report = asyncio.run(he.evaluate(he.canonical_policy(problems), problems, sandbox=sandbox))
    elapsed = time.perf_counter() - t0
    failed = [(r.task_id, r.outcome, r.detail) for r in report.results if r.outcome != "passed"]
    assert failed == []
    assert report.pass_at == {1: 1.0} and report.outcomes["passed"] == 164
    assert all(r.form == "function" for r in report.results)
    print(f"canonical 164 problems: pass@1={report.pass_at[1]} in {elapsed:.2f}s")


def test_canonical_bodies_pass_too(problems, sandbox):
    report = asyncio.run(he.evaluate(he.canonical_policy(problems, form="body"), problems,
                                     sandbox=sandbox))
    assert report.pass_at[1] == 1.0 and all(r.form == "body" for r in report.results)


def test_negative_control_return_none(problems, sandbox):
    answers = {p.prompt: f"```python\n{p.prompt}    return None\n```" for p in problems}
    report = asyncio.run(he.evaluate(ScriptedPolicy(lambda obs, legal: answers[obs]), problems,
                                     sandbox=sandbox))
    assert report.pass_at[1] == 0.0
    assert report.outcomes["wrong_answer"] + report.outcomes["runtime_error"] == 164


def test_every_failure_kind_is_counted(problems, sandbox):
    p = problems[0]  # has_close_elements(numbers, threshold)
    good = f"```python\n{p.prompt}{p.canonical_solution}```"
    texts = {
        "passed": good,
        "no_code": "I cannot help with that.\n```python\n```",
        "syntax_error": "```python\ndef has_close_elements(numbers, threshold)\n    return 1\n```",
        "wrong_answer": "    return False\n",
        "runtime_error": "    raise ValueError('nope')\n",
        "exited_early": "    import sys\n    sys.exit(0)\n",
        "timeout": "    while True:\n        pass\n",
        "memory_limit": "    x = bytearray(1 << 34)\n",
        "output_limit": "    print('x' * 2_000_000)\n",
    }
    also_early = "    import os\n    os._exit(0)\n"  # skips the marker without raising
    answers = [[Answer(t, False) for t in texts.values()] + [Answer(also_early, False)]]
    report = he.score([p], answers, sandbox, ks=[1, 10], timeout_s=1.0)
    got = {r.answer: r.outcome for r in report.results}
    assert [got[t] for t in texts.values()] == list(texts)
    assert got[also_early] == "exited_early"
    assert report.outcomes["exited_early"] == 2 and sum(report.outcomes.values()) == 10
    assert report.pass_at == {1: pytest.approx(0.1), 10: 1.0}


class _Alternating:
    """Right on every other call per problem: exactly c = n/2 passing samples."""

    trainable = False

    def __init__(self, problems):
        self.right = {p.prompt: f"```python\n{p.prompt}{p.canonical_solution}```" for p in problems}
        self.calls = {}

    async def act(self, role, player, observation, legal, state=None):
        i = self.calls[observation] = self.calls.get(observation, -1) + 1
        text = self.right[observation] if i % 2 == 0 else "    return 'wrong'\n"
        return await ScriptedPolicy(lambda o, l: text).act(role, player, observation, legal)


def test_pass_at_k_end_to_end_with_samples(problems, sandbox):
    subset = problems[:6]
    report = asyncio.run(he.evaluate(_Alternating(subset), subset, samples=4, ks=[1, 2, 4],
                                     sandbox=sandbox))
    assert report.passed_per_problem == {p.task_id: 2 for p in subset}
    assert report.pass_at[1] == pytest.approx(0.5)
    assert report.pass_at[2] == pytest.approx(1 - 1 / 6)  # 1 - C(2,2)/C(4,2)
    assert report.pass_at[4] == 1.0
    with pytest.raises(ValueError, match="pass@5"):
        he.score(subset, [[Answer("", False)]] * 6, sandbox, ks=[5])


def test_tiny_model_answers_are_scored_without_crashing(tiny_path, problems, sandbox):
    from sparring.agents.hf_engine import HFEngine
    from sparring.agents.models import load_model, load_tokenizer
    from sparring.agents.policies import EnginePolicy

    engine = HFEngine(load_model(tiny_path), load_tokenizer(tiny_path))
    subset = sorted(problems, key=lambda p: len(p.prompt))[:2]  # short prompts: fast

    async def run():
        try:
            return await he.evaluate(EnginePolicy(engine, trainable=False), subset, samples=2,
                                     ks=[1, 2], role=he.humaneval_role(max_new_tokens=12,
                                                                      temperature=1.0),
                                     sandbox=sandbox)
        finally:
            await engine.aclose()

    report = asyncio.run(run())
    assert sum(report.outcomes.values()) == 4 and len(report.results) == 4
    assert engine.stats.sequences == 4 and engine.stats.batches == 1  # gathered into one batch
    assert all(r.outcome in he.OUTCOMES for r in report.results)
    assert 0.0 <= report.pass_at[2] <= 1.0
