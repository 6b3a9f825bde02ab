"""Answer formats: where in a completion a role's answer is, and how an answer is written.

A model that reasons before it answers writes its thoughts first; a parser that took the first
bracket would read a move it only considered. Every format therefore reads the answer from the
final answer span, never from inside reasoning:

- closed ``<think>...</think>`` blocks are removed first;
- text before a ``</think>`` that no ``<think>`` opened is reasoning too (a prompt that ends in
  ``<think>`` makes the completion start inside the reasoning: `in_reasoning=True` says so, and
  then a completion without any ``</think>`` is unfinished reasoning and has no answer);
- a ``<think>`` that never closes (reasoning cut off) means no answer (None).

Formats (`FORMATS`):

- bracket:    the first ``[...]`` span, else the bare stripped text (the original format).
- think:      reasoning in ``<think>...</think>``, then the answer: the text after the last
              ``</think>``; within it the last ``\\boxed{...}``, else the last
              ``<answer>...</answer>``, else the first ``[...]``, else the stripped text.
              No ``</think>`` at all: None.
- boxed:      the last ``\\boxed{...}`` (balanced braces); None without one.
- answer_tag: the last ``<answer>...</answer>``; None without one.

Parsing never raises, whatever the text (model output is untrusted). Matching the answer
against legal actions is the role's job (roles.py), not this module's.
"""

from __future__ import annotations

import re
from typing import Callable, Literal, get_args

from sparring.environments import delimited

AnswerFormat = Literal["bracket", "think", "boxed", "answer_tag"]

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
_THINK = delimited.tag_pair("think", 0)
_BRACKET = re.compile(r"\[([^\[\]\n]{1,200})\]")
_ANSWER_TAGS = re.compile(r"<(/?)answer>", re.IGNORECASE)
_BOXED = "\\boxed{"
_BRACES = re.compile(r"\\boxed\{|[{}]")
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|textrm|mathrm|texttt)\{([^{}]*)\}")


def _known(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown answer format {fmt!r}; known formats: {sorted(FORMATS)}")
    return fmt


# ----- the answer span ------------------------------------------------------------------------
def answer_span(text: str, in_reasoning: bool = False) -> str | None:
    """The text outside reasoning (see the module docstring); None while reasoning is unfinished."""
    if in_reasoning:
        _, closed, text = text.partition(THINK_CLOSE)
        if not closed:
            return None
    text = delimited.without(text, *_THINK)  # each block open to its first close, in linear time
    if THINK_CLOSE in text:  # a close nobody opened: everything before it was reasoning
        text = text.rsplit(THINK_CLOSE, 1)[1]
    return None if THINK_OPEN in text else text


# ----- the formats, each on an answer span ------------------------------------------------------
def _bracket(span: str) -> str:
    match = _BRACKET.search(span)
    return (match.group(1) if match else span).strip()


def last_boxed(span: str) -> str | None:
    """The content of the last ``\\boxed{...}`` whose braces balance; None if there is none."""
    if _BOXED not in span:
        return None
    opened: list[int | None] = []  # per open brace: where its box's content starts (None: a plain brace)
    last: tuple[int, int] | None = None  # (content start, end) of the box that starts last
    for token in _BRACES.finditer(span):  # one pass: linear however the braces nest or fail to
        if token.group(0) == "}":
            if opened:
                start = opened.pop()
                if start is not None and (last is None or start > last[0]):
                    last = (start, token.start())
        else:
            opened.append(token.end() if token.group(0) == _BOXED else None)
    if last is None:
        return None
    inner = span[last[0]:last[1]].strip()
    unwrapped = _TEXT_WRAP.fullmatch(inner)  # \boxed{\text{bet}} -> bet
    return unwrapped.group(1).strip() if unwrapped else inner


def last_answer_tag(span: str) -> str | None:
    """The content of the last ``<answer>...</answer>``; None if there is none."""
    last, start = None, None
    for tag in _ANSWER_TAGS.finditer(span):  # each open pairs with the first close after it
        if tag.group(1) != "/":
            start = tag.end() if start is None else start
        elif start is not None:
            last, start = span[start:tag.start()], None
    return last.strip() if last is not None else None


def _think(text: str, in_reasoning: bool) -> str | None:
    if THINK_CLOSE not in text:
        return None
    span = text.rsplit(THINK_CLOSE, 1)[1]
    if THINK_OPEN in span:  # thinking started again and never finished
        return None
    for read in (last_boxed, last_answer_tag):
        found = read(span)
        if found is not None:
            return found
    return _bracket(span)


def _spanned(read: Callable[[str], str | None]) -> Callable[[str, bool], str | None]:
    def extract(text: str, in_reasoning: bool) -> str | None:
        span = answer_span(text, in_reasoning)
        return None if span is None else read(span)

    return extract


FORMATS: dict[str, Callable[[str, bool], str | None]] = {
    "bracket": _spanned(_bracket),
    "think": _think,
    "boxed": _spanned(last_boxed),
    "answer_tag": _spanned(last_answer_tag),
}
assert set(FORMATS) == set(get_args(AnswerFormat))

INSTRUCTIONS = {
    "bracket": "Answer with one legal action in brackets.",
    "think": "Think step by step inside <think> </think>, then put your final answer within \\boxed{}.",
    "boxed": "Please reason step by step, and put your final answer within \\boxed{}.",
    "answer_tag": "Think step by step inside <think> </think>, then put your final answer within <answer> </answer>.",
}


# ----- the public functions -------------------------------------------------------------------
def extract_answer(fmt: str, text: str, in_reasoning: bool = False) -> str | None:
    """The raw answer `fmt` reads from a completion, or None; `in_reasoning`: the prompt ended in
    ``<think>``, so the completion starts inside the reasoning. Never raises on any text."""
    read = FORMATS[_known(fmt)]
    if not isinstance(text, str):
        return None
    return read(text, in_reasoning)


def format_answer(fmt: str, action: str, in_reasoning: bool = False, note: str | None = None) -> str:
    """How a canonical action is written in `fmt` (the warm start's SFT target); with
    `in_reasoning` the completion first closes the reasoning the prompt opened. `note` (a role
    that restates, `prompt.restate`) comes first: inside the reasoning where there is some
    ("<think>\nJ\n</think>..."), else before the answer ("J [bet]")."""
    _known(fmt)
    body = {"bracket": f"[{action}]", "think": f"\\boxed{{{action}}}", "boxed": f"\\boxed{{{action}}}",
            "answer_tag": f"<answer>{action}</answer>"}[fmt]
    if note is not None and (not note.strip() or any(c in note for c in "[]{}<>\\")):
        raise ValueError(f"a restated note must be plain text (no brackets, braces, tags or backslashes), got {note!r}")
    thought = f"{note}\n" if note else "\n"
    if in_reasoning:
        return f"{thought}{THINK_CLOSE}\n\n{body}"
    if fmt == "think":
        return f"{THINK_OPEN}\n{thought}{THINK_CLOSE}\n\n{body}"
    return f"{note} {body}" if note else body


def answer_instruction(fmt: str) -> str:
    """The default instruction appended to the user prompt (after the observation)."""
    return INSTRUCTIONS[_known(fmt)]


def default_user_template(fmt: str) -> str:
    """`{observation}`, a newline, then the format's instruction: for bracket, the original prompt."""
    return "{observation}\n" + answer_instruction(fmt)
