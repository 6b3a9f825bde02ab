"""Reading a verifier's verdict, a judge's score or preference, and a rubric and its grades.

Each parser takes the answer span the role's answer format already extracted (the bracket, the
boxed or tagged answer, outside any reasoning) and returns None for anything it cannot read
exactly; it never raises. Accepted forms:

- verdict:    "correct" | "incorrect" (also "yes"/"no", "true"/"false"), optionally followed by a
              confidence that the verdict is right: "correct, 0.8", "incorrect 75%", "correct (0.9)".
- score:      one integer 1..10 ("7", "7/10", "score: 7").
- preference: "A" or "B" ("answer A", "B is better" are not accepted: one letter).
- rubric:     2..max criteria, one per line, numbered ("1. ...", "2) ...") or bulleted ("- ...").
- grades:     one mark per criterion, "yes"/"no" (or "pass"/"fail", "1"/"0"), comma or space separated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_POSITIVE = {"correct": True, "yes": True, "true": True, "right": True,
             "incorrect": False, "no": False, "false": False, "wrong": False}
_VERDICT = re.compile(r"^\s*([a-z]+)\s*(?:[,;:]?\s*\(?\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(%?)\s*\)?)?\s*$",
                      re.IGNORECASE)
_SCORE = re.compile(r"^\s*(?:score\s*[:=]?\s*)?(\d{1,2})\s*(?:/\s*10)?\s*$", re.IGNORECASE)
_ITEM = re.compile(r"^\s*(?:\d{1,2}\s*[.)]|[-*\u2022])\s+(\S(?:.*\S)?)\s*$")  # not (\S.*?)\s*$: quadratic
MAX_VERDICT_CHARS = 200
"""A verdict or a score is a few words; longer text (a bracket format falls back to the whole
answer) is unreadable, and is never given to these patterns, whose optional runs of whitespace
backtrack on long text."""
_MARKS = {"yes": True, "pass": True, "1": True, "y": True, "no": False, "fail": False, "0": False, "n": False}


@dataclass(frozen=True)
class Verdict:
    """A verifier's judgement of one candidate answer."""

    correct: bool  # the verifier says the candidate is correct
    confidence: float | None = None  # its stated probability that this verdict is right, in [0, 1]

    @property
    def p_correct(self) -> float:
        """The stated probability that the candidate is correct (1 or 0 without a confidence)."""
        c = 1.0 if self.confidence is None else self.confidence
        return c if self.correct else 1.0 - c


def parse_verdict(answer: str | None) -> Verdict | None:
    """The verdict in `answer`, or None (unreadable, or a confidence outside [0, 1] / [0, 100]%)."""
    if answer is None or len(answer) > MAX_VERDICT_CHARS:
        return None
    m = _VERDICT.match(answer)
    if not m or m.group(1).lower() not in _POSITIVE:
        return None
    correct = _POSITIVE[m.group(1).lower()]
    if m.group(2) is None:
        return Verdict(correct)
    value = float(m.group(2))
    if m.group(3):
        value /= 100.0
    return Verdict(correct, value) if 0.0 <= value <= 1.0 else None


def parse_score(answer: str | None) -> int | None:
    """An integer score 1..10, or None."""
    m = _SCORE.match(answer) if answer is not None and len(answer) <= MAX_VERDICT_CHARS else None
    if not m:
        return None
    s = int(m.group(1))
    return s if 1 <= s <= 10 else None


def parse_preference(answer: str | None) -> str | None:
    """"A" or "B" (case-insensitive), or None."""
    if answer is None:
        return None
    letter = answer.strip().strip(".").upper()
    return letter if letter in ("A", "B") else None


def parse_rubric(text: str | None, max_items: int = 8) -> list[str] | None:
    """The criteria of a rubric (numbered or bulleted lines), or None when there are fewer than
    two, more than `max_items`, or two that are the same."""
    if text is None:
        return None
    items = [m.group(1) for line in text.splitlines() if (m := _ITEM.match(line))]
    if not 2 <= len(items) <= max_items:
        return None
    if len({i.lower() for i in items}) != len(items):
        return None
    return items


def parse_grades(answer: str | None, count: int) -> list[bool] | None:
    """Exactly `count` pass/fail marks, or None."""
    if answer is None:
        return None
    marks = [m for m in re.split(r"[\s,;]+", answer.strip().lower()) if m]
    if len(marks) != count or any(m not in _MARKS for m in marks):
        return None
    return [_MARKS[m] for m in marks]
