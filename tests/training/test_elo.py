"""Elo by maximum likelihood (Bradley-Terry, draws as half points): hand-computed cases, the
likelihood equations, anchoring, the prior, intervals and refusals."""

from __future__ import annotations

import math
import random

import pytest

from sparring.training.elo import ELO_PER_NAT, elo_difference, expected_score, fit_elo


def test_expected_score_and_difference_by_hand():
    assert expected_score(1000, 1000) == 0.5
    assert expected_score(1400, 1000) == pytest.approx(10 / 11)  # 400 points: odds of 10 to 1
    assert elo_difference(0.75) == pytest.approx(400 * math.log10(3)) and round(elo_difference(0.75)) == 191
    assert elo_difference(0.5) == 0.0
    assert expected_score(elo_difference(0.9), 0) == pytest.approx(0.9)
    for bad in (0.0, 1.0, 1.2):
        with pytest.raises(ValueError, match="strictly between"):
            elo_difference(bad)


def test_two_players_with_a_75_percent_score_differ_by_191():
    fit = fit_elo([("a", "b", 75, 100)])
    assert fit.ratings["a"] - fit.ratings["b"] == pytest.approx(190.85, abs=0.01)
    assert (fit.ratings["a"] + fit.ratings["b"]) / 2 == pytest.approx(1000)  # mean anchored
    assert fit.games == {"a": 100, "b": 100} and fit.score == {"a": 75, "b": 25}
    # interval: var(theta_a - theta_b) = 1 / (n p (1 - p)); each rating is half the difference from the mean
    sd_diff = 1 / math.sqrt(100 * 0.75 * 0.25)
    assert fit.ci95["a"] == pytest.approx(1.96 * ELO_PER_NAT * sd_diff / 2, rel=1e-6)


def test_draws_count_half_points():
    # 50 wins and 50 draws out of 100 = a 75% score: the same as 75 wins and 25 losses
    fit = fit_elo([("a", "b", 50 + 0.5 * 50, 100)])
    assert fit.ratings["a"] - fit.ratings["b"] == pytest.approx(elo_difference(0.75))
    even = fit_elo([("a", "b", 5, 10)])
    assert even.ratings == {"a": pytest.approx(1000), "b": pytest.approx(1000)}


def test_a_chain_anchored_on_a_player():
    # a tree of pairings fits each edge on its own: 191 points per 75% step
    fit = fit_elo([("a", "b", 75, 100), ("c", "b", 25, 100)], anchor="c")
    step = 400 * math.log10(3)
    assert fit.ratings == {"a": pytest.approx(1000 + 2 * step), "b": pytest.approx(1000 + step), "c": pytest.approx(1000)}
    assert fit.ci95["c"] == 0.0 and fit.ci95["a"] > fit.ci95["b"] > 0
    assert fit.ranked() == ["a", "b", "c"]


def test_the_fit_solves_the_likelihood_equations_and_ignores_order():
    # at the maximum every player's expected score equals its actual score
    rng = random.Random(0)
    names = ["p0", "p1", "p2", "p3", "p4"]
    matches = []
    for i in range(5):
        for j in range(i + 1, 5):
            n = rng.randint(5, 40)
            matches.append((names[i], names[j], rng.randint(1, 2 * n - 1) / 2, n))
    fit = fit_elo(matches)
    for p in names:
        expected = sum(n * expected_score(fit.ratings[a], fit.ratings[b]) if a == p else
                       n * expected_score(fit.ratings[b], fit.ratings[a]) for a, b, _, n in matches if p in (a, b))
        assert expected == pytest.approx(fit.score[p], abs=1e-6)
    shuffled = list(reversed([(b, a, n - s, n) for a, b, s, n in matches]))
    again = fit_elo(shuffled)
    assert again.ratings == pytest.approx(fit.ratings)


def test_repeated_pairings_add_up():
    split = fit_elo([("a", "b", 30, 40), ("a", "b", 45, 60)])
    whole = fit_elo([("a", "b", 75, 100)])
    assert split.ratings == pytest.approx(whole.ratings)


def test_a_perfect_score_diverges_without_a_prior_and_is_finite_with_one():
    with pytest.raises(ValueError, match="diverge"):
        fit_elo([("a", "b", 10, 10)])
    fit = fit_elo([("a", "b", 10, 10), ("b", "c", 5, 10)], prior_games=1.0, anchor="c")
    assert fit.ratings["c"] == 1000.0
    assert fit.ratings["a"] > fit.ratings["b"] + 200 and math.isfinite(fit.ratings["a"])
    # the prior is a pull toward a reference, so a larger prior gives a smaller spread
    tight = fit_elo([("a", "b", 10, 10), ("b", "c", 5, 10)], prior_games=10.0, anchor="c")
    assert tight.ratings["a"] - tight.ratings["b"] < fit.ratings["a"] - fit.ratings["b"]


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match="connected"):
        fit_elo([("a", "b", 5, 10), ("c", "d", 3, 10)])
    with pytest.raises(ValueError, match="anchor"):
        fit_elo([("a", "b", 5, 10)], anchor="random")
    with pytest.raises(ValueError, match="impossible"):
        fit_elo([("a", "b", 11, 10)])
    with pytest.raises(ValueError, match="itself"):
        fit_elo([("a", "a", 1, 2)])
    with pytest.raises(ValueError, match="no matches"):
        fit_elo([])
