"""Checking answers by the model itself: verdicts, judge scores, rubrics, and the rewards that
pay a verifier or judge for agreeing with the ground truth (pure functions, no torch, no model).

- verdicts.py: parsing what a verifier or judge wrote (never raises: model output is untrusted);
- rewards.py: agreement rewards, class weights, judge score mapping, pairwise and meta-judge
  rewards, self-correction credit.

The stages that ask the model and turn these into episodes live in `sparring.arenas.verification`.
"""

from sparring.environments.verification.verdicts import (Verdict, parse_grades, parse_preference, parse_rubric,
                                                         parse_score, parse_verdict)

__all__ = ["Verdict", "parse_grades", "parse_preference", "parse_rubric", "parse_score", "parse_verdict"]
