"""Challenger tasks, their rewards and the diversity measures, against values worked by hand."""

from __future__ import annotations

import math

import pytest

from sparring.environments.challenges import Challenge, parse_challenge
from sparring.environments.challenges.diversity import (bleu, clusters, distinct_n, repetition_penalties, self_bleu,
                                                        similarity, tokens)
from sparring.environments.challenges.rewards import (answer_key, challenger_reward, in_band, learnability_reward,
                                                      majority_vote, spice_reward, uncertainty_reward)
from sparring.environments.challenges.tasks import write_challenge

MCQ = "Question: Which module reads JavaScript object notation?\nA) json\nB) csv\nC) os\nD) re\nAnswer: A"


# ----- parsing and validation ---------------------------------------------------------------------
def test_free_and_mcq_tasks_parse():
    free = parse_challenge("Question: How many arguments does f take?\nAnswer: 3", "free")
    assert free == Challenge("free", "How many arguments does f take?", "3")
    mcq = parse_challenge(MCQ, "mcq")
    assert mcq == Challenge("mcq", "Which module reads JavaScript object notation?", "A", ("json", "csv", "os", "re"))
    assert mcq.prompt() == "Which module reads JavaScript object notation?\nA) json\nB) csv\nC) os\nD) re"
    assert parse_challenge(write_challenge(mcq), "mcq") == mcq
    assert parse_challenge(write_challenge(free), "free") == free


def test_answer_tag_boxed_and_multiline_question():
    text = "notes\n<answer>Question: What is\nhalf of one?\nAnswer: \\boxed{1/2}.</answer>"
    assert parse_challenge(text, "free") == Challenge("free", "What is half of one?", "1/2")


@pytest.mark.parametrize("text, fmt, reason", [
    ("just some words", "free", "unparseable"),
    ("Question: what?", "free", "unparseable"),  # no Answer line
    ("Question:\nAnswer: 3", "free", "empty_question"),
    ("Question: " + "x" * 700 + "\nAnswer: 3", "free", "too_long"),
    ("Question: Which?\nAnswer: " + "y" * 50, "free", "bad_answer"),
    ("Question: Which?\nAnswer:  .", "free", "bad_answer"),
    ("Question: Is the capital of France Paris?\nAnswer: Paris", "free", "answer_in_question"),
    ("Question: Which?\nA) json\nB) csv\nC) os\nAnswer: A", "mcq", "options"),
    ("Question: Which?\nA) json\nB) csv\nC) os\nD) re\nE) sys\nAnswer: A", "mcq", "options"),
    ("Question: Which?\nA) json\nB) JSON\nC) os\nD) re\nAnswer: A", "mcq", "duplicate_options"),
    ("Question: Which?\nA) json\nB) csv\nC) os\nD) re\nAnswer: E", "mcq", "bad_answer"),
    ("Question: Which?\nA) json\nB) csv\nC) os\nD) re\nAnswer: json", "mcq", "bad_answer"),
    ("Question: Is json the module?\nA) json\nB) csv\nC) os\nD) re\nAnswer: A", "mcq", "answer_in_question"),
])
def test_invalid_tasks_name_their_reason(text, fmt, reason):
    assert parse_challenge(text, fmt) == reason


def test_unfinished_reasoning_and_untrusted_text_never_raise():
    assert parse_challenge(None, "free") == "no_answer_span"
    for junk in ("", "\x00\x01", "Question: " * 1000, "Answer: A\nQuestion:", "<answer>", "A) B) C)"):
        assert isinstance(parse_challenge(junk, "mcq"), (str, Challenge))


def test_majority_labels_need_no_answer_line():
    task = parse_challenge("Question: What is 6 times 7?", "free", need_answer=False)
    assert task == Challenge("free", "What is 6 times 7?", "")


