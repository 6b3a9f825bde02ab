"""Hand-worked Connect Four positions: wins in every direction, a draw, gravity, illegal moves."""

import pytest

from sparring.environments import GameOver, IllegalAction, make


def play(moves: str):
    g = make("connect_four")
    g.reset(seed=0)
    for m in moves.split():
        g.step(m)
    return g


@pytest.mark.parametrize("moves, returns", [
    ("1 1 2 2 3 3 4", [1.0, -1.0]),              # X: bottom row 1-4
    ("7 1 6 1 5 2 7 3 6 4", [-1.0, 1.0]),        # O: bottom row 1-4, X's pieces elsewhere
    ("4 5 4 5 4 5 4", [1.0, -1.0]),              # X: column 4, rows 1-4
    ("1 2 1 2 1 2 3 2", [-1.0, 1.0]),            # O: column 2
    ("1 2 2 3 3 4 3 4 4 7 4", [1.0, -1.0]),      # X: diagonal / from (1,1) to (4,4)
    ("7 6 6 5 5 4 5 4 4 1 4", [1.0, -1.0]),      # X: diagonal \\ from (7,1) to (4,4)
    ("4 4 3 3 1 3 3 2 4 3 3 5 5 2 5 2 5 4 1 5", [-1.0, 1.0]),  # O: diagonal / from (2,2) to (5,5)
])
def test_wins(moves, returns):
    g = play(moves)
    assert g.done and g.returns() == returns and g.current_player is None
    with pytest.raises(GameOver):
        g.step("1")


def test_diagonal_win_off_the_bottom_row():
    g = play("4 4 3 3 1 3 3 2 4 3 3 5 5 2 5 2 5 4 1")
    assert not g.done
    assert [g.cell(c, r) for c, r in ((1, 1), (2, 2), (3, 3))] == [1, 1, 1] and g.cell(4, 4) is None
    g.step("5")  # O's fourth piece lands on row 5 of column 5
    assert g.returns() == [-1.0, 1.0]
    assert "Game over: O wins." in g.observation(0)


def test_win_in_the_middle_of_a_line():
    # X fills 1, 2, 4 on the bottom row, then 3 joins them: the run counts both ways
    g = play("1 1 2 2 4 4")
    assert not g.done
    g.step("3")
    assert g.returns() == [1.0, -1.0]


def test_three_in_a_row_is_not_a_win():
    g = play("1 1 2 2 3")
    assert not g.done and g.returns() == [0.0, 0.0] and g.current_player == 1


def test_draw_on_a_full_board():
    # columns in pairs (a, b): a gets X X X O O O and b gets O O O X X X (bottom up); column 7
    # alternates X O X O X O. No four line up anywhere, and no move ends the game early.
    order = []
    for a, b in ((1, 2), (3, 4), (5, 6)):
        order += [a, b] * 3 + [b, a] * 3
    order += [7] * 6
    g = play(" ".join(map(str, order)))
    assert g.turn == 42 == g.max_turns
    assert g.done and g.returns() == [0.0, 0.0]
    assert "Game over: a draw." in g.observation(0)


def test_gravity_and_full_column():
    g = play("3 3 3 3 3")
    assert [g.cell(2, r) for r in range(6)] == [0, 1, 0, 1, 0, None]
    assert g.current_player == 1
    g.step("3")
    assert "3" not in g.legal_actions() and g.legal_actions() == ["1", "2", "4", "5", "6", "7"]
    with pytest.raises(IllegalAction):
        g.step("3")  # the column is full


@pytest.mark.parametrize("bad", ["0", "8", "-1", "x", " 3", "3 ", "", "03", "three"])
def test_illegal_moves_change_nothing(bad):
    g = play("4")
    before = g.observation(1)
    with pytest.raises(IllegalAction):
        g.step(bad)
    assert g.turn == 1 and g.observation(1) == before


def test_observation_board_turn_and_legal_moves():
    g = play("4 4 3")
    obs = g.observation(1)
    assert "You are O. Your move." in obs
    assert "1 2 3 4 5 6 7\n" + ". . . . . . .\n" * 4 + ". . . O . . .\n. . X X . . ." in obs
    assert obs.endswith("Legal: [1] [2] [3] [4] [5] [6] [7]")
    assert "You are X. O to move." in g.observation(0)
    assert len(obs) < 400


def test_declared_properties():
    g = make("connect_four")
    assert (g.num_players, g.zero_sum, g.max_turns) == (2, True, 42)
