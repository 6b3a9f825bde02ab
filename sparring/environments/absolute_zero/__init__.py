"""Absolute-Zero-style self-play over (program, input, output) triplets (issue 5).

Validation (every proposal and every solver check): ``Executor`` runs programs in the
sandbox, ``static_check`` / ``parse_input`` / ``values_equal`` need no execution; see
``validation.py`` for the policy and the rejection reasons (``REJECTIONS``).
"""

from sparring.environments.absolute_zero.checks import (REJECTIONS, CallResult,
                                                        ValidationConfig, parse_input,
                                                        static_check, values_equal)
from sparring.environments.absolute_zero.validation import (Executor, RejectionCounter,
                                                            count_reasons)

__all__ = ["REJECTIONS", "CallResult", "Executor", "RejectionCounter", "ValidationConfig",
           "count_reasons", "parse_input", "static_check", "values_equal"]
