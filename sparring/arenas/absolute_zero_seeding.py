"""The seeding stage of the Absolute Zero arena (`seed:`), run by the arena's `prepare` hook before RL.

The released AZR code does not start RL from the identity function alone: the base model first
proposes, untrained, until a seed set of valid tasks exists (batch 64 x seed_batch_factor 4 =
256), or the seed set is read from a file. Here, in order:

  1. `seed.path`: every line is checked like a model's proposal (tasks.precheck, then the
     Executor: static check, two runs in separate processes that must agree), and outputs the
     file gives must equal the sandbox's; an invalid line is logged by file and line and skipped;
  2. the log of an interrupted seeding stage (<run dir>/absolute_zero/<name>/seed.jsonl) is read
     back, so a kill loses at most the round in flight;
  3. rounds of proposals until every buffer in play holds `seed.size` entries, or
     `seed.max_rounds` rounds: `episodes_per_step` proposals per task type still short, with the
     prompts, references, validation and rules of an RL step, but no Monte-Carlo solves, no
     rewards and no episodes: nothing is trained. A valid triplet goes into the deduction and the
     abduction buffer both (the release's one seed set); induction proposes once the triplet
     buffers are full, so its programs are drawn from the whole seed set, as in the release.
     Accepted entries are seeds (never evicted) and are appended to the log at once.

A rich progress bar per buffer shows the seed set growing (a log line per round without one).

Not here: the RL step (absolute_zero.py) or the file formats (environments/absolute_zero/seeds.py).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from sparring.environments.absolute_zero import seeds, tasks
from sparring.environments.absolute_zero.buffers import Entry
from sparring.environments.absolute_zero.checks import CallResult, values_equal

if TYPE_CHECKING:
    from sparring.arenas.absolute_zero import AbsoluteZeroArena

log = logging.getLogger(__name__)

FILE_CHUNK = 256  # seed-file tasks validated concurrently


async def run(arena: AbsoluteZeroArena, show_progress: bool = True) -> dict[str, float]:
    """Run the seeding stage; returns its metrics (`az/seed/...`, `perf/az_seed_s`)."""
    cfg = arena.cfg.seed
    t0 = time.perf_counter()
    out: dict[str, float] = {}
    if cfg.path is not None:
        loaded, rejected = await load_file(arena, Path(cfg.path))
        out.update({"az/seed/file_loaded": float(loaded), "az/seed/file_rejected": float(rejected)})
    if arena.seed_log is not None and arena.seed_log.exists():
        out["az/seed/resumed"] = float(reload_log(arena, arena.seed_log))
    out["az/seed/rounds"] = float(await propose_rounds(arena, show_progress) if cfg.size else 0)
    out.update({f"az/seed/{t}": float(len(arena.buffers[t])) for t in arena.cfg.task_types})
    out["perf/az_seed_s"] = time.perf_counter() - t0
    return out


def store(arena: AbsoluteZeroArena, entry: Entry, targets: Sequence[str]) -> list[Entry]:
    """Add `entry` as a seed (step -1, never evicted) to every target buffer; the entries added."""
    added = []
    for task in targets:
        e = replace(entry, task=task, step=-1, seed=True)
        if arena.buffers[task].add(e):
            added.append(e)
    return added


# ----- 1. the seed file ----------------------------------------------------------------------------
async def load_file(arena: AbsoluteZeroArena, path: Path) -> tuple[int, int]:
    """Check and store every line of a seed file; returns (lines stored, lines rejected)."""
    if not path.is_file():
        raise FileNotFoundError(f"seed.path: no seed file at {path}")
    found, rejected = seeds.read_seed_file(path, arena.cfg.task_types, arena.cfg.induction_inputs)
    ready = []
    for t in found:
        why = tasks.precheck(t.proposal, arena.cfg.induction_inputs, not arena.cfg.checks.helpers)
        if why is None:
            ready.append(t)
        else:
            rejected.append((t.line, why))
    loaded = 0
    for start in range(0, len(ready), FILE_CHUNK):  # a large file is validated a chunk at a time
        chunk = ready[start:start + FILE_CHUNK]
        items = [(t.proposal.program, i) for t in chunk for i in t.proposal.inputs]
        results = await arena.executor.validate_many(items)
        k = 0
        for t in chunk:
            mine = results[k:k + len(t.proposal.inputs)]
            k += len(mine)
            entry, why = _checked(t, mine)
            if entry is None:
                rejected.append((t.line, why))
            else:
                store(arena, entry, t.targets)
                loaded += 1
    for line, why in sorted(rejected):
        log.warning("%s:%d: seed line rejected: %s", path, line, why)
    log.info("%s: %d seed tasks loaded, %d lines rejected", path, loaded, len(rejected))
    return loaded, len(rejected)


def _checked(task: seeds.SeedTask, results: Sequence[CallResult]) -> tuple[Entry | None, str]:
    """(entry, "") when every input validated and the file's outputs match, else (None, why)."""
    entry, reason = tasks.accept(task.proposal, results, step=-1)
    if entry is None:
        detail = next(r.detail for r in results if not r.ok)
        return None, f"{reason}: {detail}" if detail else str(reason)
    for want, got in zip(task.outputs or (), entry.outputs):
        if not values_equal(want, got):
            return None, f"output mismatch: the file says {want[:60]}, f returns {got[:60]}"
    return entry, ""


