"""Kuhn Poker rules on hand-worked hands (the deal is set by hand after reset)."""

from __future__ import annotations

import random
import re

import pytest

from sparring.environments import GameOver, IllegalAction, check, make, names
from sparring.environments.kuhn_poker import RULES


def fresh(cards: list[str], hands: int = 1, seed: int = 0):
    game = make("kuhn_poker", hands=hands)
    game.reset(seed=seed)
    game.cards = list(cards)
    return game


def play(game, *actions: str) -> None:
    for a in actions:
        game.step(a)


def test_registered():
    assert "kuhn_poker" in names()
    game = make("kuhn_poker")
    assert game.num_players == 2 and game.zero_sum and game.max_turns == 3


def test_bet_fold_gives_bettor_one():
    game = fresh(["J", "K"])  # the bettor holds the worse card: a fold still wins the antes
    assert game.current_player == 0
    play(game, "bet")
    assert game.current_player == 1 and game.legal_actions() == ["fold", "call"]
    assert sum(game.put_in) == 3
    assert not game.done and game.returns() == [0.0, 0.0]
    play(game, "fold")
    assert game.done and game.current_player is None
    assert game.returns() == [1.0, -1.0]


@pytest.mark.parametrize("cards,expected", [(["K", "J"], [1.0, -1.0]), (["J", "K"], [-1.0, 1.0]),
                                            (["Q", "J"], [1.0, -1.0]), (["Q", "K"], [-1.0, 1.0])])
def test_check_check_showdown_wins_the_antes(cards, expected):
    game = fresh(cards)
    play(game, "check")
    assert not game.done and game.current_player == 1 and game.legal_actions() == ["check", "bet"]
    play(game, "check")
    assert game.done
    assert game.returns() == expected


@pytest.mark.parametrize("cards,expected", [(["K", "Q"], [2.0, -2.0]), (["J", "Q"], [-2.0, 2.0])])
def test_bet_call_showdown_pot_four(cards, expected):
    game = fresh(cards)
    assert sum(game.put_in) == 2
    play(game, "bet")
    assert sum(game.put_in) == 3 and game.put_in == [2, 1]
    assert "Pot 3" in game.observation(1)
    play(game, "call")
    assert sum(game.put_in) == 4 and game.put_in == [2, 2]
    assert game.returns() == expected


def test_check_bet_fold_gives_bettor_one():
    game = fresh(["K", "J"])  # P1 bluffs with J and P0 folds the best hand
    play(game, "check", "bet")
    assert game.current_player == 0 and game.legal_actions() == ["fold", "call"]
    assert game.put_in == [1, 2]
    play(game, "fold")
    assert game.returns() == [-1.0, 1.0]


@pytest.mark.parametrize("cards,expected", [(["K", "Q"], [2.0, -2.0]), (["Q", "K"], [-2.0, 2.0])])
def test_check_bet_call_showdown(cards, expected):
    game = fresh(cards)
    play(game, "check", "bet", "call")
    assert game.done and game.turn == 3
    assert game.returns() == expected


def test_zero_sum_over_random_games():
    rng = random.Random(0)
    seen = set()
    for seed in range(1000):
        game = make("kuhn_poker", hands=1 + seed % 3)
        game.reset(seed=seed)
        while not game.done:
            assert game.turn < game.max_turns
            game.step(rng.choice(game.legal_actions()))
        r = game.returns()
        assert len(r) == 2 and r[0] + r[1] == 0.0
        assert abs(r[0]) <= 2 * game.hands
        seen.add(r[0])
    assert {-2.0, -1.0, 1.0, 2.0} <= seen  # every single-hand outcome occurs


def test_multi_hand_alternates_first_player_and_sums_returns():
    game = fresh(["K", "J"], hands=4)
    # hand 1: P0 first, bet/call, K beats J: P0 +2
    assert game.current_player == 0
    play(game, "bet", "call")
    assert not game.done and game.gains == [2.0, -2.0] and game.returns() == [0.0, 0.0]
    assert game.hand == 1 and game.history == [] and game.put_in == [1, 1]
    # hand 2: P1 first, check/check, P1's K beats Q: P1 +1
    game.cards = ["Q", "K"]
    assert game.current_player == 1
    assert "Hand 2 of 4" in game.observation(1)
    play(game, "check", "check")
    assert game.gains == [1.0, -1.0]
    # hand 3: P0 first again, bet/fold: P0 +1
    game.cards = ["J", "Q"]
    assert game.current_player == 0
    play(game, "bet", "fold")
    # hand 4: P1 first, bet, P0 folds: P1 +1
    game.cards = ["K", "Q"]
    assert game.current_player == 1
    play(game, "bet")
    assert not game.done
    play(game, "fold")
    assert game.done
    assert game.returns() == [1.0, -1.0]  # 2 - 1 + 1 - 1
    assert game.turn == 8


