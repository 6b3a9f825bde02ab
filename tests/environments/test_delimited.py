"""Delimited blocks found in linear time: the same blocks as the lazy regexes they replace, and
degenerate model text (tens of thousands of unclosed tags, blank lines, digits, spaces) is read
in well under a second where those regexes took tens of seconds to minutes."""

from __future__ import annotations

import random
import re
import time

import pytest

from sparring.environments import delimited
from sparring.environments.absolute_zero import prompts
from sparring.environments.challenges.tasks import parse_challenge
from sparring.environments.simple_negotiation import parse_action
from sparring.environments.verification.verdicts import parse_score, parse_verdict
from sparring.evals.code_reasoning import extract_answer


@pytest.mark.parametrize("seed", range(200))
def test_contents_and_without_match_the_lazy_regex(seed):
    rng = random.Random(seed)
    text = "".join(rng.choice(["<a>", "</a>", "<A>", "</A>", "x", "\n", "<a", "a>"]) for _ in range(rng.randint(0, 30)))
    opener, closer = delimited.tag_pair("a")
    assert delimited.contents(text, opener, closer) == re.findall(r"<a>(.*?)</a>", text, re.S | re.I)
    assert delimited.without(text, opener, closer) == re.sub(r"<a>.*?</a>", "", text, flags=re.S | re.I)
    sensitive = delimited.tag_pair("a", 0)
    assert delimited.contents(text, *sensitive) == re.findall(r"<a>(.*?)</a>", text, re.S)


def test_code_blocks_read_as_before():
    text = "intro\n```python\ndef f(a):\n    return a\n```\nthen ```py \ndef g(a):\n    return 1\n```\n```\n"
    assert prompts.last_code(text) == "def g(a):\n    return 1"
    assert prompts.last_code("```python\nopen but never closed") is None
    assert prompts.strip_thinking("a<think>x</think>b<think>y</think>c") == "abc"
    assert prompts.strip_thinking("a<think>never closed") is None
    assert prompts.tags("<output>1</output><OUTPUT> 2 </OUTPUT><output>3", "output") == ["1", "2"]


DEGENERATE = {
    "unclosed think": lambda: prompts.strip_thinking("<think>" * 40000),
    "unclosed tags": lambda: prompts.tags("<output>" * 40000, "output"),
    "unclosed fences": lambda: prompts.last_code("```\n" * 20000 + "```" + " " * 20000 + "x"),
    "challenge tags": lambda: parse_challenge("<answer>" * 40000, "free"),
    "challenge blank lines": lambda: parse_challenge("Question: q" + "\n" * 40000, "free"),
    "mcq option spaces": lambda: parse_challenge("Question: q\nA) " + " " * 40000 + "x\nAnswer: A", "mcq"),
    "verdict digits": lambda: parse_verdict("correct " + "1" * 10000 + "x"),
    "score spaces": lambda: parse_score("score" + " " * 20000 + "x"),
    "answer tags": lambda: extract_answer("<answer>" * 40000),
    "offer spaces": lambda: pytest.raises(ValueError, parse_action, "[offer" + " " * 20000 + "x]"),
}


@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_degenerate_model_text_is_read_without_a_hang(name):
    """Each took 2-54 s with the lazy regexes (a run's step stalled on it); a generous bound."""
    t0 = time.perf_counter()
    DEGENERATE[name]()
    assert time.perf_counter() - t0 < 2.0
