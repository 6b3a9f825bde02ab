"""How good a verifier's or judge's verdicts are against the ground truth."""

from __future__ import annotations

import math
from collections.abc import Sequence


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95% by default)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def balanced_interval(truths: Sequence[bool], says: Sequence[bool | None], z: float = 1.96) -> tuple[float, float]:
    """A normal-approximation 95% interval of the balanced accuracy (the mean of the two per-class
    recalls; an unreadable verdict counts as wrong)."""
    parts = []
    for cls in (True, False):
        hits = [s is not None and s == t for t, s in zip(truths, says) if t == cls]
        if hits:
            p = sum(hits) / len(hits)
            parts.append((p, p * (1 - p) / len(hits)))
    mean = sum(p for p, _ in parts) / len(parts)
    half = z * math.sqrt(sum(v for _, v in parts)) / len(parts)
    return max(0.0, mean - half), min(1.0, mean + half)


def verdict_stats(truths: Sequence[bool], says: Sequence[bool | None]) -> dict[str, float]:
    """Accuracy (an unreadable verdict, None, counts as wrong), balanced accuracy, precision and
    recall of "correct" verdicts, the share of "correct" verdicts (verdict balance), the share of
    truly correct candidates, the majority-class rate, and the unreadable rate."""
    n = len(truths)
    if n != len(says):
        raise ValueError(f"{n} truths but {len(says)} verdicts")
    if n == 0:
        return {}
    right = sum(s is not None and s == t for t, s in zip(truths, says))
    pos = sum(truths)
    said_pos = sum(s is True for s in says)
    true_pos = sum(s is True and t for t, s in zip(truths, says))
    true_neg = sum(s is False and not t for t, s in zip(truths, says))
    recall_pos = true_pos / pos if pos else None
    recall_neg = true_neg / (n - pos) if n - pos else None
    rates = [r for r in (recall_pos, recall_neg) if r is not None]
    return {"accuracy": right / n, "balanced_accuracy": sum(rates) / len(rates),
            "precision": true_pos / said_pos if said_pos else 0.0, "recall": recall_pos or 0.0,
            "says_correct_share": said_pos / n, "truly_correct_share": pos / n,
            "majority_rate": max(pos, n - pos) / n, "invalid_rate": sum(s is None for s in says) / n}


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson correlation, None when either side does not vary or there are fewer than 3 pairs."""
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.sqrt(sxx * syy)
