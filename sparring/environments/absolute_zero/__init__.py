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

# Task logic (tasks, prompts, rewards, buffers); the arena is sparring.arenas.absolute_zero.
from sparring.environments.absolute_zero.buffers import TASK_TYPES, Buffers, Entry, TaskBuffer  # noqa: E402
from sparring.environments.absolute_zero.rewards import (Penalties, learnability, proposer_reward,  # noqa: E402
                                                         solver_reward)
from sparring.environments.absolute_zero.tasks import (PROPOSAL_REJECTIONS, Proposal, SolverTask,  # noqa: E402
                                                       parse_proposal, solver_task)

__all__ += ["PROPOSAL_REJECTIONS", "TASK_TYPES", "Buffers", "Entry", "Penalties", "Proposal", "SolverTask",
            "TaskBuffer", "learnability", "parse_proposal", "proposer_reward", "solver_reward", "solver_task"]
