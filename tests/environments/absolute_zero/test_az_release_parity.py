"""Absolute Zero against the released code (LeapLabTHU/Absolute-Zero-Reasoner): induction input
count, code in the induction message, output equality, helper functions, the reward scheme and
the Qwen preset's optimizer steps per RL step."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.arenas.absolute_zero_config import AbsoluteZeroArenaConfig, AZRewardConfig
from sparring.config import load_config
from sparring.environments.absolute_zero import checks, tasks
from sparring.environments.absolute_zero.buffers import IDENTITY, Entry
from sparring.environments.absolute_zero.checks import CallResult, values_equal
from sparring.environments.absolute_zero.tasks import PROPOSAL_REJECTIONS, Proposal

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def _inputs(*values) -> str:
    return "".join(f"<input>{v}</input>" for v in values) + "<message>m</message>"


# ----- 1. induction: exactly the asked number of distinct inputs ---------------------------------
def test_induction_needs_exactly_the_asked_number_of_distinct_inputs():
    assert "wrong_input_count" in PROPOSAL_REJECTIONS
    two = tasks.parse_proposal("induction", _inputs(1, 2), IDENTITY, max_inputs=6)
    assert tasks.precheck(two, asked=6) == "wrong_input_count"  # accepted before: fewer examples paid off
    six = tasks.parse_proposal("induction", _inputs(1, 2, 3, 4, 5, 6), IDENTITY, max_inputs=6)
    assert tasks.precheck(six, asked=6) is None
    dup = tasks.parse_proposal("induction", _inputs(1, 2, 3, 4, 5, 5), IDENTITY, max_inputs=6)
    assert len(dup.inputs) == 5 and tasks.precheck(dup, asked=6) == "wrong_input_count"  # distinct ones count
    more = tasks.parse_proposal("induction", _inputs(*range(8)), IDENTITY, max_inputs=6)
    assert more.inputs == tuple(str(i) for i in range(6)) and tasks.precheck(more, asked=6) is None
    one = tasks.parse_proposal("induction", _inputs(1, 1), IDENTITY, max_inputs=6)
    assert tasks.precheck(one, asked=6) == "too_few_inputs"  # no task at all: the older, named reason
    assert tasks.precheck(Proposal("deduction", IDENTITY, ("1",)), asked=6) is None  # triplets have one input


# ----- 3. the induction message must not contain code -------------------------------------------
PROGRAM = "def f(lst):\n    total = 0\n    for x in lst:\n        total += x * 2\n    return total"
SIX = tuple(str(i) for i in range(6))


@pytest.mark.parametrize("message", [
    PROGRAM,                                                            # the whole program
    "Compute it like this:\n    for x in lst:\n        total += x * 2",  # its body lines
    "def g(x): return 2 * sum(x)",                                      # any def
    "Think of lambda x: 2 * sum(x)",                                    # a lambda
    "It does: return 2 * sum(lst)",                                     # a return statement
    "f = lambda lst: 2 * sum(lst)",
    "f([1, 2]) == 6",                                                   # a statement on f
    "```python\nsum(lst) * 2\n```",                                     # a python block
    "total = sum(lst)\nresult = total * 2",                             # several lines of code
])
def test_a_message_with_code_is_rejected(message):
    assert "code_in_message" in PROPOSAL_REJECTIONS
    assert checks.code_in_message(message, PROGRAM) is not None, message
    assert tasks.precheck(Proposal("induction", PROGRAM, SIX, message), asked=6) == "code_in_message"


@pytest.mark.parametrize("message", [
    "Double every number and add them up.",
    "f should return the sum of the list, doubled.",
    "It will return a value twice the total.",
    "Note: sorting is not involved",
    "Hint: think about totals.\nInputs are lists of ints.",
    "Try these:\n```input\n[1, 2]\n```",  # the release's fenced inputs are not code
    "",
])
def test_a_plain_english_message_passes(message):
    assert checks.code_in_message(message, PROGRAM) is None, message
    assert tasks.precheck(Proposal("induction", PROGRAM, SIX, message), asked=6) is None


def test_a_sentence_of_the_docstring_is_not_code():
    program = 'def f(lst):\n    """\n    Return the sum of the list, doubled.\n    """\n    return sum(lst) * 2'
    assert checks.code_in_message("Return the sum of the list, doubled.", program) is None
    assert checks.code_in_message("It computes sum(lst) * 2 for you", program) is not None  # what f returns
    assert checks.code_in_message("so: return sum(lst) * 2", program) is not None


def test_the_warm_start_and_seed_messages_are_plain_english():
    for program, _, _, message in tasks.FORMAT_EXAMPLES:
        assert checks.code_in_message(message, program) is None, message
    seed = [e for e in tasks.format_entries("induction")] + [Entry("induction", IDENTITY, ("1", "2"), ("1", "2"),
                                                                   "Return the argument unchanged.")]
    assert all(checks.code_in_message(e.message, e.program) is None for e in seed)


@pytest.mark.parametrize("message", ["(" * 5000, "[" * 200 + "]" * 200, "\x00def", "return " + "(" * 3000,
                                     "f(" * 2000, "lambda" * 1000, "\n".join(["x = 1"] * 500)],
                         ids=["parens", "brackets", "nul", "return", "calls", "lambdas", "lines"])
def test_code_in_message_never_raises_on_hostile_text(message):
    checks.code_in_message(message, PROGRAM)  # a verdict, never an exception


# ----- 6. equality and helper functions ----------------------------------------------------------
def test_release_equality_is_python_eq_on_literals():
    assert not values_equal("1", "1.0") and checks.outputs_equal("1", "1.0", "release")
    assert checks.outputs_equal("True", "1", "release") and not checks.outputs_equal("True", "1")
    assert checks.outputs_equal("{'a': 1}", "{'a': 1.0}", "release")
    assert not checks.outputs_equal("(1,)", "[1]", "release")  # == still tells a tuple from a list
    assert checks.outputs_equal("{1, 2}", "{2, 1}", "release") and checks.outputs_equal("{1, 2}", "{2, 1}")
    assert not checks.outputs_equal("2 + 2", "4", "release")  # answers are never evaluated on the host
    assert not checks.outputs_equal("garbage", "garbage", "release")
    with pytest.raises(ValueError, match="equality"):
        checks.outputs_equal("1", "1", "loose")


def test_solver_scores_follow_the_equality():
    ded = tasks.solver_task(Entry("deduction", "def f(a):\n    return a * 2", ("21",), ("42",)))
    assert tasks.score_answer(ded, "42.0", []) == 0.0
    assert tasks.score_answer(ded, "42.0", [], equality="release") == 1.0
    abd = tasks.solver_task(Entry("abduction", "def f(a):\n    return a * 2", ("21",), ("42",)))
    assert tasks.score_answer(abd, "21.0", [CallResult(True, None, "42.0")]) == 0.0
    assert tasks.score_answer(abd, "21.0", [CallResult(True, None, "42.0")], equality="release") == 1.0
    ind = tasks.solver_task(Entry("induction", IDENTITY, ("1", "2"), ("1", "2"), "m"))
    assert tasks.score_answer(ind, "P", [CallResult(True, None, "True")], "all") == 0.0
    assert tasks.score_answer(ind, "P", [CallResult(True, None, "2.0")], "all", equality="release") == 1.0


HELPER = "def g(x):\n    return x + 1\n\ndef f(a):\n    return g(a) * 2"
NESTED = "def f(a):\n    def g(x):\n        return x + 1\n    return g(a)"
METHOD = "class C:\n    def m(self):\n        return 1\n\ndef f(a):\n    return C().m() + a"


def test_helper_functions_are_a_choice():
    assert "multiple_functions" in PROPOSAL_REJECTIONS
    for program in (HELPER, NESTED, METHOD):
        p = Proposal("deduction", program, ("1",))
        assert tasks.precheck(p) is None  # sparring: helpers allowed
        assert tasks.precheck(p, single_function=True) == "multiple_functions"  # the release's rule
    assert checks.function_count(HELPER) == 2
    assert checks.function_count("def f(a):\n    g = lambda x: x\n    return g(a)") == 1  # lambdas do not count
    assert checks.function_count("def f(:") is None  # not Python: left to the static check's syntax_error
    assert tasks.precheck(Proposal("abduction", "def f(:", ("1",)), single_function=True) is None


def test_checks_config():
    cfg = AbsoluteZeroArenaConfig()
    assert cfg.checks.equality == "strict" and cfg.checks.helpers
    with pytest.raises(ValueError):
        AbsoluteZeroArenaConfig(checks={"equality": "loose"})


# ----- 2 and 7: the reward scheme and the presets ------------------------------------------------
def test_code_is_the_default_reward_scheme_and_both_presets_use_it():
    assert AZRewardConfig().scheme == "code" and AbsoluteZeroArenaConfig().reward.scheme == "code"
    for preset in ("absolute_zero_tiny.yaml", "absolute_zero_qwen.yaml"):
        (az,) = load_config(CONFIGS / preset).arenas
        assert az.reward.scheme == "code", preset


def test_qwen_preset_follows_the_release():
    cfg = load_config(CONFIGS / "absolute_zero_qwen.yaml")
    (az,) = cfg.arenas
    # the release: 64 tasks per (task type, role) -> 384 sequences, ppo_mini_batch_size 128 -> 3 optimizer steps
    trained = az.episodes_per_step * len(az.task_types) * 2
    assert cfg.optim.minibatches == 3 and trained // cfg.optim.minibatches == 128 and cfg.optim.epochs == 1
    assert az.prompt.answer_format == "answer_tag" and az.prompt.style == "plain"
    assert az.seed.size == 256 and az.seed.max_rounds >= 1  # 64 x seed_batch_factor 4
    assert not az.checks.helpers and az.checks.equality == "strict"
    assert az.induction_inputs == 10  # the release's num_inputs
