"""samples.jsonl: each logged turn shows its own advantage, also where positions recur."""

from __future__ import annotations

import json

from sparring.training.samples_log import write_samples
from sparring.types import Episode, Sample, Turn


class _Tokens:
    def decode(self, ids, skip_special_tokens=False):
        return " ".join(map(str, ids))


def test_a_recurring_position_logs_each_episodes_own_advantage(tmp_path):
    """The same prompt and completion in three episodes (the same card and bet in Kuhn Poker)
    with three different advantages: each line shows its episode's, in order."""
    turn = dict(role="p0", player=0, prompt_ids=[5, 6], completion_ids=[7], logprobs=[-0.1], text="[bet]", action="bet")
    episodes = [Episode("kuhn", "kuhn_poker", seed, [Turn(**turn)], [r, -r], ["p0", "p1"]) for seed, r in
                enumerate([1.0, -2.0, 2.0])]
    samples = [Sample([5, 6], [7], [-0.1], a, r, "p0", ("kuhn", "p0")) for a, r in [(1.5, 1.0), (-1.5, -2.0), (2.5, 2.0)]]
    path = tmp_path / "samples.jsonl"
    write_samples(path, 1, episodes, samples, _Tokens(), per_arena=3)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [(x["reward"], x["advantage"]) for x in lines] == [(1.0, 1.5), (-2.0, -1.5), (2.0, 2.5)]
