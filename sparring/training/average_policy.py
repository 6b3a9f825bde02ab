"""The average policy of self-play (NFSP, Heinrich & Silver 2016): what fictitious play converges to.

In a two-player zero-sum game, gradient self-play's last iterate tends to circle an equilibrium
instead of settling on it (each seat keeps exploiting the other's current mistakes), while the
average of the iterates' strategies converges to it. NFSP keeps that average with function
approximation: a reservoir of the RL policy's own (prompt, answer) pairs, a uniform sample of
its behaviour over the run, learned by supervised learning into an average-policy network.

Here the one shared model keeps training by RL as usual and plays every rollout; the reservoir
fills from `start_step` on (the first, far-from-equilibrium iterates are left out, as stochastic
weight averaging leaves out its start), and at the end of the run a copy of the model is
fitted to it by cross-entropy on the answers (the same temperature convention as the learner, so
sampling it at the rollout temperature reproduces the reservoir's answer frequencies per prompt)
and saved to <run dir>/average. The labels are the RL iterates' own sampled answers, never search
or a scripted player: what the average reaches is self-play's average strategy, and it is reported
apart from the last iterate as the output of this supervised distillation step.

Weighting: a prompt's answers enter in proportion to how often play reached it, so a decision
weighs by both seats' reach probabilities, where fictitious play's average weighs by the acting
seat's own reach only; NFSP accepts the same approximation.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Sequence

import torch
from sparring.training.logprobs import shared_prompt_logprobs, token_logprobs
from sparring.types import Episode


class AveragePolicy:
    """A reservoir (Vitter's algorithm R) of the trained roles' valid (prompt, answer) token ids."""

    def __init__(self, capacity: int, start_step: int, seed: int) -> None:
        self.capacity = capacity
        self.start_step = start_step
        self.rng = random.Random(seed)
        self.rows: list[tuple[list[int], list[int]]] = []
        self.seen = 0

    def observe(self, episodes: Sequence[Episode], step: int) -> None:
        """Add this step's trained, valid answers (`step` counts from 0; steps before start_step skip)."""
        if step < self.start_step:
            return
        for episode in episodes:
            for turn in episode.turns:
                if turn.trainable and not turn.invalid and not turn.retried and turn.prompt_ids and turn.completion_ids:
                    self._add((list(turn.prompt_ids), list(turn.completion_ids)))

    def _add(self, row: tuple[list[int], list[int]]) -> None:
        self.seen += 1
        if len(self.rows) < self.capacity:
            self.rows.append(row)
            return
        slot = self.rng.randrange(self.seen)
        if slot < self.capacity:
            self.rows[slot] = row

    def distill(self, model, *, epochs: float, learning_rate: float, batch_size: int, temperature: float,
                pad_id: int, seed: int) -> tuple[object, dict[str, float]]:
        """A copy of `model` fitted to the reservoir; (copy, metrics). `model` is left as it was."""
        if not self.rows:
            raise ValueError("average_policy: the reservoir is empty (no valid trained answer from start_step on); "
                             "lower average_policy.start_step or check the arena's invalid rate")
        t0 = time.perf_counter()
        dtype = next(model.parameters()).dtype
        student = copy.deepcopy(model).float()  # AdamW steps on float32 weights, cast back at the end
        student.train()
        params = [p for p in student.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
        order_rng = random.Random(seed)
        updates = max(1, round(epochs * len(self.rows) / batch_size))
        losses: list[float] = []
        order: list[int] = []
        for update in range(updates):
            if len(order) < batch_size:
                fresh = list(range(len(self.rows)))
                order_rng.shuffle(fresh)
                order += fresh
            batch, order = [self.rows[i] for i in order[:batch_size]], order[batch_size:]
            for group in optimizer.param_groups:  # cosine to zero: the last updates settle on the average
                group["lr"] = learning_rate * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * update / updates)).item())
            loss = answer_nll(student, batch, temperature, pad_id)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            losses.append(loss.item())
        student.to(dtype).eval()
        tail = losses[-max(1, len(losses) // 10):]
        return student, {"average/reservoir": float(len(self.rows)), "average/answers_seen": float(self.seen),
                         "average/distill_updates": float(updates), "average/distill_loss": sum(tail) / len(tail),
                         "perf/average_distill_s": time.perf_counter() - t0}

    def state_dict(self) -> dict:
        lengths = [(len(p), len(c)) for p, c in self.rows]
        flat = [t for p, c in self.rows for t in (*p, *c)]
        return {"seen": self.seen, "rng": self.rng.getstate(), "lengths": torch.tensor(lengths, dtype=torch.int64),
                "tokens": torch.tensor(flat, dtype=torch.int64)}

    def load_state_dict(self, state: dict) -> None:
        self.seen = int(state["seen"])
        self.rng.setstate(state["rng"])
        tokens = state["tokens"].tolist()
        self.rows, at = [], 0
        for p, c in state["lengths"].tolist():
            self.rows.append((tokens[at:at + p], tokens[at + p:at + p + c]))
            at += p + c


def answer_nll(model, rows: Sequence[tuple[list[int], list[int]]], temperature: float, pad_id: int) -> torch.Tensor:
    """Mean negative log-likelihood of each row's answer tokens given its prompt, under the
    learner's temperature convention (logits / T; 0 counts as 1), computed as the learner computes
    log-probs (vocabulary logits in chunks)."""
    width = max(len(p) + len(c) for p, c in rows)
    device = next(model.parameters()).device
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    answer = torch.zeros((len(rows), width - 1))
    for i, (p, c) in enumerate(rows):
        n = len(p) + len(c)
        ids[i, :n] = torch.tensor(p + c)
        mask[i, :n] = 1
        answer[i, len(p) - 1:n - 1] = 1.0  # position t predicts token t + 1
    ids, mask, answer = ids.to(device), mask.to(device), answer.to(device)
    prompt_lengths = torch.tensor([len(p) for p, _ in rows], device=device)
    # game positions recur, so most batches share prompts: each distinct prompt runs once
    shared = shared_prompt_logprobs(model, ids, mask, prompt_lengths, temperature, loss_mask=answer)
    logp, _ = shared if shared is not None else token_logprobs(model, ids, mask, temperature, loss_mask=answer)
    return -(logp * answer).sum() / answer.sum()