# ----- 2. the log of an interrupted seeding stage -------------------------------------------------------
def reload_log(arena: AbsoluteZeroArena, path: Path) -> int:
    """Put the entries of an earlier seeding stage back into the buffers; returns how many."""
    entries, skipped = seeds.read_entries(path)
    for line, why in skipped:
        log.warning("%s:%d: skipped: %s", path, line, why)
    added = sum(arena.buffers[e.task].add(e) for e in entries if e.task in arena.cfg.task_types)
    log.info("%s: resumed %d seed entries", path, added)
    return added


# ----- 3. proposal rounds ------------------------------------------------------------------------------
def short_tasks(arena: AbsoluteZeroArena) -> list[str]:
    """Task types whose buffer is below seed.size; induction only once no triplet buffer is."""
    size = arena.cfg.seed.size
    short = [t for t in arena.cfg.task_types if len(arena.buffers[t]) < size]
    return [t for t in short if t != "induction"] or short


async def propose_rounds(arena: AbsoluteZeroArena, show_progress: bool) -> int:
    """Untrained proposal rounds until no buffer is short or seed.max_rounds; returns the rounds run."""
    cfg = arena.cfg
    triplets = [t for t in cfg.task_types if t != "induction"]
    rounds = 0
    with _Progress(arena, show_progress) as progress:
        while rounds < cfg.seed.max_rounds and (short := short_tasks(arena)):
            rounds += 1
            rng = random.Random(f"{arena.name}/seed/{rounds}/{sum(len(arena.buffers[t]) for t in cfg.task_types)}")
            props = await arena.propose(short, rng, list(range(cfg.episodes_per_step)), step=-1, perf=Counter())
            added: list[Entry] = []
            for p in props:
                if p.entry is not None:
                    added += store(arena, p.entry, [p.task] if p.task == "induction" else triplets)
            if arena.seed_log is not None:
                seeds.append_entries(arena.seed_log, added)
            progress.update(rounds)
    if short_tasks(arena):
        log.warning("%s: seeding stopped after %d rounds (seed.max_rounds) short of seed.size: %s; RL starts "
                    "from these buffers", arena.name, rounds, _sizes(arena))
    else:
        log.info("%s: seeded in %d rounds: %s", arena.name, rounds, _sizes(arena))
    return rounds


def _sizes(arena: AbsoluteZeroArena) -> str:
    return ", ".join(f"{t} {len(arena.buffers[t])}/{arena.cfg.seed.size}" for t in arena.cfg.task_types)


class _Progress:
    """One rich bar per buffer (entries of seed.size), or a log line per round."""

    def __init__(self, arena: AbsoluteZeroArena, show: bool) -> None:
        self.arena = arena
        self.bar = None
        self.ids: dict[str, int] = {}
        if show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]seed {task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn())

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
            size = self.arena.cfg.seed.size
            self.ids = {t: self.bar.add_task(f"{self.arena.name}/{t}", total=size, completed=self._done(t))
                        for t in self.arena.cfg.task_types}
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def _done(self, task: str) -> int:
        return min(len(self.arena.buffers[task]), self.arena.cfg.seed.size)

    def update(self, rounds: int) -> None:
        if self.bar is None:
            log.info("%s: seeding round %d: %s", self.arena.name, rounds, _sizes(self.arena))
            return
        for task, i in self.ids.items():
            self.bar.update(i, completed=self._done(task))
