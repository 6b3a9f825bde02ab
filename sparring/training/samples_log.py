"""A few episodes per arena and step, as text, in <run dir>/samples.jsonl: what the model actually
wrote, move by move, with the reward and advantage each trained turn got, for `sparring report`
and for reading by eye. One JSON line per turn; a game's turns are consecutive lines."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

from sparring.types import Episode, Sample


def write_samples(path: Path, step: int, episodes: list[Episode], samples: list[Sample], tokenizer,
                  per_arena: int) -> None:
    """Append every turn of the first `per_arena` episodes of each arena this step."""
    if per_arena <= 0:
        return
    advantage: dict[tuple, deque] = {}
    for s in samples:  # a turn's sample: the same prompt and completion, taken in episode order
        advantage.setdefault((tuple(s.prompt_ids), tuple(s.completion_ids)), deque()).append(s.advantage)
    taken: dict[str, int] = {}
    lines = []
    for e in episodes:
        if taken.get(e.arena, 0) >= per_arena:
            continue
        number = taken[e.arena] = taken.get(e.arena, 0) + 1
        for k, t in enumerate(e.turns):
            lines.append(json.dumps({
                "step": step, "arena": e.arena, "episode": f"{e.arena}#{number} (seed {e.seed})", "turn": k,
                "role": t.role, "prompt": tokenizer.decode(t.prompt_ids, skip_special_tokens=False) if t.prompt_ids else "",
                "completion": t.text, "action": t.action, "invalid": t.invalid, "trained": t.trainable,
                "reward": e.rewards[t.player] if not t.retried else t.reward,
                "advantage": _next(advantage, (tuple(t.prompt_ids), tuple(t.completion_ids))) if t.trainable else None}))
    with Path(path).open("a") as f:
        f.write("".join(line + "\n" for line in lines))


def _next(advantages: dict[tuple, deque], key: tuple) -> float | None:
    """The next unlogged advantage of this prompt and completion: a recurring position (the same
    card and betting in Kuhn Poker) gets each episode's own, not the first episode's."""
    queue = advantages.get(key)
    return queue.popleft() if queue else None
