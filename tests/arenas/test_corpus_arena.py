"""The corpus arena end to end with scripted policies: every challenger reward variant, the
reasoner's 0/1 reward and majority-vote labels (ties included), checked against values worked
by hand. The challenger script writes a fixed task per document; the reasoner script cycles
through a fixed list of answers per question."""

from __future__ import annotations

import asyncio
import json
import math
import re

import pytest
from pydantic import ValidationError

from sparring.agents.policies import _turn
from sparring.arenas.corpus import CorpusArena, cloze_challenge, format_rows, pass_bin
from sparring.arenas.corpus_config import CorpusArenaConfig
from sparring.environments.challenges import parse_challenge
from sparring.environments.corpus import Document

HALF = "Question: What is half of one?\nAnswer: 1/2"
SPIDER = "Question: How many legs has a spider?\nAnswer: 8"
ANSWERS = {"What is half of one?": ["[0.5]", "[\\frac{1}{2}]", "[2]", "[x]"],  # p = 1/2 (math-verify)
           "How many legs has a spider?": ["[8]", "[8]", "[8]", "[6]"]}  # p = 3/4


class Script:
    """Challenger: per document, the tasks in `tasks[marker]` in turn; reasoner: per question,
    the answers in `answers[question]` in turn."""

    trainable = True

    def __init__(self, tasks: dict[str, list[str]], answers: dict[str, list[str]]) -> None:
        self.tasks, self.answers, self.calls, self.seen = tasks, answers, {}, []

    def _next(self, key: str, options: list[str]) -> str:
        n = self.calls[key] = self.calls.get(key, -1) + 1
        return options[n % len(options)]

    async def act(self, role, player, observation, legal, state=None):
        self.seen.append((role.name, observation))
        if role.name == "challenger":
            marker = next(m for m in self.tasks if m in observation)
            text = self._next(marker, self.tasks[marker])
        else:
            question = observation.splitlines()[0]
            text = self._next(question, self.answers[question])
        return _turn(role, player, text, legal, True)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    rows = [{"text": "ALPHA. Halves and fractions: one half is written 1/2 or 0.5 in most notations."},
            {"text": "BETA. Spiders are arachnids; every spider has eight legs and two body parts."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def arena(corpus, reward="spice", **over) -> tuple[CorpusArena, Script]:
    cfg = CorpusArenaConfig(name="c", episodes_per_step=2, corpus={"path": str(corpus), "min_chars": 10},
                            challenger={"formats": ["free"], "per_document": 2, "reward": reward, **over.pop("challenger", {})},
                            reasoner={"samples": 4, **over.pop("reasoner", {})}, **over)
    script = Script({"ALPHA": [HALF, "no task here"], "BETA": [SPIDER]}, ANSWERS)
    return CorpusArena(cfg, script, seed=0), script


def play(a: CorpusArena, step: int = 0):
    try:
        return asyncio.run(a.play_step(step, list(range(11, 11 + a.cfg.episodes_per_step))))
    finally:
        asyncio.run(a.aclose())


def by_phase(episodes):
    tasks = [e for e in episodes if e.task == "challenge"]
    return ({(e.metadata["question"] or "invalid"): e.rewards[0] for e in tasks},
            [e for e in episodes if e.task == "reason"])


@pytest.mark.parametrize("reward, expected", [
    ("spice", {"What is half of one?": 1.0,  # p(1-p) = 1/4: the peak
               "How many legs has a spider?": math.exp(-((0.75 * 0.25 - 0.25) ** 2) / (2 * 0.01)),
               "invalid": -0.1}),
    ("learnability", {"What is half of one?": 0.5, "How many legs has a spider?": 0.25, "invalid": -0.1}),
    # batch [half, spider, spider]: the spiders are one BLEU cluster (2/3), half alone (1/3)
    ("uncertainty", {"What is half of one?": 1 - 1 / 3, "How many legs has a spider?": 0.0, "invalid": -0.1}),
])
def test_challenger_reward_variants_by_hand(corpus, reward, expected):
    a, _ = arena(corpus, reward)
    episodes = play(a)
    rewards, answers = by_phase(episodes)
    assert rewards == pytest.approx(expected)
    tasks = [e for e in episodes if e.task == "challenge"]
    assert len(tasks) == 4 and sum(e.metadata["valid"] for e in tasks) == 3
    assert [e.metadata["reason"] for e in tasks if not e.metadata["valid"]] == ["unparseable"]
    assert len(answers) == 12  # 4 answers to each of 3 valid tasks, rewarded 1 / 0
    half = [e.rewards[0] for e in answers if e.metadata["question"] == "What is half of one?"]
    assert half == [1.0, 1.0, 0.0, 0.0]  # 0.5 and \frac{1}{2} are 1/2
    assert sorted(e.rewards[0] for e in answers) == [0.0] * 4 + [1.0] * 8
    # groups: the challenger's per document draw, the reasoner's per task
    assert len({e.group for e in tasks}) == 2 and len({e.group for e in answers}) == 3
    m = a.metrics(episodes)
    assert m["corpus/c/valid_rate"] == 0.75 and m["corpus/c/invalid/unparseable"] == 0.25
    assert m["corpus/c/pass_rate_hist/p25_50"] == pytest.approx(1 / 3)
    assert m["corpus/c/pass_rate_hist/p50_75"] == pytest.approx(2 / 3)
    assert m["corpus/c/reasoner_accuracy"] == pytest.approx(8 / 12)
    assert m["corpus/c/challenger_reward_min"] == -0.1
    assert m["corpus/c/document_reuse_mean"] == 0.0 and m["corpus/c/documents_fresh_share"] == 1.0
    assert 0 < m["corpus/c/distinct_1"] < 1 and m["corpus/c/self_bleu"] > 0


def test_majority_vote_labels_with_ties_and_the_band(tmp_path):
    """Ungrounded (R-Zero): q1's six answers tie 2-2 between 1/2 (= 0.5) and 3, the first seen wins
    (share 1/3, inside the band); q2's are unanimous (share 1, outside: not trained)."""
    cfg = CorpusArenaConfig(name="r", episodes_per_step=1,
                            challenger={"grounded": False, "formats": ["free"], "per_document": 2, "reward": "uncertainty"},
                            reasoner={"samples": 6, "labels": "majority", "band": 0.25})
    answers = {"Name one half.": ["[1/2]", "[0.5]", "[3]", "[3]", "[junk words]", ""],
               "What is seven?": ["[7]"]}
    script = Script({"Write one question": ["Question: Name one half.", "Question: What is seven?"]}, answers)
    a = CorpusArena(cfg, script, seed=0)
    episodes = play(a)
    rewards, reasons = by_phase(episodes)
    # uncertainty 1 - 2|1/3 - 1/2| = 2/3 and 0, less the repetition penalty 1/2 (two singleton clusters)
    assert rewards == pytest.approx({"Name one half.": 2 / 3 - 1 / 2, "What is seven?": 0.0})
    q1 = [e for e in reasons if e.metadata["question"] == "Name one half."]
    q2 = [e for e in reasons if e.metadata["question"] == "What is seven?"]
    assert [e.rewards[0] for e in q1] == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert all(e.turns[0].trainable for e in q1)
    assert [e.rewards[0] for e in q2] == [1.0] * 6 and not any(e.turns[0].trainable for e in q2)
    m = a.metrics(episodes)
    assert m["corpus/r/tie_share"] == 0.5 and m["corpus/r/labelled_in_band_share"] == 0.5
    assert "corpus/r/document_reuse_mean" not in m


def test_multiple_choice_tasks_are_checked_by_letter(corpus):
    mcq = "Question: How many legs has a spider?\nA) six\nB) eight\nC) ten\nD) four\nAnswer: B"
    cfg = CorpusArenaConfig(name="m", episodes_per_step=2, corpus={"path": str(corpus), "min_chars": 10},
                            challenger={"formats": ["mcq"], "per_document": 1, "reward": "learnability"},
                            reasoner={"samples": 4})
    script = Script({"ALPHA": [mcq], "BETA": [mcq]}, {"How many legs has a spider?": ["[B]", "[(b)]", "[A]", "[B) eight]"]})
    episodes = play(CorpusArena(cfg, script, seed=0))
    rewards, reasons = by_phase(episodes)
    assert rewards == {"How many legs has a spider?": 0.25}  # p = 3/4 -> 1 - p
    assert sorted(e.rewards[0] for e in reasons) == [0.0, 0.0] + [1.0] * 6
    asked = [obs for role, obs in script.seen if role == "reasoner"]
    assert asked[0] == "How many legs has a spider?\nA) six\nB) eight\nC) ten\nD) four\n" \
        "Answer with the letter of the correct option."


def test_samples_file_and_resume_state(corpus, tmp_path):
    cfg = CorpusArenaConfig(name="s", episodes_per_step=1, corpus={"path": str(corpus), "min_chars": 10},
                            challenger={"formats": ["free"], "per_document": 1}, samples_per_step=2)
    script = Script({"ALPHA": [HALF], "BETA": [SPIDER]}, ANSWERS)
    first = CorpusArena(cfg, script, seed=3, run_dir=tmp_path)
    asyncio.run(first.play_step(0, [1]))
    state = json.loads(json.dumps(first.state_dict()))
    nxt = asyncio.run(first.play_step(1, [2]))
    resumed = CorpusArena(cfg, script, seed=3, run_dir=tmp_path)
    resumed.load_state_dict(state)
    again = asyncio.run(resumed.play_step(1, [2]))
    assert [e.metadata["document"] for e in again if e.task == "challenge"] == \
        [e.metadata["document"] for e in nxt if e.task == "challenge"]
    lines = [json.loads(line) for line in (tmp_path / "corpus_samples.jsonl").read_text().splitlines()]
    # the resume cut the log back to the state's step: step 1's line is there once, not twice
    assert [line["step"] for line in lines] == [0, 1]
    assert {"document", "question", "gold", "answers", "correct", "pass_rate"} <= set(lines[0])
    assert lines[0]["gold"] in ("1/2", "8") and len(lines[0]["answers"]) == 4
    for a in (first, resumed):
        asyncio.run(a.aclose())


def test_pass_rate_bins():
    assert [pass_bin(p) for p in (0, 0.1, 0.25, 0.3, 0.5, 0.75, 0.9, 1)] == \
        ["p0", "p0_25", "p0_25", "p25_50", "p25_50", "p50_75", "p75_100", "p100"]


def test_warm_start_rows_are_valid_tasks_in_the_asked_form(corpus):
    cfg = CorpusArenaConfig(name="w", corpus={"path": str(corpus), "min_chars": 10})
    rows = format_rows(cfg, 12, seed=0)
    assert len(rows) == 12
    challenger = [r for r in rows if "Document:" in r["prompt"][-1]["content"]]
    assert len(challenger) == 6
    for row in challenger:
        fmt = "mcq" if "multiple-choice" in row["prompt"][-1]["content"] else "free"
        task = parse_challenge(row["completion"][0]["content"], fmt)
        assert not isinstance(task, str), (task, row["completion"])
    doc = Document("d", "The parser reads tokens carefully. Every module exports names.", "t")
    import random
    task = cloze_challenge(doc, "mcq", random.Random(0))
    assert task.format == "mcq" and len(set(task.options)) == 4 and "____" in task.question


def test_config_errors_name_the_key():
    with pytest.raises(ValidationError, match="majority needs reasoner.samples >= 2"):
        CorpusArenaConfig(name="x", reasoner={"samples": 1, "labels": "majority"})
    with pytest.raises(ValidationError, match="exactly one of stdlib"):
        CorpusArenaConfig(name="x", corpus={"stdlib": True, "path": __file__})
    with pytest.raises(ValidationError, match="corpus.path\n.*no such file or directory: a.jsonl"):
        CorpusArenaConfig(name="x", corpus={"path": "a.jsonl"})
    with pytest.raises(ValidationError, match="formats"):
        CorpusArenaConfig(name="x", challenger={"formats": ["essay"]})
    assert re.search("corpus", CorpusArenaConfig(name="x").kind)
