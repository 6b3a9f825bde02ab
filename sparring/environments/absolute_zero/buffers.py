"""Task buffers: the validated (program, input, output) tasks Absolute Zero self-play grows.

One `TaskBuffer` per task type. Each starts from seed entries built on the identity program
`def f(a): return a` (AZR's zero-data seed) and grows with every valid proposal.

- Duplicates: an entry whose (program, inputs) is already stored is not added again.
- Cap and eviction: past `cap` entries the oldest *non-seed* entry is evicted first (FIFO);
  seeds are never evicted, so a buffer can never run dry.
- Sampling favours recent entries with linear weights over insertion order: with n entries
  from oldest (i = 0) to newest (i = n - 1), entry i has weight `1 + recency * i / (n - 1)`, so
  the newest is `1 + recency` times as likely as the oldest (recency = 0: uniform).
  `sample_distinct` draws without replacement (references shown to a proposer);
  `sample` draws with replacement (solver tasks to fill a batch).
- `state_dict()`/`load_state_dict()` are JSON-safe and carry everything (checkpoints resume
  the buffers exactly); `export_jsonl()` writes one line per entry:
  `{"task", "program", "input", "output", "message", "step"}`. For deduction and abduction
  `input`/`output` are the argument text and the output repr; for induction they are
  equal-length lists of them (the proposed inputs and their outputs). Seeds have step -1.

Not here: validation (the Executor) or prompt text (prompts.py).
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

TASK_TYPES: tuple[str, ...] = ("deduction", "abduction", "induction")

IDENTITY = "def f(a):\n    return a"


@dataclass(frozen=True)
class Entry:
    """One stored task. Deduction/abduction: one input and its output; induction: several."""

    task: str
    program: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    message: str = ""
    step: int = -1  # the training step that proposed it; -1 for seeds
    seed: bool = False

    def __post_init__(self):
        if self.task not in TASK_TYPES:
            raise ValueError(f"unknown task type {self.task!r}; choose from {TASK_TYPES}")
        if len(self.inputs) != len(self.outputs) or not self.inputs:
            raise ValueError(f"an entry needs equally many (>= 1) inputs and outputs, got "
                             f"{len(self.inputs)} and {len(self.outputs)}")
        if self.task != "induction" and len(self.inputs) != 1:
            raise ValueError(f"a {self.task} entry has exactly one input, got {len(self.inputs)}")

    @property
    def input(self) -> str:
        return self.inputs[0]

    @property
    def output(self) -> str:
        return self.outputs[0]

    def to_json(self) -> dict:
        single = self.task != "induction"
        return {"task": self.task, "program": self.program,
                "input": self.inputs[0] if single else list(self.inputs),
                "output": self.outputs[0] if single else list(self.outputs),
                "message": self.message, "step": self.step}

    def state(self) -> dict:
        d = asdict(self)
        d["inputs"], d["outputs"] = list(self.inputs), list(self.outputs)
        return d

    @classmethod
    def from_state(cls, d: dict) -> "Entry":
        return cls(**{**d, "inputs": tuple(d["inputs"]), "outputs": tuple(d["outputs"])})


def seed_entries(task: str) -> list[Entry]:
    """The identity program with worked inputs (the only data Absolute Zero starts from)."""
    if task == "induction":
        return [Entry("induction", IDENTITY, ("'Hello World'", "[1, 2, 3]", "7", "{'a': 1}"),
                      ("'Hello World'", "[1, 2, 3]", "7", "{'a': 1}"), "Return the argument unchanged.", seed=True)]
    return [Entry(task, IDENTITY, ("'Hello World'",), ("'Hello World'",), seed=True)]


def recency_weights(n: int, recency: float) -> list[float]:
    """Linear weights over insertion order: oldest 1, newest 1 + recency."""
    if n == 1:
        return [1.0]
    return [1.0 + recency * i / (n - 1) for i in range(n)]


class TaskBuffer:
    def __init__(self, task: str, cap: int = 1024, recency: float = 3.0, seeds: Iterable[Entry] | None = None) -> None:
        if task not in TASK_TYPES:
            raise ValueError(f"unknown task type {task!r}; choose from {TASK_TYPES}")
        if cap < 1:
            raise ValueError(f"buffer cap must be >= 1, got {cap}")
        if recency < 0:
            raise ValueError(f"recency must be >= 0, got {recency}")
        self.task, self.cap, self.recency = task, cap, recency
        self.entries: list[Entry] = list(seed_entries(task) if seeds is None else seeds)
        self._keys = {self._key(e) for e in self.entries}
        self.added = 0  # valid proposals stored over the run
        self.evicted = 0

    @staticmethod
    def _key(e: Entry) -> tuple:
        return (e.program, e.inputs)

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entry: Entry) -> bool:
        """Store a validated entry; False when it was a duplicate. Evicts the oldest non-seed past the cap."""
        if entry.task != self.task:
            raise ValueError(f"a {entry.task} entry cannot go into the {self.task} buffer")
        key = self._key(entry)
        if key in self._keys:
            return False
        self.entries.append(entry)
        self._keys.add(key)
        self.added += 1
        while len(self.entries) > self.cap:
            victim = next((i for i, e in enumerate(self.entries) if not e.seed), None)
            if victim is None:
                break  # only seeds left: a cap below the seed count keeps the seeds
            self._keys.discard(self._key(self.entries.pop(victim)))
            self.evicted += 1
        return True

    def sample(self, rng: random.Random, k: int) -> list[Entry]:
        """k entries with replacement, recency-weighted."""
        if k <= 0:
            return []
        return rng.choices(self.entries, weights=recency_weights(len(self.entries), self.recency), k=k)

    def sample_distinct(self, rng: random.Random, k: int) -> list[Entry]:
        """min(k, len) distinct entries, recency-weighted, oldest first (weighted sampling without
        replacement by Efraimidis-Spirakis keys u ** (1 / w))."""
        weights = recency_weights(len(self.entries), self.recency)
        keys = [(rng.random() ** (1.0 / w), i) for i, w in enumerate(weights)]
        chosen = sorted(i for _, i in sorted(keys, reverse=True)[:max(k, 0)])
        return [self.entries[i] for i in chosen]

    def state_dict(self) -> dict:
        return {"task": self.task, "entries": [e.state() for e in self.entries], "added": self.added,
                "evicted": self.evicted}

    def load_state_dict(self, d: dict) -> None:
        if d["task"] != self.task:
            raise ValueError(f"state of the {d['task']} buffer loaded into the {self.task} buffer")
        self.entries = [Entry.from_state(e) for e in d["entries"]]
        self._keys = {self._key(e) for e in self.entries}
        self.added, self.evicted = int(d["added"]), int(d["evicted"])


class Buffers:
    """The three task buffers of one arena."""

    def __init__(self, cap: int = 1024, recency: float = 3.0) -> None:
        self.by_task = {t: TaskBuffer(t, cap, recency) for t in TASK_TYPES}

    def __getitem__(self, task: str) -> TaskBuffer:
        return self.by_task[task]

    def programs(self, rng: random.Random, k: int) -> list[Entry]:
        """k programs for induction proposers, with replacement, from the deduction and abduction
        buffers together, each entry weighted by its recency within its own buffer."""
        pool = self.by_task["deduction"].entries + self.by_task["abduction"].entries
        weights = (recency_weights(len(self.by_task["deduction"]), self.by_task["deduction"].recency)
                   + recency_weights(len(self.by_task["abduction"]), self.by_task["abduction"].recency))
        return rng.choices(pool, weights=weights, k=k) if k > 0 else []

    def state_dict(self) -> dict:
        return {t: b.state_dict() for t, b in self.by_task.items()}

    def load_state_dict(self, d: dict) -> None:
        for t, b in self.by_task.items():
            b.load_state_dict(d[t])

    def export_jsonl(self, path: str | Path) -> Path:
        """Write every entry of every buffer as JSON lines (atomically: temp file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w") as f:
            for t in TASK_TYPES:
                for e in self.by_task[t].entries:
                    f.write(json.dumps(e.to_json()) + "\n")
        os.replace(tmp, path)
        return path
