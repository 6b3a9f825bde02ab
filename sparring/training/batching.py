"""Samples -> padded tensors for the learner, split into length-sorted micro-batches.

Sequences are prompt + completion, right-padded; `loss_mask` marks completion tokens, whose
positions line up with `old_logprobs`. Totals over the whole batch (tokens, sequences) travel
with every micro-batch so that gradient accumulation reproduces the full-batch loss exactly.
With `minibatches > 1` the samples are first dealt at random into that many near-equal
minibatches (one optimizer step each, PPO-style); the totals are then per minibatch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from sparring.types import Sample


@dataclass
class MicroBatch:
    input_ids: torch.Tensor  # (B, L)
    attention_mask: torch.Tensor  # (B, L)
    loss_mask: torch.Tensor  # (B, L-1): 1 where target token t+1 is a completion token
    old_logprobs: torch.Tensor  # (B, L-1), aligned with loss_mask
    advantages: torch.Tensor  # (B,)
    total_tokens: int  # completion tokens in the whole batch
    total_sequences: int  # sequences in the whole batch
    minibatch: int = 0  # optimizer step this micro-batch belongs to (within one epoch)


def build(samples: list[Sample], micro_batch_size: int, pad_id: int, minibatches: int = 1,
          seed: int = 0) -> list[MicroBatch]:
    """Micro-batches in minibatch order (consecutive micro-batches share a `minibatch` index)."""
    samples = [s for s in samples if s.completion_ids]
    if not samples:
        return []
    if minibatches <= 1:
        return _build_one(samples, micro_batch_size, pad_id, 0)
    shuffled = list(samples)
    random.Random(seed).shuffle(shuffled)
    parts = [shuffled[i::minibatches] for i in range(min(minibatches, len(shuffled)))]
    return [mb for i, part in enumerate(parts) for mb in _build_one(part, micro_batch_size, pad_id, i)]


def _build_one(samples: list[Sample], micro_batch_size: int, pad_id: int, minibatch: int) -> list[MicroBatch]:
    total_tokens = sum(len(s.completion_ids) for s in samples)
    order = sorted(range(len(samples)), key=lambda i: len(samples[i].prompt_ids) + len(samples[i].completion_ids))
    batches = []
    for start in range(0, len(order), micro_batch_size):
        chunk = [samples[i] for i in order[start:start + micro_batch_size]]
        width = max(len(s.prompt_ids) + len(s.completion_ids) for s in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        attn = torch.zeros((len(chunk), width), dtype=torch.long)
        lmask = torch.zeros((len(chunk), width - 1))
        old = torch.zeros((len(chunk), width - 1))
        for i, s in enumerate(chunk):
            seq = s.prompt_ids + s.completion_ids
            p, c = len(s.prompt_ids), len(s.completion_ids)
            ids[i, : len(seq)] = torch.tensor(seq)
            attn[i, : len(seq)] = 1
            lmask[i, p - 1 : p - 1 + c] = 1  # logits at t predict token t+1
            old[i, p - 1 : p - 1 + c] = torch.tensor(s.old_logprobs, dtype=torch.float32)
        batches.append(
            MicroBatch(ids, attn, lmask, old, torch.tensor([s.advantage for s in chunk], dtype=torch.float32), total_tokens, len(samples),
                       minibatch)
        )
    return batches
