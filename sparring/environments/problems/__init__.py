"""Problems with (or without) gold answers, and how an answer is checked against the gold.

- `Problem`: a question, its gold answer (None: no ground truth; a judge scores it) and optional
  reference candidates (answers whose correctness is known, for training a verifier on fixed data);
- arithmetic.py: a generated family (small arithmetic, correct and corrupted candidates, a
  held-out split by problem) that runs offline everywhere;
- sources.py: problems from a local JSONL/Parquet/CSV file or any `datasets` id;
- checking.py: exact, numeric, multiple-choice and math-verify checks that never raise or hang.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    answer: str | None  # the gold answer; None: no ground truth (only a judge can score answers)
    candidates: tuple[str, ...] = ()  # reference candidate answers (correctness: checked against `answer`)


__all__ = ["Problem"]
