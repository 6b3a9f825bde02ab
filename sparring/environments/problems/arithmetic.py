"""Generated task families with correct and corrupted answers: small arithmetic (a + b, a - b,
a * b) and comparison (which of two numbers is larger).

Offline and deterministic, so a verifier can be trained and measured on any machine. The problem
space is every (a, op, b) with operands in [0, max_operand]; a stable hash of the problem puts
`heldout_fraction` of it in the held-out split, so items measured as held out were never seen
in training (the candidate answers differ too). Corruptions are the slips people make: off by
one or two, off by ten, the operands swapped in a subtraction, the wrong operation.
"""

from __future__ import annotations

import hashlib
import random

from sparring.environments.problems import Problem

OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, ">": max}
CORRUPTIONS = ("off_by_small", "off_by_ten", "swapped", "wrong_op")


def _heldout(a: int, op: str, b: int, fraction: float) -> bool:
    digest = hashlib.sha256(f"{a}{op}{b}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def question(a: int, op: str, b: int) -> str:
    return f"Which is larger, {a} or {b}?" if op == ">" else f"What is {a} {op} {b}?"


class Arithmetic:
    """Problems of one split; `sample(rng)` draws one with a reference candidate that is right
    with probability `correct_share` and otherwise a corruption of the gold answer. Op ">" is
    comparison: which of two distinct numbers is larger (the slip: the smaller one, or the larger
    misread by one or ten)."""

    def __init__(self, ops: str = "+-", max_operand: int = 20, split: str = "train", heldout_fraction: float = 0.2,
                 correct_share: float = 0.5) -> None:
        unknown = set(ops) - set(OPS)
        if not ops or unknown:
            raise ValueError(f"arithmetic ops must be a non-empty string of {sorted(OPS)}, got {ops!r}")
        if split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
        self.correct_share = correct_share
        want_heldout = split == "heldout"
        self.space = [(a, op, b) for op in ops for a in range(max_operand + 1) for b in range(max_operand + 1)
                      if _heldout(a, op, b, heldout_fraction) == want_heldout and not (op == ">" and a == b)]
        if not self.space:
            raise ValueError(f"the {split} split of arithmetic (ops {ops!r}, max_operand {max_operand}, "
                             f"heldout_fraction {heldout_fraction}) is empty")

    def __len__(self) -> int:
        return len(self.space)

    def sample(self, rng: random.Random) -> Problem:
        a, op, b = rng.choice(self.space)
        gold = OPS[op](a, b)
        if rng.random() < self.correct_share:
            candidate = gold
        else:
            candidate = corrupt(a, op, b, rng)
        return Problem(f"{a}{op}{b}", question(a, op, b), str(gold), (str(candidate),))


def corrupt(a: int, op: str, b: int, rng: random.Random) -> int:
    """A wrong answer to a op b, made by one of CORRUPTIONS (never equal to the right one)."""
    gold = OPS[op](a, b)
    if op == ">":
        return min(a, b) if rng.random() < 0.5 else gold + rng.choice((-10, -1, 1, 10))
    kinds = [k for k in CORRUPTIONS if not (k == "swapped" and (op != "-" or a == b))]
    while True:
        kind = rng.choice(kinds)
        if kind == "off_by_small":
            wrong = gold + rng.choice((-2, -1, 1, 2))
        elif kind == "off_by_ten":
            wrong = gold + rng.choice((-10, 10))
        elif kind == "swapped":
            wrong = b - a
        else:
            wrong = OPS[rng.choice([o for o in "+-*" if o != op])](a, b)
        if wrong != gold:
            return wrong


def all_corruptions(a: int, op: str, b: int) -> list[int]:
    """Every wrong answer `corrupt` can produce for a op b, sorted (an evaluation set's wrong items)."""
    gold = OPS[op](a, b)
    if op == ">":
        wrong = {min(a, b)} | {gold + d for d in (-10, -1, 1, 10)}
    else:
        wrong = {gold + d for d in (-2, -1, 1, 2, -10, 10)} | {OPS[o](a, b) for o in "+-*" if o != op}
        if op == "-" and a != b:
            wrong.add(b - a)
    return sorted(wrong - {gold})
