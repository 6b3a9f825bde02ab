"""A tiny program grammar for Absolute Zero on small models: compositions of a few primitives over
small ints and short lists, a random generator of its programs, and a check that a program stays
inside it.

A program is `def f(a):` returning a chain of one to `max_depth` primitives applied to `a`:

    int -> int     a + k, a - k, a * k                          (k in 1..5)
    list -> list   sorted(a), a[::-1], a[1:], a[:-1], [x + k for x in a], [x * k for x in a]
    list -> int    len(a), sum(a), max(a), min(a), a[0]

e.g. `def f(a):\\n    return sum(sorted(a)[1:]) * 2`. Inputs are ints 0..9 or lists of 2-4 ints
0..9. Why: a model of a few million parameters cannot write general Python, so the only way to
see the Absolute Zero loop improve a model on a CPU is a space where proposals can be valid and
answers learnable; `in_grammar` keeps proposals inside it (the arena's `grammar: tiny`).

Programs are built and evaluated here as chains of `Op`, never by exec: the generator's outputs
are computed in-process from our own trees. Model-written programs are checked by `in_grammar`
(AST only) and still run only in the sandbox. `split` puts a stable share of the program space
in a held-out set (by program text), so held-out programs are never in a seed set drawn from
the training split.
"""

from __future__ import annotations

import ast
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from sparring.environments.absolute_zero.buffers import Entry
from sparring.environments.absolute_zero.checks import ValidationConfig, parse_model_text

CALLS = ("sorted", "len", "sum", "max", "min")
NAMES = frozenset({"a", "x", *CALLS})
KS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Op:
    name: str
    takes: str  # "int" | "list"
    gives: str
    render: Callable[[str], str]  # the expression applied to the text of its argument
    run: Callable
    needs_atom: bool = False  # a subscript or product: a sum argument needs parentheses


def _ops() -> list[Op]:
    ops = []
    for k in KS:
        ops += [Op(f"add{k}", "int", "int", lambda e, k=k: f"{e} + {k}", lambda v, k=k: v + k),
                Op(f"sub{k}", "int", "int", lambda e, k=k: f"{e} - {k}", lambda v, k=k: v - k),
                Op(f"mul{k}", "int", "int", lambda e, k=k: f"{e} * {k}", lambda v, k=k: v * k, True),
                Op(f"map_add{k}", "list", "list", lambda e, k=k: f"[x + {k} for x in {e}]",
                   lambda v, k=k: [x + k for x in v]),
                Op(f"map_mul{k}", "list", "list", lambda e, k=k: f"[x * {k} for x in {e}]",
                   lambda v, k=k: [x * k for x in v])]
    ops += [Op("sorted", "list", "list", lambda e: f"sorted({e})", sorted),
            Op("reverse", "list", "list", lambda e: f"{e}[::-1]", lambda v: v[::-1], True),
            Op("tail", "list", "list", lambda e: f"{e}[1:]", lambda v: v[1:], True),
            Op("init", "list", "list", lambda e: f"{e}[:-1]", lambda v: v[:-1], True),
            Op("first", "list", "int", lambda e: f"{e}[0]", lambda v: v[0], True)]
    ops += [Op(name, "list", "int", lambda e, name=name: f"{name}({e})", fn)
            for name, fn in (("len", len), ("sum", sum), ("max", max), ("min", min))]
    return ops


OPS = _ops()


@dataclass(frozen=True)
class Program:
    takes: str
    chain: tuple[Op, ...]

    @property
    def source(self) -> str:
        expr, is_sum = "a", False
        for op in self.chain:
            expr = op.render(f"({expr})" if is_sum and op.needs_atom else expr)
            is_sum = op.name.startswith(("add", "sub"))
        return f"def f(a):\n    return {expr}"

    def __call__(self, value):
        for op in self.chain:
            value = op.run(value)
        return value


def random_program(rng: random.Random, max_depth: int = 2) -> Program:
    """A well-typed chain of 1..max_depth primitives (the first takes an int or a list)."""
    takes = rng.choice(("int", "list"))
    chain, kind = [], takes
    for _ in range(rng.randint(1, max_depth)):
        op = rng.choice([o for o in OPS if o.takes == kind])
        chain.append(op)
        kind = op.gives
    return Program(takes, tuple(chain))


def random_input(rng: random.Random, takes: str):
    return rng.randrange(10) if takes == "int" else [rng.randrange(10) for _ in range(rng.randint(2, 4))]


def heldout(source: str, fraction: float) -> bool:
    digest = hashlib.sha256(source.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def triplets(rng: random.Random, count: int, split: str, fraction: float = 0.3, max_depth: int = 2,
             task: str = "deduction", exclude: set[str] = frozenset()) -> list[Entry]:
    """`count` distinct (program, input, output) entries of `task` from one split of the program
    space (programs in `exclude` left out); a draw whose program fails on its input is redrawn."""
    out, seen = [], set()
    for _ in range(200 * count):
        if len(out) == count:
            break
        program = random_program(rng, max_depth)
        source = program.source
        if heldout(source, fraction) != (split == "heldout") or source in exclude:
            continue
        value = random_input(rng, program.takes)
        try:
            result = program(value)
        except (IndexError, ValueError):  # e.g. max of an empty list: not a task
            continue
        key = (source, repr(value))
        if key in seen:
            continue
        seen.add(key)
        out.append(Entry(task, source, (repr(value),), (repr(result),)))
    if len(out) < count:
        raise ValueError(f"only {len(out)} distinct {split} triplets found of {count} asked")
    return out


# ----- the check of model-written programs ----------------------------------------------------
_ALLOWED_NODES = (ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Return, ast.BinOp, ast.Add, ast.Sub,
                  ast.Mult, ast.Name, ast.Load, ast.Store, ast.Constant, ast.Call, ast.Subscript, ast.Slice,
                  ast.ListComp, ast.comprehension, ast.UnaryOp, ast.USub)


def in_grammar(program: str) -> bool:
    """Whether `program` is `def f(a): return <expr>` using only the grammar's names, operators
    (+ - *), small int constants, slices, indexing and one-variable list comprehensions."""
    if len(program) > ValidationConfig.max_program_chars:  # before parsing: deep nesting exhausts the parser
        return False
    try:
        tree = parse_model_text(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return False
    fn = tree.body[0]
    if fn.name != "f" or fn.decorator_list or len(fn.body) != 1 or not isinstance(fn.body[0], ast.Return):
        return False
    args = fn.args
    if [a.arg for a in args.args] != ["a"] or args.vararg or args.kwarg or args.kwonlyargs or args.defaults:
        return False
    for node in ast.walk(fn.body[0]):
        if not isinstance(node, _ALLOWED_NODES):
            return False
        if isinstance(node, ast.Name) and node.id not in NAMES:
            return False
        if isinstance(node, ast.Constant) and not (isinstance(node.value, int) and not isinstance(node.value, bool)
                                                   and -100 <= node.value <= 100):
            return False
        if isinstance(node, ast.Call) and (not isinstance(node.func, ast.Name) or node.func.id not in CALLS
                                           or len(node.args) != 1 or node.keywords):
            return False
        if isinstance(node, ast.comprehension) and (node.ifs or node.is_async or not isinstance(node.target, ast.Name)
                                                    or node.target.id != "x"):
            return False
    return True
