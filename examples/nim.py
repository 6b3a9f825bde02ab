"""Nim, a complete new game written with the rules hooks of `sparring.environments.Game` only.

Piles of objects (default "3 4 5"); a move takes one or more objects from one pile, written
"take K from P" (piles numbered from 1). Whoever takes the last object wins (+1 / -1).
Importing this file registers the game, so `make("nim")` and arenas with `game: nim` work.
"""

from __future__ import annotations

from sparring.environments import Game, register


@register("nim")
class Nim(Game):
    name = "nim"
    num_players = 2
    zero_sum = True

    def __init__(self, piles: str | list[int] = "3 4 5") -> None:
        super().__init__()
        self.start = [int(n) for n in (piles.split() if isinstance(piles, str) else piles)]
        if not self.start or min(self.start) < 1:
            raise ValueError(f"nim: piles must be positive counts like '3 4 5', got {piles!r}")
        self.max_turns = sum(self.start)  # every move takes at least one object

    def setup(self) -> None:
        self.piles = list(self.start)

    def to_move(self) -> int:
        return self.turn % 2

    def legal_actions(self) -> list[str]:
        return [f"take {k} from {p + 1}" for p, n in enumerate(self.piles) for k in range(1, n + 1)]

    def apply(self, action: str) -> None:  # only legal actions get here
        _, k, _, p = action.split()
        self.piles[int(p) - 1] -= int(k)

    def observation(self, player: int) -> str:
        piles = ", ".join(f"pile {p + 1}: {n}" for p, n in enumerate(self.piles))
        legal = " ".join(f"[{a}]" for a in self.legal_actions())
        return ("Nim. Take one or more objects from one pile. Whoever takes the last object wins.\n"
                f"You are P{player}. {piles}.\nLegal: {legal}")

    def outcome(self) -> list[float] | None:
        if any(self.piles):
            return None
        last = 1 - self.to_move()  # the player who just moved took the last object
        return [1.0, -1.0] if last == 0 else [-1.0, 1.0]
