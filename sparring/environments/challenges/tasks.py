"""A challenger's task: a question and its gold answer, read from the challenger's completion.

The challenger writes (after any reasoning; inside <answer>...</answer> if it uses the tag):

    Question: <the question>            Question: <the question>
    Answer: <a short answer>            A) <option>
                                        B) <option>
                                        C) <option>
                                        D) <option>
                                        Answer: <letter>

free form (left): the answer is a number, an expression or a few words; multiple choice
(right): four distinct options and one letter. A task that fails a check is invalid and says why
(`INVALID_REASONS`), so the arena can count the reasons and pay the invalid penalty; parsing
never raises on any text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sparring.environments import delimited
from sparring.environments.problems.checking import mcq_letter, normalize

TaskFormat = Literal["mcq", "free"]
LETTERS = "ABCD"
INVALID_REASONS = ("truncated", "no_answer_span", "unparseable", "empty_question", "too_long", "options",
                   "duplicate_options", "bad_answer", "answer_in_question")
# ^[ \t]*, not ^\s*: \s* would run over every following newline from each line start (quadratic on
# a completion of blank lines); the labels read are the same.
_QUESTION = re.compile(r"^[ \t]*\**question\**\s*[:：]\s*", re.IGNORECASE | re.MULTILINE)
_ANSWER = re.compile(r"^[ \t]*\**(?:gold\s+)?answer\**\s*[:：]\s*(.*)$", re.IGNORECASE | re.MULTILINE)
_OPTION = re.compile(r"^\s*\(?([A-Za-z])[).:]\s+(.*\S)\s*$")  # (.*\S), not (.+?): linear on long lines
_ANSWER_TAG = delimited.tag_pair("answer")
_BOXED = re.compile(r"^\\boxed\{(.*)\}$")


@dataclass(frozen=True)
class Challenge:
    """A valid task: what the reasoner is asked, and the gold answer it is checked against."""

    format: TaskFormat
    question: str  # the stem
    answer: str  # mcq: the letter; free: the short answer
    options: tuple[str, ...] = ()  # mcq: the four option texts, A..D

    def prompt(self) -> str:
        """The question as the reasoner sees it (multiple choice: with its lettered options)."""
        if self.format == "free":
            return self.question
        lines = [f"{letter}) {text}" for letter, text in zip(LETTERS, self.options)]
        return "\n".join([self.question, *lines])


def format_instructions(fmt: TaskFormat) -> str:
    """How the challenger is asked to write a task of format `fmt`."""
    if fmt == "mcq":
        return ("Write one multiple-choice question about the document, with four options and one correct letter, "
                "in this form:\nQuestion: <question>\nA) <option>\nB) <option>\nC) <option>\nD) <option>\n"
                "Answer: <letter>")
    return ("Write one question about the document whose answer is a number, an expression or a few words, "
            "in this form:\nQuestion: <question>\nAnswer: <answer>")


def write_challenge(challenge: Challenge) -> str:
    """The text a challenger writes for `challenge` (the inverse of `parse_challenge`)."""
    if challenge.format == "free":
        return f"Question: {challenge.question}\nAnswer: {challenge.answer}"
    return f"Question: {challenge.prompt()}\nAnswer: {challenge.answer}"


def parse_challenge(span: str | None, fmt: TaskFormat, max_question_chars: int = 600,
                    max_answer_chars: int = 40, need_answer: bool = True) -> Challenge | str:
    """The task written in `span` (the completion outside reasoning; None: reasoning never
    finished), or the reason it is invalid (one of INVALID_REASONS). Without `need_answer`
    (majority-vote labels, R-Zero) the Answer line may be left out; the answer is then ""."""
    if span is None:
        return "no_answer_span"
    tagged = delimited.contents(span, *_ANSWER_TAG)
    text = tagged[-1] if tagged else span
    q, a = _QUESTION.search(text), None
    if q is not None:
        a = _ANSWER.search(text, q.end())
    if q is None or (a is None and need_answer):
        return "unparseable"
    end = a.start() if a is not None else len(text)
    body_lines = [line for line in text[q.end():end].splitlines() if line.strip()]
    answer = _unbox(a.group(1).strip().rstrip(".")) if a is not None else ""
    if fmt == "mcq":
        return _multiple_choice(body_lines, answer, max_question_chars, need_answer)
    question = " ".join(line.strip() for line in body_lines)
    return _free_form(question, answer, max_question_chars, max_answer_chars, need_answer)


def _unbox(answer: str) -> str:
    m = _BOXED.match(answer)
    return m.group(1).strip() if m else answer


def _checked_question(question: str, max_chars: int) -> str | None:
    if not question.strip():
        return "empty_question"
    if len(question) > max_chars:
        return "too_long"
    return None


def _free_form(question: str, answer: str, max_question_chars: int, max_answer_chars: int,
               need_answer: bool) -> Challenge | str:
    bad = _checked_question(question, max_question_chars)
    if bad:
        return bad
    if not answer and not need_answer:
        return Challenge("free", question, "")
    if not normalize(answer) or len(answer) > max_answer_chars:
        return "bad_answer"
    if _contains(question, answer):
        return "answer_in_question"
    return Challenge("free", question, answer)


def _multiple_choice(lines: list[str], answer: str, max_question_chars: int, need_answer: bool) -> Challenge | str:
    stem, options = [], {}
    for line in lines:
        m = _OPTION.match(line)
        if m and m.group(1).upper() in LETTERS and (options or stem):
            options[m.group(1).upper()] = m.group(2).strip()
        elif options:  # text after the options: not the form asked for
            return "options"
        else:
            stem.append(line.strip())
    question = " ".join(stem)
    bad = _checked_question(question, max_question_chars)
    if bad:
        return bad
    if sorted(options) != list(LETTERS):
        return "options"
    texts = tuple(options[letter] for letter in LETTERS)
    if len({normalize(t) for t in texts}) < len(texts) or not all(normalize(t) for t in texts):
        return "duplicate_options"
    if not answer and not need_answer:
        return Challenge("mcq", question, "", texts)
    letter = mcq_letter(answer)
    if letter is None or letter not in LETTERS or len(answer.strip("() .")) > 1:
        return "bad_answer"
    if _contains(question, texts[LETTERS.index(letter)]):
        return "answer_in_question"
    return Challenge("mcq", question, letter, texts)


def _contains(question: str, answer: str) -> bool:
    """The answer copied into the question: its normalised text as whole words of the question."""
    needle = normalize(answer)
    return bool(needle) and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", normalize(question)) is not None
