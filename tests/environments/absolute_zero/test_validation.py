"""Absolute Zero validation: static checks, input parsing, equality, and the sandboxed executor."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from sparring.environments.absolute_zero import (REJECTIONS, CallResult, Executor,
                                                 RejectionCounter, ValidationConfig,
                                                 count_reasons, parse_input, static_check,
                                                 values_equal)
from sparring.sandbox import Sandbox

CFG = ValidationConfig(timeout_s=1.0)
#: Allows the modules a nondeterministic program needs, to test the dynamic check alone.
PERMISSIVE = ValidationConfig(timeout_s=1.0, forbidden_modules=(),
                              forbidden_calls=("open", "exec", "eval"))


def body(src: str) -> str:
    return src.strip("\n") + "\n"


# ----------------------------------------------------------------------------- static check

FORBIDDEN = [
    ("import os.path as p\ndef f(a):\n    return a", "forbidden_import"),
    ("from os import system\ndef f(a):\n    return a", "forbidden_import"),
    ("import math, os\ndef f(a):\n    return a", "forbidden_import"),
    ("import sys\ndef f(a):\n    return a", "forbidden_import"),
    ("import linecache\ndef f(a):\n    return a", "forbidden_import"),  # holds the harness source, nonce and all
    ("def f(a):\n    import subprocess\n    return a", "forbidden_import"),
    ("import importlib\ndef f(a):\n    return importlib.import_module('os')", "forbidden_import"),
    ("from importlib import import_module\ndef f(a):\n    return a", "forbidden_import"),
    ("import random\ndef f(a):\n    return random.random()", "forbidden_import"),
    ("from datetime import datetime\ndef f(a):\n    return a", "forbidden_import"),
    ("import concurrent.futures\ndef f(a):\n    return a", "forbidden_import"),
    ("from . import helper\ndef f(a):\n    return a", "forbidden_import"),
    ("from ..pkg import helper\ndef f(a):\n    return a", "forbidden_import"),
    ("def f(a):\n    return __import__('os').getcwd()", "forbidden_call"),
    ("def f(a):\n    return getattr(__builtins__, 'open')", "forbidden_call"),
    ("def f(a):\n    return __builtins__", "forbidden_call"),
    ("def f(a):\n    return ().__class__.__bases__[0].__subclasses__()", "forbidden_call"),
    ("def f(a):\n    return a.__dict__", "forbidden_call"),
    ("def f(a):\n    return eval('1 + a')", "forbidden_call"),
    ("def f(a):\n    g = eval\n    return g('1')", "forbidden_call"),
    ("def f(a):\n    exec('x = 1')\n    return a", "forbidden_call"),
    ("def f(a):\n    return open('/etc/passwd').read()", "forbidden_call"),
    ("def f(a):\n    return compile('1', 's', 'eval')", "forbidden_call"),
    ("def f(a):\n    return globals()", "forbidden_call"),
    ("def f(a):\n    return vars()", "forbidden_call"),
    ("def f(a):\n    setattr(a, 'x', 1)\n    return a", "forbidden_call"),
    ("def f(a):\n    g = (x for x in [1])\n    return g.gi_frame.f_back.f_globals",
     "forbidden_call"),
    ("def f(a):\n    return '{0.__class__}'.format(a)", "forbidden_call"),
    ("def f(a):\n    exit(0)", "forbidden_call"),
    ("import operator\ndef f(a):\n    return operator.attrgetter('__class__')(a)",
     "forbidden_call"),
    ("from operator import attrgetter as g\ndef f(a):\n    return g('x')(a)", "forbidden_call"),
    ("def f(a):\n    return input()", "forbidden_call"),
]


@pytest.mark.parametrize("program,reason", FORBIDDEN)
def test_every_forbidden_form_is_rejected_with_its_reason(program: str, reason: str) -> None:
    r = static_check(program, CFG)
    assert r is not None and (r.ok, r.reason) == (False, reason), (program, r)
    assert r.detail and r.output_repr is None


ACCEPTED = [
    "def f(a):\n    return a * 2",
    "from __future__ import annotations\nimport math\nfrom collections import Counter\n"
    "def helper(x):\n    return math.sqrt(x)\n\ndef f(a):\n    return helper(a), Counter('ab')",
    "LIMIT = 3\nclass Box:\n    def __init__(self, v):\n        self.v = v\n\n"
    "def f(a):\n    f_local = Box(a)\n    return f_local.v + LIMIT",
    "def g(x):\n    f = x + 1\n    return f\n\ndef f(a):\n    return [f for f in range(a)]",
    "def f(a):\n    return type(a).__name__, id(a) > 0, hash(1), re_split(a)\n"
    "def re_split(a):\n    import re\n    return re.compile('x').split(str(a))",
    "if __name__ == '__main__':\n    pass\ndef f(a):\n    return a",
]


@pytest.mark.parametrize("program", ACCEPTED)
def test_valid_programs_pass_the_static_check(program: str) -> None:
    assert static_check(program, CFG) is None


ENTRY = [
    "def g(a):\n    return a",  # no f
    "f = lambda a: a",
    "async def f(a):\n    return a",
    "def f(a):\n    return a\ndef f(a):\n    return a + 1",
    "def f(a):\n    return a\nf = 3",
    "def f(a):\n    return a\nimport math as f",
    "def f(a):\n    return a\nfor f in range(3):\n    pass",
    "def f(a):\n    return a\nclass f:\n    pass",
    "def f(a):\n    return a\ndef g():\n    global f\n    f = 1",
    "def f(a):\n    return a\nif True:\n    (f := 2)",
    "class C:\n    def f(self, a):\n        return a",  # not at top level
]


@pytest.mark.parametrize("program", ENTRY)
def test_exactly_one_top_level_entry_function(program: str) -> None:
    r = static_check(program, CFG)
    assert r is not None and r.reason == "no_entry_function", (program, r)


def test_entry_name_is_configurable() -> None:
    cfg = ValidationConfig(entry="solve")
    assert static_check("def solve(x):\n    return x", cfg) is None
    assert static_check("def f(x):\n    return x", cfg).reason == "no_entry_function"


def test_size_and_syntax_rejections() -> None:
    long = "def f(a):\n    return a\n" + "# pad\n" * 1000
    assert static_check(long, CFG).reason == "program_too_large"
    assert static_check("def f(a)\n    return a", CFG).reason == "syntax_error"
    assert static_check("def f(a):\n    return a\x00", CFG).reason == "syntax_error"
    assert static_check("x = " + "(" * 300 + ")" * 300 + "\ndef f(a): return a",
                        CFG).reason == "syntax_error"
    assert static_check(None, CFG).reason == "syntax_error"  # type: ignore[arg-type]


def test_allowed_modules_turns_the_check_into_an_allow_list() -> None:
    cfg = ValidationConfig(allowed_modules=("math", "collections"))
    assert static_check("import math\nfrom collections import deque\ndef f(a):\n    return a",
                        cfg) is None
    assert static_check("import itertools\ndef f(a):\n    return a",
                        cfg).reason == "forbidden_import"


def test_config_rejects_bad_values_by_name() -> None:
    with pytest.raises(ValueError, match="entry"):
        ValidationConfig(entry="not an identifier")
    with pytest.raises(ValueError, match="determinism_runs"):
        ValidationConfig(determinism_runs=0)
    with pytest.raises(ValueError, match="forbidden_modules"):
        ValidationConfig(forbidden_modules=["os"])  # type: ignore[arg-type]


def test_call_result_invariants() -> None:
    with pytest.raises(ValueError):
        CallResult(ok=False, reason="not_a_reason", output_repr=None)
    with pytest.raises(ValueError):
        CallResult(ok=True, reason=None, output_repr=None)
    assert CallResult(ok=True, reason=None, output_repr="[1, (2,)]").value == [1, (2,)]


# ----------------------------------------------------------------------------- inputs, equality

@pytest.mark.parametrize("text,args", [
    ("1, [2, 3]", (1, [2, 3])),
    ("(1, 2)", ((1, 2),)),
    ("", ()),
    ("'a', {'k': (1.5, None)}, {3, 1}", ("a", {"k": (1.5, None)}, {1, 3})),
    ("set(), b'x', -2, 1j", (set(), b"x", -2, 1j)),
    ("[\n  1,\n  2\n]  # a comment", ([1, 2],)),
])
def test_parse_input_reads_literal_arguments(text: str, args: tuple) -> None:
    assert parse_input(text, CFG) == args


@pytest.mark.parametrize("text", [
    "x", "1) , (2", "1), print(2", "a=1", "*[1, 2]", "1e999", "__import__('os')",
    "[1, 2", "f(1)", "1 + 2", "x" * 2000, None,
])
def test_parse_input_rejects_everything_else(text: object) -> None:
    assert parse_input(text, CFG) is None  # type: ignore[arg-type]


def test_values_equal_is_by_value_with_strict_types() -> None:
    assert values_equal("{1, 2, 3}", "{3, 2, 1}")
    assert values_equal("{'b': [1, {2}], 'a': None}", "{'a': None, 'b': [1, {2}]}")
    assert values_equal("0.0", "-0.0")
    assert not values_equal("1", "1.0")
    assert not values_equal("1", "True")
    assert not values_equal("[1]", "(1,)")
    assert not values_equal("{1: 'a'}", "{1.0: 'a'}")
    assert not values_equal("[1, 2]", "[2, 1]")
    assert not values_equal("f", "f")  # not literals
    assert not values_equal("1", "[" * 10_000)


# ----------------------------------------------------------------------------- executor

@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[Sandbox]:
    sb = Sandbox("local", workers=2)
    yield sb
    sb.close()


@pytest.fixture(scope="module")
def executor(shared_sandbox: Sandbox) -> Executor:
    return Executor(sandbox=shared_sandbox, cfg=CFG)


@pytest.fixture(scope="module")
def permissive(shared_sandbox: Sandbox) -> Executor:
    return Executor(sandbox=shared_sandbox, cfg=PERMISSIVE)


def validate(ex: Executor, program: str, input_text: str) -> CallResult:
    return asyncio.run(ex.validate(body(program), input_text))


@pytest.mark.parametrize("program,input_text,output", [
    ("def f(a):\n    return a * 2", "21", 42),
    ("def f(a, b):\n    return sorted(set(a) | set(b))", "[3, 1], (2, 3)", [1, 2, 3]),
    ("def f(s):\n    return {c: s.count(c) for c in s}", "'abca'", {"a": 2, "b": 1, "c": 1}),
    ("def f(n):\n    return {str(i) for i in range(n)}", "30", {str(i) for i in range(30)}),
    ("def f(x):\n    return (x / 3, None, True, b'z', 1j)", "1", (1 / 3, None, True, b"z", 1j)),
    ("import math\nfrom functools import lru_cache\n@lru_cache(None)\ndef fib(n):\n"
     "    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
     "def f(n):\n    print('noise')\n    return [fib(n), math.gcd(12, 18)]", "50",
     [12586269025, 6]),
])
def test_valid_programs_are_accepted_with_their_output(executor: Executor, program: str,
                                                       input_text: str, output: object) -> None:
    r = validate(executor, program, input_text)
    assert (r.ok, r.reason) == (True, None), r
    assert values_equal(r.output_repr, repr(output)) and r.value == output


@pytest.mark.parametrize("program,input_text,reason", [
    ("def f():\n    while True:\n        pass", "", "timeout"),
    ("def f():\n    try:\n        while True:\n            pass\n    except BaseException:\n"
     "        while True:\n            pass", "", "timeout"),
    ("def f():\n    x = bytearray(2 * 1024 ** 3)\n    return len(x)", "", "memory_limit"),
    ("def f():\n    xs = []\n    while True:\n        xs.append('x' * 10 ** 6)", "",
     "memory_limit"),
    ("def f(a):\n    return a / 0", "1", "runtime_error"),
    ("def f(a):\n    return a", "1, 2", "runtime_error"),  # wrong arity
    ("def f(a):\n    raise SystemExit(3)", "1", "runtime_error"),
    ("def f(a):\n    return lambda: a", "1", "unrepresentable_output"),
    ("class P:\n    pass\ndef f(a):\n    return P()", "1", "unrepresentable_output"),
    ("def f(a):\n    return (x for x in range(a))", "3", "unrepresentable_output"),
    ("def f(a):\n    return float('nan')", "1", "unrepresentable_output"),
    ("def f(a):\n    return [float('inf')]", "1", "unrepresentable_output"),
    ("def f(a):\n    return frozenset([a])", "1", "unrepresentable_output"),
    ("class I(int):\n    pass\ndef f(a):\n    return I(a)", "1", "unrepresentable_output"),
    ("def f(a):\n    xs = [a]\n    xs.append(xs)\n    return xs", "1", "unrepresentable_output"),
    ("def f(a):\n    return 10 ** 5000", "1", "unrepresentable_output"),
    ("def f(a):\n    return 'x' * a", "1001", "output_too_large"),
    ("def f(a):\n    return list(range(a))", "1000", "output_too_large"),
    ("def f(a):\n    print('x' * 3_000_000)\n    return a", "1", "output_too_large"),
    ("def f(a):\n    return a", "undefined_name", "bad_input"),
    ("def f(a):\n    return a +", "1", "syntax_error"),
    ("import os\ndef f(a):\n    return a", "1", "forbidden_import"),
])
def test_rejections_name_their_reason(executor: Executor, program: str, input_text: str,
                                      reason: str) -> None:
    r = validate(executor, program, input_text)
    assert (r.ok, r.reason, r.output_repr) == (False, reason, None), r
    assert r.detail


@pytest.mark.parametrize("program", [
    "import random\ndef f(a):\n    return random.random()",
    "import time\ndef f(a):\n    return time.time()",
    "def f(a):\n    return id(object())",
    "def f(a):\n    return hash('some text')",
    "def f(a):\n    return list({str(i) for i in range(a)})",
    "def f(a):\n    return ''.join({chr(97 + i): 0 for i in range(a)}.keys() & set('abcdefghij'))",
    # raises in every run (the messages differ): a runtime error, not nondeterminism
    "import random\ndef f(a):\n    if random.random() < 2:\n"
    "        raise ValueError(random.random())\n    return 1",
])
def test_nondeterminism_across_processes_is_detected(permissive: Executor,
                                                     program: str) -> None:
    r = validate(permissive, program, "20")
    expected = "runtime_error" if "raise" in program else "nondeterministic"
    assert (r.ok, r.reason) == (False, expected), r


def test_nondeterministic_failures_are_nondeterministic(permissive: Executor) -> None:
    program = ("import os\ndef f(a):\n    if os.environ.get('PYTHONHASHSEED'):\n"
               "        raise ValueError('fresh interpreter')\n    return a")
    assert validate(permissive, program, "1").reason == "nondeterministic"


def test_run_executes_once_without_the_determinism_check(permissive: Executor) -> None:
    r = asyncio.run(permissive.run(body("def f(a):\n    return list({str(i) for i in "
                                        "range(a)})"), "20"))
    assert r.ok and len(r.value) == 20
    assert asyncio.run(permissive.run("def f(a)", "1")).reason == "syntax_error"


def test_validate_many_preserves_order_and_counts(executor: Executor) -> None:
    items = [(f"def f(a):\n    return a + {i}\n", f"{i}") for i in range(12)]
    items[3] = ("def f(a):\n    return a / 0\n", "1")
    items[7] = ("def f(a):\n    return a\n", "nope")
    items[9] = ("import sys\ndef f(a):\n    return a\n", "1")
    results = asyncio.run(executor.validate_many(items))
    for i, r in enumerate(results):
        if i == 3:
            assert r.reason == "runtime_error"
        elif i == 7:
            assert r.reason == "bad_input"
        elif i == 9:
            assert r.reason == "forbidden_import"
        else:
            assert r.ok and r.value == 2 * i
    counts = count_reasons(results)
    assert set(counts) == {"ok", *REJECTIONS}
    assert (counts["ok"], counts["runtime_error"], counts["bad_input"],
            counts["forbidden_import"], sum(counts.values())) == (9, 1, 1, 1, 12)
    counter = RejectionCounter()
    counter.update(results)
    counter.add(results[0])
    assert counter.total == 13
    assert counter.metrics("az")["az/ok"] == 10.0


def test_one_determinism_run_is_a_single_execution(shared_sandbox: Sandbox) -> None:
    ex = Executor(sandbox=shared_sandbox, cfg=ValidationConfig(determinism_runs=1))
    r = asyncio.run(ex.validate("def f(a):\n    return id(a)\n", "1"))
    assert r.ok


def test_shared_sandbox_stays_open_and_a_closed_one_is_a_sandbox_error() -> None:
    sb = Sandbox("local", workers=1)
    with Executor(sandbox=sb, cfg=CFG) as ex:
        assert asyncio.run(ex.validate("def f(a):\n    return a\n", "5")).value == 5
    assert sb.run("print(1)").stdout == "1\n"  # not closed by the executor
    sb.close()
    r = asyncio.run(ex.validate("def f(a):\n    return a\n", "5"))
    assert (r.ok, r.reason) == (False, "sandbox_error")


def test_executor_owns_its_sandbox_when_none_is_given() -> None:
    async def go() -> CallResult:
        async with Executor(cfg=CFG, workers=1) as ex:
            return await ex.validate("def f(a):\n    return [a] * 2\n", "'x'")

    assert asyncio.run(go()).value == ["x", "x"]
    with pytest.raises(ValueError, match="either sandbox or workers"):
        Executor(sandbox=object(), workers=1)  # type: ignore[arg-type]
