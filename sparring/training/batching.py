"""Samples -> padded tensors for the learner, split into length-sorted micro-batches.

Sequences are prompt + completion, right-padded; `loss_mask` marks completion tokens, whose
positions line up with `old_logprobs`. Totals over the whole batch (tokens, sequences) travel
with every micro-batch so that gradient accumulation reproduces the full-batch loss exactly.
With `minibatches > 1` the samples are first dealt at random into that many near-equal
minibatches (one optimizer step each, PPO-style); the totals are then per minibatch.

Identical samples (same prompt and completion: the opening position of every self-play game, a
recurring card in Kuhn Poker) share one row: their gradients differ only by the advantage, so
the row carries the sum of their advantages and, apart, that of the negative ones (PPO clips the
two signs at opposite ends of the ratio) and how many they were (`counts`, for the KL and
entropy terms). The loss, and so the update, is that of the full batch, with fewer rows to run.
With a critic, rows merge only when their value targets are equal too (the value loss is then
exact as well), and carry the rollout-time value and that target.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace

import torch

from sparring.types import Sample


@dataclass
class MicroBatch:
    input_ids: torch.Tensor  # (B, L)
    attention_mask: torch.Tensor  # (B, L)
    loss_mask: torch.Tensor  # (B, L-1): 1 where target token t+1 is a completion token
    old_logprobs: torch.Tensor  # (B, L-1), aligned with loss_mask
    advantages: torch.Tensor  # (B,): per row, the sum of its samples' advantages
    total_tokens: int  # completion tokens in the whole batch (every sample counted)
    total_sequences: int  # sequences in the whole batch (every sample counted)
    minibatch: int = 0  # optimizer step this micro-batch belongs to (within one epoch)
    negative_advantages: torch.Tensor | None = None  # (B,): the part of that sum from negative ones
    counts: torch.Tensor | None = None  # (B,): samples merged into each row
    token_weights: torch.Tensor | None = None  # (B, L-1): truncated importance weights (learner sets them)
    engine_logprobs: torch.Tensor | None = None  # (B, L-1): the engine's, when old_logprobs are the learner's (TIS)
    prompt_lengths: torch.Tensor | None = None  # (B,): prompt tokens of each row (for shared-prompt forwards)
    old_values: torch.Tensor | None = None  # (B,): the critic's rollout-time V(prompt) (critic runs only)
    returns: torch.Tensor | None = None  # (B,): the value target of each row
    value_mask: torch.Tensor | None = None  # (B,): 1 where the row has a value target
    total_values: int = 0  # value targets in the whole batch (every sample counted)

    def to(self, device) -> MicroBatch:
        """This micro-batch with every tensor on `device` (the learner's)."""
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)
                                if isinstance(getattr(self, f.name), torch.Tensor)})


def build(samples: list[Sample], micro_batch_size: int, pad_id: int, minibatches: int = 1,
          seed: int = 0, merge: bool = True) -> list[MicroBatch]:
    """Micro-batches in minibatch order (consecutive micro-batches share a `minibatch` index);
    `merge=False` keeps one row per sample (the reference the merged rows must match)."""
    samples = [s for s in samples if s.completion_ids]
    if not samples:
        return []
    if minibatches <= 1:
        return _build_one(samples, micro_batch_size, pad_id, 0, merge)
    shuffled = list(samples)
    random.Random(seed).shuffle(shuffled)
    parts = [shuffled[i::minibatches] for i in range(min(minibatches, len(shuffled)))]
    return [mb for i, part in enumerate(parts) for mb in _build_one(part, micro_batch_size, pad_id, i, merge)]


def _merge(samples: list[Sample], merge: bool) -> list[tuple[Sample, float, float, int]]:
    """(first sample, sum of positive advantages, sum of negative ones, count) per distinct
    (prompt, completion), in first-seen order; per sample without `merge`."""
    rows: dict[tuple, list] = {}
    for i, s in enumerate(samples):
        key = (tuple(s.prompt_ids), tuple(s.completion_ids), s.value_target) if merge else i
        row = rows.setdefault(key, [s, 0.0, 0.0, 0])
        row[1 if s.advantage > 0 else 2] += s.advantage
        row[3] += 1
    return [tuple(r) for r in rows.values()]


def _build_one(samples: list[Sample], micro_batch_size: int, pad_id: int, minibatch: int,
               merge: bool = True) -> list[MicroBatch]:
    total_tokens = sum(len(s.completion_ids) for s in samples)
    critic = any(s.value is not None for s in samples)
    total_values = sum(s.value_target is not None for s in samples)
    rows = _merge(samples, merge)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0].prompt_ids) + len(rows[i][0].completion_ids))
    batches = []
    for start in range(0, len(order), micro_batch_size):
        chunk = [rows[i] for i in order[start:start + micro_batch_size]]
        width = max(len(s.prompt_ids) + len(s.completion_ids) for s, *_ in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        attn = torch.zeros((len(chunk), width), dtype=torch.long)
        lmask = torch.zeros((len(chunk), width - 1))
        old = torch.zeros((len(chunk), width - 1))
        for i, (s, *_) in enumerate(chunk):
            seq = s.prompt_ids + s.completion_ids
            p, c = len(s.prompt_ids), len(s.completion_ids)
            ids[i, : len(seq)] = torch.tensor(seq)
            attn[i, : len(seq)] = 1
            lmask[i, p - 1 : p - 1 + c] = 1  # logits at t predict token t+1
            old[i, p - 1 : p - 1 + c] = torch.tensor(s.old_logprobs, dtype=torch.float32)
        positive, negative, counts = (torch.tensor([r[k] for r in chunk], dtype=torch.float32) for k in (1, 2, 3))
        prompt_lengths = torch.tensor([len(s.prompt_ids) for s, *_ in chunk], dtype=torch.long)
        values = {}
        if critic:
            has = [s.value_target is not None for s, *_ in chunk]
            values = dict(old_values=torch.tensor([s.value or 0.0 for s, *_ in chunk], dtype=torch.float32),
                          returns=torch.tensor([s.value_target if h else 0.0 for (s, *_), h in zip(chunk, has)],
                                               dtype=torch.float32),
                          value_mask=torch.tensor(has, dtype=torch.float32), total_values=total_values)
        batches.append(MicroBatch(ids, attn, lmask, old, positive + negative, total_tokens, len(samples), minibatch,
                                  negative_advantages=negative, counts=counts, prompt_lengths=prompt_lengths, **values))
    return batches
