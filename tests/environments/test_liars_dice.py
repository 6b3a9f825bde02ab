"""Liar's Dice with fixed dice: bid ordering, call resolution, wild ones, the longest game."""

import pytest

from sparring.environments import GameOver, IllegalAction, make


def fresh(dice0, dice1, **options):
    g = make("liars_dice", **options)
    g.reset(seed=0)
    g.dice = [sorted(dice0), sorted(dice1)]
    return g


def play(g, *actions):
    for a in actions:
        g.step(a)
    return g


def test_first_move_bids_only():
    g = fresh([2, 5], [5, 6])
    legal = g.legal_actions()
    assert "call" not in legal and legal[0] == "bid 1 1" and legal[-1] == "bid 4 6" and len(legal) == 24
    with pytest.raises(IllegalAction):
        g.step("call")  # nothing to call yet


def test_bids_must_strictly_increase():
    g = play(fresh([2, 5], [5, 6]), "bid 2 3")
    legal = g.legal_actions()
    assert legal[:4] == ["call", "bid 2 4", "bid 2 5", "bid 2 6"]
    assert "bid 3 1" in legal and "bid 2 3" not in legal and "bid 1 6" not in legal
    for bad in ("bid 2 3", "bid 2 2", "bid 1 6", "bid 5 1", "bid 2 7", "bid 0 4", "bid 3", "Bid 3 3", "raise"):
        with pytest.raises(IllegalAction):
            g.step(bad)
    assert g.current_player == 1 and g.turn == 1
    play(g, "bid 2 6", "bid 3 1")  # same quantity higher face, then higher quantity lower face
    assert g.bids == [(2, 3), (2, 6), (3, 1)] and g.current_player == 1


@pytest.mark.parametrize("dice0, dice1, bid, returns", [
    ([2, 5], [5, 6], "bid 2 5", [1.0, -1.0]),   # exactly two fives: the bid holds, P0 (bidder) wins
    ([2, 5], [5, 6], "bid 3 5", [-1.0, 1.0]),   # only two fives: P1 (caller) wins
    ([1, 1], [1, 3], "bid 3 1", [1.0, -1.0]),   # three ones
    ([6, 6], [6, 6], "bid 4 6", [1.0, -1.0]),   # the highest bid can hold
    ([2, 3], [4, 4], "bid 1 6", [-1.0, 1.0]),   # no six at all
])
def test_call_resolution_p0_bids(dice0, dice1, bid, returns):
    g = play(fresh(dice0, dice1), bid, "call")
    assert g.done and g.returns() == returns and g.current_player is None
    with pytest.raises(GameOver):
        g.step("call")


def test_call_resolution_p1_bids():
    g = play(fresh([3, 4], [4, 6]), "bid 1 4", "bid 2 4", "call")  # P0 calls P1's bid: two fours, P1 wins
    assert g.returns() == [-1.0, 1.0]
    g = play(fresh([3, 4], [4, 6]), "bid 1 4", "bid 3 4", "call")  # only two fours: P0 wins
    assert g.returns() == [1.0, -1.0]
    assert "P0 called P1's bid 3 4. Dice: P0 3 4, P1 4 6; 2 count as 4. P0 wins." in g.observation(1)


def test_ones_not_wild_by_default_and_wild_when_asked():
    dice = ([1, 5], [1, 2])
    assert play(fresh(*dice), "bid 2 5", "call").returns() == [-1.0, 1.0]  # one five only
    wild = play(fresh(*dice, wild_ones=True), "bid 3 5", "call")  # 5 + two ones = three fives
    assert wild.returns() == [1.0, -1.0]
    assert play(fresh(*dice, wild_ones=True), "bid 3 1", "call").returns() == [-1.0, 1.0]  # ones count once
    assert "Ones are wild" in wild.observation(0) and "Ones are not wild." in fresh(*dice).observation(0)


def test_longest_game_is_max_turns():
    g = fresh([1, 2], [3, 4])
    assert g.max_turns == 25
    while g.legal_actions() != ["call"]:
        g.step(next(a for a in g.legal_actions() if a != "call"))  # the smallest bid every time
    assert g.turn == 24 and g.bids[-1] == (4, 6)
    g.step("call")
    assert g.done and g.turn == g.max_turns
    assert make("liars_dice", dice=3).max_turns == 37


def test_observation_shows_own_dice_and_public_bids_only():
    g = play(fresh([2, 5], [3, 6]), "bid 1 5")
    obs = g.observation(1)
    assert "You are P1. Your dice: 3 6." in obs and "Bids: P0 bid 1 5." in obs
    assert "Your dice: 2 5" not in obs and "Legal: [call] [bid 1 6] [bid 2 1]" in obs
    assert "Your dice: 2 5." in g.observation(0) and "P1 to move." in g.observation(0)
    assert g.private_info(0) == (2, 5) and g.private_info(1) == (3, 6)


def test_deal_is_seeded():
    def deal(seed):
        g = make("liars_dice", dice=3)
        g.reset(seed=seed)
        return g.dice

    assert deal(4) == deal(4)
    deals = [deal(s) for s in range(30)]
    assert len({str(d) for d in deals}) > 20
    assert all(len(d) == 3 and all(1 <= x <= 6 for x in d) for pair in deals for d in pair)


@pytest.mark.parametrize("options", [{"dice": 0}, {"dice": 6}, {"dice": "2"}, {"faces": 8}])
def test_bad_options(options):
    with pytest.raises(ValueError):
        make("liars_dice", **options)
