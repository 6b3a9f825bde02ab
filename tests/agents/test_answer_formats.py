"""Answer formats: the answer is read from the final answer span, never from inside reasoning."""

from __future__ import annotations

import random
import re
import time

import pytest

from sparring.agents.answer_formats import (FORMATS, answer_instruction, answer_span, default_user_template,
                                            extract_answer, format_answer, last_boxed)
from sparring.agents.roles import Role

KUHN = ["check", "bet"]
_OLD_BRACKET = re.compile(r"\[([^\[\]\n]{1,200})\]")


def old_parse(text: str, legal):
    """The bracket parser as it was before answer formats (the reference for byte-identical parses)."""
    match = _OLD_BRACKET.search(text)
    candidate = (match.group(1) if match else text).strip()
    if legal is None:
        return candidate or None
    return {a.lower(): a for a in legal}.get(candidate.lower())


def role(fmt: str, **kw) -> Role:
    return Role("kuhn_poker/p0", answer_format=fmt, **kw)


# ----- the brief's cases -----------------------------------------------------------------------
def test_think_reads_the_final_box_not_the_bracket_in_the_reasoning():
    text = "<think>If I [bet] now, a king calls. Better to wait.</think>\nSo: \\boxed{check}"
    assert role("think").parse(text, KUHN) == "check"
    assert old_parse(text, KUHN) == "bet"  # what the first-bracket parser read: the thought


def test_boxed_reads_the_last_box():
    text = "Maybe \\boxed{bet}? No, on reflection \\boxed{check}."
    assert extract_answer("boxed", text) == "check"
    assert role("boxed").parse(text, KUHN) == "check"
    assert extract_answer("boxed", "\\boxed{x^{2} + \\frac{1}{2}}") == "x^{2} + \\frac{1}{2}"  # balanced braces
    assert extract_answer("boxed", "\\boxed{\\text{Bet}}") == "Bet"
    assert extract_answer("boxed", "no box [bet]") is None
    assert extract_answer("boxed", "\\boxed{bet") is None  # never closed


def test_answer_tag_reads_the_last_tag():
    assert extract_answer("answer_tag", "<answer>bet</answer> then <ANSWER> check </Answer>") == "check"
    assert extract_answer("answer_tag", "[bet]") is None


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_unclosed_reasoning_has_no_answer(fmt):
    cut_off = "<think>I could [bet] and \\boxed{bet} <answer>bet</answer> but"
    assert extract_answer(fmt, cut_off) is None
    assert role(fmt).parse(cut_off, KUHN) is None


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_closed_reasoning_is_removed_first(fmt):
    decoys = "<think>[bet] \\boxed{bet} <answer>bet</answer></think>\n"
    answer = format_answer(fmt, "check")
    assert role(fmt).parse(decoys + answer, KUHN) == "check"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_prompt_that_opened_reasoning(fmt):
    """The prompt ended in <think>: everything before the first </think> is reasoning, and a
    completion without one is unfinished reasoning."""
    in_thought = "[bet] \\boxed{bet} <answer>bet</answer>"
    assert extract_answer(fmt, in_thought, in_reasoning=True) is None
    assert extract_answer(fmt, in_thought + "\n</think>\n" + format_answer(fmt, "check"), in_reasoning=True) == "check"
    # without the flag a lone first </think> still closes reasoning (a template that opened it)
    assert extract_answer(fmt, in_thought + "</think>" + format_answer(fmt, "check")) == "check"


def test_think_needs_its_close():
    assert extract_answer("think", "\\boxed{check}") is None  # no </think> at all
    assert extract_answer("think", "<think>a</think> <think>b</think> [bet]") == "bet"
    assert extract_answer("think", "<think>a</think> [check] <think>again") is None
    # within the answer part: box, else answer tag, else first bracket, else the text
    assert extract_answer("think", "<think></think><answer>bet</answer> [check]") == "bet"
    assert extract_answer("think", "<think></think> [bet] [check]") == "bet"
    assert extract_answer("think", "<think></think>  bet ") == "bet"


def test_bracket_is_the_old_parser_on_text_without_reasoning():
    rng = random.Random(0)
    pieces = ["[", "]", "bet", "check", "Bet", " ", "\n", "x", "[bet]", "[ check ]", "\\boxed{bet}", "<answer>",
              "</answer>", "{", "}", ""]
    legal_sets = [KUHN, None, ["0", "1", "2"]]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        legal = rng.choice(legal_sets)
        assert Role("r").parse(text, legal) == old_parse(text, legal), text


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("in_reasoning", [False, True])
def test_format_answer_round_trips(fmt, in_reasoning):
    for action in ["check", "bet", "0", "split 3 2"]:
        written = format_answer(fmt, action, in_reasoning)
        assert extract_answer(fmt, written, in_reasoning) == action, written


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("in_reasoning", [False, True])
def test_a_restated_note_comes_first_and_is_not_read_as_the_answer(fmt, in_reasoning):
    for note in ["J", "3 5", "K"]:
        written = format_answer(fmt, "bet", in_reasoning, note)
        assert written.startswith(note if in_reasoning or fmt != "think" else f"<think>\n{note}\n</think>"), written
        assert extract_answer(fmt, written, in_reasoning) == "bet", written
    assert format_answer("bracket", "bet", note="J") == "J [bet]"
    for bad in ["[J]", "a{b", "<answer>", "x\\y", " "]:
        with pytest.raises(ValueError, match="restated note must be plain text"):
            format_answer(fmt, "bet", in_reasoning, bad)


def test_instructions_and_default_template():
    assert answer_instruction("bracket") == "Answer with one legal action in brackets."
    assert default_user_template("bracket") == "{observation}\nAnswer with one legal action in brackets."
    assert answer_instruction("boxed") == "Please reason step by step, and put your final answer within \\boxed{}."
    assert "<answer>" in answer_instruction("answer_tag") and "<think>" in answer_instruction("think")


def test_unknown_format_names_the_known_ones():
    for call in (lambda: extract_answer("xml", "x"), lambda: format_answer("xml", "x"),
                 lambda: answer_instruction("xml"), lambda: Role("r", answer_format="xml")):
        with pytest.raises(ValueError, match="known formats.*answer_tag.*boxed.*bracket.*think"):
            call()


# ----- untrusted text ----------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_parsing_never_raises(fmt):
    rng = random.Random(1)
    alphabet = ["<think>", "</think>", "<answer>", "</answer>", "\\boxed{", "{", "}", "[", "]", "bet", "\n", " ",
                "<", ">", "\\", "\x00", "é", "İ"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        for in_reasoning in (False, True):
            out = extract_answer(fmt, text, in_reasoning)
            assert out is None or isinstance(out, str)
    assert extract_answer(fmt, None) is None  # not even a string


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_adversarial_text_is_linear(fmt):
    bombs = ["</think>" + "<think>" * 40_000, "<answer>" * 40_000, "\\boxed{" * 40_000,
             "<think>" * 20_000 + "</think>" * 20_000, "[" * 100_000 + "]" * 100_000]
    t0 = time.perf_counter()
    for text in bombs:
        extract_answer(fmt, text)
        extract_answer(fmt, text, True)
    assert time.perf_counter() - t0 < 5.0


def test_answer_span_helpers():
    assert answer_span("a<think>b</think>c") == "ac"
    assert answer_span("<think>b") is None
    assert answer_span("x") == "x"
    assert last_boxed("\\boxed{a} \\boxed{\\boxed{b}}") == "b"
