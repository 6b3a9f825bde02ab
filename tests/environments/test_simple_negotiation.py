"""Simple Negotiation: the action grammar, hand-worked trades and gains, illegal offers, endings."""

import random

import pytest

from sparring.agents.roles import Role
from sparring.environments import GameOver, IllegalAction, make
from sparring.environments.simple_negotiation import Move, parse_action


def fresh(max_turns=4, start=((5, 5), (6, 4)), values=((8, 2), (1, 7))):
    """P0 holds 5 Wood 5 Gold and values them 8 / 2; P1 holds 6 Wood 4 Gold, values 1 / 7."""
    g = make("simple_negotiation", max_turns=max_turns)
    g.reset(seed=0)
    g.start = start
    g.holdings = [list(h) for h in start]
    g.values = values
    return g


def play(g, *actions):
    for a in actions:
        g.step(a)
    return g


# ----- the grammar --------------------------------------------------------------------------
@pytest.mark.parametrize("text, move", [
    ("[Offer: I give 2 Wood, 0 Gold; you give 0 Wood, 3 Gold]", Move("offer", (2, 0), (0, 3))),
    ("Offer: I give 2 Wood, 0 Gold; you give 0 Wood, 3 Gold", Move("offer", (2, 0), (0, 3))),
    ("Deal? [offer: i give 1 gold and 2 wood; you give 3 Wood] Think it over.", Move("offer", (2, 1), (3, 0))),
    ("[Offer I give nothing; you give 1 Gold.]", Move("offer", (0, 0), (0, 1))),
    ("[Offer: I give 4 Gold ; you give nothing]", Move("offer", (0, 4), (0, 0))),
    ("[Accept]", Move("accept")), ("accept", Move("accept")), ("Fine. [ACCEPT.]", Move("accept")),
    ("[Deny]", Move("deny")), (" Deny ", Move("deny")),
    ("[Accept] [Deny]", Move("accept")),  # the first bracket counts
])
def test_parse_reads_the_grammar(text, move):
    assert parse_action(text) == move


@pytest.mark.parametrize("text", [
    "", "hello", "I accept your offer", "[Offer: I give 2 Wood]", "[Offer: you give 2 Wood; I give 1 Gold]",
    "[Offer: I give 2 Wood, 3 Wood; you give 1 Gold]", "[Offer: I give -1 Wood; you give 1 Gold]",
    "[Offer: I give 2 Stone; you give 1 Gold]", "[Offer: I give 1234567 Wood; you give 1 Gold]",
    "[Offer: I give 2.5 Wood; you give 1 Gold]", "[Accept it]", "[Pass]", "[] Accept",
])
def test_parse_rejects_everything_else(text):
    with pytest.raises(IllegalAction):
        parse_action(text)


def test_canonical_form_round_trips_through_the_role():
    move = Move("offer", (1, 0), (0, 2))
    assert move.canonical() == "Offer: I give 1 Wood, 0 Gold; you give 0 Wood, 2 Gold"
    role = Role("simple_negotiation/p0")
    text = role.parse(role.format_action(move.canonical()), None)  # what the arena passes to step
    assert parse_action(text) == move and Move("deny").canonical() == "Deny"


# ----- hand-worked games --------------------------------------------------------------------
def test_worked_trade_and_gains():
    g = fresh()
    play(g, "[Offer: I give 0 Wood, 3 Gold; you give 2 Wood, 0 Gold]")
    assert g.holdings == [[5, 5], [6, 4]] and g.current_player == 1  # nothing moves before Accept
    play(g, "[Accept]")
    assert g.holdings == [[7, 2], [4, 7]]
    # P0: 5*8 + 5*2 = 50 -> 7*8 + 2*2 = 60 (+10); P1: 6*1 + 4*7 = 34 -> 4*1 + 7*7 = 53 (+19)
    assert (g.gain(0), g.gain(1)) == (10, 19)
    assert not g.done and g.returns() == [0.0, 0.0]
    play(g, "[Deny]", "[Deny]")
    assert g.done and g.turn == 4 and g.returns() == [-1.0, 1.0]  # the larger gain wins
    assert "Game over: gains P0 +10, P1 +19; P1 wins." in g.observation(0)
    with pytest.raises(GameOver):
        g.step("[Deny]")


def test_larger_gain_for_p0_wins():
    g = play(fresh(), "[Offer: I give 1 Gold; you give 2 Wood]", "[Accept]", "[Deny]", "[Deny]")
    # P0: +2 Wood * 8 - 1 Gold * 2 = +14; P1: -2 Wood * 1 + 1 Gold * 7 = +5
    assert (g.gain(0), g.gain(1)) == (14, 5) and g.returns() == [1.0, -1.0]


def test_equal_gains_draw():
    g = play(fresh(), "[Offer: I give 1 Gold; you give 1 Wood]", "[Accept]", "[Deny]", "[Deny]")
    assert (g.gain(0), g.gain(1)) == (6, 6) and g.returns() == [0.0, 0.0]  # 8 - 2 = 6 and 7 - 1 = 6


