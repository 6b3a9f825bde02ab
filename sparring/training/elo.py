"""Elo ratings from match results: pure functions, no games or models here.

Ratings are the maximum-likelihood fit of the Bradley-Terry model on the Elo scale,
P(a scores against b) = 1 / (1 + 10 ** ((R_b - R_a) / 400)), with draws counted as half a point
(each game contributes its score s in {0, 1/2, 1} as s "wins" and 1 - s "losses"). The fit is
Newton's method on the concave log-likelihood, so it is deterministic and does not depend on
the order of the matches, unlike incremental Elo updates. Ratings are defined up to a shift:
they are anchored so that a named player (e.g. `random`) has `anchor_rating`, or else the mean
is `anchor_rating`.

A player who won (or lost) every game has no finite maximum-likelihood rating. `prior_games`
adds that many virtual drawn games of every player against a fixed reference player (a
Gaussian-like prior pulling ratings together); 0 is pure maximum likelihood and raises
`ValueError` when the ratings diverge or when some players never met (directly or through others).
95% intervals come from the inverse Hessian (the observed Fisher information), for the
difference to the anchor (or to the mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

ELO_PER_NAT = 400 / math.log(10)  # Elo points per unit of logit


def expected_score(rating_a: float, rating_b: float) -> float:
    """Expected score of a against b (a win counts 1, a draw 1/2)."""
    return 1.0 / (1.0 + 10 ** ((rating_b - rating_a) / 400))


def elo_difference(score: float) -> float:
    """The rating difference at which the expected score is `score` (0 < score < 1)."""
    if not 0.0 < score < 1.0:
        raise ValueError(f"a score of {score} has no finite Elo difference; it must be strictly between 0 and 1")
    return 400 * math.log10(score / (1 - score))


@dataclass
class EloFit:
    ratings: dict[str, float]  # name -> rating
    ci95: dict[str, float]  # name -> half-width of the 95% interval (vs the anchor or the mean)
    games: dict[str, float] = field(default_factory=dict)  # name -> games played
    score: dict[str, float] = field(default_factory=dict)  # name -> points scored

    def ranked(self) -> list[str]:
        return sorted(self.ratings, key=lambda n: (-self.ratings[n], n))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # exact sigmoid, no overflow


def fit_elo(matches, anchor: str | None = None, anchor_rating: float = 1000.0, prior_games: float = 0.0,
            max_iter: int = 200) -> EloFit:
    """Ratings from `matches`, an iterable of (player_a, player_b, score_a, games): a scored
    `score_a` points in `games` games against b (wins 1, draws 1/2). Pairs may repeat."""
    matches = [(str(a), str(b), float(s), float(n)) for a, b, s, n in matches]
    names = sorted({a for a, *_ in matches} | {b for _, b, *_ in matches})
    if not names:
        raise ValueError("fit_elo: no matches")
    if anchor is not None and anchor not in names:
        raise ValueError(f"fit_elo: anchor {anchor!r} played no match (players: {names})")
    if prior_games < 0:
        raise ValueError(f"fit_elo: prior_games must be >= 0, got {prior_games}")
    index = {n: i for i, n in enumerate(names)}
    k = len(names)
    wins = np.zeros((k, k))  # wins[i, j]: points of i against j
    games = np.zeros((k, k))
    for a, b, s, n in matches:
        if a == b:
            raise ValueError(f"fit_elo: {a!r} plays itself")
        if n <= 0 or not 0 <= s <= n:
            raise ValueError(f"fit_elo: {a} vs {b}: score {s} out of {n} games is impossible")
        i, j = index[a], index[b]
        wins[i, j] += s
        wins[j, i] += n - s
        games[i, j] += n
        games[j, i] += n
    free = list(range(k)) if prior_games > 0 else list(range(1, k))  # without a prior, player 0 sits at 0
    theta = np.zeros(k)
    hessian = None
    for _ in range(max_iter):
        p = _sigmoid(theta[:, None] - theta[None, :])  # p[i, j]: P(i scores against j)
        grad = (wins - games * p).sum(axis=1)
        w = games * p * (1 - p)
        hessian = np.diag(w.sum(axis=1)) - w  # minus the Hessian of the log-likelihood
        if prior_games > 0:  # virtual draws against a reference player at 0
            q = _sigmoid(theta)
            grad += prior_games * (0.5 - q)
            hessian += np.diag(prior_games * q * (1 - q))
        h = hessian[np.ix_(free, free)]
        if np.linalg.matrix_rank(h) < len(free):
            raise ValueError(f"fit_elo: the players do not form one connected group of matches: {names}")
        step = np.linalg.solve(h, grad[free])
        step *= min(1.0, 2.0 / max(np.abs(step).max(initial=0.0), 1e-12))  # damped: at most 2 nats a step
        theta[free] += step
        if np.abs(theta).max() > 30:  # ~2,600 Elo from the reference: no finite maximum
            raise ValueError("fit_elo: ratings diverge (a player won or lost every game against the rest); "
                             "use prior_games > 0")
        if np.abs(step).max() < 1e-10:
            break
    else:
        raise ValueError(f"fit_elo: no convergence in {max_iter} iterations; use prior_games > 0")
    cov = np.zeros((k, k))
    cov[np.ix_(free, free)] = np.linalg.inv(hessian[np.ix_(free, free)])
    if anchor is not None:
        base = np.eye(k)[index[anchor]]
        center = theta[index[anchor]]
    else:
        base = np.full(k, 1.0 / k)
        center = theta.mean()
    ratings, ci95 = {}, {}
    for n, i in index.items():
        contrast = np.eye(k)[i] - base
        var = max(float(contrast @ cov @ contrast), 0.0)
        ratings[n] = float(anchor_rating + ELO_PER_NAT * (theta[i] - center))
        ci95[n] = 1.96 * ELO_PER_NAT * math.sqrt(var)
    return EloFit(ratings, ci95,
                  games={n: float(games[i].sum()) for n, i in index.items()},
                  score={n: float(wins[i].sum()) for n, i in index.items()})
