"""The token-level policy-gradient loss with PPO clipping: a pure function of tensors.

ratio = exp(logp - old_logp) against the engine's sampling log-probs; the per-token loss is
max(-A * ratio, -A * clip(ratio, 1 - clip_low, 1 + clip_high)), plus kl_coef * k3-KL to a
frozen reference and minus entropy_coef * entropy. Aggregation divides by totals over the whole
batch (not the micro-batch), so accumulating micro-batches gives exactly the full-batch loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LossTerms:
    loss: torch.Tensor
    pg: float
    kl: float
    entropy: float
    clip_fraction: float
    ratio_mean: float


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, how: str, total_tokens: int, total_sequences: int,
              counts: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the batch's tokens or sequences; a row standing for `counts` samples counts so often."""
    if how == "token_mean":
        weight = mask if counts is None else mask * counts.unsqueeze(-1)
        return (per_token * weight).sum() / max(total_tokens, 1)
    if how == "sequence_mean":
        per_seq = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)
        return (per_seq if counts is None else per_seq * counts).sum() / max(total_sequences, 1)
    raise ValueError(f"unknown aggregation {how!r}; use 'token_mean' or 'sequence_mean'")


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    aggregation: str = "token_mean",
    total_tokens: int,
    total_sequences: int,
    ref_logp: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    entropy: torch.Tensor | None = None,
    entropy_coef: float = 0.0,
    negative_advantages: torch.Tensor | None = None,
    counts: torch.Tensor | None = None,
    token_weights: torch.Tensor | None = None,
) -> LossTerms:
    """PPO's clipped surrogate (+ KL to a reference, - entropy bonus), aggregated over the batch.

    A row may stand for `counts` identical samples (`batching`): then `advantages` is the sum of
    their advantages and `negative_advantages` the part of it from negative ones; a
    positive advantage meets the ratio clipped from above, a negative one from below, so
    -(A+ * min(r, clip(r)) + A- * max(r, clip(r))) is exactly the copies' summed surrogate.
    (The logged clip fraction reads such a row by the sign of its summed advantage.)
    `token_weights` (B, L-1) multiply each token's surrogate: truncated importance sampling.
    """
    if negative_advantages is None:
        positive, negative = advantages.clamp(min=0.0), advantages.clamp(max=0.0)
    else:
        positive, negative = advantages - negative_advantages, negative_advantages
    weight = mask if counts is None else mask * counts.unsqueeze(-1)
    log_ratio = (logp - old_logp) * mask
    ratio = torch.exp(log_ratio)
    clipped_ratio = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    per_token = -(positive.unsqueeze(-1) * torch.minimum(ratio, clipped_ratio)
                  + negative.unsqueeze(-1) * torch.maximum(ratio, clipped_ratio))
    if token_weights is not None:  # truncated importance weights (learner / engine), no gradient
        per_token = per_token * token_weights
    pg = aggregate(per_token, mask, aggregation, total_tokens, total_sequences)
    loss = pg
    kl_value = torch.zeros(())
    if ref_logp is not None and kl_coef > 0:
        d = (ref_logp - logp) * mask
        k3 = torch.exp(d) - d - 1.0  # unbiased, non-negative KL estimator (Schulman)
        kl_value = aggregate(k3, mask, aggregation, total_tokens, total_sequences, counts)
        loss = loss + kl_coef * kl_value
    ent_value = torch.zeros(())
    if entropy is not None:
        ent_value = aggregate(entropy, mask, aggregation, total_tokens, total_sequences, counts)
        if entropy_coef > 0:
            loss = loss - entropy_coef * ent_value
    n = weight.sum().clamp(min=1)
    with torch.no_grad():
        net = positive + negative
        net = net.unsqueeze(-1)
        clipped_away = ((net > 0) & (ratio > clipped_ratio)) | ((net < 0) & (ratio < clipped_ratio))
        clip_frac = (clipped_away.float() * weight).sum() / n
        ratio_mean = (ratio * weight).sum() / n
    return LossTerms(loss, pg.item(), kl_value.item(), ent_value.item(), clip_frac.item(), ratio_mean.item())


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, *,
               clip: float | None, total: int, counts: torch.Tensor | None = None) -> torch.Tensor:
    """PPO's clipped value loss, 0.5 * max((V - R)^2, (V_old + clip(V - V_old, +-clip) - R)^2),
    summed over the rows that carry a target (`mask`, each row standing for `counts` samples with
    the same state and return) and divided by the batch's `total` targets, so accumulated
    micro-batches give the full-batch loss. clip None: the plain squared error."""
    err = (values - returns) ** 2
    if clip is not None:
        clipped = old_values + torch.clamp(values - old_values, -clip, clip)
        err = torch.maximum(err, (clipped - returns) ** 2)
    weight = mask if counts is None else mask * counts
    return 0.5 * (err * weight).sum() / max(total, 1)