def test_no_trade_is_a_draw():
    g = play(fresh(), "[Deny]", "[Deny]", "[Offer: I give 1 Gold; you give 1 Wood]", "[Deny]")
    assert g.holdings == [[5, 5], [6, 4]] and g.returns() == [0.0, 0.0]


def test_counter_offer_replaces_the_pending_one():
    g = play(fresh(max_turns=6), "[Offer: I give 1 Gold; you give 3 Wood]", "[Offer: I give 1 Wood; you give 2 Gold]")
    assert "Pending offer to you: you get 1 Wood, 0 Gold and give 0 Wood, 2 Gold." in g.observation(0)
    play(g, "[Accept]")  # P0 accepts P1's counter-offer, not its own
    assert g.holdings == [[6, 3], [5, 6]]


def test_pending_offer_lapses_at_the_turn_limit():
    g = play(fresh(max_turns=3), "[Deny]", "[Deny]", "[Offer: I give 5 Gold; you give 6 Wood]")
    assert g.done and g.holdings == [[5, 5], [6, 4]] and g.returns() == [0.0, 0.0]


# ----- illegal actions ------------------------------------------------------------------------
@pytest.mark.parametrize("offer, reason", [
    ("[Offer: I give 6 Wood; you give 1 Gold]", "offers 6 Wood but holds 5"),
    ("[Offer: I give 1 Wood; you give 5 Gold]", "asks for 5 Gold but P1 holds 4"),
    ("[Offer: I give nothing; you give nothing]", "at least one unit"),
    ("[Offer: I give 0 Wood; you give 0 Gold]", "at least one unit"),
    ("[Accept]", "no offer to accept"),
    ("I give you some wood", "cannot read"),
])
def test_illegal_actions_raise_and_change_nothing(offer, reason):
    g = fresh()
    before = (g.observation(0), g.observation(1), g.turn)
    with pytest.raises(IllegalAction, match=reason):
        g.step(offer)
    assert (g.observation(0), g.observation(1), g.turn) == before


def test_accept_after_a_deny_or_a_trade_is_illegal():
    g = play(fresh(max_turns=8), "[Offer: I give 1 Gold; you give 1 Wood]", "[Deny]")
    with pytest.raises(IllegalAction, match="no offer to accept"):
        g.step("[Accept]")
    play(g, "[Offer: I give 1 Gold; you give 1 Wood]", "[Accept]")
    with pytest.raises(IllegalAction, match="no offer to accept"):
        g.step("[Accept]")


def test_holdings_never_go_negative_under_random_play():
    rng, trades = random.Random(0), 0
    for seed in range(300):
        g = make("simple_negotiation")
        g.reset(seed=seed)
        total = [g.holdings[0][i] + g.holdings[1][i] for i in range(2)]
        while not g.done:
            action = g.sample_action(rng)
            trades += action == "Accept"
            g.step(action)
            assert min(min(h) for h in g.holdings) >= 0
            assert [g.holdings[0][i] + g.holdings[1][i] for i in range(2)] == total  # goods are conserved
        assert g.turn == g.max_turns and sum(g.returns()) == 0
    assert trades > 100


# ----- observation --------------------------------------------------------------------------
def test_observation_shows_own_values_only():
    g = play(fresh(), "[Offer: I give 1 Gold; you give 2 Wood]")
    obs0, obs1 = g.observation(0), g.observation(1)
    assert "Your values per unit: 8 per Wood, 2 per Gold." in obs0 and "1 per Wood" not in obs0
    assert "Your values per unit: 1 per Wood, 7 per Gold." in obs1 and "8 per Wood" not in obs1
    assert "Holdings: you 6 Wood, 4 Gold (value 34, gain +0); P0 5 Wood, 5 Gold." in obs1
    assert "History: P0 offered 0 Wood, 1 Gold for 2 Wood, 0 Gold." in obs1
    assert "Turn 2 of 4. Your move." in obs1
    assert obs1.endswith("Legal: [Accept] [Deny] [Offer: I give N Wood, M Gold; you give A Wood, B Gold] "
                         "with N<=6, M<=4, A<=5, B<=5")
    assert "Your offer to P1 is pending." in obs0 and "P1 to move." in obs0


def test_values_mirror_and_deal_is_seeded():
    for seed in range(50):
        g = make("simple_negotiation")
        g.reset(seed=seed)
        (w0, g0), (w1, g1) = g.values
        assert 6 <= w0 <= 9 and 1 <= g0 <= 3 and 1 <= w1 <= 3 and 6 <= g1 <= 9
        assert all(4 <= n <= 8 for h in g.start for n in h)
        again = make("simple_negotiation")
        again.reset(seed=seed)
        assert (again.values, again.start) == (g.values, g.start)


def test_observations_stay_short():
    rng = random.Random(1)
    longest = 0
    for seed in range(50):
        g = make("simple_negotiation")
        g.reset(seed=seed)
        while not g.done:
            longest = max(longest, len(g.observation(g.current_player)))
            g.step(g.sample_action(rng))
    assert longest < 1500


@pytest.mark.parametrize("options", [{"max_turns": 0}, {"max_turns": "10"}, {"turns": 3}])
def test_bad_options(options):
    with pytest.raises(ValueError):
        make("simple_negotiation", **options)
