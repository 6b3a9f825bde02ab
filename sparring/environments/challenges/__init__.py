"""Tasks that a challenger writes and a reasoner answers, and what each is paid (SPICE, R-Zero).

- tasks.py: a challenger's question + gold answer read from its completion (multiple choice or
  free form), validated; an invalid task names its reason;
- rewards.py: the challenger's reward from the reasoner's pass rate (SPICE's Gaussian of the
  variance, R-Zero's uncertainty, Absolute Zero's learnability), majority-vote pseudo-labels and
  R-Zero's pass-rate band;
- diversity.py: sentence BLEU, self-BLEU, distinct n-grams and the BLEU clustering behind
  R-Zero's repetition penalty.

Pure Python: no model, no torch. Checking an answer against the gold lives in
environments/problems/checking.py.
"""

from sparring.environments.challenges.tasks import INVALID_REASONS, Challenge, parse_challenge

__all__ = ["INVALID_REASONS", "Challenge", "parse_challenge"]
