"""A few trained samples per role and step, as text, in <run dir>/samples.jsonl: what the model
actually wrote, with its reward and advantage, for `sparring report` and for reading by eye."""

from __future__ import annotations

import json
from pathlib import Path

from sparring.types import Sample


def write_samples(path: Path, step: int, samples: list[Sample], tokenizer, per_role: int) -> None:
    """Append the first `per_role` samples of each role (in rollout order) as JSON lines."""
    if per_role <= 0:
        return
    taken: dict[str, int] = {}
    lines = []
    for s in samples:
        if taken.get(s.role, 0) >= per_role:
            continue
        taken[s.role] = taken.get(s.role, 0) + 1
        lines.append(json.dumps({
            "step": step, "arena": s.key[0] if isinstance(s.key, tuple) else str(s.key), "role": s.role,
            "prompt": tokenizer.decode(s.prompt_ids, skip_special_tokens=False),
            "completion": tokenizer.decode(s.completion_ids, skip_special_tokens=False),
            "reward": s.reward, "advantage": s.advantage}))
    with Path(path).open("a") as f:
        f.write("".join(line + "\n" for line in lines))