def _random_trace(seed: int, hands: int = 2) -> tuple[list, list[str], list[float]]:
    game = make("kuhn_poker", hands=hands)
    game.reset(seed=seed)
    pick = random.Random(1234)
    cards, obs = [], []
    while not game.done:
        cards.append(tuple(game.cards))
        obs.append(game.observation(game.current_player))
        game.step(pick.choice(game.legal_actions()))
    return cards, obs, game.returns()


def test_deterministic_under_seed():
    assert _random_trace(7) == _random_trace(7)
    deals = set()
    for seed in range(20):
        game = make("kuhn_poker")
        game.reset(seed=seed)
        deals.add(tuple(game.cards))
    assert len(deals) > 1, "different seeds should give different deals"
    assert all(len(set(d)) == 2 and set(d) <= {"J", "Q", "K"} for d in deals)


def test_reset_restarts_the_game():
    game = make("kuhn_poker", hands=2)
    game.reset(seed=3)
    first = (tuple(game.cards), game.observation(0))
    play(game, "bet", "fold")
    game.reset(seed=3)
    assert (tuple(game.cards), game.observation(0)) == first
    assert game.turn == 0 and game.gains == [0.0, 0.0] and game.hand == 0


@pytest.mark.parametrize("action", ["raise", "Bet", " bet", "[bet]", "call", "fold", ""])
def test_illegal_action_raises_and_changes_nothing(action):
    game = fresh(["K", "J"])
    before = (game.observation(0), game.turn, list(game.put_in))
    with pytest.raises(IllegalAction):
        game.step(action)
    assert (game.observation(0), game.turn, list(game.put_in)) == before


def test_check_is_illegal_facing_a_bet():
    game = fresh(["K", "J"])
    play(game, "bet")
    for action in ("check", "bet"):
        with pytest.raises(IllegalAction):
            game.step(action)


def test_step_after_end_raises_game_over():
    game = fresh(["K", "J"])
    play(game, "check", "check")
    with pytest.raises(GameOver):
        game.step("check")
    assert game.returns() == [1.0, -1.0]


def test_bad_options():
    with pytest.raises(ValueError):
        make("kuhn_poker", hands=0)
    with pytest.raises(ValueError):
        make("kuhn_poker", bogus=1)
    with pytest.raises(KeyError):
        make("no_such_game")


def _private_part(observation: str) -> str:
    assert observation.startswith(RULES)
    return observation[len(RULES):]  # the rules line names every card


def _mentions(text: str, card: str) -> bool:
    return re.search(rf"\b{card}\b", text) is not None


@pytest.mark.parametrize("cards", [["K", "J"], ["J", "Q"], ["Q", "K"]])
def test_observation_hides_the_opponents_card(cards):
    for history in ([], ["check"], ["bet"], ["check", "bet"]):
        game = fresh(cards)
        play(game, *history)
        for player in (0, 1):
            text = _private_part(game.observation(player))
            own, other = cards[player], cards[1 - player]
            assert f"Your card: {own}." in text
            assert not _mentions(text, other), f"P{player} sees {other!r} after {history}:\n{text}"


def test_observation_hides_folded_cards_in_later_hands():
    game = fresh(["K", "Q"], hands=2)
    play(game, "bet", "fold")  # no showdown: P1's Q is never shown
    game.cards = ["K", "J"]
    text = _private_part(game.observation(0))
    assert "Your card: K." in text and not _mentions(text, "Q") and not _mentions(text, "J")
    assert "no showdown" in text


def test_observation_shows_showdown_cards_of_finished_hands():
    game = fresh(["K", "Q"], hands=2)
    play(game, "check", "check")
    game.cards = ["J", "K"]
    text = _private_part(game.observation(1))
    assert "P0=K" in text and "P1=Q" in text  # the public result of hand 1
    assert "Your card: K." in text and not _mentions(text, "J")  # hand 2 stays private
    assert "+1" in _private_part(game.observation(0))  # P0's chips so far


def test_observation_lists_legal_actions():
    game = fresh(["K", "J"])
    assert "[check] [bet]" in game.observation(0)
    play(game, "bet")
    assert "[fold] [call]" in game.observation(1)


def test_shipped_checker_passes():
    assert check("kuhn_poker") == 50
    assert check(make("kuhn_poker", hands=3), games=20) == 20


def test_clone_is_independent():
    game = fresh(["K", "J"], hands=2)
    copy = game.clone()
    play(game, "bet", "call")
    assert copy.turn == 0 and copy.gains == [0.0, 0.0] and copy.history == []
    play(copy, "check", "check")
    assert copy.gains == [1.0, -1.0] and game.gains == [2.0, -2.0]
