"""A user advantage estimator: reward minus the median reward of its (arena, role) key.

A median baseline is robust to a few extreme rewards (a forfeit penalty of -3 among +-1 game
results shifts a mean baseline, not a median). Registered at import; a config selects it with
`imports: [median_estimator]` and `advantages: {estimator: median_baseline}` (or per_role).
"""

from __future__ import annotations

from collections import defaultdict

import torch

from sparring.training.advantages import register_estimator


@register_estimator("median_baseline")
def median_baseline(rewards: torch.Tensor, keys) -> torch.Tensor:
    members = defaultdict(list)
    for i, key in enumerate(keys):
        members[key].append(i)
    out = torch.zeros_like(rewards)
    for idx in members.values():
        out[idx] = rewards[idx] - rewards[idx].median()
    return out