# ----- rewards ------------------------------------------------------------------------------------
def test_challenger_rewards_by_hand():
    assert spice_reward(0.5) == 1.0
    assert spice_reward(0.0) == pytest.approx(math.exp(-0.0625 / 0.02))  # p(1-p) = 0: (0 - .25)^2 / (2 * .01)
    assert spice_reward(0.25, width=0.01) == pytest.approx(math.exp(-(0.1875 - 0.25) ** 2 / 0.02))
    assert [uncertainty_reward(p) for p in (0, 0.25, 0.5, 0.75, 1)] == [0, 0.5, 1, 0.5, 0]
    assert [learnability_reward(p) for p in (0, 0.25, 0.5, 1)] == [0, 0.75, 0.5, 0]
    assert challenger_reward("uncertainty", 0.5, repetition=2 / 3) == pytest.approx(1 / 3)
    assert challenger_reward("uncertainty", 0.25, repetition=2 / 3) == 0.0  # floored at 0
    with pytest.raises(ValueError, match="unknown challenger reward"):
        challenger_reward("bogus", 0.5)


def test_majority_vote_with_ties_goes_to_the_first_seen():
    keys = [answer_key(a, "free") for a in ("1/2", "0.5", "3", "3", None)]
    vote = majority_vote(keys)  # 1/2 and 0.5 are one value: 2 votes each for 1/2 and 3, a tie
    assert vote.key == ("number", 0.5) and vote.share == 2 / 5 and vote.tied
    vote = majority_vote([answer_key(a, "free") for a in ("Paris", "paris.", "Rome")])
    assert vote.key == ("text", "paris") and vote.share == 2 / 3 and not vote.tied
    assert majority_vote([None, None]).key is None
    assert majority_vote([answer_key(a, "mcq") for a in ("B", "(b)", "C")]).key == "B"
    assert in_band(0.25, 0.25) and in_band(0.75, 0.25) and not in_band(0.8, 0.25) and not in_band(0.2, 0.25)


# ----- diversity ----------------------------------------------------------------------------------
def test_bleu_by_hand():
    # 1-grams 3/4, 2-grams 2/3, 3-grams 1/2, 4-grams 0 matches of 1 -> 0.1 (smoothing); equal lengths
    assert bleu("a b c d", "a b c e") == pytest.approx((0.75 * (2 / 3) * 0.5 * 0.1) ** 0.25)
    assert bleu("a b", "a b c d") == pytest.approx(math.exp(1 - 4 / 2))  # all match, brevity penalty
    assert bleu("same words here", "same words here") == pytest.approx(1.0)
    assert bleu("", "x") == 0.0
    assert tokens("What's f(x)?") == ["what", "'", "s", "f", "(", "x", ")", "?"]
    assert similarity("a b c d", "a b c e") == pytest.approx(bleu("a b c d", "a b c e"))


def test_repetition_penalty_on_a_constructed_batch():
    batch = ["What does json.dumps return?", "What does json.dumps return?",
             "How many seconds are in one hour?"]
    assert clusters(batch) == [0, 0, 1]
    assert repetition_penalties(batch) == pytest.approx([2 / 3, 2 / 3, 1 / 3])
    # one word of 7 tokens differs: n-gram precisions 6/7, 4/6, 2/5, 1/4 -> similarity 0.489,
    # distance 0.511: apart at R-Zero's threshold 0.5, one cluster at 0.6
    near = ["What does json.dumps return?", "What does json.loads return?", "How many seconds are in one hour?"]
    assert similarity(near[0], near[1]) == pytest.approx(((6 / 7) * (4 / 6) * (2 / 5) * (1 / 4)) ** 0.25)
    assert repetition_penalties(near) == pytest.approx([1 / 3] * 3)
    assert repetition_penalties(near, threshold=0.6) == pytest.approx([2 / 3, 2 / 3, 1 / 3])


def test_self_bleu_and_distinct_n():
    assert self_bleu(["a b c", "a b c"]) == pytest.approx(1.0)
    assert self_bleu(["x"]) is None
    assert distinct_n(["a b a", "c"], 1) == pytest.approx(3 / 4)
    assert distinct_n(["a b a", "a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n([""], 1) is None
