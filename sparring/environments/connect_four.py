"""Connect Four on the standard board: 7 columns x 6 rows, columns numbered 1-7, X moves first.

A move drops a piece into a column that is not full; it falls to the lowest free cell. Four of
one player's pieces in a row, a column or either diagonal win (+1 / -1); a full board without
four in a line is a draw (0 / 0), so a game lasts at most 42 turns. The observation draws the
board top row first under the column numbers ('.' is empty) and lists the open columns.
"""

from __future__ import annotations

from sparring.environments.base import Game
from sparring.environments.registry import register

COLUMNS, ROWS = 7, 6
MARKS = ("X", "O")
RULES = (
    "Connect Four. Drop your piece into a column 1-7; it falls to the lowest free cell. "
    "Four of your pieces in a row, column or diagonal wins."
)
_DIRECTIONS = ((1, 0), (0, 1), (1, 1), (1, -1))  # (column step, row step)


@register("connect_four")
class ConnectFour(Game):
    name = "connect_four"
    num_players = 2
    zero_sum = True
    max_turns = COLUMNS * ROWS

    def setup(self) -> None:
        # columns[c] holds the players' pieces in column c from the bottom up
        self.columns: list[list[int]] = [[] for _ in range(COLUMNS)]
        self.winner: int | None = None

    def cell(self, col: int, row: int) -> int | None:
        """The player whose piece is at (col, row) counted from the bottom-left, or None."""
        if 0 <= col < COLUMNS and 0 <= row < len(self.columns[col]):
            return self.columns[col][row]
        return None

    def _makes_four(self, col: int, row: int) -> bool:
        """Whether the piece just placed at (col, row) completes four in a line."""
        player = self.cell(col, row)
        for dc, dr in _DIRECTIONS:
            run = 1
            for sign in (1, -1):
                c, r = col + sign * dc, row + sign * dr
                while self.cell(c, r) == player:
                    run += 1
                    c, r = c + sign * dc, r + sign * dr
            if run >= 4:
                return True
        return False

    # ----- rules hooks ---------------------------------------------------------------------
    def to_move(self) -> int:
        return self.turn % 2

    def legal_actions(self) -> list[str]:
        return [str(c + 1) for c in range(COLUMNS) if len(self.columns[c]) < ROWS]

    def apply(self, action: str) -> None:
        col = int(action) - 1
        self.columns[col].append(self.to_move())
        if self._makes_four(col, len(self.columns[col]) - 1):
            self.winner = self.to_move()

    def render(self) -> str:
        rows = [" ".join(str(c + 1) for c in range(COLUMNS))]
        for row in reversed(range(ROWS)):
            pieces = (self.cell(c, row) for c in range(COLUMNS))
            rows.append(" ".join("." if p is None else MARKS[p] for p in pieces))
        return "\n".join(rows)

    def observation(self, player: int) -> str:
        lines = [RULES, f"You are {MARKS[player]}.", self.render()]
        if self.outcome() is not None:
            result = "a draw" if self.winner is None else f"{MARKS[self.winner]} wins"
            return "\n".join(lines + [f"Game over: {result}."])
        lines[1] += " Your move." if self.to_move() == player else f" {MARKS[1 - player]} to move."
        return "\n".join(lines + ["Legal: " + " ".join(f"[{a}]" for a in self.legal_actions())])

    def outcome(self) -> list[float] | None:
        if self.winner is not None:
            return [1.0, -1.0] if self.winner == 0 else [-1.0, 1.0]
        if self.turn >= self.max_turns:
            return [0.0, 0.0]
        return None
