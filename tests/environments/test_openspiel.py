"""The OpenSpiel adapter: the checker on adapted games, refusals, and sparring's Kuhn Poker against
OpenSpiel's on every deal and betting sequence."""

from __future__ import annotations

import pickle

import pyspiel  # open_spiel is a dependency: no skip
import pytest

from sparring.environments import IllegalAction, make
from sparring.environments.checker import check
from sparring.evals.exploitability import kuhn_native

GAMES = [
    ("openspiel:kuhn_poker", {}),
    ("openspiel:leduc_poker", {}),
    ("openspiel:tic_tac_toe", {}),
    ("openspiel:liars_dice(numdice=1,dice_sides=4)", {}),
    ("openspiel:goofspiel(num_cards=4)", {"turn_based": True}),
]


@pytest.mark.parametrize("name,options", GAMES, ids=[g for g, _ in GAMES])
def test_checker_passes_on_adapted_games(name, options):
    assert check(make(name, **options), games=30) == 30


def test_declared_properties_come_from_openspiel():
    leduc = make("openspiel:leduc_poker")
    assert (leduc.num_players, leduc.zero_sum, leduc.max_turns) == (2, True, 8)
    goofspiel = make("openspiel:goofspiel(num_cards=4)", turn_based=True)
    assert goofspiel.max_turns == 8  # four rounds, two turn-based bids each


def test_simultaneous_games_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="simultaneous-move.*turn_based=True"):
        make("openspiel:goofspiel(num_cards=4)")


def test_unknown_game_names_the_problem():
    with pytest.raises(KeyError, match="OpenSpiel cannot load it"):
        make("openspiel:no_such_game")


def test_action_names_lose_brackets_and_player_tags():
    game = make("openspiel:goofspiel(num_cards=3)", turn_based=True)
    game.reset(seed=0)
    assert game.legal_actions() == ["Bid: 1", "Bid: 2", "Bid: 3"]
    game.step("Bid: 2")
    with pytest.raises(IllegalAction):
        game.step("[P1]Bid: 1")


def test_kuhn_observation_in_words_hides_the_other_card():
    game = make("openspiel:kuhn_poker")
    game.reset(seed=3)
    game.step("Bet")
    mover = game.current_player
    text = game.observation(mover)
    card = "JQK"[int(game.state.information_state_string(mover)[0])]
    assert f"Your card: {card}." in text and "Betting: P0 bet. Pot 3." in text
    assert "Legal: [Pass] [Bet]" in text
    other = "JQK"[int(game.state.information_state_string(1 - mover)[0])]
    assert f"Your card: {other}" not in text


def test_seeded_chance_and_copies():
    a, b = make("openspiel:leduc_poker"), make("openspiel:leduc_poker")
    a.reset(seed=11)
    b.reset(seed=11)
    assert a.state.history() == b.state.history()
    a.step(a.legal_actions()[-1])
    restored = pickle.loads(pickle.dumps(a))
    assert restored.state.history() == a.state.history() and restored.observation(0) == a.observation(0)
    clone = a.clone()
    clone.step(clone.legal_actions()[0])
    assert a.state.history() != clone.state.history()


def _all_histories(state):
    """Every node of OpenSpiel's Kuhn Poker tree below `state` (chance included)."""
    yield state
    if not state.is_terminal():
        for action in state.legal_actions():
            yield from _all_histories(state.child(action))


def test_native_kuhn_poker_equals_openspiel_on_every_deal_and_sequence():
    root = pyspiel.load_game("kuhn_poker").new_initial_state()
    checked = 0
    for state in _all_histories(root):
        if len(state.history()) < 2:  # the cards are not dealt yet
            continue
        native = kuhn_native(state)
        assert native.done == state.is_terminal()
        if state.is_terminal():
            assert native.returns() == pytest.approx(state.returns())
            checked += 1
        else:
            assert native.current_player == state.current_player()
            assert len(native.legal_actions()) == len(state.legal_actions())
    assert checked == 30  # 6 deals x 5 betting sequences
