"""The warm start's SFT rows: random legal play, all moves, the eventual winners' moves, or the
best-scoring move per position (Monte-Carlo policy improvement over random play)."""

import pytest

from sparring.agents.roles import seat_roles
from sparring.environments import make
from sparring.training.warm_start import transcripts
from sparring.types import SamplingParams

ROLES = seat_roles("tictactoe", 2, SamplingParams(4))


def test_all_moves_are_legal_random_play_in_both_seats():
    rows = transcripts([("tictactoe", {}, ROLES)], 300, seed=0)
    assert len(rows) == 300
    seats = {r["prompt"][0]["content"].split("You are ")[1][0] for r in rows}
    assert seats == {"X", "O"}


def test_winners_keeps_only_moves_of_the_player_who_went_on_to_win():
    # Replay the same seeded random games by hand: each kept row must be a move of that game's
    # winner, draws give nothing, and the winning move (the last one) is always kept.
    import random

    rows = transcripts([("tictactoe", {"view": "compact"}, ROLES)], 400, seed=3, keep="winners")
    assert len(rows) == 400
    rng = random.Random(3 * 7919)
    expected, g = [], 0
    while len(expected) < 400:
        game = make("tictactoe", view="compact")
        game.reset(seed=3 * 1_000_003 + g)
        g += 1
        moves = []
        while not game.done:
            player = game.current_player
            obs = game.observation(player)
            action = game.sample_action(rng)
            moves.append((player, obs, action))
            game.step(action)
        returns = game.returns()
        if max(returns) > min(returns):
            winner = returns.index(max(returns))
            mine = [(ROLES[p].messages(o), f"[{a}]") for p, o, a in moves if p == winner]
            assert game.winner() == winner and moves[-1][0] == winner  # the winning move is kept
            expected.extend(mine)
    assert [(r["prompt"], r["completion"][0]["content"]) for r in rows] == expected[:400]


def test_best_labels_each_position_with_its_best_scoring_random_move():
    # Replay the seeded random games by hand, score every (position, move) by the mover's mean
    # payoff, and check every row's target is the best-scoring move tried there.
    import random

    rows = transcripts([("tictactoe", {"view": "compact"}, ROLES)], 300, seed=2, keep="best", games=2000)
    assert len(rows) == 300
    rng = random.Random(2 * 7919)
    scores: dict = {}
    visits = []
    for g in range(2000):
        game = make("tictactoe", view="compact")
        game.reset(seed=(2 * 7919) * 1_000_003 + g)
        moves = []
        while not game.done:
            player = game.current_player
            moves.append((player, game.observation(player), game.sample_action(rng)))
            game.step(moves[-1][2])
        for p, o, a in moves:
            scores.setdefault((p, o), {}).setdefault(a, []).append(game.returns()[p])
            visits.append((p, o))
    wins_found = 0
    for row, (p, o) in zip(rows, visits):
        assert row["prompt"] == ROLES[p].messages(o)
        means = {a: sum(v) / len(v) for a, v in scores[(p, o)].items()}
        target = row["completion"][0]["content"].strip("[]")
        assert means[target] == max(means.values())
        wins_found += means[target] == 1.0
    assert wins_found > 0
    # the labels are not random play: the first position (empty board) gets one move throughout
    assert len({r["completion"][0]["content"] for r, (p, o) in zip(rows, visits) if o == visits[0][1]}) == 1


def test_unknown_keep_is_rejected():
    with pytest.raises(ValueError, match="warm_start.keep"):
        transcripts([("tictactoe", {}, ROLES)], 10, seed=0, keep="losers")
