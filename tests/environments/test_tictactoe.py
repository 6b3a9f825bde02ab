"""Hand-worked TicTacToe positions: every kind of line wins, a draw, illegal moves, observation."""

import pytest

from sparring.environments import IllegalAction, check, make


def play(moves):
    g = make("tictactoe")
    g.reset(seed=0)
    for m in moves:
        g.step(str(m))
    return g


@pytest.mark.parametrize("moves, returns", [
    ([0, 3, 1, 4, 2], [1.0, -1.0]),           # X top row
    ([0, 1, 3, 2, 6], [1.0, -1.0]),           # X left column
    ([0, 1, 4, 2, 8], [1.0, -1.0]),           # X main diagonal
    ([0, 2, 1, 4, 3, 6], [-1.0, 1.0]),        # O anti-diagonal
    ([0, 3, 1, 4, 8, 5], [-1.0, 1.0]),        # O middle row
])
def test_wins(moves, returns):
    g = play(moves)
    assert g.done and g.returns() == returns and g.current_player is None


def test_draw_full_board():
    # X O X / X O O / O X X
    g = play([0, 1, 2, 4, 3, 5, 7, 6, 8])
    assert g.done and g.returns() == [0.0, 0.0]


def test_illegal_moves_rejected():
    g = play([4])
    with pytest.raises(IllegalAction):
        g.step("4")  # occupied
    for bad in ("9", "-1", "x", " 3", ""):
        with pytest.raises(IllegalAction):
            g.step(bad)
    assert g.turn == 1 and g.current_player == 1


def test_observation_shows_board_and_legal_moves():
    g = play([4, 0])
    obs = g.observation(0)
    assert "You are X." in obs and obs.endswith("O|1|2\n3|X|5\n6|7|8")
    assert "Legal: [1] [2] [3] [5] [6] [7] [8]\n" in obs
    assert g.legal_actions() == ["1", "2", "3", "5", "6", "7", "8"]


def test_conformance():
    check("tictactoe")


def test_lines_view_writes_every_line_and_keeps_the_rules():
    g = make("tictactoe", view="lines")
    g.reset(seed=0)
    for a in "408":
        g.step(a)
    obs = g.observation(1)
    assert obs.splitlines()[-1] == "Lines: O|1|2 3|X|5 6|7|X O|3|6 1|X|7 2|5|X O|X|X 2|X|6"
    assert "You are O." in obs and "Legal: [1] [2] [3] [5] [6] [7]" in obs
    assert check(g) >= 1


def test_compact_view_lists_the_legal_moves_on_the_board_itself():
    g = make("tictactoe", view="compact")
    g.reset(seed=0)
    for a in "408":
        g.step(a)
    assert g.observation(1) == "You are O. Three in a line wins.\n(O)[1][2]\n[3](X)[5]\n[6][7](X)"
    assert check(g) >= 1


def test_unknown_view_is_rejected():
    with pytest.raises(ValueError, match="view"):
        make("tictactoe", view="3d")
