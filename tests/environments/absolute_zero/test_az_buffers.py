"""Absolute Zero task buffers: seeds, growth, duplicates, eviction, recency sampling, state, export."""

from __future__ import annotations

import json
import random

import pytest

from sparring.environments.absolute_zero.buffers import IDENTITY, Buffers, Entry, TaskBuffer, recency_weights


def entry(i: int, task: str = "deduction") -> Entry:
    return Entry(task, f"def f(a):\n    return a + {i}", (str(i),), (str(2 * i),), step=i)


def test_seeded_with_the_identity_program():
    b = Buffers()
    for task in ("deduction", "abduction", "induction"):
        (seed,) = b[task].entries
        assert seed.program == IDENTITY and seed.seed and seed.step == -1
        assert seed.inputs == seed.outputs  # the identity returns its argument
    assert len(b["induction"].entries[0].inputs) >= 2  # an induction task needs shown + held-out pairs


def test_add_dedupe_and_fifo_eviction_of_non_seeds():
    buf = TaskBuffer("deduction", cap=3)
    assert buf.add(entry(1)) and buf.add(entry(2))
    assert not buf.add(entry(1))  # same (program, inputs): not stored twice
    assert buf.add(entry(3))  # 4 > cap 3: the oldest non-seed (entry 1) goes, the seed stays
    assert [e.step for e in buf.entries] == [-1, 2, 3]
    assert buf.add(entry(1))  # evicted entries may come back
    assert [e.step for e in buf.entries] == [-1, 3, 1]
    assert (buf.added, buf.evicted) == (4, 2)
    with pytest.raises(ValueError, match="abduction"):
        buf.add(entry(9, "abduction"))


def test_recency_weights():
    assert recency_weights(1, 3.0) == [1.0]
    assert recency_weights(3, 3.0) == [1.0, 2.5, 4.0]  # oldest 1, newest 1 + recency
    assert recency_weights(4, 0.0) == [1.0, 1.0, 1.0, 1.0]


def test_sampling_favours_recent_entries():
    buf = TaskBuffer("deduction", recency=3.0)
    buf.add(entry(1))  # weights [1, 4]: the new entry is drawn with probability 0.8
    draws = buf.sample(random.Random(0), 20_000)
    share = sum(e.step == 1 for e in draws) / len(draws)
    assert share == pytest.approx(0.8, abs=0.015)
    for i in range(2, 6):
        buf.add(entry(i))
    picked = buf.sample_distinct(random.Random(1), 3)
    assert len({e.step for e in picked}) == 3 and [e.step for e in picked] == sorted(e.step for e in picked)
    assert len(buf.sample_distinct(random.Random(1), 50)) == len(buf) == 6
    # distinct draws also favour the newest: over many draws of 1, the newest beats the oldest
    firsts = [buf.sample_distinct(random.Random(s), 1)[0].step for s in range(3000)]
    assert firsts.count(5) > 2.5 * firsts.count(-1)  # weight 4 vs 1


def test_state_round_trip_and_export(tmp_path):
    b = Buffers(cap=10)
    b["deduction"].add(entry(1))
    ind = Entry("induction", "def f(a):\n    return -a", ("1", "2"), ("-1", "-2"), "negate", step=4)
    b["induction"].add(ind)
    state = json.loads(json.dumps(b.state_dict()))
    again = Buffers(cap=10)
    again.load_state_dict(state)
    assert again.state_dict() == b.state_dict() and again["induction"].entries[1] == ind
    assert not again["deduction"].add(entry(1))  # the duplicate index is restored too
    with pytest.raises(ValueError, match="induction"):
        again["deduction"].load_state_dict(state["induction"])
    lines = [json.loads(x) for x in b.export_jsonl(tmp_path / "x" / "buffers.jsonl").read_text().splitlines()]
    assert lines[1] == {"task": "deduction", "program": "def f(a):\n    return a + 1", "input": "1", "output": "2",
                        "message": "", "step": 1}
    assert lines[-1] == {"task": "induction", "program": "def f(a):\n    return -a", "input": ["1", "2"],
                         "output": ["-1", "-2"], "message": "negate", "step": 4}
    assert [x["task"] for x in lines] == ["deduction", "deduction", "abduction", "induction", "induction"]


def test_entry_rejects_bad_shapes():
    with pytest.raises(ValueError, match="task type"):
        Entry("sorting", IDENTITY, ("1",), ("1",))
    with pytest.raises(ValueError, match="exactly one"):
        Entry("deduction", IDENTITY, ("1", "2"), ("1", "2"))
    with pytest.raises(ValueError, match="equally many"):
        Entry("induction", IDENTITY, ("1", "2"), ("1",))
    with pytest.raises(ValueError, match="cap"):
        TaskBuffer("deduction", cap=0)
